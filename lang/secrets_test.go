package lang

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/resources"
)

// TestSecretEnvEmpty: a variable set to "" is no secret; taking it would
// write an empty password.
func TestSecretEnvEmpty(t *testing.T) {
	t.Setenv("LANG_TEST_EMPTY", "")
	_, err := ResolveSecret("env:LANG_TEST_EMPTY")
	if want := `secret("env:LANG_TEST_EMPTY"): the environment variable LANG_TEST_EMPTY is empty`; err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
}

// expandOne evaluates the configuration for one host and returns the
// content of file.f.
func expandOne(t *testing.T, c *Config, host string) (cty.Value, *Instance) {
	t.Helper()
	insts, diags := c.Expand(nil, HostScope{Name: host}, func(*Role) bool { return true })
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	for _, in := range insts {
		if in.Addr == "file.f" {
			return in.Config.GetAttr("content"), in
		}
	}
	t.Fatal("no file.f")
	return cty.NilVal, nil
}

// TestSecretFile: file:PATH is read relative to the configuration, one
// trailing newline dropped, and refused while others may read it.
func TestSecretFile(t *testing.T) {
	c := load(t, map[string]string{"main.hcl": `
file "f" {
  path    = "/f"
  content = secret("file:pw.txt")
}
`})
	pw := filepath.Join(c.Dir, "pw.txt")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	v, in := expandOne(t, c, "h")
	if v.IsKnown() || len(in.Unresolved) != 1 {
		t.Fatalf("a 0644 file gave %#v, unresolved %v", v, in.Unresolved)
	}
	msg := in.Unresolved[0].Secret.Error()
	if !strings.Contains(msg, pw) || !strings.Contains(msg, "0644") || strings.Contains(msg, "s3cret") {
		t.Errorf("refusal = %q, want the path and its mode", msg)
	}
	if in.Unresolved[0].Attr() != "content" || !v.HasMark(Sensitive) {
		t.Errorf("unresolved at %q, sensitive %v", in.Unresolved[0].Attr(), v.HasMark(Sensitive))
	}

	if err := os.Chmod(pw, 0o600); err != nil {
		t.Fatal(err)
	}
	c.Secrets = NewSecrets(c.Dir) // a new run
	c.shared = nil
	v, in = expandOne(t, c, "h")
	if len(in.Unresolved) != 0 {
		t.Fatalf("a 0600 file: %v", in.Unresolved)
	}
	if u, _ := v.Unmark(); u.AsString() != "s3cret" || !v.HasMark(Sensitive) || resources.SecretRefOf(v) != "file:pw.txt" {
		t.Errorf("content = %#v, want s3cret marked sensitive with its reference", v)
	}
}

