package cli

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The canaries: distinctive values, both holding canaryMark, which no
// output, saved plan or file under .tend/ may hold.
const (
	canaryMark   = "-canary-"
	canarySecret = "Zq7" + canaryMark + "K3v9xT" // from secret("env:TEND_CANARY")
	canaryVar    = "Wp4" + canaryMark + "J8m2yR" // a sensitive -var
)

// canaryNeedles are what no output or file may hold: the canaries'
// mark, and each canary's SHA-256 (hex) and base64, which tell the value
// as surely (a digest to whoever tries candidates).
func canaryNeedles() []string {
	out := []string{canaryMark}
	for _, v := range []string{canarySecret, canaryVar} {
		sum := sha256.Sum256([]byte(v))
		out = append(out, hex.EncodeToString(sum[:]), base64.StdEncoding.EncodeToString([]byte(v)))
	}
	return out
}

// canaryCheck collects what commands print and the files they leave,
// and reports every place holding a canary.
type canaryCheck struct {
	t *testing.T
}

func (c canaryCheck) run(wantOK bool, args ...string) (string, string) {
	c.t.Helper()
	out, errOut, code := tend(c.t, args...)
	if wantOK && code != 0 && code != ExitChanges {
		c.t.Errorf("%v: exit %d\n%s%s", args, code, out, errOut)
	}
	for name, s := range map[string]string{"stdout": out, "stderr": errOut} {
		for _, n := range canaryNeedles() {
			if i := strings.Index(s, n); i >= 0 {
				c.t.Errorf("%v: the canary (%s) is in %s: ...%s...", args, n, name, s[max(0, i-60):min(len(s), i+len(n)+40)])
			}
		}
	}
	return out, errOut
}

// files reports the files under root holding a canary.
func (c canaryCheck) files(root string, skip ...string) {
	c.t.Helper()
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		for _, s := range skip {
			if p == s {
				return nil
			}
		}
		b, _ := os.ReadFile(p)
		for _, n := range canaryNeedles() {
			if strings.Contains(string(b), n) {
				c.t.Errorf("the canary (%s) is in %s", n, p)
			}
		}
		return nil
	})
}

