package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/backend"
	"github.com/tendhq/tend/engine"
	"github.com/tendhq/tend/journal"
	"github.com/tendhq/tend/lang"
	"github.com/tendhq/tend/plan"
)

// distFlags are the flags of commands that can hand their hosts to the
// backend's workers (tend worker) instead of applying them here.
type distFlags struct {
	distributed bool
	detach      bool
}

func (d *distFlags) add(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&d.distributed, "distributed", false, "store the plan in the backend and queue one job per host for tend worker processes, then follow the run (needs a postgres backend)")
	cmd.Flags().BoolVar(&d.detach, "detach", false, "with --distributed: print the run ID once its jobs are queued, and return")
}

// check refuses --detach without --distributed, and --distributed
// without a PostgreSQL backend.
func (d *distFlags) check(cmd *cobra.Command, c *common) error {
	if d.detach && !d.distributed {
		return errors.New("--detach needs --distributed")
	}
	if !d.distributed {
		return nil
	}
	if _, err := c.runStore(cmd); err != nil {
		return err
	}
	if c.pg == nil {
		return errors.New("--distributed needs a postgres backend (--backend, TEND_BACKEND or the configuration's backend block): the workers take their jobs from it")
	}
	return nil
}

// runDistributed journals a run of pl's hosts, stores the plan and
// queues one job per host of its first batch in the backend, where tend
// worker processes take them; then it follows the run from the backend,
// printing what a local run prints, unless detach.
func (c *common) runDistributed(cmd *cobra.Command, l *loaded, in plan.Inputs, pl *plan.Plan, onFailure string, asJSON, detach bool, ro *lang.Rollout) error {
	io := c.io
	ctx := cmd.Context()
	saved, err := plan.Encode(in, pl)
	if err != nil {
		return err
	}
	spans := lang.Batches(nil, len(pl.Hosts))
	maxFail := -1.0
	if ro != nil {
		spans = lang.Batches(ro.Serial, len(pl.Hosts))
		maxFail = ro.MaxFailPercent
	}
	var batches [][]string
	for _, s := range spans {
		var hs []string
		for _, hp := range pl.Hosts[s[0]:s[1]] {
			hs = append(hs, hp.Name)
		}
		batches = append(batches, hs)
	}
	j, run, err := c.startRun(ctx, "apply", l.cfg.Dir, func(r *journal.Run) {
		for _, hp := range pl.Hosts {
			r.Hosts = append(r.Hosts, journal.PlannedHost(r.ID, hp))
		}
		if len(batches) > 1 {
			for i, hs := range batches {
				r.Batches = append(r.Batches, &journal.Batch{Number: i + 1, Hosts: hs, Outcome: "not_started"})
			}
		}
	})
	if err != nil {
		return err
	}
	where := j.Path()
	// The run passes to the queue: this process's journal and host
	// leases end here, the workers take theirs host by host.
	if err := j.Close(); err != nil {
		return err
	}
	c.releaseHosts()
	closeAll(pl)
	if err := c.pg.Enqueue(ctx, &backend.DistRun{RunID: run.ID, Plan: saved, OnFailure: onFailure, MaxFailPercent: maxFail, Batches: batches}); err != nil {
		return err
	}
	if detach {
		if asJSON {
			io.ui.set("run_id", run.ID)
			io.ui.set("result", "queued")
		} else {
			fmt.Fprintf(io.Stdout, "Queued run %s: %s for tend worker in %s.\n", run.ID, plural(len(pl.Hosts), "host", "hosts"), c.pg.Where())
			fmt.Fprintln(io.Stdout, run.ID)
		}
		return nil
	}
	view, hv := c.view()
	if asJSON {
		io.ui.emit("run", map[string]any{"run_id": run.ID, "journal": where})
	} else {
		hv.hosts(pl)
		fmt.Fprintf(io.Stdout, "\nApplying (run %s) on the workers of %s\n", run.ID, c.pg.Where())
	}
	res, stopped, err := c.follow(ctx, run.ID, pl, view)
	if hv != nil {
		hv.stop()
	}
	if err != nil {
		return err
	}
	if asJSON {
		io.ui.set("run_id", run.ID)
		out := engine.Success
		if !res.OK() {
			out = engine.Failed
		}
		io.ui.set("result", out)
		io.ui.set("hosts", hostOutcomes(res))
	} else {
		if stopped != "" {
			fmt.Fprintf(io.Stdout, "\nRollout stopped: %s.\n", stopped)
		}
		printApplySummary(c, res, onFailure, run.ID, where)
	}
	if !res.OK() {
		return &exitError{ExitError}
	}
	return nil
}

