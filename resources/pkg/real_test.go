//go:build linux

package pkg

// Tests against the real dnf, zypper and pacman, pointed at installroots
// on the controller (Package.root): the probe fragments, the transactions
// and the parsing run exactly as on a host, against temporary
// repositories from integration/testrepo. Like every end-to-end test they
// run with TEND_LAB=1 only; they need root and the tools
// (integration/scripts/pkg-deps.sh installs them) and fail without them.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/integration/lab"
	"github.com/tendhq/tend/integration/testrepo"
	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/resources/pkg/pkgtest"
	"github.com/tendhq/tend/resources/resourcetest"
	"github.com/tendhq/tend/transport/local"
)

func needTools(t *testing.T, tools ...string) {
	t.Helper()
	if !lab.Enabled() {
		t.Skip("end-to-end test against the real package managers: set " + lab.EnvVar + "=1 (as root)")
	}
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) == 0 {
		return
	}
	t.Fatal("needs " + strings.Join(missing, ", ") + " (run integration/scripts/pkg-deps.sh as root)")
}

func sh(t *testing.T, script string) string {
	t.Helper()
	out, err := exec.Command("sh", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	return string(out)
}

func localHost(t *testing.T) *resources.Host {
	return &resources.Host{Name: "local", T: local.New(), RunID: "test", BackupDir: t.TempDir()}
}

// withBase adds tend-base to the standard set: zypper (with Debian's rpm)
// fails to cache an rpm database it has just emptied, which no real SUSE
// host ever has, so zypper's roots keep tend-base installed.
func withBase() []testrepo.Pkg {
	return append(append([]testrepo.Pkg{}, testrepo.Packages...), testrepo.Pkg{Name: "tend-base", Version: "1.0"})
}

func rpmInstalled(t *testing.T, root string) func(string) string {
	return func(name string) string {
		out, err := exec.Command("rpm", "--root", root, "-q", "--qf", "%{VERSION}-%{RELEASE}", name).Output()
		if err != nil {
			return ""
		}
		return string(out)
	}
}

// TestDNFInstallroot: the contract timeline with the real dnf.
func TestDNFInstallroot(t *testing.T) {
	needTools(t, "dnf", "rpm", "rpmbuild", "createrepo_c")
	repo, root := t.TempDir(), t.TempDir()
	if err := testrepo.BuildRPM(repo); err != nil {
		t.Fatal(err)
	}
	if err := testrepo.WriteYumRepo(root, repo); err != nil {
		t.Fatal(err)
	}
	// A host that has downloaded its repositories' metadata once, as dnf
	// does on its first run (probes read the cache only).
	sh(t, "dnf -q -y --installroot="+root+" makecache 2>&1 | grep -v 'release version' || true")
	typ := Package{root: root}
	// A pin without the release ("1.0") matches any release.
	pkgtest.Run(t, local.New(), localHost(t), typ, versionsSteps(t, "dnf", "1.0-1", "2.0-1", "1.0", rpmInstalled(t, root)))
	sh(t, "dnf -q -y --installroot="+root+" install tend-hello 2>&1 | grep -v 'release version' || true")
	checkPrelude(t, typ, "dnf", rpmInstalled(t, root))
}

// TestZypperRoot: the contract timeline with the real zypper.
func TestZypperRoot(t *testing.T) {
	needTools(t, "zypper", "rpm", "rpmbuild", "createrepo_c")
	repo, root := t.TempDir(), t.TempDir()
	if err := testrepo.BuildRPM(repo, withBase()...); err != nil {
		t.Fatal(err)
	}
	if err := testrepo.WriteZypperRepo(root, repo); err != nil {
		t.Fatal(err)
	}
	sh(t, "zypper -n -q --root "+root+" refresh && zypper -n -q --root "+root+" install tend-base")
	typ := Package{root: root}
	pkgtest.Run(t, local.New(), localHost(t), typ, versionsSteps(t, "zypper", "1.0-1", "2.0-1", "1.0-1", rpmInstalled(t, root)))
	sh(t, "zypper -n -q --root "+root+" install tend-hello")
	checkPrelude(t, typ, "zypper", rpmInstalled(t, root))
}

// TestPacmanRoot: the contract timeline with the real pacman. A pacman
// repository offers one version of a package: tend-hello 1.0 first, then
// (as a distribution does) 2.0 replaces it in the repository, and the
// older version comes from pacman's package cache.
func TestPacmanRoot(t *testing.T) {
	needTools(t, "pacman")
	repo, root := t.TempDir(), t.TempDir()
	pk := testrepo.Packages
	build := func(t *testing.T, pkgs ...testrepo.Pkg) {
		if err := testrepo.BuildPacman(repo, pkgs...); err != nil {
			t.Fatal(err)
		}
		// -Syy: a database rebuilt within the second of the last
		// refresh has the same mtime, which -Sy takes for up to date.
		sh(t, "pacman --noconfirm --root "+root+" --dbpath "+root+"/var/lib/pacman --config "+root+"/etc/pacman.conf --cachedir "+root+"/var/cache/pacman/pkg --logfile "+root+"/var/log/pacman.log -Syy")
	}
	if err := testrepo.WritePacmanConf(root, repo); err != nil {
		t.Fatal(err)
	}
	build(t, pk[0], pk[2], pk[3]) // tend-hello 1.0, tend-dep, tend-other
	installed := func(name string) string {
		out, err := exec.Command("pacman", "--root", root, "--dbpath", root+"/var/lib/pacman", "-Q", name).Output()
		if err != nil {
			return ""
		}
		_, v, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
		return v
	}
	steps := versionsSteps(t, "pacman", "1.0-1", "2.0-1", "1.0-1", installed)
	for i := range steps {
		if steps[i].Name == "latest" {
			steps[i].Prepare = func(t *testing.T) { build(t, pk...) } // 2.0 replaces 1.0
		}
	}
	typ := Package{root: root}
	pkgtest.Run(t, local.New(), localHost(t), typ, steps)
	if t.Failed() {
		return
	}
	// The downgrade came from the cache.
	if _, err := os.Stat(filepath.Join(root, "var/cache/pacman/pkg", testrepo.PacmanFile(pk[0]))); err != nil {
		t.Errorf("tend-hello 1.0 is not in the cache: %v", err)
	}
	sh(t, "pacman --noconfirm --root "+root+" --dbpath "+root+"/var/lib/pacman --config "+root+"/etc/pacman.conf --cachedir "+root+"/var/cache/pacman/pkg --logfile "+root+"/var/log/pacman.log -S tend-hello")
	checkPrelude(t, typ, "pacman", installed)
}

// TestBatchOneTransaction: two installs and a removal in one batch are
// one package manager transaction where the manager allows it (dnf:
// dnf shell; zypper: install with -name), checked in its history.
func TestBatchOneTransaction(t *testing.T) {
	ctx := context.Background()
	t.Run("dnf", func(t *testing.T) {
		needTools(t, "dnf", "rpm", "rpmbuild", "createrepo_c")
		repo, root := t.TempDir(), t.TempDir()
		if err := testrepo.BuildRPM(repo); err != nil {
			t.Fatal(err)
		}
		testrepo.WriteYumRepo(root, repo)
		sh(t, "dnf -q -y --installroot="+root+" makecache 2>&1 | grep -v 'release version' || true")
		typ := Package{root: root}
		tr := local.New()
		sh(t, "dnf -q -y --installroot="+root+" install tend-dep 2>&1 | grep -v 'release version' || true")
		items := batchItems(t, tr, typ, "dnf")
		for i, r := range typ.ApplyBatch(ctx, localHost(t), items) {
			if r.Err != nil {
				t.Errorf("item %d: %v", i, r.Err)
			}
		}
		got := sh(t, "rpm --root "+root+" -qa --qf '%{NAME}\\n' | sort | tr '\\n' ' '")
		if got != "tend-hello tend-other " {
			t.Errorf("installed: %q, want tend-hello and tend-other, tend-dep removed", got)
		}
		// dnf history: the makecache-era install of tend-dep, then ONE
		// transaction for the batch.
		hist := sh(t, "dnf -q --installroot="+root+" history list 2>/dev/null | grep -c '^ *[0-9]'")
		if strings.TrimSpace(hist) != "2" {
			t.Errorf("dnf history has %s transactions, want 2 (setup + one for the batch)", strings.TrimSpace(hist))
		}
	})
	t.Run("zypper", func(t *testing.T) {
		needTools(t, "zypper", "rpm", "rpmbuild", "createrepo_c")
		repo, root := t.TempDir(), t.TempDir()
		if err := testrepo.BuildRPM(repo, withBase()...); err != nil {
			t.Fatal(err)
		}
		testrepo.WriteZypperRepo(root, repo)
		sh(t, "zypper -n -q --root "+root+" refresh && zypper -n -q --root "+root+" install tend-dep")
		typ := Package{root: root}
		tr := local.New()
		items := batchItems(t, tr, typ, "zypper")
		for i, r := range typ.ApplyBatch(ctx, localHost(t), items) {
			if r.Err != nil {
				t.Errorf("item %d: %v", i, r.Err)
			}
		}
		got := sh(t, "rpm --root "+root+" -qa --qf '%{NAME}\\n' | grep -v tend-base | sort | tr '\\n' ' '")
		if got != "tend-hello tend-other " {
			t.Errorf("installed: %q, want tend-hello and tend-other, tend-dep removed", got)
		}
		// zypper's history logs one "command" line per zypper run.
		runs := sh(t, "grep -c '|command|' "+root+"/var/log/zypp/history")
		if strings.TrimSpace(runs) != "2" {
			t.Errorf("zypper history has %s commands, want 2 (setup + one for the batch)", strings.TrimSpace(runs))
		}
	})
}

// batchItems plans tend-hello 1.0 and tend-other present, and tend-dep
// absent.
func batchItems(t *testing.T, tr *local.Transport, typ Package, provider string) []resources.BatchItem {
	s := cty.StringVal
	var items []resources.BatchItem
	for _, c := range []map[string]cty.Value{
		{"name": s("tend-hello"), "version": s("1.0-1")},
		{"name": s("tend-other")},
		{"name": s("tend-dep"), "state": s("absent")},
	} {
		c["provider"] = s(provider)
		cfg := resourcetest.Object(typ, c)
		before, want, err := pkgtest.Plan(t, tr, typ, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if act, _ := plan.Diff(before, want); act == plan.NoOp {
			t.Fatalf("%v: no change planned", c)
		}
		items = append(items, resources.BatchItem{Config: cfg, Before: before, After: want})
	}
	return items
}

// checkPrelude: the probe prelude, run against the real package manager,
// answers for every name (installed or not) what installed says, so the
// fragments use its answer rather than asking again.
func checkPrelude(t *testing.T, typ Package, provider string, installed func(string) string) {
	t.Helper()
	names := []string{"tend-hello", "tend-other", "tend-dep", "tend-nonexistent"}
	var cfgs []cty.Value
	script := ""
	for _, n := range names {
		cfgs = append(cfgs, resourcetest.Object(typ, map[string]cty.Value{"name": cty.StringVal(n), "provider": cty.StringVal(provider)}))
		k := provider + "_" + varKey(n)
		script += "printf '%s k=%s v=%s\\n' " + n + " \"${tend_pkg_k_" + k + "-}\" \"${tend_pkg_v_" + k + "-}\"\n"
	}
	out := sh(t, "LC_ALL=C; export LC_ALL\n"+typ.ProbePrelude(cfgs)+"\n"+script)
	var want strings.Builder
	for _, n := range names {
		fmt.Fprintf(&want, "%s k=1 v=%s\n", n, installed(n))
	}
	if out != want.String() {
		t.Errorf("prelude answers:\n%s\nwant:\n%s", out, want.String())
	}
}
