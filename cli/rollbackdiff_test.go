package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRollbackPreviewDiff: the rollback preview shows, for content it
// puts back from a backup, the diff from what the host holds now to the
// backup; where it cannot (sensitive content, a backup gone), it says
// what it knows and why no diff is shown, never the content.
func TestRollbackPreviewDiff(t *testing.T) {
	unsetenv(t, "TEND_VAR_tok")
	dir, root := t.TempDir(), t.TempDir()
	writeFiles(t, root, map[string]string{
		"a":      "line1\nline2\nline3\n",
		"secret": "old-secret-PREVIEWCANARY\n",
		"gone":   "gone before\n",
	})
	writeFiles(t, dir, map[string]string{"main.hcl": fmt.Sprintf(`
variable "tok" {
  sensitive = true
  default   = "new-secret-value"
}
file "a" {
  path    = "%[1]s/a"
  content = "line1\nLINE2\nline3\n"
}
file "secret" {
  path    = "%[1]s/secret"
  content = var.tok
}
file "gone" {
  path    = "%[1]s/gone"
  content = "gone after\n"
}
`, root)})
	if out, errOut, code := tend(t, "apply", "-C", dir, "-y"); code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	run := lastRun(t, dir)
	// Edited by hand since the run: the diff starts from the host's bytes.
	if err := os.WriteFile(filepath.Join(root, "a"), []byte("line1\nLINE2\nline3\nedited\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var goneBackup string
	for _, e := range run.Hosts[0].Changes {
		if e.Address == "file.gone" {
			goneBackup = e.Undo["backup"]
		}
	}
	if goneBackup == "" {
		t.Fatal("file.gone has no backup in the journal")
	}
	if err := os.Remove(goneBackup); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := tend(t, "rollback", run.ID, "-C", dir)
	if code != 1 || !strings.Contains(errOut, "pass -y") {
		t.Fatalf("rollback preview: exit %d\n%s%s", code, out, errOut)
	}
	a := filepath.Join(root, "a")
	want := strings.Join([]string{
		"  ↶ file.a will be restored: content",
		"      content:",
		"        --- " + a + " (now)",
		"        +++ " + a + " (after rollback)",
		"        @@ -1,4 +1,3 @@",
		"         line1",
		"        -LINE2",
		"        +line2",
		"         line3",
		"        -edited",
		"",
	}, "\n")
	if !strings.Contains(out, want) {
		t.Errorf("the preview lacks file.a's diff:\n%s\nwant:\n%s", out, want)
	}
	if !strings.Contains(out, "  ↶ file.secret will be restored: content, mode \"0644\"\n      content: sha256 ") || !strings.Contains(out, "from the host's backup; not shown: sensitive\n") {
		t.Errorf("the preview does not say why file.secret's content is not shown:\n%s", out)
	}
	if strings.Contains(out+errOut, "PREVIEWCANARY") {
		t.Errorf("the preview showed sensitive content:\n%s", out)
	}
	if !strings.Contains(out, "not shown: its backup "+goneBackup+" cannot be read: no such file") {
		t.Errorf("the preview does not say the backup is gone:\n%s", out)
	}
	if strings.Contains(out, "gone before") {
		t.Errorf("content shown for a missing backup:\n%s", out)
	}
}
