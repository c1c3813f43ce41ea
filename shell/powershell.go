package shell

import "strings"

// psSingleQuotes are the characters PowerShell accepts as a single quote:
// the ASCII apostrophe and the typographic ones (U+2018, U+2019, U+201A,
// U+201B). Inside a single-quoted string any of them must be doubled.
const psSingleQuotes = "'\u2018\u2019\u201a\u201b"

// PSQuote returns s as a PowerShell single-quoted string literal, in which
// nothing ($variables, `escapes, $(subexpressions)) is expanded. Every
// value that reaches a PowerShell script goes through it. s must be valid
// UTF-8 (the WinRM transport refuses a script that is not).
func PSQuote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for _, r := range s {
		if strings.ContainsRune(psSingleQuotes, r) {
			b.WriteRune(r)
		}
		b.WriteRune(r)
	}
	b.WriteByte('\'')
	return b.String()
}
