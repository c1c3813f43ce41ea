package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/integration/lab"
	"github.com/tendhq/tend/integration/testrepo"
	"github.com/tendhq/tend/inventory"
	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/resources/pkg"
	"github.com/tendhq/tend/resources/pkg/pkgtest"
	"github.com/tendhq/tend/transport"
	"github.com/tendhq/tend/transport/ssh"
)

// The package type on lab hosts (real Debian, apt, dpkg) with the local
// apt repository of integration/testrepo as their only package source:
// tend-hello 1.0 and 2.0 (2.0 depends on tend-dep), tend-dep 1.0,
// tend-other 1.0.

// aptLab boots n hosts and makes the test repository (the standard set,
// or pkgs) their only package source.
func aptLab(t *testing.T, n int, name string, pkgs ...testrepo.Pkg) (*lab.Lab, string) {
	t.Helper()
	l := lab.StartT(t, lab.Options{Hosts: n, Name: name})
	repo := t.TempDir()
	if err := testrepo.BuildApt(repo, pkgs...); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		if err := testrepo.InstallApt(l, i, repo); err != nil {
			t.Fatal(err)
		}
	}
	return l, repo
}

// debVersion is the installed version of a package on lab host i, or ""
// (dpkg-query inside the host).
func debVersion(t *testing.T, l *lab.Lab, i int, name string) string {
	t.Helper()
	out, err := l.Exec(i, "dpkg-query -W -f='${db:Status-Abbrev}${Version}' "+name+" 2>/dev/null || true")
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 3 || out[1] != 'i' { // "ii " installed, "hi " installed and held
		return ""
	}
	return strings.TrimSpace(out[3:])
}

// aptRuns counts the apt-get runs that changed packages on lab host i
// (the Commandline lines of /var/log/apt/history.log).
func aptRuns(t *testing.T, l *lab.Lab, i int) []string {
	t.Helper()
	out, err := l.Exec(i, "grep '^Commandline:' /var/log/apt/history.log 2>/dev/null || true")
	if err != nil {
		t.Fatal(err)
	}
	var runs []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line != "" {
			runs = append(runs, line)
		}
	}
	return runs
}

