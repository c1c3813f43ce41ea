package engine_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestEngineLeavesJournalToSubscribers: the engine tells its events to
// subscribers and never writes a journal or prints itself: no file of
// the package (tests aside) imports the journal, the CLI or fmt's
// printing to a terminal.
func TestEngineLeavesJournalToSubscribers(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			switch p {
			case "github.com/tendhq/tend/journal", "github.com/tendhq/tend/cli", "os":
				t.Errorf("%s imports %s: the engine reaches the journal and the terminal only through its subscribers", f, p)
			}
		}
	}
}
