package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tendhq/tend/integration/lab"
)

// TestRollbackPreviewSSH: over SSH with sudo, the rollback preview reads
// a root-only file and its backup (in the root-only backup directory) and
// shows the diff of what the rollback puts back; the host is unchanged
// by the preview, and the rollback then restores those bytes.
func TestRollbackPreviewSSH(t *testing.T) {
	lab.Required(t)
	l := lab.StartT(t, lab.Options{Hosts: 1, Name: "preview"})
	h := l.Host(1)
	dir := t.TempDir()
	t.Setenv("TEND_TEST_SUDO", lab.OpsSudoPassword)
	write(t, filepath.Join(dir, "inventory.hcl"), fmt.Sprintf(`
host %q {
  address         = %q
  user            = %q
  identity_file   = %q
  become          = true
  become_password = secret("env:TEND_TEST_SUDO")
  ssh {
    known_hosts_file = %q
  }
}
`, h.Name, h.Address, lab.OpsUser, l.ClientKeyFile(), l.KnownHostsFile()))
	write(t, filepath.Join(dir, "main.hcl"), `
file "root_only" {
  path    = "/root/preview.conf"
  content = "a = 1\nb = 3\n"
  mode    = "0600"
}
`)
	p := filepath.Join(h.Root, "root/preview.conf")
	if err := os.WriteFile(p, []byte("a = 1\nb = 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := tend(t, "apply", "-C", dir, "-y"); code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	if got := read(t, p); got != "a = 1\nb = 3\n" {
		t.Fatalf("after apply: %q", got)
	}
	runs, err := os.ReadDir(filepath.Join(dir, ".tend", "runs"))
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs: %v %v", runs, err)
	}
	id := strings.TrimSuffix(runs[0].Name(), ".journal")
	out, errOut, code := tend(t, "rollback", id, "-C", dir)
	if code != 1 || !strings.Contains(errOut, "pass -y") {
		t.Fatalf("rollback preview: exit %d\n%s%s", code, out, errOut)
	}
	want := strings.Join([]string{
		"      content:",
		"        --- /root/preview.conf (now)",
		"        +++ /root/preview.conf (after rollback)",
		"        @@ -1,2 +1,2 @@",
		"         a = 1",
		"        -b = 3",
		"        +b = 2",
		"",
	}, "\n")
	if !strings.Contains(out, want) {
		t.Errorf("the preview lacks the diff:\n%s\nwant:\n%s", out, want)
	}
	if got := read(t, p); got != "a = 1\nb = 3\n" {
		t.Errorf("the preview changed the host: %q", got)
	}
	if out, errOut, code := tend(t, "rollback", id, "-C", dir, "-y"); code != 0 {
		t.Fatalf("rollback: exit %d\n%s%s", code, out, errOut)
	}
	if got := read(t, p); got != "a = 1\nb = 2\n" {
		t.Errorf("after rollback: %q", got)
	}
}
