package plan

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tendhq/tend/inventory"
	"github.com/tendhq/tend/lang"
	"github.com/tendhq/tend/resources/builtin"
)

// TestCheckInHostOrder: Check evaluates the hosts in parallel but reports
// as if in order: the diagnostics of the first host that fails, never a
// later one's, and every host's evaluation is kept when none fails.
func TestCheckInHostOrder(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("main.hcl", "file \"a\" {\n  path    = host.vars.dir\n  content = \"x\"\n}\n")
	load := func(bad ...int) (*Planner, []*inventory.Host) {
		t.Helper()
		var inv strings.Builder
		for i := 0; i < 40; i++ {
			d := fmt.Sprintf("/srv/h%02d", i)
			for _, b := range bad {
				if i == b {
					d = fmt.Sprintf("relative%02d", i)
				}
			}
			fmt.Fprintf(&inv, "host \"h%02d\" {\n  transport = \"local\"\n  vars = { dir = %q }\n}\n", i, d)
		}
		path := filepath.Join(t.TempDir(), "inventory.hcl")
		if err := os.WriteFile(path, []byte(inv.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, diags := lang.Load(dir, builtin.Types())
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		in, diags := inventory.Load([]string{path}, nil)
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		return &Planner{Config: cfg, Inventory: in}, in.Hosts()
	}

	p, hosts := load()
	if diags := p.Check(hosts); diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if len(p.checked) != len(hosts) {
		t.Errorf("%d hosts' evaluations kept, want %d", len(p.checked), len(hosts))
	}
	for run := 0; run < 20; run++ {
		p, hosts := load(31, 7, 23)
		diags := p.Check(hosts)
		msg := diags.Error()
		if !diags.HasErrors() || !strings.Contains(msg, "relative07") || strings.Contains(msg, "relative23") || strings.Contains(msg, "relative31") {
			t.Fatalf("run %d: %s\nwant the error of h07 only", run, msg)
		}
	}
}
