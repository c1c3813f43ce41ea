package builtin

import (
	"os"
	"testing"

	"github.com/tendhq/tend/resources"
)

// TestDocsUpToDate fails when docs/resources.md no longer matches the
// schemas; regenerate it with `go run ./docs/gen > docs/resources.md`.
func TestDocsUpToDate(t *testing.T) {
	got, err := os.ReadFile("../../docs/resources.md")
	if err != nil {
		t.Fatal(err)
	}
	if want := resources.Markdown(Types()); string(got) != want {
		t.Errorf("docs/resources.md is out of date: run go run ./docs/gen > docs/resources.md")
	}
}
