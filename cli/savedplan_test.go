package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSavedPlanSensitiveVar: a sensitive -var value is not written to the
// saved plan (only the variable's name); applying the plan without it
// again is refused, naming it, and changes nothing; with it, the plan
// applies.
func TestSavedPlanSensitiveVar(t *testing.T) {
	const pw = "hunter2-canary-PLANVAR"
	unsetenv(t, "TEND_VAR_pw")
	dir, root := t.TempDir(), t.TempDir()
	writeFiles(t, dir, map[string]string{"main.hcl": fmt.Sprintf(`
variable "pw" {
  sensitive = true
}
variable "greeting" {
  default = "hi"
}
file "conf" {
  path    = "%[1]s/app.conf"
  content = "${var.greeting} ${var.pw}\n"
  mode    = "0600"
}
`, root)})
	planFile := filepath.Join(dir, "p.plan")
	if out, errOut, code := tend(t, "plan", "-C", dir, "-var", "pw="+pw, "-var", "greeting=hello", "-out", planFile); code != 0 {
		t.Fatalf("plan: exit %d\n%s%s", code, out, errOut)
	}
	b, err := os.ReadFile(planFile)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("canary")) {
		t.Errorf("the saved plan holds the sensitive value:\n%s", b)
	}
	if !bytes.Contains(b, []byte(`"greeting=hello"`)) || !bytes.Contains(b, []byte(`"sensitive_vars": [`)) {
		t.Errorf("the saved plan lost the other -var or the sensitive variable's name:\n%s", b)
	}
	out, errOut, code := tend(t, "apply", planFile)
	want := "variable pw is sensitive and was not saved with the plan: give -var pw=... again"
	if code == 0 || !strings.Contains(out+errOut, want) {
		t.Errorf("apply without pw: exit %d, want a refusal saying %q\n%s%s", code, want, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(root, "app.conf")); !os.IsNotExist(err) {
		t.Errorf("apply without pw changed the host: %v", err)
	}
	if out, errOut, code := tend(t, "apply", planFile, "-var", "pw="+pw); code != 0 {
		t.Fatalf("apply with pw: exit %d\n%s%s", code, out, errOut)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "app.conf")); string(got) != "hello "+pw+"\n" {
		t.Errorf("app.conf = %q", got)
	}
}
