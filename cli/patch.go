package cli

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/engine"
	"github.com/tendhq/tend/inventory"
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
	inv     *inventory.Host
	t       transport.Transport
	mgr     patch.Manager
	pending []patch.Upgrade
	outcome string // success, failed, unreachable, not_started
	err     error
	// rebootPending: upgraded, and asks for a reboot --reboot never kept
	// from it.
	rebootPending bool
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

Hosts with apt, dnf/yum, zypper and pacman are supported, and Windows hosts
with Chocolatey or, without it, winget (--security-only: apt's security
archives, dnf's and zypper's security advisories; pacman, Chocolatey and
winget have none and refuse it). Upgrades are journaled with their versions (tend
runs) but not rolled back automatically.

With --check, nothing is changed: exit 0 when no host has upgrades, 2 when
some have, 1 on error.

With a backend (--backend, TEND_BACKEND), the hosts' leases are taken
before connecting (with --check too): a host another run holds stops the
patch, naming the holder; --lock-timeout waits for it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := c.runStore(cmd); err != nil {
				return err
			}
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
			hc, err := c.healthCheck(cfg, l.vars, ro)
			if err != nil {
				return err
			}
			// Before connecting (refreshing a package index already
			// takes the package manager's lock, even with --check):
			// another run holding some of the hosts in the backend stops
			// this one here.
			if err := c.reserveHosts(cmd, "", l.hostNames()); err != nil {
				return err
			}
			defer c.releaseHosts()
			return c.runPatch(cmd.Context(), l, ro, hc, securityOnly, reboot, rebootTimeout, yes, check)
		},
	}
	c.addConfigFlags(cmd)
	c.addRunFlags(cmd)
	rf.add(cmd)
	cmd.Flags().BoolVar(&securityOnly, "security-only", false, "only security updates (apt: from a security archive; dnf, zypper: named by a security advisory)")
	cmd.Flags().StringVar(&reboot, "reboot", "auto", "auto (when the host asks for it), never or always")
	cmd.Flags().DurationVar(&rebootTimeout, "reboot-timeout", 10*time.Minute, "how long to wait for a rebooted host to come back")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "patch without asking")
	cmd.Flags().BoolVar(&check, "check", false, "only show pending upgrades (exit 2 when there are some)")
	addJSONFlag(cmd, io)
	c.addRunOutputs(cmd, true, true)
	return cmd
}

