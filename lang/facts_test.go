package lang

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// TestUsesFacts: the planner evaluates a configuration once per host
// only when no resource can read host.facts, so every way to reach them
// must count.
func TestUsesFacts(t *testing.T) {
	for _, c := range []struct {
		name, body string
		uses       bool
	}{
		{"none", `file "a" {
  path    = "/tmp/a-${host.name}"
  content = host.vars.x
}`, false},
		{"attribute", `file "a" {
  path    = "/tmp/a"
  content = host.facts.os.family
}`, true},
		{"index", `file "a" {
  path    = "/tmp/a"
  content = host["facts"].arch
}`, true},
		{"whole host", `file "a" {
  path    = "/tmp/a"
  content = jsonencode(host)
}`, true},
		{"template vars", `file "a" {
  path    = "/tmp/a"
  content = templatefile("t.tftpl", { h = host.facts })
}`, true},
		{"when", `file "a" {
  path    = "/tmp/a"
  content = "x"
  when    = host.facts.os.family == "debian"
}`, true},
		{"for_each", `file "a" {
  for_each = toset([host.facts.arch])
  path     = "/tmp/a"
  content  = "x"
}`, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := load(t, map[string]string{"main.hcl": c.body + "\n", "t.tftpl": "${h}"})
			if got := cfg.UsesFacts(); got != c.uses {
				t.Errorf("UsesFacts() = %v, want %v", got, c.uses)
			}
		})
	}
}