// pkgDial opens an SSH transport to lab host i as root.
func pkgDial(t *testing.T, l *lab.Lab, i int) transport.Transport {
	t.Helper()
	inv := filepath.Join(t.TempDir(), "inventory.hcl")
	if err := l.WriteInventory(inv, lab.InventoryHosts(i)); err != nil {
		t.Fatal(err)
	}
	in, diags := inventory.Load([]string{inv}, nil)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	tr, err := ssh.Dial(context.Background(), in.Host(l.Host(i).Name), ssh.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// TestPackageContract: the idempotence contract over SSH on a Debian
// host for install (present), no-op, pin, latest, downgrade, absent: the
// plan shows the expected action, apply converges, the state read back
// equals the desired one, the revert restores the pre-state (and undoes
// the dependency an upgrade pulled in), a second plan is a no-op.
func TestPackageContract(t *testing.T) {
	lab.Required(t)
	l, _ := aptLab(t, 1, "pkgc")
	tr := pkgDial(t, l, 1)
	host := &resources.Host{Name: l.Host(1).Name, T: tr, RunID: "contract", BackupDir: "/var/lib/tend/backup/contract"}
	s := cty.StringVal
	expect := func(name, want string) func(*testing.T) {
		return func(t *testing.T) {
			t.Helper()
			if got := debVersion(t, l, 1, name); got != want {
				t.Errorf("%s installed: %q, want %q", name, got, want)
			}
		}
	}
	check := func(fs ...func(*testing.T)) func(*testing.T, *resources.State) {
		return func(t *testing.T, _ *resources.State) {
			for _, f := range fs {
				f(t)
			}
		}
	}
	pkgtest.Run(t, tr, host, pkg.Package{}, []pkgtest.Step{
		{Name: "install", Config: map[string]cty.Value{"name": s("tend-other")}, Want: plan.Create,
			Check: check(expect("tend-other", "1.0")), AfterRevert: expect("tend-other", "")},
		{Name: "no-op", Config: map[string]cty.Value{"name": s("tend-other")}, Want: plan.NoOp},
		{Name: "pin", Config: map[string]cty.Value{"name": s("tend-hello"), "version": s("1.0")}, Want: plan.Create,
			Check: check(expect("tend-hello", "1.0"))},
		{Name: "latest", Config: map[string]cty.Value{"name": s("tend-hello"), "state": s("latest")}, Want: plan.Update,
			Check: check(expect("tend-hello", "2.0"), expect("tend-dep", "1.0")),
			// Reverting the upgrade reinstalls 1.0 and removes tend-dep,
			// which only the upgrade needed.
			AfterRevert: func(t *testing.T) { expect("tend-hello", "1.0")(t); expect("tend-dep", "")(t) }},
		{Name: "latest no-op", Config: map[string]cty.Value{"name": s("tend-hello"), "state": s("latest")}, Want: plan.NoOp},
		{Name: "downgrade", Config: map[string]cty.Value{"name": s("tend-hello"), "version": s("1.0")}, Want: plan.Update,
			Check: check(expect("tend-hello", "1.0"))},
		{Name: "update_cache", Config: map[string]cty.Value{"name": s("tend-dep"), "update_cache": cty.True}, Want: plan.NoOp},
		{Name: "absent", Config: map[string]cty.Value{"name": s("tend-hello"), "state": s("absent")}, Want: plan.Delete,
			Check: check(expect("tend-hello", "")), AfterRevert: expect("tend-hello", "1.0")},
		{Name: "unavailable pin", Config: map[string]cty.Value{"name": s("tend-hello"), "version": s("3.0")},
			WantError: `version "3.0" of tend-hello is not available from the host's package sources (available: 2.0, 1.0)`},
	})
}

// TestPackageVersions walks tend-hello through its versions with the
// CLI on two hosts, checking dpkg inside the hosts and that every second
// plan is a no-op; drift on one host is reported for that host only; two
// packages are installed in ONE apt-get run.
func TestPackageVersions(t *testing.T) {
	lab.Required(t)
	l, _ := aptLab(t, 2, "pkgv")
	dir := t.TempDir()
	if err := l.WriteInventory(filepath.Join(dir, "inventory.hcl")); err != nil {
		t.Fatal(err)
	}
	runs0 := []int{len(aptRuns(t, l, 1)), len(aptRuns(t, l, 2))}
	apply := func(t *testing.T, config string, want map[string]string) string {
		t.Helper()
		write(t, filepath.Join(dir, "main.hcl"), config)
		planOut, _, code := tend(t, "plan", "-C", dir, "-detailed-exitcode")
		if code != 2 {
			t.Fatalf("plan: exit %d, want 2 (changes)", code)
		}
		if _, _, code := tend(t, "apply", "-C", dir, "-y"); code != 0 {
			t.Fatalf("apply: exit %d", code)
		}
		for i := 1; i <= 2; i++ {
			for name, v := range want {
				if got := debVersion(t, l, i, name); got != v {
					t.Errorf("host %d: %s is %q, want %q", i, name, got, v)
				}
			}
		}
		if out, _, code := tend(t, "plan", "-C", dir, "-detailed-exitcode"); code != 0 || !strings.Contains(out, "No changes.") {
			t.Fatalf("second plan: exit %d, want 0 and no changes", code)
		}
		return planOut
	}

	// Pin 1.0, and tend-other (its name is the block's label): both
	// packages in one apt-get transaction.
	out := apply(t, `
package "hello" {
  name    = "tend-hello"
  version = "1.0"
}
package "tend-other" {}
`, map[string]string{"tend-hello": "1.0", "tend-other": "1.0", "tend-dep": ""})
	if !strings.Contains(out, `version = "1.0"`) {
		t.Errorf("the plan does not show the pinned version")
	}
	for i := 1; i <= 2; i++ {
		runs := aptRuns(t, l, i)[runs0[i-1]:]
		if len(runs) != 1 || !strings.Contains(runs[0], "tend-hello=1.0") || !strings.Contains(runs[0], "tend-other") {
			t.Errorf("host %d: apt-get runs for the two packages: %q, want one for both", i, runs)
		}
	}

	// Latest: 2.0, pulling in tend-dep.
	out = apply(t, `
package "hello" {
  name  = "tend-hello"
  state = "latest"
}
package "tend-other" {}
`, map[string]string{"tend-hello": "2.0", "tend-dep": "1.0"})
	if !strings.Contains(out, `version: "1.0" → "2.0"`) {
		t.Errorf("the plan does not show the upgrade 1.0 → 2.0")
	}

	// Back to 1.0: a downgrade, shown in the plan.
	out = apply(t, `
package "hello" {
  name    = "tend-hello"
  version = "1.0"
}
package "tend-other" {}
`, map[string]string{"tend-hello": "1.0"})
	if !strings.Contains(out, `version: "2.0" → "1.0"`) {
		t.Errorf("the plan does not show the downgrade 2.0 → 1.0")
	}

	// Drift: tend-other removed by hand on host 2 only.
	if _, err := l.Exec(2, "DEBIAN_FRONTEND=noninteractive apt-get remove -y -q tend-other"); err != nil {
		t.Fatal(err)
	}
	changed, errs := planJSON(t, "-C", dir)
	if len(errs) > 0 {
		t.Fatalf("plan errors: %v", errs)
	}
	if want := map[string][]string{l.Host(2).Name: {"package.tend-other"}}; fmt.Sprint(changed) != fmt.Sprint(want) {
		t.Errorf("drift reported as %v, want %v", changed, want)
	}
	if _, _, code := tend(t, "apply", "-C", dir, "-y"); code != 0 {
		t.Fatalf("restoring apply: exit %d", code)
	}
	if got := debVersion(t, l, 2, "tend-other"); got != "1.0" {
		t.Errorf("tend-other not restored on host 2: %q", got)
	}

	// Absent.
	apply(t, `
package "hello" {
  name  = "tend-hello"
  state = "absent"
}
`, map[string]string{"tend-hello": "", "tend-other": "1.0"})

	// A pin the sources do not offer is a plan error naming those they do.
	write(t, filepath.Join(dir, "main.hcl"), `
package "hello" {
  name    = "tend-hello"
  version = "3.0"
}
`)
	if out, errOut, code := tend(t, "plan", "-C", dir); code != 1 || !strings.Contains(out+errOut, `version "3.0" of tend-hello is not available from the host's package sources (available: 2.0, 1.0)`) {
		t.Errorf("unavailable pin: exit %d, want 1 and the available versions", code)
	}
}

// TestPackageRollback: when a later change fails, the host is rolled
// back: a package the run installed is removed, a package it upgraded is
// reinstalled at its previous version. A change whose previous version
// the sources no longer offer is announced as irreversible in the plan.
func TestPackageRollback(t *testing.T) {
	lab.Required(t)
	l, _ := aptLab(t, 1, "pkgr")
	dir := t.TempDir()
	if err := l.WriteInventory(filepath.Join(dir, "inventory.hcl")); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Exec(1, "DEBIAN_FRONTEND=noninteractive apt-get install -y -q tend-hello=1.0"); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "main.hcl"), `
package "hello" {
  name  = "tend-hello"
  state = "latest"
}
package "other" {
  name = "tend-other"
}
exec "fails" {
  command    = "echo failing on purpose >&2; exit 3"
  creates    = "/nonexistent"
  depends_on = [package.hello, package.other]
}
`)
	out, errOut, code := tend(t, "apply", "-C", dir, "-y")
	if code == 0 {
		t.Fatalf("apply succeeded, want the exec to fail")
	}
	if !strings.Contains(out+errOut, "failing on purpose") {
		t.Errorf("the failure is not reported")
	}
	if got := debVersion(t, l, 1, "tend-hello"); got != "1.0" {
		t.Errorf("tend-hello after rollback: %q, want 1.0 reinstalled", got)
	}
	for _, name := range []string{"tend-other", "tend-dep"} {
		if got := debVersion(t, l, 1, name); got != "" {
			t.Errorf("%s after rollback: %q, want removed", name, got)
		}
	}

	// The repository drops 1.0: upgrading now cannot be reverted, and
	// the plan says so.
	repo2 := t.TempDir()
	if err := testrepo.BuildApt(repo2, testrepo.Packages[1:]...); err != nil {
		t.Fatal(err)
	}
	if err := testrepo.InstallApt(l, 1, repo2); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "main.hcl"), `
package "hello" {
  name  = "tend-hello"
  state = "latest"
}
`)
	out, _, code = tend(t, "plan", "-C", dir, "-detailed-exitcode")
	if code != 2 || !strings.Contains(out, "cannot be rolled back: the installed version 1.0 of tend-hello is no longer offered by the host's package sources (available: 2.0)") {
		t.Errorf("plan: exit %d, want 2 and the irreversibility", code)
	}

	// A failing transaction reports apt's own words.
	if _, err := l.Exec(1, "apt-mark hold tend-hello"); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = tend(t, "apply", "-C", dir, "-y")
	if code != 1 || !strings.Contains(out+errOut, "E: Held packages were changed and -y was used without --allow-change-held-packages.") {
		t.Errorf("apply of a held package: exit %d, want 1 with apt's error", code)
	}
	if got := debVersion(t, l, 1, "tend-hello"); got != "1.0" {
		t.Errorf("held tend-hello: %q, want 1.0 untouched", got)
	}
}

// TestPackageIndexRefresh: a package the host's index does not know yet
// (the repository gained it after the last apt-get update) is installed:
// apply refreshes the index first because the probe found no candidate.
func TestPackageIndexRefresh(t *testing.T) {
	lab.Required(t)
	l, _ := aptLab(t, 1, "pkgi", testrepo.Packages[0], testrepo.Packages[2])
	// tend-other joins the repository without an apt-get update.
	repo2 := t.TempDir()
	if err := testrepo.BuildApt(repo2); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(l.Host(1).Root, testrepo.AptSourcePath)
	for _, f := range []string{"Packages", "Packages.gz", "Release", testrepo.DebFile(testrepo.Packages[3])} {
		b, err := os.ReadFile(filepath.Join(repo2, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	if err := l.WriteInventory(filepath.Join(dir, "inventory.hcl")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "main.hcl"), "package \"tend-other\" {}\n")
	if _, _, code := tend(t, "apply", "-C", dir, "-y"); code != 0 {
		t.Fatalf("apply: exit %d", code)
	}
	if got := debVersion(t, l, 1, "tend-other"); got != "1.0" {
		t.Errorf("tend-other: %q, want 1.0", got)
	}
}
