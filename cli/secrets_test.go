package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// unsetenv removes a variable for the test, restoring it after.
func unsetenv(t *testing.T, name string) {
	t.Helper()
	t.Setenv(name, "")
	os.Unsetenv(name)
}

// TestSecretsLazy: checking configuration and listing the inventory need
// no secret; planning a host needs only the secrets its resources (or its
// connection) use, and fails naming the secret, the resource and the host.
func TestSecretsLazy(t *testing.T) {
	unsetenv(t, "TEND_TEST_DB_PASS")
	unsetenv(t, "TEND_TEST_WIN_PW")
	dir, root := t.TempDir(), t.TempDir()
	writeFiles(t, dir, map[string]string{
		"main.hcl": fmt.Sprintf(`
role "db" {
  hosts = "db1"
  file "dbconf" {
    path    = "%[1]s/db.conf"
    content = "password = ${secret("env:TEND_TEST_DB_PASS")}\n"
    mode    = "0600"
  }
}
role "web" {
  hosts = "web1"
  file "webconf" {
    path    = "%[1]s/web.conf"
    content = "web\n"
  }
}
`, root),
		"inventory.hcl": `
host "db1" { transport = "local" }
host "web1" { transport = "local" }
host "win1" {
  address   = "127.0.0.1"
  transport = "winrm"
  winrm {
    password = secret("env:TEND_TEST_WIN_PW")
  }
}
`,
	})
	if out, errOut, code := tend(t, "validate", "-C", dir); code != 0 {
		t.Errorf("validate without secrets: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code := tend(t, "inventory", "-C", dir)
	if code != 0 || !strings.Contains(out, "win1") {
		t.Errorf("inventory without secrets: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := tend(t, "apply", "-C", dir, "-t", "web1", "-y"); code != 0 {
		t.Errorf("apply to a host that needs no secret: exit %d\n%s%s", code, out, errOut)
	}
	if b, err := os.ReadFile(filepath.Join(root, "web.conf")); err != nil || string(b) != "web\n" {
		t.Errorf("web.conf = %q, %v", b, err)
	}

	out, errOut, code = tend(t, "plan", "-C", dir, "-t", "db1")
	want := `secret("env:TEND_TEST_DB_PASS") is needed by file.dbconf on db1: the environment variable TEND_TEST_DB_PASS is not set`
	if code == 0 || !strings.Contains(out+errOut, want) {
		t.Errorf("plan of a host that needs the secret: exit %d, want %q in\n%s%s", code, want, out, errOut)
	}
	t.Setenv("TEND_TEST_DB_PASS", "")
	out, errOut, code = tend(t, "plan", "-C", dir, "-t", "db1")
	if want := "the environment variable TEND_TEST_DB_PASS is empty"; code == 0 || !strings.Contains(out+errOut, want) {
		t.Errorf("plan with the secret empty: exit %d, want %q in\n%s%s", code, want, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(root, "db.conf")); err == nil {
		t.Errorf("db.conf was written without its secret")
	}

	out, errOut, code = tend(t, "plan", "-C", dir, "-t", "win1")
	want = `connecting to win1 needs its winrm password: secret("env:TEND_TEST_WIN_PW"): the environment variable TEND_TEST_WIN_PW is not set`
	if code == 0 || !strings.Contains(out+errOut, want) {
		t.Errorf("plan of a host whose connection needs the secret: exit %d, want %q in\n%s%s", code, want, out, errOut)
	}

	t.Setenv("TEND_TEST_DB_PASS", "hunter2")
	if out, errOut, code := tend(t, "apply", "-C", dir, "-t", "db1", "-y"); code != 0 {
		t.Errorf("apply with the secret set: exit %d\n%s%s", code, out, errOut)
	}
	if b, err := os.ReadFile(filepath.Join(root, "db.conf")); err != nil || string(b) != "password = hunter2\n" {
		t.Errorf("db.conf = %q, %v", b, err)
	}
}

// TestSecretCmdOncePerRun: a cmd: secret used by every host of a run is
// fetched once, and its value reaches the host.
func TestSecretCmdOncePerRun(t *testing.T) {
	dir, root := t.TempDir(), t.TempDir()
	hosts := []string{"h1", "h2", "h3", "h4", "h5"}
	var inv strings.Builder
	for _, h := range hosts {
		fmt.Fprintf(&inv, "host %q { transport = \"local\" }\n", h)
	}
	writeFiles(t, dir, map[string]string{
		"main.hcl": fmt.Sprintf(`
file "conf" {
  path    = "%s/${host.name}.conf"
  content = "${host.name} ${secret("cmd:./get-secret db/prod")}\n"
  mode    = "0600"
}
`, root),
		"inventory.hcl": inv.String(),
		"get-secret":    "#!/bin/sh\necho run >> runs\necho \"pw-for-$1\"\n",
	})
	if err := os.Chmod(filepath.Join(dir, "get-secret"), 0o755); err != nil {
		t.Fatal(err)
	}
	runs := func() int {
		b, _ := os.ReadFile(filepath.Join(dir, "runs"))
		return strings.Count(string(b), "run")
	}
	// Local hosts share one machine's run lock, so the five are planned
	// together and one is applied.
	out, errOut, code := tend(t, "plan", "-C", dir)
	if code != 0 || strings.Count(out, "file.conf will be created") != len(hosts) {
		t.Fatalf("plan: exit %d\n%s%s", code, out, errOut)
	}
	if n := runs(); n != 1 {
		t.Errorf("the secret command ran %d times in one plan of %d hosts, want once", n, len(hosts))
	}
	if out, errOut, code := tend(t, "apply", "-C", dir, "-t", "h3", "-y"); code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	if b, err := os.ReadFile(filepath.Join(root, "h3.conf")); err != nil || string(b) != "h3 pw-for-db/prod\n" {
		t.Errorf("h3.conf = %q, %v", b, err)
	}
	if n := runs(); n != 2 {
		t.Errorf("the secret command ran %d times in two runs, want twice", n)
	}
}
