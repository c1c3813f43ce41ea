package plan_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/resources/builtin"
)

// genericPackages are the layers that must know resources only through
// their capabilities (resources.Occupant, Command, Identifier, ...).
var genericPackages = []string{"../plan", "../engine", "../cli"}

// nameAccessors are methods that look a value up by attribute name.
var nameAccessors = map[string]bool{"Attr": true, "Str": true, "GetAttr": true, "Attribute": true}

// TestGenericLayersKnowNoNames: no file of the planner, the renderers,
// the engine or the CLI (tests aside) compares with, switches on, or looks
// up by a string literal that is a built-in resource type's name or one
// of its attributes' names: what they need to know of a resource, its
// type says through a capability.
func TestGenericLayersKnowNoNames(t *testing.T) {
	names := map[string]string{}
	for _, ty := range builtin.Types() {
		names[ty.Name()] = "the type name " + ty.Name()
		for _, w := range []bool{false, true} {
			for _, a := range resources.OnHost(ty, w).Schema().Attributes {
				if _, ok := names[a.Name]; !ok {
					names[a.Name] = "an attribute of " + ty.Name()
				}
			}
		}
	}
	fset := token.NewFileSet()
	var checked int
	for _, dir := range genericPackages {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			af, err := parser.ParseFile(fset, f, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			checked++
			for _, hit := range namedLiterals(af) {
				if what, ok := names[hit.value]; ok {
					t.Errorf("%s: %s %q, %s: ask the type for a capability instead", fset.Position(hit.pos), hit.how, hit.value, what)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no files checked")
	}
}

type literal struct {
	pos   token.Pos
	value string
	how   string
}

// namedLiterals returns the string literals af compares with (== and
// !=), switches on (case clauses), or passes to an attribute lookup.
func namedLiterals(af *ast.File) []literal {
	var out []literal
	lit := func(e ast.Expr, how string) {
		if bl, ok := e.(*ast.BasicLit); ok && bl.Kind == token.STRING {
			if v, err := strconv.Unquote(bl.Value); err == nil {
				out = append(out, literal{bl.Pos(), v, how})
			}
		}
	}
	ast.Inspect(af, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.BinaryExpr:
			if n.Op == token.EQL || n.Op == token.NEQ {
				lit(n.X, "compares with")
				lit(n.Y, "compares with")
			}
		case *ast.CaseClause:
			for _, e := range n.List {
				lit(e, "switches on")
			}
		case *ast.CallExpr:
			if sel, ok := n.Fun.(*ast.SelectorExpr); ok && nameAccessors[sel.Sel.Name] {
				for _, a := range n.Args {
					lit(a, "looks up by")
				}
			}
		}
		return true
	})
	return out
}

// TestNamedLiteralsFinds: the check sees each way of naming a type or an
// attribute.
func TestNamedLiteralsFinds(t *testing.T) {
	src := `package x
func f(ch *C, typ string) {
	if typ == "exec" {}
	switch typ { case "file": }
	_ = ch.After.Str("path")
	if "mode" != typ {}
}`
	af, err := parser.ParseFile(token.NewFileSet(), "x.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range namedLiterals(af) {
		got = append(got, l.value)
	}
	if strings.Join(got, " ") != "exec file path mode" {
		t.Errorf("found %q, want exec file path mode", got)
	}
}
