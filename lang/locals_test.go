package lang

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/resources/builtin"
)

// TestLocals: locals use variables, other locals (in any order of
// declaration) and the host; resources read them as local.NAME, per host
// where a local uses the host.
func TestLocals(t *testing.T) {
	c := load(t, map[string]string{"main.hcl": `
locals {
  path  = "${local.root}/${local.name}.conf"
  name  = "${var.app}-${host.name}"
}
variable "app" { default = "shop" }
locals {
  root    = "/etc/${var.app}"
  debian  = host.facts.os.family == "debian"
  pattern = var.app
}
role "r" {
  hosts = local.pattern
  file "x" { path = "/x" }
}
file "conf" {
  path    = local.path
  content = "root=${local.root}\n"
  when    = local.debian
}
file "static" {
  path = "${local.root}/static"
}
`})
	vars, diags := c.Values(VarInputs{Env: []string{}})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	facts := cty.ObjectVal(map[string]cty.Value{"os": cty.ObjectVal(map[string]cty.Value{"family": cty.StringVal("debian")})})
	for _, host := range []string{"h1", "h2"} {
		insts, diags := c.Expand(vars, HostScope{Name: host, Facts: facts}, func(*Role) bool { return false })
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		got := map[string]string{}
		for _, in := range insts {
			got[in.Addr] = in.Config.GetAttr("path").AsString()
		}
		want := map[string]string{"file.conf": "/etc/shop/shop-" + host + ".conf", "file.static": "/etc/shop/static"}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s (-want +got):\n%s", host, d)
		}
	}
	if !c.UsesFacts() {
		t.Error("UsesFacts is false, but file.conf's when reads host.facts through local.debian")
	}
	reads := c.hostReadsOf()
	if conf, static := reads[c.Resource("file.conf")], reads[c.Resource("file.static")]; !conf.whole || static.whole || len(static.paths) > 0 {
		t.Errorf("host reads: conf %+v (the facts, through locals), static %+v (nothing)", conf, static)
	}
	roles, diags := c.RoleHosts(vars)
	if diags.HasErrors() || roles[c.Roles[0]] != "shop" {
		t.Errorf("role hosts from a local: %v %s", roles, diags.Error())
	}
}

// TestLanguageErrors: each mistake is an error at its position, with a
// suggestion where the name is a likely typo.
func TestLanguageErrors(t *testing.T) {
	cases := map[string]struct {
		src     string
		summary string
		detail  string // a part of the detail
		line    int
	}{
		"misspelled variable": {`variable "name" {}
file "a" {
  path = "/${var.nmae}"
}`, "Reference to undeclared variable", `No variable named "nmae" is declared. Did you mean var.name?`, 3},
		"undeclared variable, nothing close": {`variable "name" {}
file "a" { path = var.zzzzzz }`, "Reference to undeclared variable", `Declare it with a variable "zzzzzz" {} block.`, 2},
		"misspelled local": {`locals { motd_path = "/etc/motd" }
file "a" {
  path = local.motd_pth
}`, "Reference to undeclared local value", "Did you mean motd_path?", 3},
		"misspelled resource": {`file "config" { path = "/c" }
file "b" {
  path = "/b"
  depends_on = [file.confg]
}`, "Reference to undeclared resource", "Did you mean file.config?", 4},
		"misspelled reference root": {`locals { a = 1 }
file "b" { path = locals.a }`, "Unknown reference", "Did you mean local?", 2},
		"local cycle": {`locals {
  a = local.b
  b = "${local.c}x"
  c = local.a
}
file "f" { path = local.a }`, "Cycle in local values", "local.a → local.b → local.c → local.a", 4},
		"local refers to itself": {`locals {
  a = "${local.a}/x"
}`, "Cycle in local values", "local.a → local.a", 2},
		"duplicate local": {`locals { a = 1 }
locals {
  a = 2
}`, "Duplicate local value", `"a" was already defined`, 3},
		"local refers to a resource": {`file "f" { path = "/f" }
locals {
  p = file.f.path
}`, "Reference to a resource in a local value", "", 3},
		"local uses each": {`locals {
  p = each.key
}`, `Reference to "each" in a local value`, "", 2},
		"validation refers to another variable": {`variable "a" { default = 1 }
variable "b" {
  default = 2
  validation {
    condition     = var.b > var.a
    error_message = "b must exceed a."
  }
}`, "Invalid reference in variable validation", "may refer only to the variable itself, as var.b", 5},
		"validation without a message": {`variable "b" {
  validation {
    condition = var.b > 1
  }
}`, "Missing required argument", "", 2},
		"role hosts from a per-host local": {`locals { h = host.name }
role "r" {
  hosts = local.h
  file "x" { path = "/x" }
}`, "Invalid hosts pattern", "local.h depends on the host", 3},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(tc.src), 0o644); err != nil {
				t.Fatal(err)
			}
			c, diags := Load(dir, builtin.Types())
			if !diags.HasErrors() {
				vars, ds := c.Values(VarInputs{Env: []string{}})
				diags = append(diags, ds...)
				if !ds.HasErrors() {
					_, ds = c.RoleHosts(vars)
					diags = append(diags, ds...)
				}
			}
			d := find(diags, tc.summary)
			if d == nil {
				t.Fatalf("want %q, got %s", tc.summary, diags.Error())
			}
			if !strings.Contains(d.Detail, tc.detail) {
				t.Errorf("detail %q lacks %q", d.Detail, tc.detail)
			}
			if d.Subject == nil || d.Subject.Start.Line != tc.line {
				t.Errorf("position %v, want line %d", d.Subject, tc.line)
			}
		})
	}
}

