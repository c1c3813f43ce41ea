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
	v, err := renderTemplate(dir, "t.tftpl", vars, Functions(dir), &fileCache{})
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
	ref, diags := expr.Value(&hcl.EvalContext{Variables: vars.AsValueMap(), Functions: Functions(dir)})
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
