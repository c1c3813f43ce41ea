package inventory

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// globRegexp translates an fnmatch glob into a regular expression the way
// Python 3.11's fnmatch.translate does, so a glob in a host pattern
// matches exactly what it matches in Ansible: "*" and "?" match any
// character (dots included), "[seq]" and "[!seq]" are classes, an
// unclosed "[" is literal, and a reversed range such as "[z-a]" is
// dropped (a class left empty matches nothing), where a naive
// translation would fail to compile. Python's atomic groups are only an
// optimisation and become plain ".*" here.
func globRegexp(glob string) (*regexp.Regexp, error) {
	pat := []rune(glob)
	n := len(pat)
	var b strings.Builder
	b.WriteString(`^(?s:`)
	star := false // the previous piece was a "*"
	for i := 0; i < n; {
		c := pat[i]
		i++
		if c == '*' {
			if !star {
				b.WriteString(`.*`)
			}
			star = true
			continue
		}
		star = false
		switch c {
		case '?':
			b.WriteString(`.`)
		case '[':
			j := i
			if j < n && pat[j] == '!' {
				j++
			}
			if j < n && pat[j] == ']' {
				j++
			}
			for j < n && pat[j] != ']' {
				j++
			}
			if j >= n {
				b.WriteString(`\[`)
				continue
			}
			stuff := pythonClass(pat, i, j)
			i = j + 1
			switch {
			case stuff == "":
				b.WriteString(`[^\x00-\x{10FFFF}]`) // empty class: never matches
			case stuff == "!":
				b.WriteString(`.`)
			default:
				b.WriteString(goClass(stuff))
			}
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString(`)$`)
	return regexp.Compile(b.String())
}

// pythonClass returns the body of the class pat[i:j] exactly as Python's
// translate builds it (ranges split on "-", empty ranges removed,
// backslashes, hyphens and set operators escaped), before its first
// character is examined for negation.
func pythonClass(pat []rune, i, j int) string {
	stuff := string(pat[i:j])
	if !strings.Contains(stuff, "-") {
		stuff = strings.ReplaceAll(stuff, `\`, `\\`)
	} else {
		var chunks []string
		k := i + 1
		if pat[i] == '!' {
			k = i + 2
		}
		for {
			k = indexRune(pat, '-', k, j)
			if k < 0 {
				break
			}
			chunks = append(chunks, string(pat[i:k]))
			i = k + 1
			k += 3
		}
		if chunk := string(pat[i:j]); chunk != "" {
			chunks = append(chunks, chunk)
		} else {
			chunks[len(chunks)-1] += "-"
		}
		for k := len(chunks) - 1; k > 0; k-- {
			prev, cur := []rune(chunks[k-1]), []rune(chunks[k])
			if prev[len(prev)-1] > cur[0] {
				chunks[k-1] = string(prev[:len(prev)-1]) + string(cur[1:])
				chunks = append(chunks[:k], chunks[k+1:]...)
			}
		}
		for k, s := range chunks {
			chunks[k] = strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "-", `\-`)
		}
		stuff = strings.Join(chunks, "-")
	}
	var b strings.Builder
	for _, r := range stuff {
		if r == '&' || r == '~' || r == '|' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func indexRune(rs []rune, r rune, from, to int) int {
	if from > to {
		return -1
	}
	for k := from; k < to && k < len(rs); k++ {
		if rs[k] == r {
			return k
		}
	}
	return -1
}

// goClass turns a Python class body into an RE2 class: a leading "!"
// negates, escaped pairs stay escaped, a bare "-" is a range, and every
// other punctuation character is escaped so RE2 reads it literally.
func goClass(stuff string) string {
	var b strings.Builder
	b.WriteByte('[')
	if stuff[0] == '!' {
		b.WriteByte('^')
		stuff = stuff[1:]
	}
	for len(stuff) > 0 {
		r, size := utf8.DecodeRuneInString(stuff)
		stuff = stuff[size:]
		switch {
		case r == '\\' && len(stuff) > 0:
			r, size = utf8.DecodeRuneInString(stuff)
			stuff = stuff[size:]
			writeClassRune(&b, r)
		case r == '-':
			b.WriteByte('-')
		default:
			writeClassRune(&b, r)
		}
	}
	b.WriteByte(']')
	return b.String()
}

func writeClassRune(b *strings.Builder, r rune) {
	if r < utf8.RuneSelf && !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
		if r < ' ' || r == 0x7f {
			fmt.Fprintf(b, `\x{%x}`, r)
			return
		}
		b.WriteByte('\\')
	}
	b.WriteRune(r)
}
