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

// TestPlanDone: with Done, each host's complete plan is handed over once,
// while at most Parallel hosts are being planned, and the plan returned
// holds summaries that count as the complete plans do.
func TestPlanDone(t *testing.T) {
	dir := t.TempDir()
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(fmt.Sprintf("file \"a\" {\n  path    = \"%s/${host.name}\"\n  content = \"x\"\n}\nfile \"b\" {\n  path    = \"%s/${host.name}.same\"\n  content = \"y\"\n}\n", root, root)), 0o644); err != nil {
		t.Fatal(err)
	}
	// Half the hosts already hold file.b as configured.
	var inv strings.Builder
	const n, parallel = 40, 4
	for i := 0; i < n; i++ {
		fmt.Fprintf(&inv, "host \"h%02d\" {\n  transport = \"local\"\n}\n", i)
		if i%2 == 0 {
			if err := os.WriteFile(filepath.Join(root, fmt.Sprintf("h%02d.same", i)), []byte("y"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
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
	var mu sync.Mutex
	seen := map[int]string{}
	inFlight, peak := 0, 0
	var full Plan
	full.Hosts = make([]*HostPlan, n)
	p := &Planner{Config: cfg, Inventory: in, Parallel: parallel, CloseEach: true,
		Connect: func(context.Context, *inventory.Host) (transport.Transport, error) {
			mu.Lock()
			inFlight++
			peak = max(peak, inFlight)
			mu.Unlock()
			return local.New(), nil
		},
		Done: func(i int, h *HostPlan) {
			mu.Lock()
			defer mu.Unlock()
			inFlight--
			if _, dup := seen[i]; dup {
				t.Errorf("host %d handed over twice", i)
			}
			seen[i] = h.Name
			if h.Summarized || len(h.Changes) != 2 || h.Changes[0].After == nil {
				t.Errorf("%s: handed over without its complete plan: %+v", h.Name, h)
			}
			full.Hosts[i] = h
		}}
	pl, diags := p.Plan(context.Background(), in.Hosts())
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if len(seen) != n || peak > parallel {
		t.Errorf("%d hosts handed over (want %d), %d planned at once (want ≤ %d)", len(seen), n, peak, parallel)
	}
	for i, h := range pl.Hosts {
		if seen[i] != h.Name {
			t.Errorf("host %d: handed over as %q, summarized as %q", i, seen[i], h.Name)
		}
		if !h.Summarized || h.Facts.Kernel != "" {
			t.Errorf("%s: the plan holds more than its summary: %+v", h.Name, h)
		}
		for _, c := range h.Changes {
			if c.Before != nil || c.After != nil || c.Action == NoOp {
				t.Errorf("%s: summary holds %s with states or as a no-op", h.Name, c.Address)
			}
		}
	}
	if got, want := pl.Count(), full.Count(); got != want {
		t.Errorf("summaries count %+v, the complete plans %+v", got, want)
	}
	if want := (Counts{Add: n + n/2, HostsChanged: n}); pl.Count() != want {
		t.Errorf("counts %+v, want %+v", pl.Count(), want)
	}
	if err := Save(filepath.Join(t.TempDir(), "p.json"), Inputs{}, pl); err == nil {
		t.Error("a plan of summaries was saved")
	}
}

// TestPlanSharesDerived: hosts whose variables match share what is
// derived from their shared instances (desired state, probe), made once;
// hosts whose variables differ get their own, with their own values.
func TestPlanSharesDerived(t *testing.T) {
	dir := t.TempDir()
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(fmt.Sprintf("file \"a\" {\n  path    = \"%s/${host.vars.site}\"\n  content = \"site ${host.vars.site}\\n\"\n}\n", root)), 0o644); err != nil {
		t.Fatal(err)
	}
	invPath := filepath.Join(t.TempDir(), "inventory.hcl")
	inv := "host \"a\" {\n  transport = \"local\"\n  vars = { site = \"paris\" }\n}\nhost \"b\" {\n  transport = \"local\"\n  vars = { site = \"paris\" }\n}\nhost \"c\" {\n  transport = \"local\"\n  vars = { site = \"oslo\" }\n}\n"
	if err := os.WriteFile(invPath, []byte(inv), 0o644); err != nil {
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
	p := &Planner{Config: cfg, Inventory: in, Parallel: 1, CloseEach: true,
		Connect: func(context.Context, *inventory.Host) (transport.Transport, error) { return local.New(), nil }}
	// Hosts checked at once may each evaluate before either shares its
	// evaluation; planned again, every host finds the shared one.
	if _, diags := p.Plan(context.Background(), in.Hosts()); diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	derived := len(p.derived)
	pl, diags := p.Plan(context.Background(), in.Hosts())
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if len(p.derived) != derived {
		t.Errorf("planned again: %d instances derived, %d before", len(p.derived), derived)
	}
	after := map[string]*Change{}
	for _, h := range pl.Hosts {
		if h.Err != nil || len(h.Changes) != 1 {
			t.Fatalf("%s: %v %v", h.Name, h.Err, h.Changes)
		}
		after[h.Name] = h.Changes[0]
	}
	if after["a"].After != after["b"].After || after["a"].After == after["c"].After {
		t.Errorf("desired states shared: a and b %v (want true), a and c %v (want false)", after["a"].After == after["b"].After, after["a"].After == after["c"].After)
	}
	for name, site := range map[string]string{"a": "paris", "b": "paris", "c": "oslo"} {
		if got := after[name].After.Str("path"); got != root+"/"+site {
			t.Errorf("%s: path %q", name, got)
		}
		if got := string(after[name].After.Content.Data); got != "site "+site+"\n" {
			t.Errorf("%s: content %q", name, got)
		}
	}
}
