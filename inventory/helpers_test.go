package inventory

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// writeTree writes files under a fresh directory and returns it. A name
// ending in "*" is written executable, without the "*".
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, "*") {
			name, mode = strings.TrimSuffix(name, "*"), 0o755
		}
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// loadSources loads sources relative to dir (a host list, with a comma,
// as it is).
func loadSources(t *testing.T, dir string, opts Options, sources ...string) (*Inventory, hcl.Diagnostics) {
	t.Helper()
	var paths []string
	for _, s := range sources {
		if strings.Contains(s, ",") {
			paths = append(paths, s)
		} else {
			paths = append(paths, filepath.Join(dir, s))
		}
	}
	return LoadContext(context.Background(), paths, opts)
}

// mustLoadSources is loadSources failing the test on errors (warnings
// are allowed).
func mustLoadSources(t *testing.T, files map[string]string, sources ...string) *Inventory {
	t.Helper()
	dir := writeTree(t, files)
	inv, diags := loadSources(t, dir, Options{}, sources...)
	if diags.HasErrors() {
		t.Fatalf("unexpected errors: %s", diagStrings(dir, diags))
	}
	return inv
}

// diagStrings formats diagnostics as "file:line,col: [warning: ]Summary",
// file relative to dir.
func diagStrings(dir string, diags hcl.Diagnostics) []string {
	var out []string
	for _, d := range diags {
		sev := ""
		if d.Severity == hcl.DiagWarning {
			sev = "warning: "
		}
		where := "-"
		if d.Subject != nil {
			rel, err := filepath.Rel(dir, d.Subject.Filename)
			if err != nil || strings.HasPrefix(rel, "..") {
				rel = d.Subject.Filename
			}
			where = fmt.Sprintf("%s:%d,%d", rel, d.Subject.Start.Line, d.Subject.Start.Column)
		}
		out = append(out, fmt.Sprintf("%s: %s%s", where, sev, d.Summary))
	}
	return out
}

// hostSummary is a host as table tests compare it: its groups and its
// vars as JSON text.
type hostSummary struct {
	Groups []string
	Vars   map[string]string
}

func summarize(t *testing.T, inv *Inventory) map[string]hostSummary {
	t.Helper()
	out := map[string]hostSummary{}
	for _, h := range inv.Hosts() {
		s := hostSummary{Groups: h.Groups, Vars: map[string]string{}}
		for k, v := range h.Vars {
			b, err := ctyjson.SimpleJSONValue{Value: v}.MarshalJSON()
			if err != nil {
				t.Fatalf("host %s var %s: %v", h.Name, k, err)
			}
			s.Vars[k] = string(b)
		}
		out[h.Name] = s
	}
	return out
}

// groupsOf lists the groups of every host, as "host: g1 g2".
func groupsOf(inv *Inventory) []string {
	var out []string
	for _, h := range inv.Hosts() {
		out = append(out, h.Name+": "+strings.Join(h.Groups, " "))
	}
	sort.Strings(out)
	return out
}

// hclTextWriter prints diagnostics the way the CLI does, with snippets
// from the inventory's files.
func hclTextWriter(w io.Writer, inv *Inventory) hcl.DiagnosticWriter {
	return hcl.NewDiagnosticTextWriter(w, inv.Files(), 100, false)
}
