package plan

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tendhq/tend/inventory"
	"github.com/tendhq/tend/lang"
	"github.com/tendhq/tend/resources/builtin"
	"github.com/tendhq/tend/transport"
	"github.com/tendhq/tend/transport/local"
)

// countedTransport is a local transport that counts the connections open.
type countedTransport struct {
	transport.Transport
	c    *connCount
	once sync.Once
}

type connCount struct {
	mu         sync.Mutex
	open, peak int
}

func (t *countedTransport) Close() error {
	t.once.Do(func() {
		t.c.mu.Lock()
		t.c.open--
		t.c.mu.Unlock()
	})
	return t.Transport.Close()
}

// TestPlanCloseEach: a plan that will not be applied holds at most
// Parallel connections at once and none at the end; one for apply keeps
// every host's.
func TestPlanCloseEach(t *testing.T) {
	dir := t.TempDir()
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(fmt.Sprintf("file \"a\" {\n  path    = \"%s/${host.name}\"\n  content = \"x\"\n}\n", root)), 0o644); err != nil {
		t.Fatal(err)
	}
	var inv strings.Builder
	const n, parallel = 30, 4
	for i := 0; i < n; i++ {
		fmt.Fprintf(&inv, "host \"h%02d\" {\n  transport = \"local\"\n}\n", i)
	}
	invPath := filepath.Join(t.TempDir(), "inventory.hcl")
	if err := os.WriteFile(invPath, []byte(inv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, closeEach := range []bool{true, false} {
		cfg, diags := lang.Load(dir, builtin.Types())
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		in, diags := inventory.Load([]string{invPath}, nil)
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		c := &connCount{}
		p := &Planner{Config: cfg, Inventory: in, Parallel: parallel, CloseEach: closeEach,
			Connect: func(context.Context, *inventory.Host) (transport.Transport, error) {
				c.mu.Lock()
				c.open++
				c.peak = max(c.peak, c.open)
				c.mu.Unlock()
				return &countedTransport{Transport: local.New(), c: c}, nil
			}}
		pl, diags := p.Plan(context.Background(), in.Hosts())
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		kept := 0
		for _, h := range pl.Hosts {
			if h.Err != nil {
				t.Fatalf("%s: %v", h.Name, h.Err)
			}
			if len(h.Changes) != 1 {
				t.Errorf("CloseEach %v: %s has %d changes, want 1", closeEach, h.Name, len(h.Changes))
			}
			if h.T != nil {
				kept++
			}
		}
		if len(p.checked) != 0 {
			t.Errorf("CloseEach %v: %d hosts' static evaluations still held after planning", closeEach, len(p.checked))
		}
		if closeEach {
			if c.peak > parallel || c.open != 0 || kept != 0 {
				t.Errorf("CloseEach: %d connections open at most, %d at the end, %d kept in the plan; want ≤ %d, 0, 0", c.peak, c.open, kept, parallel)
			}
		} else if c.open != n || kept != n {
			t.Errorf("for apply: %d connections open at the end, %d kept in the plan; want %d", c.open, kept, n)
		}
		closeAllHosts(pl)
	}
}

func closeAllHosts(pl *Plan) {
	for _, h := range pl.Hosts {
		if h.T != nil {
			h.T.Close()
		}
	}
}

// TestCheckKeepsBoundedEvaluations: Check keeps the evaluations of the
// first hosts only, not the fleet's; the others are evaluated again when
// planned, with the same result.
func TestCheckKeepsBoundedEvaluations(t *testing.T) {
	dir := t.TempDir()
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(fmt.Sprintf("file \"a\" {\n  path    = \"%s/${host.name}\"\n  content = \"x\"\n}\n", root)), 0o644); err != nil {
		t.Fatal(err)
	}
	var inv strings.Builder
	const n = 300
	for i := 0; i < n; i++ {
		fmt.Fprintf(&inv, "host \"h%03d\" {\n  transport = \"local\"\n}\n", i)
	}
	invPath := filepath.Join(t.TempDir(), "inventory.hcl")
	if err := os.WriteFile(invPath, []byte(inv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, diags := lang.Load(dir, builtin.Types())
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	in, diags := inventory.Load([]string{invPath}, nil)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	p := &Planner{Config: cfg, Inventory: in, Parallel: 4, CloseEach: true,
		Connect: func(context.Context, *inventory.Host) (transport.Transport, error) { return local.New(), nil }}
	if diags := p.Check(in.Hosts()); diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if got, want := len(p.checked), p.keepChecked(); got != want || want >= n {
		t.Errorf("Check kept %d evaluations of %d hosts, want %d", got, n, want)
	}
	pl, diags := p.Plan(context.Background(), in.Hosts())
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	for _, h := range pl.Hosts {
		if h.Err != nil || len(h.Changes) != 1 || h.Changes[0].After.Str("path") != root+"/"+h.Name {
			t.Fatalf("%s: %v, changes %v", h.Name, h.Err, h.Changes)
		}
	}
}
