package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAnsibleTemplateVars: an Ansible inventory's templates reach the
// configuration rendered; one tend cannot render fails, where it is
// used, naming the variable, the resource and the host, and never
// reaches a host as text.
func TestAnsibleTemplateVars(t *testing.T) {
	dir, root := t.TempDir(), t.TempDir()
	writeFiles(t, dir, map[string]string{
		"hosts.ini": `[local]
h1 motd="{{ lookup('file', '/etc/motd') }}"
h2

[local:vars]
ansible_connection=local
greeting='{{ inventory_hostname }} of {{ group_names ~ "" if false else "local" }}'
site="{{ inventory_hostname }}.{{ domain | default('example.com') }}"
`,
		"main.hcl": fmt.Sprintf(`
file "site" {
  path    = "%[1]s/${host.name}.site"
  content = "${host.vars.site}\n"
}
role "motd" {
  hosts = "h1"
  file "motd" {
    path    = "%[1]s/motd"
    content = host.vars.motd
  }
}
`, root),
	})
	// greeting uses what tend does not render (a conditional): nothing
	// uses it, so it is no error.
	if out, errOut, code := tend(t, "validate", "-C", dir, "-i", filepath.Join(dir, "hosts.ini")); code != 0 {
		t.Fatalf("validate: exit %d\n%s%s", code, out, errOut)
	}
	// The inventory says why a var has no value, rather than a value.
	out, errOut, code := tend(t, "inventory", "-C", dir, "-i", filepath.Join(dir, "hosts.ini"))
	if code != 0 || !strings.Contains(out, `motd="(not rendered: motd = \"{{ lookup('file', '/etc/motd') }}\"`) || !strings.Contains(out, `site="h1.example.com"`) {
		t.Errorf("inventory: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := tend(t, "apply", "-C", dir, "-i", filepath.Join(dir, "hosts.ini"), "-t", "h2", "-y"); code != 0 {
		t.Fatalf("apply to h2: exit %d\n%s%s", code, out, errOut)
	}
	if b, err := os.ReadFile(filepath.Join(root, "h2.site")); err != nil || string(b) != "h2.example.com\n" {
		t.Errorf("h2.site = %q, %v", b, err)
	}
	out, errOut, code = tend(t, "plan", "-C", dir, "-i", filepath.Join(dir, "hosts.ini"), "-t", "h1")
	want := `host.vars.motd is needed by file.motd on h1: motd = "{{ lookup('file', '/etc/motd') }}" (`
	if code == 0 || !strings.Contains(out+errOut, want) || !strings.Contains(out+errOut, "lookup(...) is not supported") {
		t.Errorf("plan of h1: exit %d, want %q in\n%s%s", code, want, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(root, "motd")); err == nil {
		t.Error("motd was written")
	}
}
