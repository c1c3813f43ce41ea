package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tendhq/tend/engine"
	"github.com/tendhq/tend/journal"
	"github.com/tendhq/tend/lang"
	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/transport"
)

func applyCmd(io IO) *cobra.Command {
	c := &common{io: io}
	var yes bool
	var onFailure string
	var rf rolloutFlags
	cmd := &cobra.Command{
		Use:   "apply [PLANFILE]",
		Short: "Make the changes a plan shows, on every targeted host in parallel",
		Long: `Plan, ask for confirmation, then apply. With PLANFILE (from plan --out), apply
exactly that plan: it is refused as stale when a host's state or the
configuration changed since it was made.

Without a terminal, apply refuses to run unless -y is given.

Each host is locked for the run (a lock on the host itself, released by the
host's kernel if tend or its connection dies): a host another run holds
fails at once, naming the holder, or is waited for with --lock-timeout.

The first interrupt (Ctrl-C, SIGTERM) starts no new change; the changes in
flight finish, then --on-failure runs (rollback by default). A second one
stops at once; tend rollback RUN-ID or tend resume RUN-ID then finishes.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			asJSON := io.ui.active()
			if err := checkOnFailure(onFailure); err != nil {
				return err
			}
			var saved *plan.Saved
			if len(args) == 1 {
				s, err := plan.Load(args[0])
				if err != nil {
					return err
				}
				saved = s
				if cmd.Flags().Changed("chdir") || cmd.Flags().Changed("inventory") || cmd.Flags().Changed("target") || cmd.Flags().Changed("var-file") ||
					cmd.Flags().Changed("resource") || cmd.Flags().Changed("replace") {
					return fmt.Errorf("a saved plan carries its configuration directory, inventory, target, --resource, --replace and variable files; do not give them again")
				}
				if errs := s.Inputs.MissingSensitive(func(n string) bool { return givenAgain(c.vars, n) }); len(errs) > 0 {
					return errors.Join(errs...)
				}
				c.dir, c.inventories, c.target, c.varFiles = s.Inputs.ConfigDir, s.Inputs.Inventories, s.Inputs.Target, s.Inputs.VarFiles
				c.resources, c.replace = s.Inputs.Resources, s.Inputs.Replace
				c.vars = append(append([]string{}, s.Inputs.Vars...), c.vars...)
			}
			l, err := c.load(true)
			if err != nil {
				return err
			}
			if err := c.checkTargeting(l); err != nil {
				return err
			}
			ro, err := rf.rollout(cmd, l.cfg)
			if err != nil {
				return err
			}
			hc, err := c.healthCheck(l.cfg, l.vars, ro)
			if err != nil {
				return err
			}
			// Before connecting: another run holding some of the hosts
			// in the backend stops this one here.
			if _, err := c.runStore(cmd); err != nil {
				return err
			}
			if err := c.reserveHosts(cmd, "", l.hostNames()); err != nil {
				return err
			}
			defer c.releaseHosts()
			pl, err := c.makePlan(cmd, l)
			defer closeAll(pl)
			if err != nil {
				return err
			}
			r := &plan.Renderer{W: io.Stdout, Color: c.color()}
			if saved != nil {
				if why := saved.KeyMismatch(); why != "" {
					fmt.Fprintf(io.Stderr, "Error: the saved plan %s cannot be checked; nothing was applied: %s.\n", args[0], why)
					return &exitError{ExitError}
				}
				if stale := plan.Stale(saved.Plan, pl); len(stale) > 0 {
					var lines []string
					for _, s := range stale {
						lines = append(lines, "  - "+s)
					}
					lines = append(lines, "Run tend plan again.")
					return c.fail(fmt.Sprintf("the saved plan %s is stale; nothing was applied:", args[0]), lines...)
				}
			}
			switch {
			case asJSON:
				io.ui.plan(pl, "apply")
			case saved == nil:
				r.Plan(pl)
			}
			if !pl.HasChanges() {
				if asJSON {
					io.ui.set("result", "no_changes")
				} else if saved != nil {
					fmt.Fprintln(io.Stdout, r.Summary(pl))
				}
				if pl.HasErrors() {
					return &exitError{ExitError}
				}
				return nil
			}
			if saved == nil && !yes {
				if !c.confirm(cmd.Context(), "Apply these changes?", "Apply cancelled; nothing was changed.", "Error: refusing to apply without confirmation: this is not a terminal. Review the plan and pass -y, or apply a saved plan (tend plan --out FILE; tend apply FILE).") {
					return &exitError{ExitError}
				}
			}
			return c.runApply(cmd, l, pl, onFailure, asJSON, ro, hc)
		},
	}
	c.addConfigFlags(cmd)
	c.addRunFlags(cmd)
	c.addTargetingFlags(cmd)
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "apply without asking")
	addJSONFlag(cmd, io)
	rf.add(cmd)
	c.addRunOutputs(cmd, true, true)
	cmd.Flags().StringVar(&onFailure, "on-failure", engine.Rollback, "when a change fails on a host: rollback (revert the host's applied changes), stop (keep them), continue (go on with changes not depending on it)")
	return cmd
}

// checkOnFailure refuses an --on-failure the engine does not know.
func checkOnFailure(onFailure string) error {
	switch onFailure {
	case engine.Rollback, engine.Stop, engine.Continue:
		return nil
	}
	return fmt.Errorf("--on-failure must be rollback, stop or continue, not %q", onFailure)
}

// confirm asks for "yes" on a terminal; without one it refuses with
// refusal. It reports whether to go on. An interrupt while it waits
// cancels, as any answer but "yes" does.
func (c *common) confirm(ctx context.Context, question, cancelled, refusal string) bool {
	if c.io.ui.active() {
		// A prompt has no place in a stream of JSON messages, terminal
		// or not (as Terraform's apply -json needs -auto-approve).
		c.io.ui.diagnostic("error", "refusing to go on without confirmation: --json asks no question",
			"Review the plan in the messages above and run again with -y.")
		return false
	}
	if !c.io.IsTerminal {
		fmt.Fprintln(c.io.Stderr, refusal)
		return false
	}
	fmt.Fprintf(c.io.Stdout, "%s Only 'yes' is accepted: ", question)
	answer := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(c.io.Stdin).ReadString('\n')
		answer <- line
	}()
	select {
	case line := <-answer:
		if strings.TrimSpace(line) == "yes" {
			return true
		}
	case <-ctx.Done():
		fmt.Fprintln(c.io.Stdout)
	}
	fmt.Fprintln(c.io.Stdout, cancelled)
	return false
}

func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return os.Getenv("USER")
}

func controllerName() string {
	h, _ := os.Hostname()
	return h
}

// startRun creates a run's journal.
func (c *common) startRun(ctx context.Context, command, configDir string, extra func(r *journal.Run)) (*journal.Journal, *journal.Run, error) {
	now := time.Now()
	id := c.runID
	if id == "" {
		id = c.outputs.newRunID(now)
	}
	run := &journal.Run{ID: id, Command: command, Started: now.UTC(), User: currentUser(),
		Controller: controllerName(), PID: os.Getpid(), ConfigDir: configDir, Target: c.target, Resources: c.resources, Outcome: "running"}
	if extra != nil {
		extra(run)
	}
	if c.store == nil {
		// runStore resolves the backend when the command starts.
		return nil, nil, fmt.Errorf("internal error: the %s run's store was not opened", command)
	}
	j, err := c.store.Create(run)
	if err != nil {
		return nil, nil, err
	}
	return j, run, nil
}

// newEngine returns an engine for a run: the host lock with the run's
// identity, reconnection through the inventory, the journal and the view
// as subscribers.
func (c *common) newEngine(run *journal.Run, j *journal.Journal, l *loaded, onFailure string, view engine.Subscriber) *engine.Engine {
	eng := &engine.Engine{
		RunID: run.ID, OnFailure: onFailure, Parallel: c.parallel, LockWait: c.lockTimeout,
		Lock:        &transport.LockInfo{RunID: run.ID, User: run.User, Controller: run.Controller, Command: run.Command, PID: run.PID, Started: run.Started},
		Subscribers: []engine.Subscriber{journal.NewRecorder(j, run.ID), view},
	}
	eng.Subscribers = append(eng.Subscribers, c.outputs.subscribers(run.ID)...)
	if l != nil && l.inv != nil {
		connect := c.connector()
		eng.Reconnect = func(ctx context.Context, name string) (transport.Transport, error) {
			h := l.inv.Host(name)
			if h == nil {
				return nil, fmt.Errorf("host %s is no longer in the inventory", name)
			}
			return connect(ctx, h)
		}
	}
	return eng
}

// view returns the run's output subscriber: the JSON lines with --json,
// else the human view, live on a terminal.
func (c *common) view() (engine.Subscriber, *humanView) {
	if c.io.ui.active() {
		return c.io.ui, nil
	}
	v := newHumanView(c.io.Stdout)
	// A terminal that cannot move its cursor (TERM=dumb) gets the lines
	// a log gets.
	if c.io.IsTerminal && os.Getenv("TERM") != "dumb" {
		v.live(terminalColumns())
		c.io.sig.via(v.above)
	} else {
		v.periodic()
	}
	return v, v
}

// execute runs op while interrupts go to eng, and closes the journal.
func (c *common) execute(eng *engine.Engine, j *journal.Journal, onFailure string, op func()) {
	policy := map[string]string{engine.Rollback: "each host's applied changes are reverted", engine.Stop: "the run stops (changes made stay)", engine.Continue: "the run stops (changes made stay)"}[onFailure]
	if policy == "" {
		policy = "the run stops"
	}
	c.io.sig.running(eng.Interrupt, policy, resumeHint(eng.RunID))
	defer c.io.sig.done()
	op()
	_ = j.Close()
}

func (c *common) runApply(cmd *cobra.Command, l *loaded, pl *plan.Plan, onFailure string, asJSON bool, ro *lang.Rollout, hc *engine.HealthCheck) error {
	io := c.io
	j, run, err := c.startRun(cmd.Context(), "apply", l.cfg.Dir, nil)
	if err != nil {
		return err
	}
	view, hv := c.view()
	if asJSON {
		io.ui.emit("run", map[string]any{"run_id": run.ID, "journal": j.Path()})
	} else {
		hv.hosts(pl)
		fmt.Fprintf(io.Stdout, "\nApplying (run %s)\n", run.ID)
	}
	eng := c.newEngine(run, j, l, onFailure, view)
	if ro != nil {
		eng.Rollout = &engine.Rollout{Batches: lang.Batches(ro.Serial, len(pl.Hosts)), MaxFailPercent: ro.MaxFailPercent, Pause: ro.Pause, OnFailure: ro.OnFailure}
		if hv != nil {
			hv.rolloutPolicy = ro.OnFailure
		}
		eng.HealthCheck = hc
		eng.Replan = func(ctx context.Context, batch []*plan.HostPlan) ([]*plan.HostPlan, []string) {
			return c.replan(ctx, l, batch, pl)
		}
	}
	var res *engine.Result
	c.execute(eng, j, onFailure, func() { res = eng.Apply(cmd.Context(), pl) })
	if hv != nil {
		hv.stop()
	}
	if asJSON {
		io.ui.set("run_id", run.ID)
		io.ui.set("result", res.Outcome(eng))
		io.ui.set("hosts", hostOutcomes(res))
	} else {
		printApplySummary(c, res, onFailure, run.ID, j.Path())
		if eng.Interrupted() && cmd.Context().Err() != nil {
			fmt.Fprint(io.Stdout, resumeHint(run.ID))
		}
	}
	if !res.OK() {
		return &exitError{ExitError}
	}
	return nil
}

func printApplySummary(c *common, res *engine.Result, onFailure, runID, journalPath string) {
	w := c.io.Stdout
	applied, ok := 0, 0
	var bad, notStarted, withBatch []string
	for _, h := range res.Hosts {
		applied += h.Applied
		if h.Outcome == engine.RolledBack && h.Err == nil {
			// A host that did not fail, reverted with its failed batch.
			withBatch = append(withBatch, fmt.Sprintf("%s (%s)", h.Name, plural(h.Reverted, "change", "changes")))
			continue
		}
		switch h.Outcome {
		case engine.Success:
			ok++
		case engine.Unreachable:
			bad = append(bad, fmt.Sprintf("%s (unreachable: %s)", h.Name, h.Err))
		case engine.RolledBack:
			kept := ""
			if h.Irreversible > 0 {
				kept = fmt.Sprintf("; %s cannot be undone", plural(h.Irreversible, "command", "commands"))
			}
			bad = append(bad, fmt.Sprintf("%s (failed, rolled back %s%s: %s)", h.Name, plural(h.Reverted, "change", "changes"), kept, h.Err))
		case engine.UnhealthyO:
			bad = append(bad, fmt.Sprintf("%s (unhealthy, %s stay applied: %s)", h.Name, plural(h.Applied, "change", "changes"), h.Err))
		case engine.NotStarted:
			notStarted = append(notStarted, h.Name)
			continue
		case engine.Partial:
			bad = append(bad, fmt.Sprintf("%s (failed; %s applied before the failure stay applied (--on-failure %s): %s)",
				h.Name, plural(h.Applied, "change", "changes"), onFailure, h.Err))
		default:
			extra := ""
			if h.NotReverted > 0 {
				extra = fmt.Sprintf(", %s could not be reverted; once the host is reachable: tend rollback %s --target %s",
					plural(h.NotReverted, "change", "changes"), runID, h.Name)
			}
			bad = append(bad, fmt.Sprintf("%s (failed%s: %s)", h.Name, extra, h.Err))
		}
	}
	fmt.Fprintln(w)
	switch {
	case len(bad) == 0 && len(notStarted) == 0 && len(withBatch) == 0:
		fmt.Fprintf(w, "Apply complete: %s on %s.\n", plural(applied, "change", "changes"), plural(ok, "host", "hosts"))
	case len(bad) == 0:
		fmt.Fprintf(w, "Apply stopped: %s on %s; %s not started.\n", plural(applied, "change", "changes"), plural(ok, "host", "hosts"), plural(len(notStarted), "host", "hosts"))
	default:
		fmt.Fprintf(w, "Apply failed on %d of %d hosts; %d succeeded.\n", len(bad), len(res.Hosts), ok)
		for _, b := range bad {
			fmt.Fprintf(w, "  %s\n", b)
		}
	}
	if len(withBatch) > 0 {
		fmt.Fprintf(w, "Rolled back with their batch: %s.\n", strings.Join(withBatch, ", "))
	}
	if len(notStarted) > 0 {
		fmt.Fprintf(w, "Not started: %s.\n", strings.Join(notStarted, ", "))
	}
	fmt.Fprintf(w, "Run %s journaled in %s\n", runID, journalPath)
}

// terminalColumns is the width of the terminal on stdout, 80 when it
// cannot be read.
func terminalColumns() int {
	if w, _, err := term.GetSize(int(os.Stdout.Fd())); err == nil && w > 0 {
		return w
	}
	return 80
}
