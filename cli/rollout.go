package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/apply"
	"github.com/tendhq/tend/journal"
	"github.com/tendhq/tend/lang"
	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/transport"
)

// rolloutFlags are apply's rollout flags; they override the rollout block.
type rolloutFlags struct {
	serial         string
	maxFailPercent float64
	pause          time.Duration
	onFailure      string
}

func (f *rolloutFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.serial, "serial", "", "apply in batches: a number of hosts, a percentage, or a list such as 1,10%,50% (the last size repeats)")
	fl.Float64Var(&f.maxFailPercent, "max-fail-percent", 0, "stop the rollout when more than this percentage of a batch fails (default 0: any failure)")
	fl.DurationVar(&f.pause, "pause", 0, "wait this long between batches")
	fl.StringVar(&f.onFailure, "rollout-on-failure", "", "when a batch fails: stop, rollback_failed or rollback_batch (default: the rollout block's, else stop)")
}

// rollout resolves the rollout block and the flags; nil means one batch
// and no health check.
func (f *rolloutFlags) rollout(cmd *cobra.Command, cfg *lang.Config) (*lang.Rollout, error) {
	var r lang.Rollout
	if cfg.Rollout != nil {
		r = *cfg.Rollout
	} else {
		r.OnFailure = lang.RolloutStop
	}
	set := cfg.Rollout != nil
	if cmd.Flags().Changed("serial") {
		sizes, err := lang.ParseSerial(f.serial)
		if err != nil {
			return nil, fmt.Errorf("--serial: %w", err)
		}
		r.Serial, set = sizes, true
	}
	if cmd.Flags().Changed("max-fail-percent") {
		if f.maxFailPercent < 0 || f.maxFailPercent > 100 {
			return nil, fmt.Errorf("--max-fail-percent must be between 0 and 100")
		}
		r.MaxFailPercent, set = f.maxFailPercent, true
	}
	if cmd.Flags().Changed("pause") {
		r.Pause, set = f.pause, true
	}
	if cmd.Flags().Changed("rollout-on-failure") {
		switch f.onFailure {
		case lang.RolloutStop, lang.RolloutRollbackFailed, lang.RolloutRollbackBatch:
		default:
			return nil, fmt.Errorf("--rollout-on-failure must be stop, rollback_failed or rollback_batch")
		}
		r.OnFailure, set = f.onFailure, true
	}
	if !set {
		return nil, nil
	}
	return &r, nil
}

// healthCheck runs the rollout's health check command on a host, with
// retries, each attempt bounded by the timeout.
func healthCheck(hc *lang.HealthCheck) func(context.Context, *plan.HostPlan) error {
	return func(ctx context.Context, hp *plan.HostPlan) error {
		var last error
		for attempt := 0; attempt <= hc.Retries; attempt++ {
			if attempt > 0 {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(hc.Delay):
				}
			}
			actx, cancel := context.WithTimeout(ctx, hc.Timeout)
			_, err := transport.Output(actx, hp.T, transport.Command{Script: hc.Command})
			cancel()
			if err == nil {
				return nil
			}
			last = err
			if actx.Err() != nil && ctx.Err() == nil {
				last = fmt.Errorf("timed out after %s", hc.Timeout)
			}
		}
		return fmt.Errorf("%q failed after %s: %w", hc.Command, plural(hc.Retries+1, "attempt", "attempts"), last)
	}
}

