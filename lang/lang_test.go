package lang

import (
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/resources/builtin"
)

func load(t *testing.T, files map[string]string) *Config {
	t.Helper()
	dir := t.TempDir()
	for n, s := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, diags := Load(dir, builtin.Types())
	if diags.HasErrors() {
		t.Fatalf("load: %s", diags.Error())
	}
	return c
}

func TestVariablePrecedence(t *testing.T) {
	c := load(t, map[string]string{"main.hcl": `
variable "a" { default = "default" }
variable "b" { default = "default" }
variable "c" { default = "default" }
variable "d" { default = "default" }
variable "n" { type = number }
variable "l" {
  type    = list(string)
  default = []
}
`, "x.vars.hcl": "c = \"file\"\nd = \"file\"\n"})
	vals, diags := c.Values(VarInputs{
		Flags: []string{"d=flag", "n=42", "l=[\"p\", \"q\"]"},
		Files: []string{filepath.Join(c.Dir, "x.vars.hcl")},
		Env:   []string{"TEND_VAR_b=env", "TEND_VAR_c=env", "TEND_VAR_d=env", "OTHER=1"},
	})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	got := map[string]string{}
	for k, v := range vals {
		switch {
		case v.Type() == cty.String:
			got[k] = v.AsString()
		case v.Type() == cty.Number:
			got[k] = v.AsBigFloat().String()
		default:
			got[k] = v.GoString()
		}
	}
	want := map[string]string{"a": "default", "b": "env", "c": "file", "d": "flag", "n": "42",
		"l": `cty.ListVal([]cty.Value{cty.StringVal("p"), cty.StringVal("q")})`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestVariableErrors(t *testing.T) {
	c := load(t, map[string]string{"main.hcl": "variable \"req\" {}\nvariable \"n\" {\n  type = number\n}\n"})
	_, diags := c.Values(VarInputs{Flags: []string{"n=notanumber", "undeclared=1"}, Env: []string{}})
	var summaries []string
	for _, d := range diags {
		summaries = append(summaries, d.Summary)
	}
	sort.Strings(summaries)
	want := []string{"Invalid value for variable", "No value for required variable", "Value for undeclared variable"}
	if diff := cmp.Diff(want, summaries); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestExpand(t *testing.T) {
	c := load(t, map[string]string{"main.hcl": `
variable "sites" {
  default = { a = "Alpha", b = "Beta" }
}
directory "root" {
  path = "/srv/${host.name}"
}
file "site" {
  for_each = var.sites
  path     = "${directory.root.path}/${each.key}"
  content  = each.value
}
file "debian_only" {
  path = "/etc/debian-only"
  when = host.facts.os.family == "debian"
}
role "web" {
  hosts = "web"
  file "web_only" {
    path = "/etc/web"
  }
}
`})
	vars, diags := c.Values(VarInputs{Env: []string{}})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	facts := func(family string) cty.Value {
		return cty.ObjectVal(map[string]cty.Value{"os": cty.ObjectVal(map[string]cty.Value{"family": cty.StringVal(family)})})
	}
	cases := map[string]struct {
		facts cty.Value
		web   bool
		want  []string
	}{
		"rhel, not web":   {facts("rhel"), false, []string{"directory.root", "file.site[\"a\"]", "file.site[\"b\"]"}},
		"debian, web":     {facts("debian"), true, []string{"directory.root", "file.site[\"a\"]", "file.site[\"b\"]", "file.debian_only", "file.web_only"}},
		"facts not known": {cty.DynamicVal, false, []string{"directory.root", "file.site[\"a\"]", "file.site[\"b\"]", "file.debian_only?"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			insts, diags := c.Expand(vars, HostScope{Name: "h1", Facts: tc.facts}, func(r *Role) bool { return tc.web })
			if diags.HasErrors() {
				t.Fatal(diags.Error())
			}
			var got []string
			for _, in := range insts {
				a := in.Addr
				if in.Maybe {
					a += "?"
				}
				got = append(got, a)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if insts[1].Config.GetAttr("path").AsString() != "/srv/h1/a" {
				t.Errorf("file.site[a].path = %v", insts[1].Config.GetAttr("path"))
			}
		})
	}
	if diff := cmp.Diff([]string{"directory.root"}, c.Resource("file.site").Deps); diff != "" {
		t.Errorf("implicit dependency from a reference (-want +got):\n%s", diff)
	}
}

// TestSensitivePropagates: a secret stays marked through interpolation and
// templatefile.
func TestSensitivePropagates(t *testing.T) {
	t.Setenv("LANG_TEST_SECRET", "s3cret")
	c := load(t, map[string]string{
		"main.hcl": `
file "a" {
  path    = "/a"
  content = "pw=${secret("env:LANG_TEST_SECRET")}"
}
file "b" {
  path    = "/b"
  content = templatefile("t.tftpl", { pw = secret("env:LANG_TEST_SECRET") })
}
file "c" {
  path    = "/c"
  content = "nothing secret"
}
`,
		"t.tftpl": "password ${pw}\n",
	})
	insts, diags := c.Expand(nil, HostScope{Name: "h"}, func(*Role) bool { return true })
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	for _, in := range insts {
		marked := in.Config.GetAttr("content").IsMarked()
		if want := in.Addr != "file.c"; marked != want {
			t.Errorf("%s: content marked = %v, want %v", in.Addr, marked, want)
		}
	}
}

func TestCycleAndReferences(t *testing.T) {
	cases := map[string]struct {
		src  string
		want string
	}{
		"cycle through notify": {`
exec "a" {
  command = "true"
  refresh_only = true
  depends_on = [file.b]
}
file "b" {
  path = "/b"
  notify = [exec.a]
  depends_on = [exec.a]
}`, "Dependency cycle"},
		"notify a file": {`
file "a" {
  path = "/a"
  notify = [file.b]
}
file "b" { path = "/b" }`, "Resource cannot be notified"},
		"each without for_each": {`
file "a" { path = each.key }`, `Reference to "each" without for_each`},
		"unknown root": {`
file "a" { path = foo.bar }`, "Unknown reference"},
		"duplicate": {`
file "a" { path = "/a" }
file "a" { path = "/b" }`, "Duplicate resource"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(tc.src), 0o644)
			_, diags := Load(dir, builtin.Types())
			if !hasSummary(diags, tc.want) {
				t.Errorf("want %q, got %s", tc.want, diags.Error())
			}
			for _, d := range diags {
				if d.Subject == nil {
					t.Errorf("diagnostic %q has no position", d.Summary)
				}
			}
		})
	}
}

func hasSummary(diags hcl.Diagnostics, s string) bool {
	for _, d := range diags {
		if d.Summary == s {
			return true
		}
	}
	return false
}
