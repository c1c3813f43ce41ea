package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tendhq/tend/integration/lab"
	"github.com/tendhq/tend/integration/testrepo"
	"github.com/tendhq/tend/journal"
)

// TestPatch: tend patch upgrades a package from the local test repository,
// reboots the host that asks for it, waits for it, runs the health check
// and reports from → to per host.
func TestPatch(t *testing.T) {
	lab.Required(t)
	l := lab.StartT(t, lab.Options{Hosts: 2, Name: "patch"})
	dir := t.TempDir()
	if err := l.WriteInventory(filepath.Join(dir, "inventory.hcl")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "main.hcl"), `
rollout {
  serial = 1
  health_check {
    command = "test -f /usr/share/tend-hello/version"
  }
}
`)
	v1 := filepath.Join(t.TempDir(), "v1")
	if err := testrepo.BuildApt(v1, testrepo.Packages[0], testrepo.Packages[2]); err != nil {
		t.Fatal(err)
	}
	all := filepath.Join(t.TempDir(), "all")
	if err := testrepo.BuildApt(all); err != nil {
		t.Fatal(err)
	}
	for _, h := range l.Hosts {
		if err := testrepo.InstallApt(l, h.Index, v1); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Exec(h.Index, "DEBIAN_FRONTEND=noninteractive apt-get -q -y install tend-hello >/dev/null"); err != nil {
			t.Fatal(err)
		}
		// Version 2.0 appears in the repository.
		if err := testrepo.InstallApt(l, h.Index, all); err != nil {
			t.Fatal(err)
		}
	}
	// Host 2 asks for a reboot, as a kernel or libc upgrade would.
	if _, err := l.Exec(2, "touch /run/reboot-required"); err != nil {
		t.Fatal(err)
	}
	bootBefore, _ := l.Exec(2, "cut -d' ' -f22 /proc/1/stat")

	out, _, code := tend(t, "patch", "-C", dir, "--check")
	if code != 2 || !strings.Contains(out, "~ tend-hello 1.0 → 2.0") {
		t.Fatalf("patch --check: exit %d, want 2 and the pending upgrade", code)
	}
	out, _, code = tend(t, "patch", "-C", dir, "-y")
	if code != 0 {
		t.Fatalf("patch: exit %d", code)
	}
	for _, h := range l.Hosts {
		got, err := l.Exec(h.Index, "dpkg-query -W -f '${Package}=${Version} ' tend-hello tend-dep")
		if err != nil || !strings.Contains(got, "tend-hello=2.0 ") || !strings.Contains(got, "tend-dep=1.0 ") {
			t.Errorf("%s: versions after patch %q (%v), want tend-hello 2.0 and tend-dep 1.0", h.Name, got, err)
		}
		if !strings.Contains(out, fmt.Sprintf("%s: ~ tend-hello 1.0 → 2.0", h.Name)) || !strings.Contains(out, fmt.Sprintf("%s: health check passed", h.Name)) {
			t.Errorf("%s: the report lacks the upgrade or the health check", h.Name)
		}
	}
	if !strings.Contains(out, l.Host(2).Name+": rebooted") || strings.Contains(out, l.Host(1).Name+": rebooted") {
		t.Errorf("only host 2 should have been rebooted")
	}
	bootAfter, _ := l.Exec(2, "cut -d' ' -f22 /proc/1/stat")
	if bootAfter == bootBefore {
		t.Errorf("host 2 was not rebooted")
	}
	runs, _ := journal.List(dir)
	run := runs[len(runs)-1]
	if run.Command != "patch" || run.Outcome != "success" || len(run.Hosts) != 2 || len(run.Hosts[0].Changes) == 0 {
		t.Errorf("journal: %+v", run)
	}
	// Nothing left to do.
	if out, _, code := tend(t, "patch", "-C", dir, "--check"); code != 0 || !strings.Contains(out, "up to date") {
		t.Errorf("second patch --check: exit %d", code)
	}
}