// TestSecretCmd: cmd: runs a program without a shell, once per run
// however many hosts use it, and its output is never in an error.
func TestSecretCmd(t *testing.T) {
	c := load(t, map[string]string{
		"main.hcl": `
file "f" {
  path    = "/${host.name}"
  content = "${host.name}:${secret("cmd:./get-secret 'two words'")}"
}
`,
		"get-secret":  "#!/bin/sh\necho run >> runs\necho \"value-$1\"\n",
		"fail-secret": "#!/bin/sh\necho leaked-output\necho first >&2\necho the vault is sealed >&2\nexit 3\n",
	})
	for _, p := range []string{"get-secret", "fail-secret"} {
		if err := os.Chmod(filepath.Join(c.Dir, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range []string{"h1", "h2", "h3", "h4"} {
		v, in := expandOne(t, c, h)
		if len(in.Unresolved) != 0 {
			t.Fatalf("%s: %v", h, in.Unresolved)
		}
		if u, _ := v.Unmark(); u.AsString() != h+":value-two words" || !v.HasMark(Sensitive) {
			t.Errorf("%s: content = %#v", h, v)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(c.Dir, "runs")); string(b) != "run\n" {
		t.Errorf("the command ran %d times for 4 hosts, want once", strings.Count(string(b), "run"))
	}

	_, err := c.Secrets.Resolve("cmd:./fail-secret")
	if err == nil {
		t.Fatal("a failing command gave a secret")
	}
	msg := err.Error()
	if strings.Contains(msg, "leaked-output") || !strings.Contains(msg, "exit status 3") || !strings.Contains(msg, "the vault is sealed") || !strings.Contains(msg, `secret("cmd:./fail-secret")`) {
		t.Errorf("error = %q: want the command, its exit status and last stderr line, never its output", msg)
	}

	s := NewSecrets(c.Dir)
	s.Timeout = 100 * time.Millisecond
	start := time.Now()
	if _, err := s.Resolve("cmd:sleep 10"); err == nil || !strings.Contains(err.Error(), "did not finish within") {
		t.Errorf("a command that hangs: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the timeout took %s", d)
	}
}

// TestSecretLazy: a secret that cannot be resolved does not fail
// evaluation; it is an unknown, sensitive value the instance records,
// and a reference naming no source is still a configuration error.
func TestSecretLazy(t *testing.T) {
	os.Unsetenv("LANG_TEST_UNSET")
	c := load(t, map[string]string{"main.hcl": `
file "f" {
  path    = "/f"
  content = "pw=${secret("env:LANG_TEST_UNSET")}"
  when    = secret("env:LANG_TEST_UNSET") != "x"
}
`})
	v, in := expandOne(t, c, "h")
	if v.IsKnown() || !v.HasMark(Sensitive) {
		t.Errorf("content = %#v, want unknown and sensitive", v)
	}
	var attrs []string
	for _, u := range in.Unresolved {
		attrs = append(attrs, u.Attr()+" "+u.Secret.Error())
	}
	want := []string{
		`content secret("env:LANG_TEST_UNSET"): the environment variable LANG_TEST_UNSET is not set`,
		`when secret("env:LANG_TEST_UNSET"): the environment variable LANG_TEST_UNSET is not set`,
	}
	if strings.Join(attrs, "\n") != strings.Join(want, "\n") {
		t.Errorf("unresolved:\n%s\nwant:\n%s", strings.Join(attrs, "\n"), strings.Join(want, "\n"))
	}

	bad := load(t, map[string]string{"main.hcl": `
file "f" {
  path    = "/f"
  content = secret("nosuch:X")
}
`})
	if _, diags := bad.Expand(nil, HostScope{Name: "h"}, func(*Role) bool { return true }); !diags.HasErrors() || !strings.Contains(diags.Error(), `unknown secret source "nosuch"`) {
		t.Errorf("an unknown source: %v", diags)
	}
}

// TestHealthCheckSecret: a rollout's health check may take a secret and
// variables; it is evaluated for the run (a missing secret is an error
// naming it then, not at load), and reported as sensitive, with the
// configuration's text to show instead.
func TestHealthCheckSecret(t *testing.T) {
	os.Unsetenv("LANG_TEST_HC")
	c := load(t, map[string]string{"main.hcl": `
variable "port" {
  default = 8080
}
rollout {
  health_check {
    command = "printf 'user = admin:%s\n' '${secret("env:LANG_TEST_HC")}' | curl -K - http://localhost:${var.port}/"
  }
}
`})
	hc := c.Rollout.HealthCheck
	if hc.Command != "" {
		t.Errorf("Command = %q at load, want it evaluated for the run", hc.Command)
	}
	vars := map[string]cty.Value{"port": cty.NumberIntVal(8080)}
	if _, _, diags := c.HealthCommand(hc, vars); !diags.HasErrors() || !strings.Contains(diags.Error(), `health check needs secret("env:LANG_TEST_HC"): the environment variable LANG_TEST_HC is not set`) {
		t.Errorf("without the secret: %v", diags)
	}
	t.Setenv("LANG_TEST_HC", "hc-s3cret")
	c = load(t, map[string]string{"main.hcl": `
variable "port" {
  default = 8080
}
rollout {
  health_check {
    command = "printf 'user = admin:%s\n' '${secret("env:LANG_TEST_HC")}' | curl -K - http://localhost:${var.port}/"
  }
}
`})
	hc = c.Rollout.HealthCheck
	cmd, sensitive, diags := c.HealthCommand(hc, vars)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if want := "printf 'user = admin:%s\n' 'hc-s3cret' | curl -K - http://localhost:8080/"; cmd != want || !sensitive {
		t.Errorf("command = %q (sensitive %v), want %q (sensitive)", cmd, sensitive, want)
	}
	if want := `"printf 'user = admin:%s\n' '${secret("env:LANG_TEST_HC")}' | curl -K - http://localhost:${var.port}/"`; hc.Source != want {
		t.Errorf("Source = %s, want %s", hc.Source, want)
	}

	// A literal stays as it was; host.* is not available to a rollout.
	c = load(t, map[string]string{"main.hcl": `
rollout {
  health_check {
    command = "true"
  }
}
`})
	if cmd, sensitive, _ := c.HealthCommand(c.Rollout.HealthCheck, nil); cmd != "true" || sensitive {
		t.Errorf("literal: %q %v", cmd, sensitive)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(`
rollout {
  health_check {
    command = "curl http://${host.name}/"
  }
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, diags = Load(dir, nil)
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "main.hcl:4,30") || !strings.Contains(diags.Error(), "host is not available") {
		t.Errorf("host.name: %v", diags)
	}
}
