package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/engine"
	"github.com/tendhq/tend/lang"
	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/redact"
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

// healthCheck evaluates the rollout's health check for the run, before
// anything is planned: a secret it needs and cannot have stops the run
// here. A command holding a secret is shown by its text in the
// configuration.
func (c *common) healthCheck(cfg *lang.Config, vars map[string]cty.Value, ro *lang.Rollout) (*engine.HealthCheck, error) {
	if ro == nil || ro.HealthCheck == nil {
		return nil, nil
	}
	hc := ro.HealthCheck
	command, sensitive, diags := cfg.HealthCommand(hc, vars)
	if diags.HasErrors() {
		c.printDiags(cfg.Parser.Files(), diags)
		return nil, &exitError{ExitError}
	}
	out := &engine.HealthCheck{Command: command, Retries: hc.Retries, Delay: hc.Delay, Timeout: hc.Timeout}
	if sensitive {
		out.Display = hc.Source
		if out.Display == "" {
			out.Display = redact.Replacement
		}
	}
	return out, nil
}
