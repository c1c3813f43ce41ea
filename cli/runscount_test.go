package cli

import (
	"fmt"
	"regexp"
	"testing"
)

// TestRunsCountsRolledBack: tend runs counts, for an apply, the changes
// still standing (none once rolled back, none when the run rolled itself
// back) and, for a rollback, the changes it reverted.
func TestRunsCountsRolledBack(t *testing.T) {
	dir, root := t.TempDir(), t.TempDir()
	writeFiles(t, dir, map[string]string{"main.hcl": fmt.Sprintf(`
file "first" {
  path    = "%[1]s/first"
  content = "1\n"
}
exec "fails" {
  command    = "exit 3"
  creates    = "%[1]s/never"
  depends_on = [file.first]
}
`, root)})
	if _, _, code := tend(t, "apply", "-C", dir, "-y"); code != 1 {
		t.Fatalf("failing apply: exit %d", code)
	}
	failed := lastRun(t, dir).ID
	writeFiles(t, dir, map[string]string{"main.hcl": fmt.Sprintf("file \"first\" {\n  path    = \"%s/first\"\n  content = \"1\\n\"\n}\nfile \"second\" {\n  path    = \"%[1]s/second\"\n  content = \"2\\n\"\n}\n", root)})
	if _, _, code := tend(t, "apply", "-C", dir, "-y"); code != 0 {
		t.Fatalf("apply: exit %d", code)
	}
	applied := lastRun(t, dir).ID
	row := func(id string) string {
		out, _, _ := tend(t, "runs", "-C", dir)
		m := regexp.MustCompile(`(?m)^` + id + `\s.*$`).FindString(out)
		if m == "" {
			t.Fatalf("run %s not listed:\n%s", id, out)
		}
		return m
	}
	changes := regexp.MustCompile(`\s(\d+)\s+\S+$`)
	count := func(id string) string { return changes.FindStringSubmatch(row(id))[1] }
	if c := count(failed); c != "0" {
		t.Errorf("a run that rolled itself back counts %s changes, want 0: %s", c, row(failed))
	}
	if c := count(applied); c != "2" {
		t.Errorf("apply counts %s changes, want 2: %s", c, row(applied))
	}
	if _, _, code := tend(t, "rollback", "-C", dir, applied, "-y"); code != 0 {
		t.Fatalf("rollback: exit %d", code)
	}
	rb := lastRun(t, dir).ID
	if c := count(applied); c != "0" {
		t.Errorf("a rolled back apply counts %s changes, want 0: %s", c, row(applied))
	}
	if c := count(rb); c != "2" {
		t.Errorf("the rollback counts %s changes, want the 2 it reverted: %s", c, row(rb))
	}
}