// follow reads a distributed run from the backend until it ends, and
// gives view the events a local run's engine would have: each change
// started, applied or failed, each host's outcome.
func (c *common) follow(ctx context.Context, runID string, pl *plan.Plan, view engine.Subscriber) (*engine.Result, string, error) {
	for _, hp := range pl.Hosts {
		_ = view.Event(&engine.Event{Kind: engine.HostPlanned, RunID: runID, Host: hp.Name, Plan: hp, Time: time.Now()})
	}
	seen := map[string]journal.Status{}
	hostSeen := map[string]string{}
	// The run goes on on the workers whatever happens here: a backend
	// that does not answer for a while is waited for.
	var failingSince time.Time
	// Workers announce each host done and the run's end: the loop reads
	// the run again then, or every half second for the changes between.
	var watch *backend.RunWatch
	if w, err := c.pg.WatchRuns(ctx); err == nil {
		watch = w
		defer watch.Close()
	}
	for {
		st, err := c.pg.DistState(ctx, runID)
		var run *journal.Run
		if err == nil {
			run, err = c.pg.Read(runID)
		}
		if err != nil {
			if failingSince.IsZero() {
				failingSince = time.Now()
			}
			if time.Since(failingSince) > followPatience || ctx.Err() != nil {
				return nil, "", fmt.Errorf("%w (the run goes on on the workers: tend show %s)", err, runID)
			}
			time.Sleep(time.Second)
			continue
		}
		failingSince = time.Time{}
		for _, h := range run.Hosts {
			for n, e := range h.Changes {
				key := fmt.Sprintf("%s\x00%d", h.Name, n)
				if seen[key] == e.Status {
					continue
				}
				seen[key] = e.Status
				ev := &engine.Event{RunID: runID, Host: h.Name, Address: e.Address, Type: e.Type, Action: e.Action, Error: e.Error, Time: e.Time}
				switch e.Status {
				case journal.Applying:
					ev.Kind = engine.ChangeStarted
				case journal.Applied:
					ev.Kind, ev.Duration = engine.ChangeApplied, e.Finished.Sub(e.Started)
				case journal.Failed:
					ev.Kind = engine.ChangeFailed
				case journal.Reverted:
					ev.Kind = engine.Reverted
				case journal.Unknown:
					ev.Kind = engine.ChangeUnknown
				default:
					continue
				}
				_ = view.Event(ev)
			}
			if h.Outcome != "pending" && h.Outcome != "" && hostSeen[h.Name] != h.Outcome {
				hostSeen[h.Name] = h.Outcome
				_ = view.Event(&engine.Event{Kind: engine.HostOutcome, RunID: runID, Host: h.Name, Outcome: h.Outcome, Error: h.Error, Time: time.Now()})
			}
		}
		if st.Finished && !run.Running() {
			return resultOf(run), st.Stopped, nil
		}
		if watch != nil {
			watch.Wait(ctx, runID, 500*time.Millisecond)
		} else {
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
		}
		if ctx.Err() != nil {
			return nil, "", fmt.Errorf("stopped following run %s, which goes on on the workers: tend show %s", runID, runID)
		}
	}
}

// followPatience is how long follow waits for a backend that does not
// answer before it gives up following.
const followPatience = time.Minute

// resultOf is a journaled run's outcome as the engine reports one.
func resultOf(run *journal.Run) *engine.Result {
	res := &engine.Result{}
	for _, h := range run.Hosts {
		hr := &engine.HostResult{Name: h.Name, Outcome: h.Outcome}
		if h.Error != "" {
			hr.Err = errors.New(h.Error)
		}
		for _, e := range h.Changes {
			switch e.Status {
			case journal.Applied:
				hr.Applied++
			case journal.Failed:
				hr.Failed++
			case journal.Reverted:
				hr.Reverted++
			case journal.RevertFailed, journal.NotReverted:
				hr.NotReverted++
			}
		}
		res.Hosts = append(res.Hosts, hr)
	}
	return res
}