// TestTemplateNumbers: whole numbers a template file interpolates are
// written as cty writes them (the template's own fast path must not
// change a byte), fractions and huge numbers too, and marks survive.
func TestTemplateNumbers(t *testing.T) {
	dir := t.TempDir()
	src := "${8000 + index} ${index} ${-3} ${1.5} ${100000000000000000000} ${index / 3} %{ for i in [1, 2] }${i}%{ endfor } ${s}"
	if err := os.WriteFile(filepath.Join(dir, "t.tftpl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	vars := cty.ObjectVal(map[string]cty.Value{"index": cty.NumberIntVal(7), "s": cty.StringVal("x").Mark(Sensitive)})
	v, err := renderTemplate(dir, "t.tftpl", vars, Functions(dir, nil), &fileCache{})
	if err != nil {
		t.Fatal(err)
	}
	if !v.HasMark(Sensitive) {
		t.Errorf("the sensitive mark is lost")
	}
	// What HCL renders itself, without the fast path.
	expr, diags := hclsyntax.ParseTemplate([]byte(src), "t.tftpl", hcl.Pos{Line: 1, Column: 1})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	ref, diags := expr.Value(&hcl.EvalContext{Variables: vars.AsValueMap(), Functions: Functions(dir, nil)})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	uv, _ := v.Unmark()
	ref, _ = ref.Unmark()
	if got, want := uv.AsString(), ref.AsString(); got != want {
		t.Errorf("rendered %q, HCL renders %q", got, want)
	}
	if !strings.HasPrefix(uv.AsString(), "8007 7 -3 1.5 100000000000000000000 2.333") {
		t.Errorf("rendered %q", uv.AsString())
	}
}

// TestSharedEvaluation: a resource that reads nothing of the host is
// evaluated once for every host of the run (its instances are shared);
// one that reads the host, or refers to a resource that does, is
// evaluated per host; other variable values start over. Every host sees
// the values it would see evaluated alone.
func TestSharedEvaluation(t *testing.T) {
	cfg := load(t, map[string]string{"main.hcl": `
variable "v" {
  default = "x"
}
file "free" {
  path    = "/tmp/free-${var.v}"
  content = templatefile("t.tftpl", { n = 1 })
}
file "follows_free" {
  path    = "${file.free.path}.2"
  content = "y"
}
file "hosty" {
  for_each = toset(["a"])
  path     = "/tmp/${host.name}-${each.key}"
  content  = "z"
}
file "follows_hosty" {
  path    = "${file.hosty["a"].path}.2"
  content = "w"
}
`, "t.tftpl": "n=${n}"})
	expand := func(host string, vars map[string]cty.Value) map[string]*Instance {
		insts, diags := cfg.Expand(vars, HostScope{Name: host}, func(*Role) bool { return true })
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		out := map[string]*Instance{}
		for _, in := range insts {
			out[in.Addr] = in
		}
		return out
	}
	x := map[string]cty.Value{"v": cty.StringVal("x")}
	a, b := expand("a", x), expand("b", x)
	for addr, shared := range map[string]bool{"file.free": true, "file.follows_free": true, `file.hosty["a"]`: false, "file.follows_hosty": false} {
		if got := a[addr] == b[addr]; got != shared {
			t.Errorf("%s shared between hosts: %v, want %v", addr, got, shared)
		}
	}
	for host, insts := range map[string]map[string]*Instance{"a": a, "b": b} {
		if got, want := insts["file.follows_hosty"].Config.GetAttr("path").AsString(), "/tmp/"+host+"-a.2"; got != want {
			t.Errorf("host %s: follows_hosty path %q, want %q", host, got, want)
		}
		if got := insts["file.free"].Config.GetAttr("content").AsString(); got != "n=1" {
			t.Errorf("host %s: free content %q", host, got)
		}
	}
	c := expand("c", map[string]cty.Value{"v": cty.StringVal("other")})
	if c["file.free"] == a["file.free"] {
		t.Error("file.free shared across different variable values")
	}
	if got := c["file.follows_free"].Config.GetAttr("path").AsString(); got != "/tmp/free-other.2" {
		t.Errorf("with v = other: follows_free path %q", got)
	}
}

// TestSharedEvaluationByHostVars: a resource reading named inventory
// variables (directly, through a local or through a resource it refers
// to) is evaluated once per distinct value of those variables, and each
// host sees its own; one reading host.facts, a whole host or a
// sensitive value is evaluated for every host.
func TestSharedEvaluationByHostVars(t *testing.T) {
	cfg := load(t, map[string]string{"main.hcl": `
locals {
  conf = "/etc/${host.vars.site}.conf"
}
file "bysite" {
  path    = local.conf
  content = templatefile("t.tftpl", { site = host.vars["site"] })
}
file "follows" {
  path    = "${file.bysite.path}.d"
  content = "x"
}
file "allvars" {
  path    = "/tmp/${join(",", keys(host.vars))}"
  content = "x"
}
file "facts" {
  path    = "/tmp/facts"
  content = "${host.facts.os.family}"
}
file "whole" {
  path    = "/tmp/${host["name"]}/${lookup(host, "name", "")}"
  content = "x"
}
`, "t.tftpl": "site=${site}"})
	expand := func(host string, vars map[string]cty.Value) map[string]*Instance {
		facts := cty.ObjectVal(map[string]cty.Value{"os": cty.ObjectVal(map[string]cty.Value{"family": cty.StringVal("debian")})})
		insts, diags := cfg.Expand(nil, HostScope{Name: host, Vars: vars, Facts: facts}, func(*Role) bool { return true })
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		out := map[string]*Instance{}
		for _, in := range insts {
			out[in.Addr] = in
		}
		return out
	}
	site := func(s string) map[string]cty.Value { return map[string]cty.Value{"site": cty.StringVal(s)} }
	a, b, c := expand("a", site("paris")), expand("b", site("paris")), expand("c", site("oslo"))
	for addr, shared := range map[string]bool{"file.bysite": true, "file.follows": true, "file.allvars": true, "file.facts": false, "file.whole": false} {
		if got := a[addr] == b[addr]; got != shared {
			t.Errorf("%s shared between hosts of one site: %v, want %v", addr, got, shared)
		}
		if a[addr] == c[addr] {
			t.Errorf("%s shared between sites", addr)
		}
	}
	for host, insts := range map[string]map[string]*Instance{"a": a, "c": c} {
		want := map[string]string{"a": "paris", "c": "oslo"}[host]
		if got := insts["file.follows"].Config.GetAttr("path").AsString(); got != "/etc/"+want+".conf.d" {
			t.Errorf("host %s: follows path %q", host, got)
		}
		if got := insts["file.bysite"].Config.GetAttr("content").AsString(); got != "site="+want {
			t.Errorf("host %s: content %q", host, got)
		}
		if got := insts["file.whole"].Config.GetAttr("path").AsString(); got != "/tmp/"+host+"/"+host {
			t.Errorf("host %s: whole path %q", host, got)
		}
	}
	// One more variable: host.vars read whole differs, host.vars.site not.
	more := site("paris")
	more["rack"] = cty.StringVal("r1")
	d := expand("d", more)
	if d["file.bysite"] != a["file.bysite"] || d["file.allvars"] == a["file.allvars"] {
		t.Errorf("with another variable: bysite shared %v (want true), allvars shared %v (want false)", d["file.bysite"] == a["file.bysite"], d["file.allvars"] == a["file.allvars"])
	}
	// A sensitive value is not told apart by its encoding: not shared.
	s1 := map[string]cty.Value{"site": cty.StringVal("paris").Mark(Sensitive)}
	e, f := expand("e", s1), expand("f", s1)
	if e["file.follows"] == f["file.follows"] {
		t.Error("an evaluation reading a sensitive host variable was shared")
	}
}
