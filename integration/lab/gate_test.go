package lab_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/tendhq/tend/integration/lab"
)

// TestRequiredFailsNotSkips: the gate of every end-to-end test. With
// TEND_LAB=1 and a prerequisite missing (here debootstrap and every other
// tool, with an empty PATH) a test fails rather than skips, so a CI run
// that asked for the lab cannot pass without it; without TEND_LAB it
// skips. The test runs itself as a child process for each case.
func TestRequiredFailsNotSkips(t *testing.T) {
	if os.Getenv("TEND_LAB_GATE_CHILD") == "1" {
		lab.Required(t)
		t.Log("gate passed")
		return
	}
	run := func(env ...string) (string, error) {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestRequiredFailsNotSkips$", "-test.v", "-test.count=1")
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, lab.EnvVar+"=") && !strings.HasPrefix(kv, "PATH=") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, append([]string{"TEND_LAB_GATE_CHILD=1"}, env...)...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	out, err := run(lab.EnvVar+"=1", "PATH="+t.TempDir())
	if err == nil || !strings.Contains(out, "--- FAIL: TestRequiredFailsNotSkips") || strings.Contains(out, "--- SKIP") {
		t.Errorf("TEND_LAB=1 without the prerequisites: %v, want a failure, not a skip\n%s", err, out)
	}
	if os.Geteuid() == 0 && !strings.Contains(out, "debootstrap") {
		t.Errorf("the failure does not name the missing tool:\n%s", out)
	}

	out, err = run("PATH=" + os.Getenv("PATH"))
	if err != nil || !strings.Contains(out, "--- SKIP: TestRequiredFailsNotSkips") || !strings.Contains(out, lab.EnvVar+"=1") {
		t.Errorf("without TEND_LAB: %v, want a skip naming %s=1\n%s", err, lab.EnvVar, out)
	}
}
