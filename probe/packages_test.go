package probe

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/transport/local"
)

// TestPackagesMatchDpkg: on a Debian controller the packages section
// reports what dpkg-query reports, in the same script as the facts, and
// nothing for a package that is not installed.
func TestPackagesMatchDpkg(t *testing.T) {
	for _, tool := range []string{"dpkg-query", "apt-get"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("TEND_LAB") == "1" {
				t.Fatalf("TEND_LAB=1 but %s is missing: the lab controller is Debian", tool)
			}
			t.Skipf("needs a Debian host (%s)", tool)
		}
	}
	want := map[string][]string{"tend-no-such-package": nil}
	for _, n := range []string{"dpkg", "coreutils"} {
		v, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", n).Output()
		if err != nil {
			t.Fatal(err)
		}
		want[n] = []string{string(v)}
	}
	names := []string{"dpkg", "tend-no-such-package", "coreutils"}
	res, err := Run(context.Background(), local.New(), true, []Fragment{PackagesFragment(names, false)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Facts.PackageManager != "apt" {
		t.Errorf("facts in the same script: package manager %q", res.Facts.PackageManager)
	}
	got, err := Packages(res, names, false)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("packages (-dpkg-query +probe):\n%s", d)
	}
}

func TestPackagesParse(t *testing.T) {
	res := &Result{Outputs: map[string]resources.ProbeOutput{PackagesID: {Other: strings.Join([]string{
		"pkg|kernel|5.14.0-362.el9", "pkg|kernel|5.14.0-427.el9", "pkg|openssl|1:3.0.7-27.el9",
		"package bash is not installed", "pkg|unasked|1.0", "pkg|broken",
	}, "\n")}}, Failed: map[string]string{}}
	got, err := Packages(res, []string{"kernel", "openssl", "bash"}, false)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"kernel": {"5.14.0-362.el9", "5.14.0-427.el9"}, "openssl": {"1:3.0.7-27.el9"}, "bash": nil}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	win := &Result{Outputs: map[string]resources.ProbeOutput{PackagesID: {Values: map[string]string{"v0": "7.4.1\n7.4.2", "v1": ""}}}, Failed: map[string]string{}}
	got, err = Packages(win, []string{"PowerShell 7-x64", "Absent"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string][]string{"PowerShell 7-x64": {"7.4.1", "7.4.2"}, "Absent": nil}, got); d != "" {
		t.Errorf("windows (-want +got):\n%s", d)
	}
}

func TestCheckPackageName(t *testing.T) {
	for _, ok := range []string{"openssl", "libstdc++6", "python3.11", "gtk2-engines-murrine", "R_base", "x@y", "PowerShell 7-x64", "a;b", "$(id)", "a'b"} {
		if err := CheckPackageName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-rf", "a|b", "a\nb", "a\x00b"} {
		if err := CheckPackageName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
