package shell

import (
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// hostile are values a script must carry as data, never as syntax.
var hostile = []string{
	"", "plain", "-rf", "--", "-", "it's", `"`, "$(touch pwned)", "`touch pwned`",
	"a\nb", "a\n;touch pwned\n", "\xff\xfe", "*", "~root", "x>pwned", "TEND_EOF",
	"a\nTEND_EOF\ntouch pwned", "TEND_EOF_0", strings.Repeat("$(touch pwned)'", 4096),
}

// argvScript runs s in a temporary directory where the program `args`
// prints each of its arguments followed by a NUL, and returns what it
// printed; it fails the test when a file named pwned appears.
func argvScript(t *testing.T, s *Script) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "args"), []byte("#!/bin/sh\nfor a; do printf '%s\\0' \"$a\"; done\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "script"), []byte(s.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "script")
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin"}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("script failed: %v\n%.300s", err, s)
	}
	if _, err := os.Stat(filepath.Join(dir, "pwned")); err == nil {
		t.Fatalf("the script ran a value as a command:\n%.300s", s)
	}
	return string(out)
}

func TestScriptCommandArguments(t *testing.T) {
	for _, v := range hostile {
		s := NewScript("set -e")
		s.Run(Cmd("args", "-x").Opt("-m", v).Operands(v, "b"))
		want := "-x\x00-m\x00" + v + "\x00--\x00" + v + "\x00b\x00"
		if got := argvScript(t, s); got != want {
			t.Errorf("value %.40q: argv %q, want %q", v, got, want)
		}
	}
}

func TestScriptVariablesAndConditions(t *testing.T) {
	for _, v := range hostile {
		s := NewScript()
		s.Set("p", v)
		s.IfElse(Test("-n", v), func(s *Script) {
			s.Run(Cmd("args").VarOperand("p"))
		}, func(s *Script) {
			s.Run(Cmd("args", "empty"))
		})
		s.If(Not(Test("-z", v)).And(Cmd("true")), nil)
		want := "--\x00" + v + "\x00"
		if v == "" {
			want = "empty\x00"
		}
		if got := argvScript(t, s); got != want {
			t.Errorf("value %.40q: argv %q, want %q", v, got, want)
		}
	}
}

func TestScriptJoinedWords(t *testing.T) {
	for _, v := range hostile {
		s := NewScript("set -e", `w() { printf '%s|' "$@"; }`)
		s.Raw("x=$(").Inline(Cmd("w").Wrap(Cmd("printf").OptJoined("--r=", v))).Raw(") || exit 1\n")
		s.Run(Cmd("args").Word(`"[$x]"`, v, "-*"))
		s.Raw("args ").Word(`"<"`, v, `">"`).Line("")
		s.Raw("v_").Int(3).Raw("=").Word("", v, "").Raw("; args \"$v_").Int(3).Line(`"`)
		want := "[printf|--r=" + v + "|]" + v + "-*\x00<" + v + ">\x00" + v + "\x00"
		if got := argvScript(t, s); got != want {
			t.Errorf("value %.40q: argv %.80q, want %.80q", v, got, want)
		}
	}
}

func TestScriptHereDoc(t *testing.T) {
	for _, v := range hostile {
		s := NewScript()
		s.HereDoc(Cmd("cat"), v)
		want := v
		if !strings.HasSuffix(want, "\n") {
			want += "\n"
		}
		if got := argvScript(t, s); got != want {
			t.Errorf("content %.40q: read %.80q, want %.80q", v, got, want)
		}
	}
}

func TestScriptRedirections(t *testing.T) {
	for _, name := range []string{"-o", "a b", "$(touch pwned)", "a\nb", "\xff"} {
		s := NewScript("set -e")
		s.Run(Cmd("printf", "x").To(name))
		s.Run(Cmd("printf", "y").AppendTo(name))
		s.Run(Cmd("cat").From(name))
		if got := argvScript(t, s); got != "xy" {
			t.Errorf("file %q: read back %q", name, got)
		}
	}
}

// TestScriptTakesOnlyConstants: a string variable does not compile
// where the builder wants shell syntax (a program, a flag, raw text);
// a constant does.
func TestScriptTakesOnlyConstants(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var pkgFiles []*ast.File
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		pkgFiles = append(pkgFiles, af)
	}
	std := importer.ForCompiler(fset, "source", nil)
	shellPkg, err := (&types.Config{Importer: std}).Check("github.com/tendhq/tend/shell", fset, pkgFiles, nil)
	if err != nil {
		t.Fatal(err)
	}
	imp := importerFunc(func(path string) (*types.Package, error) {
		if path == shellPkg.Path() {
			return shellPkg, nil
		}
		return std.Import(path)
	})
	check := func(body string) error {
		src := "package x\nimport \"github.com/tendhq/tend/shell\"\nfunc f(v string) { _ = v\n" + body + "\n}\n"
		af, err := parser.ParseFile(fset, "x.go", src, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = (&types.Config{Importer: imp}).Check("x", fset, []*ast.File{af}, nil)
		return err
	}
	for _, ok := range []string{
		`shell.Cmd("chmod", "-R").Flag("-h").Opt("-m", v).Operands(v)`,
		`shell.NewScript("set -e").Raw("x=1\n").Line("y=2")`,
		`const c = "rm"; shell.Cmd(c)`,
	} {
		if err := check(ok); err != nil {
			t.Errorf("%s does not compile: %v", ok, err)
		}
	}
	for _, bad := range []string{
		`shell.Cmd(v)`,
		`shell.Cmd("chmod").Flag(v)`,
		`shell.NewScript().Raw(v)`,
		`shell.NewScript(v)`,
		`shell.Cmd("x").Redirect(v)`,
		`shell.Test(v, "x")`,
		`shell.Cmd("x").OptJoined(v, v)`,
		`shell.Cmd("x").Word(v, v, "")`,
		`shell.Cmd("x").Word("", v, v)`,
		`shell.NewScript().Inline(shell.Cmd(v))`,
		`shell.NewScript().Word(v, "", "")`,
	} {
		if err := check(bad); err == nil {
			t.Errorf("%s compiles: a variable became shell syntax", bad)
		}
	}
}

type importerFunc func(path string) (*types.Package, error)

func (f importerFunc) Import(path string) (*types.Package, error) { return f(path) }

func TestScriptCaptureCompare(t *testing.T) {
	for _, v := range hostile {
		s := NewScript()
		s.Capture("o", Cmd("printf", "%s").Arg(v))
		s.IfElse(Compare("o", "=", strings.TrimRight(v, "\n")), func(s *Script) {
			s.Run(Cmd("args", "same"))
		}, func(s *Script) {
			s.Run(Cmd("args", "differs"))
		})
		if got := argvScript(t, s); got != "same\x00" {
			t.Errorf("value %.40q: %q", v, got)
		}
	}
}