// TestCanary threads one secret (from the environment) and a sensitive
// -var through file content, a template's variables, the command and
// stderr of a failing exec, a rollout's health check, files holding
// exactly each (whose content digests would be theirs), and runs every command on them with the
// local transport: no output, saved plan or file of .tend/ holds either.
func TestCanary(t *testing.T) {
	t.Setenv("TEND_CANARY", canarySecret)
	dir, root := t.TempDir(), t.TempDir()
	writeFiles(t, dir, map[string]string{
		"main.hcl": fmt.Sprintf(`
variable "pw" {
  sensitive = true
}
rollout {
  health_check {
    command = "echo \"checking with ${secret("env:TEND_CANARY")}\" >&2; test -f %[1]s/healthy"
    timeout = "10s"
  }
}
file "conf" {
  path    = "%[1]s/app.conf"
  content = "password = ${secret("env:TEND_CANARY")}\n"
  mode    = "0600"
}
file "raw" {
  path    = "%[1]s/raw"
  content = secret("env:TEND_CANARY")
}
file "rawvar" {
  path    = "%[1]s/rawvar"
  content = var.pw
}
file "tpl" {
  path    = "%[1]s/tpl.conf"
  content = templatefile("t.tpl", { pw = var.pw, s = secret("env:TEND_CANARY") })
  mode    = "0600"
}
exec "fails" {
  command = "echo \"using ${secret("env:TEND_CANARY")} and ${var.pw}\" >&2; exit 3"
  creates = "%[1]s/ok"
}
`, root),
		"t.tpl": "pw = ${pw}\ns = ${s}\n",
	})
	c := canaryCheck{t}
	v := "pw=" + canaryVar
	planFile := filepath.Join(t.TempDir(), "saved.plan")
	c.run(true, "validate", "-C", dir, "-var", v)
	c.run(true, "plan", "-C", dir, "-var", v)
	c.run(true, "plan", "-C", dir, "-var", v, "--json")
	// A sensitive -var is not saved with the plan: applying it needs
	// the variable again.
	c.run(true, "plan", "-C", dir, "-var", v, "-out", planFile)
	for _, f := range [][]string{nil, {"--json"}, {"--format", "markdown"}} {
		c.run(true, append([]string{"show", "-C", dir, planFile}, f...)...)
	}
	c.run(false, "apply", planFile, "-var", v, "--json")
	// The failing exec prints both canaries on stderr: apply fails and
	// rolls back.
	out, errOut := c.run(false, "apply", "-C", dir, "-var", v, "-y")
	if !strings.Contains(out+errOut, "using (sensitive) and (sensitive)") {
		t.Errorf("apply does not show the exec's stderr, redacted:\n%s%s", out, errOut)
	}
	c.run(false, "apply", "-C", dir, "-var", v, "-y", "--json")
	// With the exec's creates in place, the changes are made, but the
	// health check (holding the secret) fails: its stderr and command
	// are shown without the secret. Rollback reverts the run.
	writeFiles(t, root, map[string]string{"ok": ""})
	out, errOut = c.run(false, "apply", "-C", dir, "-var", v, "-y")
	if !strings.Contains(out+errOut, "checking with (sensitive)") || !strings.Contains(out+errOut, `${secret("env:TEND_CANARY")}`) {
		t.Errorf("apply does not show the failed health check, redacted:\n%s%s", out, errOut)
	}
	c.run(true, "rollback", "-C", dir, lastRun(t, dir).ID, "-y")
	// Healthy, apply succeeds; then drift and rollback have something
	// to report and revert.
	writeFiles(t, root, map[string]string{"healthy": ""})
	c.run(true, "apply", "-C", dir, "-var", v, "-y")
	if b, _ := os.ReadFile(filepath.Join(root, "tpl.conf")); string(b) != "pw = "+canaryVar+"\ns = "+canarySecret+"\n" {
		t.Fatalf("tpl.conf = %q: the secrets did not reach the host", b)
	}
	id := lastRun(t, dir).ID
	if err := os.WriteFile(filepath.Join(root, "app.conf"), []byte("password = "+canarySecret+"-drifted\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.run(false, "drift", "-C", dir, "-var", v, "--format", "junit")
	c.run(false, "drift", "-C", dir, "-var", v, "--format", "json")
	c.run(false, "drift", "-C", dir, "-var", v)
	c.run(true, "runs", "-C", dir)
	for _, f := range [][]string{nil, {"--json"}, {"--format", "markdown"}} {
		c.run(true, append([]string{"show", "-C", dir, id}, f...)...)
	}
	c.run(true, "rollback", "-C", dir, id, "-y")
	// A file holding the secret before the run: rollback restores it and
	// checks it is as it was (by keyed digests: the journal keeps no plain
	// one).
	handMade := "password = " + canarySecret + "-by-hand\n"
	writeFiles(t, root, map[string]string{"app.conf": handMade})
	c.run(true, "apply", "-C", dir, "-var", v, "-y")
	c.run(true, "rollback", "-C", dir, lastRun(t, dir).ID, "-y")
	if b, _ := os.ReadFile(filepath.Join(root, "app.conf")); string(b) != handMade {
		t.Errorf("rollback restored %q, want the hand-made content", b)
	}
	c.run(true, "facts", "-C", dir)
	c.files(dir)
	c.files(filepath.Dir(planFile))
}

// TestCanaryDiagnostics: a secret or sensitive variable that does not fit
// where it is used is not quoted by the error saying so.
func TestCanaryDiagnostics(t *testing.T) {
	t.Setenv("TEND_CANARY", canarySecret)
	dir, root := t.TempDir(), t.TempDir()
	writeFiles(t, dir, map[string]string{
		"main.hcl": fmt.Sprintf(`
file "n" {
  path    = "%[1]s/n.conf"
  content = "n = ${tonumber(secret("env:TEND_CANARY"))}\n"
}
`, root),
	})
	c := canaryCheck{t}
	for _, cmd := range []string{"validate", "plan"} {
		out, errOut := c.run(false, cmd, "-C", dir)
		if !strings.Contains(out+errOut, "cannot convert") {
			t.Errorf("%s does not report the conversion error:\n%s%s", cmd, out, errOut)
		}
	}
	c.run(false, "plan", "-C", dir, "--json")

	dir = t.TempDir()
	writeFiles(t, dir, map[string]string{
		"main.hcl": fmt.Sprintf(`
variable "port" {
  type      = number
  sensitive = true
}
file "n" {
  path    = "%[1]s/n.conf"
  content = "n = ${var.port}\n"
}
`, root),
	})
	c.run(false, "validate", "-C", dir, "-var", "port="+canaryVar)
	c.run(false, "plan", "-C", dir, "-var", "port="+canaryVar)
}
