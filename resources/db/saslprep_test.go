package db

import "testing"

// TestSASLprepRFC4013 runs the examples of RFC 4013 section 3. Where the
// RFC says "error" (a prohibited character, a failed bidirectional
// check), PostgreSQL uses the password's bytes as they are, and so does
// pgSASLprep.
func TestSASLprepRFC4013(t *testing.T) {
	for _, c := range []struct{ in, want, why string }{
		{"I\u00ADX", "IX", "SOFT HYPHEN mapped to nothing"},
		{"user", "user", "no transformation"},
		{"USER", "USER", "case preserved, will not match #2"},
		{"\u00AA", "a", "output is NFKC, input in ISO 8859-1"},
		{"\u2168", "IX", "output is NFKC, will match #1"},
		{"\u0007", "\u0007", "RFC: error, prohibited character; ASCII is used as it is"},
		{"\u0627\u0031", "\u0627\u0031", "RFC: error, bidirectional check; used raw"},
	} {
		if got := pgSASLprep(c.in); got != c.want {
			t.Errorf("SASLprep(%+q) = %+q, want %+q (%s)", c.in, got, c.want, c.why)
		}
	}
}

// TestSASLprepPostgreSQL covers what pg_saslprep does beyond the RFC's
// examples.
func TestSASLprepPostgreSQL(t *testing.T) {
	for _, c := range []struct{ in, want, why string }{
		{"pass\uFB01x", "passfix", "a ligature: NFKC"},
		{"caf\u0065\u0301", "caf\u00E9", "a decomposed accent: NFKC composes it"},
		{"two\u00A0words", "two words", "NO-BREAK SPACE: non-ASCII space mapped to U+0020"},
		{"ideo\u3000space", "ideo space", "IDEOGRAPHIC SPACE"},
		{"zero\u200Bwidth", "zero width", "ZERO WIDTH SPACE is both C.1.2 and B.1: pg_saslprep maps it to a space"},
		{"joi\u200Dner", "joiner", "ZERO WIDTH JOINER: mapped to nothing"},
		{"\u00AD", "\u00AD", "nothing left after mapping: used raw"},
		{"priv\uE000", "priv\uE000", "private use (C.3): used raw"},
		{"new\u2C7C", "new\u2C7C", "unassigned in Unicode 3.2 (A.1), checked before NFKC as pg_saslprep does: used raw"},
		{"\u05D0\u05D1", "\u05D0\u05D1", "RandALCat only: allowed, unchanged"},
		{"\u05D0a\u05D1", "\u05D0a\u05D1", "RandALCat and LCat mixed: used raw"},
		{"\u05D0\u05D11", "\u05D0\u05D11", "RandALCat not last: used raw"},
		{"bad\xffutf8", "bad\xffutf8", "not UTF-8: used raw"},
		{"ctl\x01\u00E9", "ctl\x01\u00E9", "an ASCII control character in a non-ASCII password (C.2.1): used raw"},
		{"tab\tonly", "tab\tonly", "ASCII: as it is"},
		{"\u00E9", "\u00E9", "already NFKC"},
	} {
		if got := pgSASLprep(c.in); got != c.want {
			t.Errorf("pgSASLprep(%+q) = %+q, want %+q (%s)", c.in, got, c.want, c.why)
		}
	}
}

// TestSCRAMSASLprep: a SCRAM-SHA-256 verifier of one spelling matches
// every spelling with the same SASLprep, and no other password; md5
// verifiers compare bytes.
func TestSCRAMSASLprep(t *testing.T) {
	salt := []byte("0123456789abcdef")
	v := pgSCRAM("of\uFB01ce\u00A0cafe\u0301", salt, 4096)
	for _, same := range []string{"office caf\u00E9", "of\uFB01ce cafe\u0301", "of\u00ADfice\u2002caf\u00E9"} {
		if m := checkPG(same, "r", v); !m.ok || !m.known {
			t.Errorf("checkPG(%+q) = %+v, want a match", same, m)
		}
	}
	for _, other := range []string{"office cafe", "office  caf\u00E9", "Office caf\u00E9"} {
		if m := checkPG(other, "r", v); m.ok || !m.known {
			t.Errorf("checkPG(%+q) = %+v, want no match", other, m)
		}
	}
	md5 := pgMD5("\uFB01", "r")
	if !checkPG("\uFB01", "r", md5).ok || checkPG("fi", "r", md5).ok {
		t.Errorf("md5 verifiers must compare the password's bytes, without SASLprep")
	}
}
