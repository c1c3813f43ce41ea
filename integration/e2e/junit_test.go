package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/tendhq/tend/integration/lab"
)

// TestDriftJUnit: tend drift --format junit is read by an independent JUnit
// parser (python3-junitparser), which finds exactly the drifted resources
// as failures, one test case per host and resource.
func TestDriftJUnit(t *testing.T) {
	lab.Required(t)
	if err := exec.Command("/usr/bin/python3", "-c", "import junitparser").Run(); err != nil {
		t.Fatalf("python3-junitparser is missing (integration/scripts/e2e-deps.sh installs it): %v", err)
	}
	l := lab.StartT(t, lab.Options{Hosts: 2, Name: "junit"})
	dir := t.TempDir()
	if err := l.WriteInventory(filepath.Join(dir, "inventory.hcl")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "main.hcl"), fleetConfig)
	if _, _, code := tend(t, "apply", "-C", dir, "-y"); code != 0 {
		t.Fatal("apply failed")
	}
	h2 := l.Host(2)
	write(t, filepath.Join(h2.Root, "etc/motd"), "drifted\n")
	os.Remove(filepath.Join(h2.Root, "srv/current"))
	out, _, code := tend(t, "drift", "-C", dir, "--format", "junit")
	if code != 2 {
		t.Fatalf("drift: exit %d, want 2", code)
	}
	report := filepath.Join(t.TempDir(), "drift.xml")
	if err := os.WriteFile(report, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `
import sys
from junitparser import JUnitXml, Failure, Error
xml = JUnitXml.fromfile(sys.argv[1])
for suite in xml:
    for case in suite:
        kinds = [type(r).__name__ for r in case.result]
        print(suite.name, case.classname, case.name, ",".join(kinds) or "ok")
`
	py, err := exec.Command("/usr/bin/python3", "-c", script, report).CombinedOutput()
	if err != nil {
		t.Fatalf("junitparser could not read the report: %v\n%s\n%s", err, py, out)
	}
	var failures []string
	cases := 0
	for _, line := range strings.Split(strings.TrimSpace(string(py)), "\n") {
		f := strings.Fields(line)
		if len(f) != 4 {
			t.Fatalf("unexpected parser output %q", line)
		}
		cases++
		if f[0] != f[1] {
			t.Errorf("case %s is in suite %s but classname %s", f[2], f[0], f[1])
		}
		if f[3] != "ok" {
			failures = append(failures, f[1]+" "+f[2]+" "+f[3])
		}
	}
	sort.Strings(failures)
	want := []string{h2.Name + " file.motd Failure", h2.Name + " symlink.current Failure"}
	if strings.Join(failures, "|") != strings.Join(want, "|") {
		t.Errorf("failures %v, want %v", failures, want)
	}
	if cases != 10 {
		t.Errorf("%d test cases, want 10 (2 hosts × 5 resources)", cases)
	}
}
