package shell

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// builderPackages are the directories whose POSIX scripts are built with
// Script and Command, which quote every value themselves.
var builderPackages = []string{"../resources", "../probe", "../transport/ssh"}

// handJoinAllowed are the files of builderPackages that still quote
// values themselves, each with the reason; the test fails when one of
// them no longer does, so the list only shrinks.
var handJoinAllowed = map[string]string{
	// The shared file primitives (atomic write, backup, restore, path
	// check) return script text that every file-writing resource splices
	// into its own scripts.
	"resources/fileops.go":     "shared file primitives",
	"resources/changeerror.go": "the path check primitive (PathCheck)",
	// The account probes' read loops take the account files' paths as
	// redirections inside their constant text.
	"resources/account/script.go": "account files in the probes' read loops",
	// The package probe prelude names one shell variable per package
	// (tend_pkg_v_PM_KEY), which the builder's constant-only names
	// cannot express.
	"resources/pkg/package.go": "the package probe and its prelude",
	// The database client launch (runuser or sudo, then perl).
	"resources/db/conn.go": "the database client launch",
}

// TestNoHandJoinedScripts: outside the files above, no script in the
// resource types, the probes or the SSH transport quotes a value with
// Quote or Join: a value reaches a script only through the builder.
func TestNoHandJoinedScripts(t *testing.T) {
	used := map[string]bool{}
	fset := token.NewFileSet()
	var checked int
	for _, dir := range builderPackages {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			af, err := parser.ParseFile(fset, p, nil, 0)
			if err != nil {
				return err
			}
			checked++
			rel := strings.TrimPrefix(filepath.ToSlash(p), "../")
			for _, pos := range quoteCalls(af) {
				if _, ok := handJoinAllowed[rel]; ok {
					used[rel] = true
					continue
				}
				t.Errorf("%s: a value quoted by hand: build the script with shell.Script and shell.Command", fset.Position(pos))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if checked < 20 {
		t.Fatalf("checked only %d files: the test does not see the packages", checked)
	}
	for f, why := range handJoinAllowed {
		if !used[f] {
			t.Errorf("%s (%s) no longer quotes by hand: remove it from handJoinAllowed", f, why)
		}
	}
}

// quoteCalls returns where af calls this package's Quote or Join.
func quoteCalls(af *ast.File) []token.Pos {
	local := ""
	for _, im := range af.Imports {
		if p, _ := strconv.Unquote(im.Path.Value); p == "github.com/tendhq/tend/shell" {
			local = path.Base(p)
			if im.Name != nil {
				local = im.Name.Name
			}
		}
	}
	if local == "" {
		return nil
	}
	var hits []token.Pos
	ast.Inspect(af, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if x, ok := sel.X.(*ast.Ident); ok && x.Name == local && (sel.Sel.Name == "Quote" || sel.Sel.Name == "Join") {
			hits = append(hits, sel.Pos())
		}
		return true
	})
	return hits
}