// runRollout applies the plan batch by batch. Each batch after the first
// is planned again first and stops the rollout if it no longer matches the
// confirmed plan. A batch fails when more than max_fail_percent of its
// hosts fail (a change failed, the host was unreachable, or its health
// check failed); on_failure then decides what happens to it, and no later
// batch starts.
func (c *common) runRollout(ctx context.Context, l *loaded, pl *plan.Plan, r *lang.Rollout, opts apply.Options, j *journal.Journal) *apply.Result {
	w := c.io.Stdout
	hosts := pl.Hosts
	batches := lang.Batches(r.Serial, len(hosts))
	total := &apply.Result{}
	names := func(hs []*plan.HostPlan) []string {
		var out []string
		for _, h := range hs {
			out = append(out, h.Name)
		}
		return out
	}
	_ = j.Update(func(run *journal.Run) {
		for i, b := range batches {
			run.Batches = append(run.Batches, &journal.Batch{Number: i + 1, Hosts: names(hosts[b[0]:b[1]]), Outcome: "not_started"})
		}
	})
	setBatch := func(i int, outcome, detail string) {
		_ = j.Update(func(run *journal.Run) { run.Batches[i].Outcome, run.Batches[i].Detail = outcome, detail })
	}
	notStarted := func(from int) {
		for _, b := range batches[from:] {
			for _, h := range hosts[b[0]:b[1]] {
				total.Hosts = append(total.Hosts, &apply.HostResult{Name: h.Name, Outcome: "not_started"})
			}
		}
	}
	for i, b := range batches {
		batch := hosts[b[0]:b[1]]
		if i > 0 && r.Pause > 0 {
			fmt.Fprintf(w, "\nPausing %s before batch %d.\n", r.Pause, i+1)
			select {
			case <-ctx.Done():
				notStarted(i)
				return total
			case <-time.After(r.Pause):
			}
		}
		fmt.Fprintf(w, "\nBatch %d of %d: %s\n", i+1, len(batches), strings.Join(names(batch), ", "))
		if i > 0 {
			fresh, stale := c.replan(ctx, l, batch, pl)
			if len(stale) > 0 {
				fmt.Fprintf(w, "Batch %d is stale, the rollout stops; nothing was applied to it:\n", i+1)
				for _, s := range stale {
					fmt.Fprintf(w, "  - %s\n", s)
				}
				setBatch(i, "stale", strings.Join(stale, "; "))
				notStarted(i)
				return total
			}
			batch = fresh
		}
		res := apply.Apply(ctx, &plan.Plan{Hosts: batch}, opts)
		failed := 0
		var why []string
		for _, h := range res.Hosts {
			if h.Outcome != "success" {
				failed++
				why = append(why, fmt.Sprintf("%s %s: %v", h.Name, h.Outcome, h.Err))
			}
		}
		pct := 100 * float64(failed) / float64(len(batch))
		if failed == 0 || pct <= r.MaxFailPercent {
			total.Hosts = append(total.Hosts, res.Hosts...)
			setBatch(i, "applied", "")
			continue
		}
		fmt.Fprintf(w, "Batch %d failed: %d of %d hosts (%.0f%%, more than max_fail_percent %g).\n", i+1, failed, len(batch), pct, r.MaxFailPercent)
		outcome := "failed"
		switch r.OnFailure {
		case lang.RolloutRollbackFailed, lang.RolloutRollbackBatch:
			for _, h := range res.Hosts {
				if h.Outcome == "unhealthy" || (r.OnFailure == lang.RolloutRollbackBatch && h.Outcome == "success") {
					apply.RevertHost(ctx, h)
				}
			}
			outcome = "rolled_back"
		}
		total.Hosts = append(total.Hosts, res.Hosts...)
		setBatch(i, outcome, strings.Join(why, "; "))
		fmt.Fprintf(w, "Rollout stopped at batch %d of %d (on_failure %s).", i+1, len(batches), r.OnFailure)
		if i > 0 {
			fmt.Fprintf(w, " Batches 1-%d stay applied.", i)
		}
		if i+1 < len(batches) {
			fmt.Fprintf(w, " Not started: %s.", strings.Join(names(hosts[batches[i+1][0]:]), ", "))
		}
		fmt.Fprintln(w)
		notStarted(i + 1)
		return total
	}
	return total
}

// replan plans a batch's hosts again and compares them with the
// confirmed plan.
func (c *common) replan(ctx context.Context, l *loaded, batch []*plan.HostPlan, confirmed *plan.Plan) ([]*plan.HostPlan, []string) {
	want := map[string]bool{}
	for _, h := range batch {
		want[h.Name] = true
		if h.T != nil {
			h.T.Close()
			h.T = nil
		}
	}
	var hosts = l.hosts[:0:0]
	for _, h := range l.hosts {
		if want[h.Name] {
			hosts = append(hosts, h)
		}
	}
	fresh, diags := c.planner(l).Plan(ctx, hosts)
	if diags.HasErrors() {
		return nil, []string{diags.Error()}
	}
	c.facts().savePlan(fresh)
	// A host that fails to plan now is not stale: it fails in its batch,
	// where max_fail_percent judges it.
	ok := &plan.Plan{}
	for _, f := range fresh.Hosts {
		if f.Err == nil {
			ok.Hosts = append(ok.Hosts, f)
		}
	}
	stale := plan.Stale((&plan.Plan{Hosts: batch}).JSON(), ok)
	// Keep the new connections in the confirmed plan so they are closed.
	for _, f := range fresh.Hosts {
		for i, h := range confirmed.Hosts {
			if h.Name == f.Name {
				confirmed.Hosts[i] = f
			}
		}
	}
	return fresh.Hosts, stale
}
