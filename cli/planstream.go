package cli

import (
	"bytes"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"

	"github.com/tendhq/tend/plan"
)

// streamPlan plans the targeted hosts and shows each host's plan as soon
// as it is complete, keeping only its summary afterwards: what it prints
// (the human plan, or JSON lines) and the plan file it writes (out, when
// set) are the same as for a plan held whole, hosts in the inventory's
// order, but a fleet's plans are never all held at once. A host complete
// before the hosts ahead of it waits as what will be shown of it (nothing
// for a host without changes in the human plan; its changes for JSON
// lines and the plan file). The returned plan holds the summaries.
func (c *common) streamPlan(cmd *cobra.Command, l *loaded, out string) (*plan.Plan, error) {
	io := c.io
	var saved *plan.SavedWriter
	if out != "" {
		w, err := plan.CreateSaved(out, c.inputs(l.cfg), time.Now().UTC(), c.target)
		if err != nil {
			return nil, fmt.Errorf("saving plan: %w", err)
		}
		saved = w
	}
	var (
		mu      sync.Mutex
		next    int
		waiting = map[int]func(){}
		saveErr error
	)
	// show prints, in the hosts' order, every host whose turn has come.
	show := func(i int, f func()) {
		mu.Lock()
		defer mu.Unlock()
		waiting[i] = f
		for {
			f, ok := waiting[next]
			if !ok {
				return
			}
			delete(waiting, next)
			next++
			f()
		}
	}
	p := c.planner(l)
	p.Done = func(i int, hp *plan.HostPlan) {
		if hp.Facts.Kernel != "" {
			c.facts().save(hp.Name, hp.Facts)
		}
		c.outputs.plannedHost(hp, time.Now())
		var diags hcl.Diagnostics
		if de, ok := hp.Err.(*plan.DiagError); ok {
			diags = de.Diags
		}
		var enc *plan.SavedHost
		if saved != nil {
			e, err := plan.EncodeSavedHost(hp)
			if err != nil {
				mu.Lock()
				saveErr = err
				mu.Unlock()
			}
			enc = e
		}
		var print func()
		if io.ui.active() {
			// Only the changes that do something are shown.
			pending := *hp
			pending.Changes = hp.Pending()
			uh := uiHost{h: pending.JSON(), resources: len(hp.Changes)}
			print = func() { io.ui.plannedHost(uh) }
		} else {
			var b bytes.Buffer
			(&plan.Renderer{W: &b, Color: c.color()}).Host(hp)
			text := b.Bytes()
			print = func() { _, _ = io.Stdout.Write(text) }
		}
		show(i, func() {
			c.printDiags(l.files, diags)
			print()
			if enc != nil && saveErr == nil {
				saveErr = saved.Add(enc)
			}
		})
	}
	pl, diags := p.Plan(cmd.Context(), l.hosts)
	if diags.HasErrors() {
		if saved != nil {
			saved.Abort()
		}
		c.printDiags(l.files, diags)
		return nil, &exitError{ExitError}
	}
	c.printDiags(l.files, diags)
	pl.Target = c.target
	names := make([]string, len(pl.Hosts))
	for i, h := range pl.Hosts {
		names[i] = h.Name
	}
	c.outputs.orderHosts(names)
	if io.ui.active() {
		io.ui.changeSummary("plan", pl.Count().JSON())
	} else {
		fmt.Fprintln(io.Stdout, (&plan.Renderer{Color: c.color()}).Summary(pl))
	}
	if saved != nil {
		if saveErr != nil {
			saved.Abort()
			return pl, fmt.Errorf("saving plan: %w", saveErr)
		}
		if err := saved.Close(pl.Count()); err != nil {
			return pl, fmt.Errorf("saving plan: %w", err)
		}
	}
	return pl, nil
}
