package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/redact"
	"github.com/tendhq/tend/transport"
)

// Failure policies: what a host does when one of its changes fails.
const (
	Rollback = "rollback"
	Stop     = "stop"
	Continue = "continue"
)

// Rollout failure policies: what happens to a batch that failed.
const (
	RolloutStop           = "stop"
	RolloutRollbackFailed = "rollback_failed"
	RolloutRollbackBatch  = "rollback_batch"
)

// Rollout applies hosts in batches: Batches are index ranges of the
// plan's hosts. A batch fails when more than MaxFailPercent of its hosts
// fail; no later batch starts then.
type Rollout struct {
	Batches        [][2]int
	MaxFailPercent float64
	Pause          time.Duration
	OnFailure      string
}

// HealthCheck is a command run on each host once its changes are applied
// and verified; Retries more attempts Delay apart, each bounded by
// Timeout.
type HealthCheck struct {
	Command string
	// Display is what errors show of the command instead of it, set
	// when the command holds a secret (its text in the configuration).
	Display string
	Retries int
	Delay   time.Duration
	Timeout time.Duration
}

// Reconnector opens a new connection to a host whose connection was lost.
type Reconnector func(ctx context.Context, host string) (transport.Transport, error)

// Engine runs operations on hosts. Configure it, then call one of Apply,
// Revert or Patch once.
type Engine struct {
	RunID     string
	OnFailure string
	// Parallel bounds how many hosts are worked on at once (default 32).
	Parallel int
	// Lock, when set, is the run's identity: each host's run lock is
	// taken with it before the host's first change, waiting up to
	// LockWait for another run to release it.
	Lock     *transport.LockInfo
	LockWait time.Duration
	// Reconnect, when set, is used when a host's connection is lost.
	Reconnect Reconnector
	// ReconnectAttempts bounds the attempts (default 5, backing off from
	// half a second).
	ReconnectAttempts int
	HealthCheck       *HealthCheck
	Rollout           *Rollout
	// Replan plans a rollout batch's hosts again before it starts (after
	// the first); stale lists how they no longer match the confirmed plan.
	Replan func(ctx context.Context, batch []*plan.HostPlan) (fresh []*plan.HostPlan, stale []string)
	// Notified lists, per host, refresh targets a resumed run still owes
	// (a change notified them and the run ended before they ran).
	Notified map[string][]string
	// Entries maps, per host of a resumed run, change addresses to the
	// run's existing entries.
	Entries     map[string]map[string]int
	Subscribers []Subscriber
	// NoBatch makes every change on its own, even of a type that batches
	// (tests compare runs with and without batching).
	NoBatch bool

	interrupted atomic.Bool
	seq         atomic.Int64
}

// Interrupt asks the engine to start no new change. Changes in flight
// finish; then each host follows its failure policy.
func (e *Engine) Interrupt() { e.interrupted.Store(true) }

// Interrupted reports whether Interrupt was called.
func (e *Engine) Interrupted() bool { return e.interrupted.Load() }

// errInterrupted is a host's failure when the run was interrupted before
// its changes were all made.
var errInterrupted = errors.New("interrupted before all changes were made")

