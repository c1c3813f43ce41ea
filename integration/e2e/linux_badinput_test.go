package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tendhq/tend/integration/lab"
	"github.com/tendhq/tend/integration/testrepo"
)

// daemonPkgs is the standard test repository plus tend-daemon, a package
// shipping a systemd unit (a process that sleeps).
var daemonPkgs = append(append([]testrepo.Pkg(nil), testrepo.Packages...), testrepo.Pkg{
	Name: "tend-daemon", Version: "1.0",
	Files: map[string]string{"lib/systemd/system/tend-daemon.service": `[Unit]
Description=tend test daemon

[Service]
ExecStart=/bin/sleep infinity

[Install]
WantedBy=multi-user.target
`},
})

// TestServiceFromPackage: a service whose unit a package of the same run
// installs plans (its state is read again when applied) and converges in
// one apply; the second plan is a no-op.
func TestServiceFromPackage(t *testing.T) {
	lab.Required(t)
	l, _ := aptLab(t, 1, "svcpkg", daemonPkgs...)
	dir := t.TempDir()
	if err := l.WriteInventory(filepath.Join(dir, "inventory.hcl")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "main.hcl"), `
package "tend-daemon" {}

service "tend-daemon" {
  running    = true
  enabled    = true
  depends_on = [package.tend-daemon]
}
`)
	out, _, code := tend(t, "plan", "-C", dir, "-detailed-exitcode")
	if code != 2 || !strings.Contains(out, "not there yet: service tend-daemon not found: systemd has no unit tend-daemon.service; read again when applied, after package.tend-daemon") {
		t.Fatalf("plan: exit %d, want 2 and the service read again after its package", code)
	}
	if _, _, code := tend(t, "apply", "-C", dir, "-y"); code != 0 {
		t.Fatalf("apply: exit %d", code)
	}
	state, err := l.Exec(1, "systemctl is-active tend-daemon; systemctl is-enabled tend-daemon")
	if err != nil || state != "active\nenabled\n" {
		t.Errorf("tend-daemon after apply: %q (%v), want active and enabled", state, err)
	}
	if out, _, code := tend(t, "plan", "-C", dir, "-detailed-exitcode"); code != 0 || !strings.Contains(out, "No changes") {
		t.Errorf("second plan: exit %d, want 0 and no changes", code)
	}
}

// TestLinuxBadInput: an unknown provider, an invalid cron expression, a
// uid clash and a service missing after its package is installed are each
// a clear error naming the resource (and the host, for what only the host
// can tell); the failing host is rolled back, the other is applied.
func TestLinuxBadInput(t *testing.T) {
	lab.Required(t)
	l, _ := aptLab(t, 2, "badin", daemonPkgs...)
	dir := t.TempDir()
	if err := l.WriteInventory(filepath.Join(dir, "inventory.hcl")); err != nil {
		t.Fatal(err)
	}
	bad, good := l.Host(1).Name, l.Host(2).Name
	if _, err := l.Exec(1, "useradd -u 1500 taken"); err != nil {
		t.Fatal(err)
	}
	snapshot := func(i int) string {
		out, err := l.Exec(i, `dpkg-query -W -f '${Status}\n' tend-hello tend-daemon 2>&1 || true
getent passwd newuser || echo no newuser
ls /etc/cron.d`)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	before1, before2 := snapshot(1), snapshot(2)

	// Errors the configuration alone shows: nothing runs anywhere.
	static := []struct{ name, hcl, want string }{
		{"unknown provider", `
package "tend-hello" {
  provider = "brew"
}`, `main.hcl:3`},
		{"invalid cron expression", `
scheduled_task "nightly" {
  schedule = "61 2 * * *"
  command  = "/bin/true"
}`, `main.hcl:3`},
	}
	for _, c := range static {
		t.Run(c.name, func(t *testing.T) {
			write(t, filepath.Join(dir, "main.hcl"), c.hcl)
			for _, cmd := range []string{"plan", "apply"} {
				args := []string{cmd, "-C", dir}
				if cmd == "apply" {
					args = append(args, "-y")
				}
				out, errOut, code := tend(t, args...)
				if code != 1 || !strings.Contains(out+errOut, "Error: ") || !strings.Contains(out+errOut, c.want) {
					t.Errorf("%s: exit %d, want 1 and an error at %s", cmd, code, c.want)
				}
			}
		})
	}
	if snapshot(1) != before1 || snapshot(2) != before2 {
		t.Fatalf("a configuration error changed a host")
	}

	// A uid another user has on one host: that host's plan fails, naming
	// the resource and the user holding the uid; the other host applies.
	write(t, filepath.Join(dir, "main.hcl"), `
user "newuser" {
  uid = 1500
}`)
	out, errOut, code := tend(t, "apply", "-C", dir, "-y")
	if code != 1 || !strings.Contains(out+errOut, bad) || !strings.Contains(out+errOut, `user.newuser: uid: uid 1500 is already used by user "taken" on this host`) {
		t.Errorf("uid clash: exit %d, want 1 naming %s, user.newuser and the user holding the uid", code, bad)
	}
	if strings.Contains(out, "unreachable") {
		t.Errorf("uid clash: %s reported unreachable", bad)
	}
	if got, _ := l.Exec(2, "id -u newuser"); got != "1500\n" {
		t.Errorf("the other host: newuser uid %q, want 1500", got)
	}
	if _, err := l.Exec(2, "userdel newuser"); err != nil {
		t.Fatal(err)
	}
	if snapshot(1) != before1 || snapshot(2) != before2 {
		t.Fatalf("uid clash: hosts not as before")
	}

	// A service its package does not provide: found missing when applied,
	// after the package; that host is rolled back (the package removed),
	// the other host (whose package ships the unit) is applied.
	write(t, filepath.Join(dir, "main.hcl"), fmt.Sprintf(`
variable "pkg" {
  default = { %q = "tend-hello", %q = "tend-daemon" }
}

package "daemon" {
  name = var.pkg[host.name]
}

service "daemon" {
  name       = var.pkg[host.name]
  running    = true
  enabled    = true
  depends_on = [package.daemon]
}
`, bad, good))
	out, errOut, code = tend(t, "apply", "-C", dir, "-y")
	all := out + errOut
	if code != 1 || !strings.Contains(all, bad) || !strings.Contains(all, "service tend-hello not found: systemd has no unit tend-hello.service, even after the changes it follows were applied") {
		t.Errorf("missing service: exit %d, want 1 naming %s, service.daemon and the missing unit", code, bad)
	}
	if got := snapshot(1); got != before1 {
		t.Errorf("%s not rolled back:\nbefore:\n%s\nafter:\n%s", bad, before1, got)
	}
	if got := debVersion(t, l, 2, "tend-daemon"); got != "1.0" {
		t.Errorf("%s: tend-daemon %q, want 1.0 installed", good, got)
	}
	if state, err := l.Exec(2, "systemctl is-active tend-daemon"); err != nil || state != "active\n" {
		t.Errorf("%s: tend-daemon %q (%v), want active", good, state, err)
	}
}
