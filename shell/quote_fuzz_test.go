package shell

import (
	"os/exec"
	"strings"
	"testing"
)

// FuzzQuote checks that a real /bin/sh reads Quote(s) back as exactly s,
// for any bytes s. Run it with
//
//	go test -fuzz=FuzzQuote -fuzztime=30s ./shell/
//
// Seeds live in testdata/fuzz/FuzzQuote.
func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", "plain", "it's", "$(id)", "a\nb", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.IndexByte(s, 0) >= 0 {
			t.Skip("argv cannot carry NUL bytes")
		}
		q := Quote(s)
		out, err := exec.Command("/bin/sh", "-c", "printf %s "+q).Output()
		if err != nil {
			t.Fatalf("sh -c 'printf %%s %s': %v", q, err)
		}
		if string(out) != s {
			t.Fatalf("Quote(%q) = %s, which sh reads as %q", s, q, out)
		}
	})
}
