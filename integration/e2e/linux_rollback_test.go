package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/tendhq/tend/integration/lab"
	"github.com/tendhq/tend/integration/testrepo"
	"github.com/tendhq/tend/journal"
)

// TestLinuxRollback: one apply installs a package, enables and starts a
// service, adds a user, a cron task and a line, then fails on a later
// change; the host is left as before, checked with dpkg-query, systemctl,
// getent, the cron files and the file bytes.
func TestLinuxRollback(t *testing.T) {
	lab.Required(t)
	l := lab.StartT(t, lab.Options{Hosts: 1, Name: "undo"})
	repo := filepath.Join(t.TempDir(), "repo")
	if err := testrepo.BuildApt(repo); err != nil {
		t.Fatal(err)
	}
	if err := testrepo.InstallApt(l, 1, repo); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Exec(1, "systemctl disable --now cron 2>/dev/null"); err != nil {
		t.Fatal(err)
	}
	state := func() string {
		out, err := l.Exec(1, `
dpkg-query -W -f '${Status}\n' tend-hello 2>&1 || true
systemctl is-active cron || true
systemctl is-enabled cron || true
getent passwd deploy || echo no deploy
ls /etc/cron.d
sha256sum /etc/motd`)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	before := state()
	if !strings.Contains(before, "inactive") || !strings.Contains(before, "no deploy") {
		t.Fatalf("unexpected starting state:\n%s", before)
	}
	dir := t.TempDir()
	if err := l.WriteInventory(filepath.Join(dir, "inventory.hcl")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "main.hcl"), `
package "tend-hello" {}

service "cron" {
  running = true
  enabled = true
}

user "deploy" {
  shell = "/bin/sh"
}

scheduled_task "backup" {
  schedule = "30 2 * * *"
  command  = "/bin/true"
}

line "motd" {
  path = "/etc/motd"
  line = "Authorized use only."
}

file "fails" {
  path       = "/etc/motd/not-a-directory"
  content    = "x"
  depends_on = [package.tend-hello, service.cron, user.deploy, scheduled_task.backup, line.motd]
}
`)
	out, _, code := tend(t, "apply", "-C", dir, "-y")
	if code != 1 {
		t.Fatalf("apply: exit %d, want 1", code)
	}
	if !strings.Contains(out, "! file.fails: create /etc/motd/not-a-directory: parent /etc/motd is not a directory") || !strings.Contains(out, "rolled back 5 changes") {
		t.Errorf("the output does not report the failure and the rollback of 5 changes")
	}
	if after := state(); after != before {
		t.Errorf("the host is not as before:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	runs, _ := journal.List(dir)
	for _, e := range runs[len(runs)-1].Hosts[0].Changes {
		want := journal.Reverted
		if e.Address == "file.fails" {
			want = journal.Failed
		}
		if e.Status != want {
			t.Errorf("journal: %s is %s, want %s", e.Address, e.Status, want)
		}
	}
}
