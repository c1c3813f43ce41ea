package cli

import (
	"bufio"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/inventory"
	"github.com/tendhq/tend/journal"
	"github.com/tendhq/tend/lang"
	"github.com/tendhq/tend/patch"
	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/probe"
	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/resources/builtin"
	"github.com/tendhq/tend/transport"
)

// patchHost is one host's patch run.
type patchHost struct {
	inv      *inventory.Host
	t        transport.Transport
	mgr      patch.Manager
	pending  []patch.Upgrade
	done     []patch.Upgrade
	rebooted bool
	outcome  string // success, failed, unreachable, not_started
	err      error
}

func patchCmd(io IO) *cobra.Command {
	c := &common{io: io}
	var rf rolloutFlags
	var securityOnly, yes, check bool
	var reboot string
	var rebootTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "patch",
		Short: "Upgrade packages on the targeted hosts in rolling batches, rebooting when needed",
		Long: `Refresh each host's package index, show the upgrades it would take, then
upgrade host by host in the rollout's batches (the rollout block of the
configuration directory, or --serial etc.): after a host's upgrade it is
rebooted when it asks for it (--reboot auto), waited for until it is back,
and its health check is run. A batch with failures stops the rollout.

Hosts with apt, dnf/yum, zypper and pacman are supported (--security-only:
apt's security archives, dnf's and zypper's security advisories; pacman has
none and refuses it). Upgrades are journaled with their versions (tend
runs) but not rolled back automatically.

With --check, nothing is changed: exit 0 when no host has upgrades, 2 when
some have, 1 on error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch reboot {
			case "auto", "never", "always":
			default:
				return fmt.Errorf("--reboot must be auto, never or always, not %q", reboot)
			}
			l, err := c.load(false)
			if err != nil {
				return err
			}
			cfg := &lang.Config{}
			if m, _ := filepath.Glob(filepath.Join(c.dir, "*.hcl")); len(m) > 0 && !(len(m) == 1 && filepath.Base(m[0]) == "inventory.hcl") {
				loaded, diags := lang.Load(c.dir, builtin.Types())
				if diags.HasErrors() {
					c.printDiags(loaded.Parser.Files(), diags)
					return &exitError{ExitError}
				}
				cfg = loaded
			}
			ro, err := rf.rollout(cmd, cfg)
			if err != nil {
				return err
			}
			if ro == nil {
				ro = &lang.Rollout{OnFailure: lang.RolloutStop}
			}
			return c.runPatch(cmd.Context(), l, ro, securityOnly, reboot, rebootTimeout, yes, check)
		},
	}
	c.addConfigFlags(cmd)
	rf.add(cmd)
	cmd.Flags().BoolVar(&securityOnly, "security-only", false, "only security updates (apt: from a security archive; dnf, zypper: named by a security advisory)")
	cmd.Flags().StringVar(&reboot, "reboot", "auto", "auto (when the host asks for it), never or always")
	cmd.Flags().DurationVar(&rebootTimeout, "reboot-timeout", 10*time.Minute, "how long to wait for a rebooted host to come back")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "patch without asking")
	cmd.Flags().BoolVar(&check, "check", false, "only show pending upgrades (exit 2 when there are some)")
	return cmd
}

func (c *common) runPatch(ctx context.Context, l *loaded, ro *lang.Rollout, securityOnly bool, reboot string, rebootTimeout time.Duration, yes, check bool) error {
	w := c.io.Stdout
	connect := c.connector()
	hosts := make([]*patchHost, len(l.hosts))
	var wg sync.WaitGroup
	for i, h := range l.hosts {
		hosts[i] = &patchHost{inv: h}
		wg.Add(1)
		go func(ph *patchHost) {
			defer wg.Done()
			t, err := connect(ctx, ph.inv)
			if err != nil {
				ph.outcome, ph.err = "unreachable", err
				return
			}
			ph.t = t
			res, err := probe.RunOn(ctx, t, plan.IsWindows(ph.inv), true, nil)
			if err != nil {
				ph.outcome, ph.err = "failed", err
				return
			}
			c.facts().save(ph.inv.Name, res.Facts)
			if ph.mgr, err = patch.For(res.Facts.PackageManager); err != nil {
				ph.outcome, ph.err = "failed", err
				return
			}
			if ph.pending, err = ph.mgr.Pending(ctx, t, securityOnly); err != nil {
				ph.outcome, ph.err = "failed", err
			}
		}(hosts[i])
	}
	wg.Wait()
	defer func() {
		for _, ph := range hosts {
			if ph.t != nil {
				ph.t.Close()
			}
		}
	}()
	total, errs := 0, 0
	for _, ph := range hosts {
		switch {
		case ph.err != nil:
			errs++
			fmt.Fprintf(w, "%s: ! %s\n", ph.inv.Name, ph.err)
		case len(ph.pending) == 0:
			fmt.Fprintf(w, "%s: up to date\n", ph.inv.Name)
		default:
			total += len(ph.pending)
			fmt.Fprintf(w, "%s: %s\n", ph.inv.Name, plural(len(ph.pending), "upgrade", "upgrades"))
			for _, u := range ph.pending {
				fmt.Fprintf(w, "    ~ %s %s → %s\n", u.Name, orNew(u.From), u.To)
			}
		}
	}
	fmt.Fprintf(w, "\nPatch: %s on %d of %d hosts.\n", plural(total, "upgrade", "upgrades"), countPending(hosts), len(hosts))
	if check {
		switch {
		case errs > 0:
			return &exitError{ExitError}
		case total > 0:
			return &exitError{ExitChanges}
		}
		return nil
	}
	if total == 0 && reboot != "always" {
		if errs > 0 {
			return &exitError{ExitError}
		}
		return nil
	}
	if !yes {
		if !c.io.IsTerminal {
			fmt.Fprintln(c.io.Stderr, "Error: refusing to patch without confirmation: this is not a terminal. Review the upgrades above and pass -y.")
			return &exitError{ExitError}
		}
		fmt.Fprint(w, "Patch these hosts? Only 'yes' is accepted: ")
		line, _ := bufio.NewReader(c.io.Stdin).ReadString('\n')
		if strings.TrimSpace(line) != "yes" {
			fmt.Fprintln(w, "Patch cancelled; nothing was changed.")
			return &exitError{ExitError}
		}
	}
	now := time.Now()
	j, err := journal.Create(c.dir, &journal.Run{ID: journal.NewID(now), Command: "patch", Started: now.UTC(), User: currentUser(),
		ConfigDir: c.dir, Target: c.target, Outcome: "running"})
	if err != nil {
		return err
	}
	defer j.Close()
	fmt.Fprintf(w, "\nPatching (run %s)\n", j.Path())
	var hc func(context.Context, *plan.HostPlan) error
	if ro.HealthCheck != nil {
		hc = healthCheck(ro.HealthCheck)
	}
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, format, args...)
	}
	batches := lang.Batches(ro.Serial, len(hosts))
	stopped := false
	for bi, b := range batches {
		batch := hosts[b[0]:b[1]]
		if stopped {
			for _, ph := range batch {
				if ph.outcome == "" {
					ph.outcome = "not_started"
				}
			}
			continue
		}
		if bi > 0 && ro.Pause > 0 {
			time.Sleep(ro.Pause)
		}
		if len(batches) > 1 {
			say("\nBatch %d of %d\n", bi+1, len(batches))
		}
		var bwg sync.WaitGroup
		for _, ph := range batch {
			if ph.err != nil {
				continue
			}
			bwg.Add(1)
			go func(ph *patchHost) {
				defer bwg.Done()
				c.patchHost(ctx, ph, connect, securityOnly, reboot, rebootTimeout, hc, say)
			}(ph)
		}
		bwg.Wait()
		failed := 0
		for _, ph := range batch {
			if ph.outcome != "success" {
				failed++
			}
		}
		if failed > 0 && 100*float64(failed)/float64(len(batch)) > ro.MaxFailPercent {
			say("Batch %d failed (%d of %d hosts); the rollout stops.\n", bi+1, failed, len(batch))
			stopped = true
		}
	}
	_ = j.Update(func(r *journal.Run) {
		r.Finished = time.Now().UTC()
		r.Outcome = "success"
		for _, ph := range hosts {
			jh := &journal.Host{Name: ph.inv.Name, Outcome: ph.outcome, Changes: []*journal.Entry{}}
			if ph.err != nil {
				jh.Error = ph.err.Error()
			}
			if ph.outcome != "success" {
				r.Outcome = "failed"
			}
			for _, u := range ph.done {
				jh.Changes = append(jh.Changes, &journal.Entry{Address: "patch." + u.Name, Type: "package", Action: plan.Update,
					Before: versionState(u.Name, u.From), After: versionState(u.Name, u.To), Status: journal.Applied,
					Irreversible: "tend patch does not roll upgrades back"})
			}
			r.Hosts = append(r.Hosts, jh)
		}
	})
	ok, upgraded := 0, 0
	var bad []string
	for _, ph := range hosts {
		upgraded += len(ph.done)
		if ph.outcome == "success" {
			ok++
		} else {
			bad = append(bad, fmt.Sprintf("%s (%s: %v)", ph.inv.Name, ph.outcome, ph.err))
		}
	}
	fmt.Fprintln(w)
	if len(bad) == 0 {
		fmt.Fprintf(w, "Patch complete: %s on %s.\n", plural(upgraded, "package upgraded", "packages upgraded"), plural(ok, "host", "hosts"))
		return nil
	}
	fmt.Fprintf(w, "Patch failed on %d of %d hosts:\n", len(bad), len(hosts))
	for _, b := range bad {
		fmt.Fprintf(w, "  %s\n", b)
	}
	return &exitError{ExitError}
}

// patchHost upgrades one host, reboots it if needed and waits for it,
// then runs the health check.
func (c *common) patchHost(ctx context.Context, ph *patchHost, connect plan.Connector, securityOnly bool, reboot string,
	timeout time.Duration, hc func(context.Context, *plan.HostPlan) error, say func(string, ...any)) {
	name := ph.inv.Name
	fail := func(err error) {
		ph.outcome, ph.err = "failed", err
		say("  %s: ! %s\n", name, err)
	}
	done, err := ph.mgr.Upgrade(ctx, ph.t, ph.pending, securityOnly)
	ph.done = done
	for _, u := range done {
		say("  %s: ~ %s %s → %s\n", name, u.Name, orNew(u.From), u.To)
	}
	if err != nil {
		fail(err)
		return
	}
	need := reboot == "always"
	if reboot == "auto" {
		if need, err = ph.mgr.RebootRequired(ctx, ph.t); err != nil {
			fail(err)
			return
		}
	}
	if need {
		start := time.Now()
		if err := rebootAndWait(ctx, ph, connect, timeout); err != nil {
			fail(err)
			return
		}
		ph.rebooted = true
		say("  %s: rebooted, back after %s\n", name, time.Since(start).Round(time.Second))
	}
	if hc != nil {
		if err := hc(ctx, &plan.HostPlan{Name: name, T: ph.t}); err != nil {
			fail(fmt.Errorf("health check: %w", err))
			return
		}
		say("  %s: health check passed\n", name)
	}
	ph.outcome = "success"
}

// rebootAndWait reboots a host and reconnects once it is back with a new
// boot identity.
func rebootAndWait(ctx context.Context, ph *patchHost, connect plan.Connector, timeout time.Duration) error {
	before, err := patch.BootID(ctx, ph.t)
	if err != nil {
		return fmt.Errorf("reading the boot id: %w", err)
	}
	if _, err := transport.Output(ctx, ph.t, transport.Command{Script: patch.RebootScript}); err != nil {
		return fmt.Errorf("asking for a reboot: %w", err)
	}
	ph.t.Close()
	ph.t = nil
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		t, err := connect(actx, ph.inv)
		if err != nil {
			cancel()
			last = err
			continue
		}
		id, err := patch.BootID(actx, t)
		cancel()
		if err == nil && id != before {
			ph.t = t
			return nil
		}
		t.Close()
		if err != nil {
			last = err
		}
	}
	return fmt.Errorf("the host did not come back within %s after the reboot (last: %v)", timeout, last)
}

func versionState(name, v string) *resources.State {
	if v == "" {
		return &resources.State{Attrs: map[string]cty.Value{"name": cty.StringVal(name)}}
	}
	return &resources.State{Present: true, Attrs: map[string]cty.Value{"name": cty.StringVal(name), "version": cty.StringVal(v)}}
}

func orNew(v string) string {
	if v == "" {
		return "(new)"
	}
	return v
}

func countPending(hs []*patchHost) int {
	n := 0
	for _, h := range hs {
		if len(h.pending) > 0 {
			n++
		}
	}
	return n
}
