package probe

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tendhq/tend/resources"
)

// needTools skips without the tools, except in the lab (TEND_LAB=1),
// where integration/scripts/pkg-deps.sh has installed them and a missing
// one fails the test.
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("TEND_LAB") == "1" {
				t.Fatalf("TEND_LAB=1 but %s is missing (integration/scripts/pkg-deps.sh installs it)", tool)
			}
			t.Skipf("needs %s (integration/scripts/pkg-deps.sh installs it)", tool)
		}
	}
}

// runPackagesWith runs the packages section alone with only bin on PATH
// (so the package manager found is the one bin holds) and returns what
// it reports.
func runPackagesWith(t *testing.T, bin string, names []string) map[string][]string {
	t.Helper()
	frags := []Fragment{PackagesFragment(names, false)}
	nonce := newNonce()
	cmd := exec.Command("/bin/sh", "-c", Script(nonce, false, frags))
	cmd.Env = []string{"PATH=" + bin}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("probe script: %v", err)
	}
	res, err := Parse(nonce, false, frags, out)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Packages(res, names, false)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// wrapper writes an executable NAME into bin running the real tool
// with extra arguments first (a database of the test's own).
func wrapper(t *testing.T, bin, name, real string, args string) {
	t.Helper()
	script := fmt.Sprintf("#!/bin/sh\nexec %s %s \"$@\"\n", real, args)
	if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestPackagesFromRPM: on a dnf host, versions come from the real rpm's
// database with their epoch and release, every installed version of a
// package kept side by side (as kernels are), nothing for one that is
// not installed.
func TestPackagesFromRPM(t *testing.T) {
	needTools(t, "rpm", "rpmbuild")
	rpmPath, _ := exec.LookPath("rpm")
	top := t.TempDir()
	db := filepath.Join(top, "db")
	built := filepath.Join(top, "rpms")
	build := func(name, epoch, version, release string) string {
		spec := fmt.Sprintf("Name: %s\n%sVersion: %s\nRelease: %s\nSummary: t\nLicense: MIT\nBuildArch: noarch\n%%description\nt\n%%files\n",
			name, epoch, version, release)
		sp := filepath.Join(top, name+version+".spec")
		if err := os.WriteFile(sp, []byte(spec), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("rpmbuild", "-bb", "--quiet", "--define", "_topdir "+filepath.Join(top, "build"), "--define", "_rpmdir "+built,
			"--define", "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.rpm", sp).CombinedOutput()
		if err != nil {
			t.Fatalf("rpmbuild: %v\n%s", err, out)
		}
		return filepath.Join(built, name+"-"+version+"-"+release+".rpm")
	}
	pkgs := []string{
		build("tend-ssl", "Epoch: 1\n", "3.0.7", "27.el9"),
		build("tend-kernel", "", "5.14.0", "362.el9"),
		build("tend-kernel", "", "5.14.0", "427.el9"),
	}
	for _, p := range pkgs {
		if out, err := exec.Command("rpm", "--dbpath", db, "-i", "--justdb", "--nodeps", p).CombinedOutput(); err != nil {
			t.Fatalf("rpm -i %s: %v\n%s", p, err, out)
		}
	}
	bin := t.TempDir()
	wrapper(t, bin, "rpm", rpmPath, "--dbpath "+db)
	wrapper(t, bin, "dnf", "/bin/false", "")
	got := runPackagesWith(t, bin, []string{"tend-ssl", "tend-kernel", "tend-absent"})
	want := map[string][]string{"tend-ssl": {"1:3.0.7-27.el9"}, "tend-kernel": {"5.14.0-362.el9", "5.14.0-427.el9"}, "tend-absent": nil}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

// TestPackagesFromPacman: on a pacman host, versions come from the real
// pacman -Q, here over a local database of the test's own.
func TestPackagesFromPacman(t *testing.T) {
	needTools(t, "pacman")
	pacmanPath, _ := exec.LookPath("pacman")
	db := t.TempDir()
	local := filepath.Join(db, "local")
	for name, ver := range map[string]string{"tend-ssl": "3.0.13-1", "tend-git": "1:2.44.0-1"} {
		d := filepath.Join(local, name+"-"+ver)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		desc := fmt.Sprintf("%%NAME%%\n%s\n\n%%VERSION%%\n%s\n\n%%ARCH%%\nany\n\n", name, ver)
		if err := os.WriteFile(filepath.Join(d, "desc"), []byte(desc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(local, "ALPM_DB_VERSION"), []byte("9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	wrapper(t, bin, "pacman", pacmanPath, "--dbpath "+db)
	got := runPackagesWith(t, bin, []string{"tend-ssl", "tend-git", "tend-absent"})
	want := map[string][]string{"tend-ssl": {"3.0.13-1"}, "tend-git": {"1:2.44.0-1"}, "tend-absent": nil}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

// TestPackagesFromApkDatabase: the program reading apk's installed
// database, run by awk over a database in apk's format.
func TestPackagesFromApkDatabase(t *testing.T) {
	needTools(t, "awk")
	db := filepath.Join(t.TempDir(), "installed")
	content := "C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\n\nC:Q1def=\nP:libssl3\nV:3.1.4-r5\nA:x86_64\n\nP:openssl\nV:3.1.4-r5\n\nP:libssl\nV:9\n"
	if err := os.WriteFile(db, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("awk", "-v", "want= libssl3 musl absent ", apkInstalled, db).Output()
	if err != nil {
		t.Fatal(err)
	}
	res := &Result{Outputs: map[string]resources.ProbeOutput{PackagesID: {Other: string(out)}}, Failed: map[string]string{}}
	got, err := Packages(res, []string{"libssl3", "musl", "absent"}, false)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"libssl3": {"3.1.4-r5"}, "musl": {"1.2.4-r2"}, "absent": nil}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}
