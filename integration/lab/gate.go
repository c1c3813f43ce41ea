package lab

import (
	"context"
	"os"
	"os/exec"
	"testing"
)

// EnvVar is the environment variable that enables end-to-end tests:
// TEND_LAB=1. It is the project's one gate for tests that boot lab hosts.
const EnvVar = "TEND_LAB"

// Enabled reports whether end-to-end lab tests are enabled (TEND_LAB=1).
func Enabled() bool { return os.Getenv(EnvVar) == "1" }

// Required gates an end-to-end test: it skips the test unless TEND_LAB=1,
// and fails it (rather than skipping) when TEND_LAB=1 but the machine
// cannot run a lab (not root, or debootstrap or another tool missing), so a
// CI run that asked for the lab never passes without it.
func Required(t testing.TB) {
	t.Helper()
	if !Enabled() {
		t.Skip("end-to-end lab test: set TEND_LAB=1 to run it (as root, after integration/scripts/lab-deps.sh)")
	}
	if os.Geteuid() != 0 {
		t.Fatal("TEND_LAB=1 but not running as root: the lab needs root for mounts, namespaces and cgroups")
	}
	var missing []string
	for _, tool := range append([]string{"debootstrap"}, requiredTools...) {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("TEND_LAB=1 but %v not installed: run integration/scripts/lab-deps.sh", missing)
	}
}

// StartT is Start for tests: it calls Required (so the test skips without
// TEND_LAB=1), logs progress with t.Logf, fails the test if the lab does not
// start, and closes the lab when the test and its subtests finish.
func StartT(t testing.TB, opts Options) *Lab {
	t.Helper()
	Required(t)
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	l, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("lab.Start: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("lab.Close: %v", err)
		}
	})
	return l
}
