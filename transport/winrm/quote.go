package winrm

import "github.com/tendhq/tend/shell"

// Quote returns s as a PowerShell single-quoted string literal, in which
// nothing ($variables, `escapes, $(subexpressions)) is expanded. It is
// shell.PSQuote, the one function every value reaching a PowerShell
// script goes through.
func Quote(s string) string { return shell.PSQuote(s) }

// singleQuotes are the characters PowerShell reads as a single quote.
const singleQuotes = "'\u2018\u2019\u201a\u201b"