func (c *common) runPatch(ctx context.Context, l *loaded, ro *lang.Rollout, hc *engine.HealthCheck, securityOnly bool, reboot string, rebootTimeout time.Duration, yes, check bool) error {
	// With --json the human lines go nowhere: messages say it all.
	ui := c.io.ui
	w := c.io.Stdout
	if ui.active() {
		w = io.Discard
	}
	connect := c.connector()
	hosts := make([]*patchHost, len(l.hosts))
	engine.Each(c.parallel, len(hosts), func(i int) {
		ph := &patchHost{inv: l.hosts[i]}
		hosts[i] = ph
		t, err := connect(ctx, ph.inv)
		if err != nil {
			ph.outcome, ph.err = "unreachable", err
			return
		}
		ph.t = t
		res, err := probe.RunOn(ctx, t, ph.inv.Windows(), true, nil)
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
	})
	c.outputs.patchChecked(hosts)
	defer func() {
		for _, ph := range hosts {
			if ph.t != nil {
				ph.t.Close()
			}
		}
	}()
	total, errs := 0, 0
	for _, ph := range hosts {
		if ui.active() {
			type upgrade struct {
				Name string `json:"name"`
				From string `json:"from,omitempty"`
				To   string `json:"to"`
			}
			m := map[string]any{"host": ph.inv.Name}
			ups := []upgrade{}
			for _, u := range ph.pending {
				ups = append(ups, upgrade{u.Name, u.From, u.To})
			}
			m["upgrades"] = ups
			if ph.err != nil {
				m["error"] = ph.err.Error()
			}
			ui.emit("pending_upgrades", m)
		}
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
	if !yes && !c.confirm(ctx, "Patch these hosts?", "Patch cancelled; nothing was changed.", "Error: refusing to patch without confirmation: this is not a terminal. Review the upgrades above and pass -y.") {
		return &exitError{ExitError}
	}
	j, run, err := c.startRun(ctx, "patch", c.dir, nil)
	if err != nil {
		return err
	}
	defer j.Close()
	fmt.Fprintf(w, "\nPatching (run %s)\n", j.Path())
	view, hv := c.view()
	if ui.active() {
		ui.emit("run", map[string]any{"run_id": run.ID, "journal": j.Path()})
	} else {
		hv.rolloutPolicy = ro.OnFailure
		var names []string
		for _, ph := range hosts {
			names = append(names, ph.inv.Name)
		}
		hv.width(names)
	}
	eng := c.newEngine(run, j, l, engine.Stop, view)
	eng.Rollout = &engine.Rollout{Batches: lang.Batches(ro.Serial, len(hosts)), MaxFailPercent: ro.MaxFailPercent, Pause: ro.Pause, OnFailure: ro.OnFailure}
	eng.HealthCheck = hc
	works := make([]*engine.Work, len(hosts))
	for i, ph := range hosts {
		works[i] = ph.work(securityOnly, reboot, rebootTimeout, connect)
	}
	var res *engine.Result
	c.execute(eng, j, engine.Stop, func() { res = eng.RunWork(ctx, works) })
	if hv != nil {
		hv.stop()
	}
	if ui.active() {
		ui.set("run_id", run.ID)
		ui.set("result", res.Outcome(eng))
		ui.set("hosts", hostOutcomes(res))
	}
	for i, ph := range hosts {
		ph.t = works[i].Plan.T
	}
	var waiting []string
	for _, ph := range hosts {
		if ph.rebootPending {
			waiting = append(waiting, ph.inv.Name)
		}
	}
	if !printPatchSummary(w, res, waiting) {
		return &exitError{ExitError}
	}
	return nil
}

// printPatchSummary prints how a patch run ended and reports whether it
// succeeded. Hosts a stopped rollout never started are listed as such,
// not counted as failed.
// waiting lists the hosts --reboot never left asking for a reboot.
func printPatchSummary(w io.Writer, res *engine.Result, waiting []string) bool {
	ok, upgraded := 0, 0
	var bad, notStarted []string
	for _, r := range res.Hosts {
		upgraded += r.Applied
		switch {
		case r.Outcome == engine.Success:
			ok++
		case r.Outcome == engine.NotStarted:
			notStarted = append(notStarted, r.Name)
		case r.Err != nil:
			bad = append(bad, fmt.Sprintf("%s (%s: %v)", r.Name, strings.ReplaceAll(r.Outcome, "_", " "), r.Err))
		default:
			bad = append(bad, fmt.Sprintf("%s (%s)", r.Name, strings.ReplaceAll(r.Outcome, "_", " ")))
		}
	}
	fmt.Fprintln(w)
	if len(waiting) > 0 {
		fmt.Fprintf(w, "Reboot required, not rebooted (--reboot never): %s.\n", strings.Join(waiting, ", "))
	}
	switch {
	case len(bad) == 0 && len(notStarted) == 0:
		fmt.Fprintf(w, "Patch complete: %s on %s.\n", plural(upgraded, "package upgraded", "packages upgraded"), plural(ok, "host", "hosts"))
	case len(bad) == 0:
		fmt.Fprintf(w, "Patch stopped: %s on %s; %s not started.\n", plural(upgraded, "package upgraded", "packages upgraded"),
			plural(ok, "host", "hosts"), plural(len(notStarted), "host", "hosts"))
	default:
		fmt.Fprintf(w, "Patch failed on %d of %d hosts; %d succeeded:\n", len(bad), len(res.Hosts), ok)
		for _, b := range bad {
			fmt.Fprintf(w, "  %s\n", b)
		}
	}
	if len(notStarted) > 0 {
		fmt.Fprintf(w, "Not started: %s.\n", strings.Join(notStarted, ", "))
	}
	return len(bad) == 0 && len(notStarted) == 0
}

// work is a host's patch for the engine: its pending upgrades as changes
// that cannot be reverted, made in one step.
func (ph *patchHost) work(securityOnly bool, reboot string, timeout time.Duration, connect plan.Connector) *engine.Work {
	hp := &plan.HostPlan{Name: ph.inv.Name, T: ph.t, Err: ph.err}
	if ph.err != nil && ph.outcome == "unreachable" {
		hp.Err = &plan.UnreachableError{Err: ph.err}
	}
	for _, u := range ph.pending {
		hp.Changes = append(hp.Changes, &plan.Change{Address: "patch." + u.Name, Type: "package", Action: plan.Update,
			Before: versionState(u.Name, u.From), After: versionState(u.Name, u.To), Irreversible: "tend patch does not roll upgrades back"})
	}
	step := &patch.Step{Manager: ph.mgr, Pending: ph.pending, SecurityOnly: securityOnly, Reboot: reboot, RebootTimeout: timeout,
		Connect: func(ctx context.Context) (transport.Transport, error) { return connect(ctx, ph.inv) }}
	return &engine.Work{Plan: hp, Do: func(ctx context.Context, t transport.Transport, report func(*engine.Event)) (transport.Transport, []string, error) {
		say := func(what, msg string) {
			kind := engine.Upgraded
			switch what {
			case patch.SaidRebooted:
				kind = engine.Rebooted
			case patch.SaidRebootPending:
				kind = engine.RebootPending
			}
			report(&engine.Event{Kind: kind, Message: msg})
		}
		nt, r, err := step.Run(ctx, t, say)
		ph.rebootPending = r.RebootPending
		var made []string
		for _, u := range r.Upgraded {
			made = append(made, "patch."+u.Name)
		}
		return nt, made, err
	}}
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