func find(diags hcl.Diagnostics, summary string) *hcl.Diagnostic {
	for _, d := range diags {
		if d.Summary == summary {
			return d
		}
	}
	return nil
}

// TestVariableValidation: every validation block is checked; a failure
// gives its error_message at the variable's declaration, and names where
// the value came from.
func TestVariableValidation(t *testing.T) {
	c := load(t, map[string]string{"main.hcl": `
variable "port" {
  type    = number
  default = 8080
  validation {
    condition     = var.port > 1024
    error_message = "port must be above 1024."
  }
  validation {
    condition     = var.port < 65536
    error_message = "port must be below 65536."
  }
}
variable "env" {
  default = "prod"
  validation {
    condition     = contains(["prod", "staging"], var.env)
    error_message = "env must be prod or staging, not ${var.env}."
  }
  validation {
    condition     = can(regex("^[a-z]+$", var.env))
    error_message = "env must be lower-case letters."
  }
}
`, "bad.vars.hcl": "env = \"Dev\"\n"})
	// A message holding a sensitive value is not shown.
	sc := load(t, map[string]string{"main.hcl": `
variable "pw" {
  sensitive = true
  validation {
    condition     = can(regex("^.{12,}$", var.pw))
    error_message = "too short: ${var.pw}"
  }
}
`})
	_, diags := sc.Values(VarInputs{Flags: []string{"pw=VALCANARY"}, Env: []string{}})
	if len(diags) != 1 || strings.Contains(diags[0].Detail, "VALCANARY") || !strings.Contains(diags[0].Detail, "uses a sensitive value") {
		t.Errorf("sensitive message: %s", diags.Error())
	}
	if vals, diags := c.Values(VarInputs{Env: []string{}}); diags.HasErrors() || vals["port"].AsBigFloat().String() != "8080" {
		t.Fatalf("defaults should pass: %s", diags.Error())
	}
	cases := map[string]struct {
		in   VarInputs
		want []string
	}{
		"too low":     {VarInputs{Flags: []string{"port=80"}}, []string{"main.hcl:2,1-16: Invalid value for variable; port must be above 1024."}},
		"too high":    {VarInputs{Flags: []string{"port=70000"}}, []string{"main.hcl:2,1-16: Invalid value for variable; port must be below 65536."}},
		"both of env": {VarInputs{Files: []string{filepath.Join(c.Dir, "bad.vars.hcl")}}, []string{"main.hcl:14,1-15: Invalid value for variable; env must be prod or staging, not Dev.", "main.hcl:14,1-15: Invalid value for variable; env must be lower-case letters."}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			tc.in.Env = []string{}
			vals, diags := c.Values(tc.in)
			var got []string
			for _, d := range diags {
				got = append(got, filepath.Base(d.Subject.String())+": "+d.Summary+"; "+strings.SplitN(d.Detail, "\n", 2)[0])
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
			if name == "both of env" {
				if !strings.Contains(diags[0].Detail, "bad.vars.hcl:1") {
					t.Errorf("the detail does not say where the value was set: %q", diags[0].Detail)
				}
				if _, ok := vals["env"]; ok {
					t.Error("an invalid value was kept")
				}
			}
		})
	}
}
