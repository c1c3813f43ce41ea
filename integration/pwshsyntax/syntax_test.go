package pwshsyntax

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// parseErrors runs check.cjs over files in one node process and returns
// its report lines (FILE, LINE, COLUMN, KIND, TEXT, tab-separated). A
// missing node or grammar skips the test, or fails it under TEND_LAB=1.
func parseErrors(t *testing.T, files []string) []string {
	t.Helper()
	dir := os.Getenv("TEND_PWSH_SYNTAX_DIR")
	if dir == "" {
		dir = "/var/cache/tend-pwsh-syntax"
	}
	missing := func(why string) {
		msg := why + " (run integration/scripts/pwsh-parse-deps.sh)"
		if os.Getenv("TEND_LAB") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node not found")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "tree-sitter-powershell", "tree-sitter-powershell.wasm")); err != nil {
		missing("tree-sitter-powershell not installed: " + err.Error())
	}
	check, err := filepath.Abs("check.cjs")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, append([]string{check}, files...)...)
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node check.cjs: %v\n%s", err, stderr.String())
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// generated is every PowerShell script of the module's goldens, the
// bootstrap source included.
func generated(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir("../..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == ".git") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".ps1") {
			abs, err := filepath.Abs(p)
			files = append(files, abs)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestGeneratedScriptsParse: every generated script parses without an
// ERROR or MISSING node; the report gives file:line:col of each.
func TestGeneratedScriptsParse(t *testing.T) {
	files := generated(t)
	// The goldens of these tests at least: a script set that shrank
	// unnoticed would pass vacuously.
	for _, want := range []string{"transport/winrm/bootstrap.ps1", "probe/testdata/windows/probe.ps1",
		"cli/testdata/windows/apply-changes.ps1", "resources/builtin/testdata/windows/file_create.ps1"} {
		found := false
		for _, f := range files {
			found = found || strings.HasSuffix(filepath.ToSlash(f), want)
		}
		if !found {
			t.Fatalf("%s not among the scripts checked", want)
		}
	}
	root, _ := filepath.Abs("../..")
	for _, l := range parseErrors(t, files) {
		if l == "" {
			continue
		}
		f := strings.SplitN(l, "\t", 5)
		rel, _ := filepath.Rel(root, f[0])
		t.Errorf("%s:%s:%s: %s %q", rel, f[1], f[2], f[3], f[4])
	}
	t.Logf("%d scripts parsed", len(files))
}

// TestBrokenScriptReported: the check finds a syntax error, with its
// position, in a script that has one next to scripts that have none.
func TestBrokenScriptReported(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.ps1")
	bad := filepath.Join(dir, "bad.ps1")
	if err := os.WriteFile(good, []byte("$p = 'C:\\x'\nif (Test-Path -LiteralPath $p) { Remove-Item -LiteralPath $p -Force }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("$ErrorActionPreference = 'Stop'\nif ($x -eq 1 { tendOut a 'b' }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lines := parseErrors(t, []string{good, bad})
	var got []string
	for _, l := range lines {
		if l != "" {
			got = append(got, l)
		}
	}
	if len(got) == 0 {
		t.Fatal("no error reported for a script with an unclosed parenthesis")
	}
	for _, l := range got {
		f := strings.SplitN(l, "\t", 5)
		if f[0] != bad {
			t.Errorf("error reported in %s, which parses: %s", f[0], l)
		}
		if f[1] != "2" {
			t.Errorf("error reported on line %s, want 2: %s", f[1], l)
		}
	}
	t.Log(fmt.Sprint(got))
}
