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
