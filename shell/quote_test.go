package shell

import (
	"os/exec"
	"testing"
)

func TestQuote(t *testing.T) {
	tests := map[string]struct {
		in, want string
	}{
		"empty":              {"", "''"},
		"plain word":         {"chrony", "chrony"},
		"path":               {"/etc/chrony/chrony.conf", "/etc/chrony/chrony.conf"},
		"safe punctuation":   {"a.b_c,d:e+f@g%h/i-j", "a.b_c,d:e+f@g%h/i-j"},
		"inner dash":         {"apt-get", "apt-get"},
		"leading dash":       {"-rf", "'-rf'"},
		"lone dash":          {"-", "'-'"},
		"tilde":              {"~", "'~'"},
		"tilde user":         {"~root", "'~root'"},
		"space":              {"two words", "'two words'"},
		"single quote":       {"it's", `'it'\''s'`},
		"only a quote":       {"'", `''\'''`},
		"double quote":       {`say "hi"`, `'say "hi"'`},
		"dollar":             {"$HOME", "'$HOME'"},
		"command subst":      {"$(reboot)", "'$(reboot)'"},
		"backticks":          {"`reboot`", "'`reboot`'"},
		"backslash":          {`a\b`, `'a\b'`},
		"newline":            {"a\nb", "'a\nb'"},
		"glob":               {"*.conf", "'*.conf'"},
		"semicolon":          {"a;b", "'a;b'"},
		"equals":             {"a=b", "'a=b'"},
		"hash":               {"#x", "'#x'"},
		"bang":               {"!x", "'!x'"},
		"braces":             {"{a,b}", "'{a,b}'"},
		"non-UTF-8":          {"\xff\xfe", "'\xff\xfe'"},
		"UTF-8":              {"héllo", "'héllo'"},
		"control characters": {"\x1b[31m", "'\x1b[31m'"},
	}
	sh := shells(t)
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Quote(tc.in); got != tc.want {
				t.Errorf("Quote(%q) = %q, want %q", tc.in, got, tc.want)
			}
			for _, s := range sh {
				if got := roundTrip(t, s, tc.in); got != tc.in {
					t.Errorf("%s read Quote(%q) back as %q", s, tc.in, got)
				}
			}
		})
	}
}

func TestJoin(t *testing.T) {
	if got, want := Join("printf", "%s|", "a b", "", "it's"), `printf '%s|' 'a b' '' 'it'\''s'`; got != want {
		t.Errorf("Join = %q, want %q", got, want)
	}
	if got, want := Join("useradd", "-u", "1001", "-", "--", "-1", "-uv", "-G", "a b"), `useradd -u 1001 '-' '--' '-1' '-uv' -G 'a b'`; got != want {
		t.Errorf("Join = %q, want %q", got, want)
	}
	if got := Join(); got != "" {
		t.Errorf("Join() = %q", got)
	}
	for _, s := range shells(t) {
		out, err := exec.Command(s, "-c", Join("printf", "%s|", "a b", "", "it's", "\n")).Output()
		if err != nil || string(out) != "a b||it's|\n|" {
			t.Errorf("%s: %q %v", s, out, err)
		}
	}
}

// shells are the POSIX shells on this machine that Quote is checked
// against: /bin/sh always (dash on Debian), bash and busybox sh if present.
func shells(t *testing.T) []string {
	t.Helper()
	var found []string
	for _, s := range []string{"/bin/sh", "bash", "busybox"} {
		if p, err := exec.LookPath(s); err == nil {
			found = append(found, p)
		}
	}
	if len(found) == 0 {
		t.Skip("no POSIX shell found")
	}
	return found
}

// roundTrip has the shell print the word Quote(s) and returns what it
// printed.
func roundTrip(t *testing.T, sh, s string) string {
	t.Helper()
	args := []string{"-c", "printf %s " + Quote(s)}
	if len(sh) >= 7 && sh[len(sh)-7:] == "busybox" {
		args = append([]string{"sh"}, args...)
	}
	out, err := exec.Command(sh, args...).Output()
	if err != nil {
		t.Fatalf("%s %q: %v", sh, args, err)
	}
	return string(out)
}
