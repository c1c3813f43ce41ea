package db

import (
	"sort"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

//go:generate /usr/bin/python3 gen_stringprep.py

// runeRange is an inclusive range of code points.
type runeRange struct{ lo, hi rune }

func inTable(r rune, table []runeRange) bool {
	i := sort.Search(len(table), func(i int) bool { return table[i].hi >= r })
	return i < len(table) && table[i].lo <= r
}

// pgSASLprep is the password PostgreSQL derives a SCRAM-SHA-256 verifier
// from: the SASLprep (RFC 4013) of password as the server's pg_saslprep
// does it, or password itself where that fails. So a password set by
// hand (ALTER ROLE ... PASSWORD '...', \password), for which the server
// or psql computes the verifier, matches the declared one, and a
// password tend sets logs in from clients that apply SASLprep.
//
// As pg_saslprep: an ASCII string is used as it is (control characters
// included); otherwise non-ASCII spaces (RFC 3454 C.1.2) become U+0020,
// characters commonly mapped to nothing (B.1) are removed and the result
// is normalized to NFKC. The string is used raw when it is not valid
// UTF-8, when nothing is left after mapping, or when the mapped string
// has a prohibited (C.1.2 to C.9) or unassigned (A.1, Unicode 3.2) code
// point or fails the bidirectional check (RFC 3454 section 6). Like
// pg_saslprep, the prohibition and bidirectional checks look at the
// mapped string before normalization (RFC 4013 asks for the normalized
// one; the e2e test confirms the server's behaviour on a character
// unassigned in Unicode 3.2 that NFKC maps to ASCII).
func pgSASLprep(password string) string {
	ascii := true
	for i := 0; i < len(password); i++ {
		if password[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii || !utf8.ValidString(password) {
		return password
	}
	var mapped []rune
	for _, r := range password {
		switch {
		case inTable(r, saslNonASCIISpace):
			mapped = append(mapped, ' ')
		case inTable(r, saslMappedToNothing):
		default:
			mapped = append(mapped, r)
		}
	}
	if len(mapped) == 0 {
		return password
	}
	randAL := false
	for _, r := range mapped {
		if inTable(r, saslProhibited) || inTable(r, saslUnassigned) {
			return password
		}
		randAL = randAL || inTable(r, saslRandALCat)
	}
	if randAL {
		for _, r := range mapped {
			if inTable(r, saslLCat) {
				return password
			}
		}
		if !inTable(mapped[0], saslRandALCat) || !inTable(mapped[len(mapped)-1], saslRandALCat) {
			return password
		}
	}
	return norm.NFKC.String(string(mapped))
}
