package plan

import "testing"

// TestUnifiedNoNewline: a last line without a newline is a line of its
// own in the diff, followed by diff's marker, on the side it ends.
func TestUnifiedNoNewline(t *testing.T) {
	cases := map[string]struct{ a, b, want string }{
		"both sides":          {"b", "a", "--- before\n+++ after\n@@ -1 +1 @@\n-b\n\\ No newline at end of file\n+a\n\\ No newline at end of file\n"},
		"newline removed":     {"x\n", "x", "--- before\n+++ after\n@@ -1 +1 @@\n-x\n+x\n\\ No newline at end of file\n"},
		"newline added":       {"x", "x\n", "--- before\n+++ after\n@@ -1 +1 @@\n-x\n\\ No newline at end of file\n+x\n"},
		"unchanged last line": {"a\nz", "b\nz", "--- before\n+++ after\n@@ -1,2 +1,2 @@\n-a\n+b\n z\n\\ No newline at end of file\n"},
		"newlines":            {"a\n", "b\n", "--- before\n+++ after\n@@ -1 +1 @@\n-a\n+b\n"},
		"created":             {"", "n", "--- before\n+++ after\n@@ -0,0 +1 @@\n+n\n\\ No newline at end of file\n"},
	}
	for name, c := range cases {
		if got := unified([]byte(c.a), []byte(c.b)); got != c.want {
			t.Errorf("%s:\n got %q\nwant %q", name, got, c.want)
		}
	}
}