// emit sends ev to every subscriber and returns the first veto.
func (e *Engine) emit(ev *Event) error {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	ev.RunID = e.RunID
	scrub(ev)
	var first error
	for _, s := range e.Subscribers {
		if err := s.Event(ev); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// scrub rids the text an event carries (errors, a program's output,
// messages) of the run's secrets, before any subscriber (a view, the
// journal) sees it: a program may print a secret it was given.
func scrub(ev *Event) {
	ev.Error = redact.String(ev.Error)
	ev.Stderr = redact.String(ev.Stderr)
	ev.Stdout = redact.String(ev.Stdout)
	ev.Message = redact.String(ev.Message)
	for _, it := range ev.Items {
		scrub(it)
	}
}

// Result is how a run ended.
type Result struct {
	Hosts []*HostResult
	// Stopped says why a rollout stopped early ("" when it did not).
	Stopped string
}

// OK reports whether every host succeeded.
func (r *Result) OK() bool {
	for _, h := range r.Hosts {
		if h.Outcome != Success {
			return false
		}
	}
	return true
}

// Outcome is the run's outcome: success; rolled_back when it was
// interrupted and every host it changed was rolled back; interrupted;
// or failed.
func (r *Result) Outcome(e *Engine) string {
	switch {
	case r.OK():
		return Success
	case e.Interrupted():
		for _, h := range r.Hosts {
			switch {
			case h.Outcome == RolledBack, h.Outcome == Success && h.Applied == 0:
			case h.Outcome == NotStarted, h.Outcome == Failed && h.Applied == 0 && h.NotReverted == 0:
			default:
				return Interrupt
			}
		}
		return RolledBack
	}
	return Failed
}

// HostResult is how one host's run ended.
type HostResult struct {
	Name    string
	Outcome string
	Err     error
	// Applied, Failed, Reverted, NotReverted count changes; Irreversible
	// counts those made that no revert can undo (commands), which a
	// rolled back host may keep.
	Applied, Failed, Reverted, NotReverted, Irreversible int
	// Upgrades are a patched host's upgrades (name, from, to).
	Upgrades [][3]string
	// Rebooted is set when a patched host was rebooted.
	Rebooted bool

	hr *hostRun
}

func (e *Engine) parallel() int {
	if e.Parallel <= 0 {
		return 32
	}
	return e.Parallel
}

// Apply carries out p: every host's changes, hosts in parallel, in the
// rollout's batches when there is one. Hosts that failed to plan are
// reported and skipped.
func (e *Engine) Apply(ctx context.Context, p *plan.Plan) *Result {
	if e.OnFailure == "" {
		e.OnFailure = Rollback
	}
	_ = e.emit(&Event{Kind: RunStarted})
	res := &Result{}
	if e.Rollout == nil || len(e.Rollout.Batches) <= 1 {
		res.Hosts = e.applyHosts(ctx, p.Hosts, 0)
	} else {
		e.rollout(ctx, p, res)
	}
	_ = e.emit(&Event{Kind: RunFinished, Outcome: res.Outcome(e)})
	return res
}

// applyHosts applies hosts in parallel and returns their results in order.
func (e *Engine) applyHosts(ctx context.Context, hosts []*plan.HostPlan, batch int) []*HostResult {
	out := make([]*HostResult, len(hosts))
	// Every host and its pending changes are registered (journaled)
	// before any host starts: an interrupted run lists what it meant to do.
	runs := make([]*hostRun, len(hosts))
	for i, hp := range hosts {
		hr := &hostRun{e: e, hp: hp, seq: int(e.seq.Add(1) - 1)}
		runs[i] = hr
		if err := e.emit(&Event{Kind: HostPlanned, Host: hp.Name, Seq: hr.seq, Plan: hp, Batch: batch, Entries: e.Entries[hp.Name]}); err != nil {
			hr.vetoed = err
		}
	}
	sem := make(chan struct{}, e.parallel())
	var wg sync.WaitGroup
	for i, hr := range runs {
		hp := hr.hp
		if hp.Err != nil {
			out[i] = &HostResult{Name: hp.Name, Outcome: planOutcome(hp.Err), Err: hp.Err}
			hr.outcome(out[i])
			continue
		}
		if e.Interrupted() {
			out[i] = &HostResult{Name: hp.Name, Outcome: NotStarted, Err: errInterrupted}
			hr.outcome(out[i])
			continue
		}
		sem <- struct{}{}
		if e.Interrupted() {
			// Interrupted while this host waited for its turn: it was
			// never started.
			<-sem
			out[i] = &HostResult{Name: hp.Name, Outcome: NotStarted, Err: errInterrupted}
			hr.outcome(out[i])
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i] = hr.run(ctx)
			hr.outcome(out[i])
		}()
	}
	wg.Wait()
	return out
}

// planOutcome is the outcome of a host whose plan failed.
func planOutcome(err error) string {
	if plan.Unreachable(err) {
		return Unreachable
	}
	return Failed
}

// rollout applies p batch by batch. Each batch after the first is planned
// again first and stops the rollout if it no longer matches the confirmed
// plan. A failed batch (more than MaxFailPercent of its hosts failed:
// a change failed, the host was unreachable, or its health check failed)
// follows the rollout's OnFailure, and no later batch starts.
func (e *Engine) rollout(ctx context.Context, p *plan.Plan, res *Result) {
	r := e.Rollout
	hosts := p.Hosts
	var all [][]string
	for _, b := range r.Batches {
		all = append(all, names(hosts[b[0]:b[1]]))
	}
	_ = e.emit(&Event{Kind: BatchesPlanned, Batches: len(r.Batches), BatchHosts: all})
	notStarted := func(from int) {
		for _, b := range r.Batches[from:] {
			for _, h := range hosts[b[0]:b[1]] {
				res.Hosts = append(res.Hosts, &HostResult{Name: h.Name, Outcome: NotStarted})
			}
		}
	}
	for i, b := range r.Batches {
		batch := hosts[b[0]:b[1]]
		if e.Interrupted() {
			res.Stopped = "interrupted"
			_ = e.emit(&Event{Kind: BatchFinished, Batch: i + 1, Batches: len(r.Batches), Outcome: NotStarted, Message: "interrupted"})
			notStarted(i)
			return
		}
		if i > 0 && r.Pause > 0 {
			_ = e.emit(&Event{Kind: Pausing, Batch: i + 1, Duration: r.Pause})
			select {
			case <-ctx.Done():
				notStarted(i)
				return
			case <-time.After(r.Pause):
			}
		}
		_ = e.emit(&Event{Kind: BatchStarted, Batch: i + 1, Batches: len(r.Batches), Hosts: names(batch)})
		if i > 0 && e.Replan != nil {
			fresh, stale := e.Replan(ctx, batch)
			if len(stale) > 0 {
				res.Stopped = fmt.Sprintf("batch %d is stale", i+1)
				_ = e.emit(&Event{Kind: BatchFinished, Batch: i + 1, Batches: len(r.Batches), Outcome: "stale", Message: strings.Join(stale, "; ")})
				notStarted(i)
				return
			}
			batch = fresh
		}
		hr := e.applyHosts(ctx, batch, i+1)
		failed := 0
		var why []string
		for _, h := range hr {
			// A host an interrupt kept from starting did not fail.
			if h.Outcome != Success && h.Outcome != NotStarted {
				failed++
				why = append(why, fmt.Sprintf("%s %s: %v", h.Name, h.Outcome, h.Err))
			}
		}
		pct := 100 * float64(failed) / float64(len(batch))
		if failed == 0 || (pct <= r.MaxFailPercent && !e.Interrupted()) {
			res.Hosts = append(res.Hosts, hr...)
			_ = e.emit(&Event{Kind: BatchFinished, Batch: i + 1, Batches: len(r.Batches), Outcome: "applied"})
			continue
		}
		outcome := "failed"
		switch r.OnFailure {
		case RolloutRollbackFailed, RolloutRollbackBatch:
			for _, h := range hr {
				if h.Outcome == UnhealthyO || (r.OnFailure == RolloutRollbackBatch && h.Outcome == Success) {
					h.hr.revertAll(ctx, h)
					h.hr.outcome(h)
				}
			}
			outcome = "rolled_back"
		}
		res.Hosts = append(res.Hosts, hr...)
		msg := fmt.Sprintf("%d of %d hosts failed (%.0f%%, more than max_fail_percent %g): %s", failed, len(batch), pct, r.MaxFailPercent, strings.Join(why, "; "))
		if e.Interrupted() {
			msg = "interrupted"
		}
		res.Stopped = fmt.Sprintf("batch %d of %d failed (on_failure %s)", i+1, len(r.Batches), r.OnFailure)
		_ = e.emit(&Event{Kind: BatchFinished, Batch: i + 1, Batches: len(r.Batches), Outcome: outcome, Message: msg})
		notStarted(i + 1)
		return
	}
}

func names(hs []*plan.HostPlan) []string {
	out := make([]string, 0, len(hs))
	for _, h := range hs {
		out = append(out, h.Name)
	}
	return out
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Each calls f for 0..n-1, at most parallel at once (default 32), and
// returns when all calls have: the bound every per-host step honours,
// including what is read of the hosts before a run (a patch's pending
// upgrades).
func Each(parallel, n int, f func(i int)) {
	if parallel <= 0 {
		parallel = 32
	}
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			f(i)
		}()
	}
	wg.Wait()
}
