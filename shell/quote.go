// Package shell builds shell text: POSIX sh words (Quote) and PowerShell
// string literals (PSQuote). Every value tend sends to a remote shell
// passes through one of them; nothing else concatenates user data into a
// script.
package shell

import "strings"

// Quote returns s as one POSIX sh word that the shell reads back as exactly
// the bytes of s, whatever they are (quotes, newlines, $(), backslashes,
// non-UTF-8). It uses single quotes, closing and reopening them around each
// single quote in s.
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	if isSafe(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			b.WriteString(`'\''`)
			continue
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('\'')
	return b.String()
}

// isSafe reports whether s needs no quoting at all: only characters the
// shell never treats specially, and not starting with one it might (~, -).
func isSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '/' || c == '.' || c == '_' || c == ',' || c == ':' || c == '+' || c == '@' || c == '%':
		case c == '-' && i > 0:
		default:
			return false
		}
	}
	return true
}

// Join quotes each word and joins them with spaces: a command's
// arguments. One-letter options ("-u"), which the shell reads back as
// they are, stay bare so that scripts read as they would be typed.
func Join(words ...string) string {
	q := make([]string, len(words))
	for i, w := range words {
		if isShortOption(w) {
			q[i] = w
		} else {
			q[i] = Quote(w)
		}
	}
	return strings.Join(q, " ")
}

// isShortOption reports whether w is a dash and one ASCII letter.
func isShortOption(w string) bool {
	return len(w) == 2 && w[0] == '-' && (w[1] >= 'a' && w[1] <= 'z' || w[1] >= 'A' && w[1] <= 'Z')
}
