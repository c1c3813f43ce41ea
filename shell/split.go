package shell

import (
	"errors"
	"strings"
)

// Split splits a line into words the way Python's shlex.split does in
// POSIX mode, which is how a POSIX shell reads words without expanding
// anything: whitespace separates words, single quotes keep everything,
// double quotes let a backslash escape only `"` and `\`, and a backslash
// outside quotes escapes any character. With comments, "#" ends the line
// wherever a word could start or continue (so `pw=a#b` is the word
// "pw=a", as in Python). For valid UTF-8 s, Split(Quote(s)) is [s].
func Split(s string, comments bool) ([]string, error) {
	const (
		stWhite  = ' '
		stWord   = 'a'
		stEscape = '\\'
	)
	var (
		words        []string
		tok          strings.Builder
		state        rune = stWhite
		escapedState rune = stWhite
		quoted       bool
	)
	emit := func() {
		if tok.Len() > 0 || quoted {
			words = append(words, tok.String())
		}
		tok.Reset()
		quoted = false
	}
	rs := []rune(s)
	for i := 0; i <= len(rs); i++ {
		eof := i == len(rs)
		var c rune
		if !eof {
			c = rs[i]
		}
		isSpace := c == ' ' || c == '\t' || c == '\r' || c == '\n'
		switch state {
		case stWhite, stWord:
			switch {
			case eof:
				emit()
			case isSpace:
				emit()
				state = stWhite
			case comments && c == '#':
				// The rest of the line is a comment.
				emit()
				return words, nil
			case c == '\\':
				escapedState, state = stWord, stEscape
			case c == '\'' || c == '"':
				state = c
			default:
				tok.WriteRune(c)
				state = stWord
			}
		case '\'', '"':
			quoted = true
			switch {
			case eof:
				return nil, errors.New("no closing quotation")
			case c == state:
				state = stWord
			case c == '\\' && state == '"':
				escapedState, state = state, stEscape
			default:
				tok.WriteRune(c)
			}
		case stEscape:
			if eof {
				return nil, errors.New("no escaped character")
			}
			// Inside double quotes only the quote and the backslash
			// are escaped; other backslashes stay.
			if escapedState == '"' && c != '"' && c != '\\' {
				tok.WriteRune('\\')
			}
			tok.WriteRune(c)
			state = escapedState
		}
	}
	return words, nil
}
