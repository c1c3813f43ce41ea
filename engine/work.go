package engine

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/transport"
)

// Work is one host's part of an operation made in one step rather than
// change by change (a patch: the package manager's upgrade, then a reboot
// when the host asks for one). Plan lists what the step may change, as
// changes that cannot be reverted: they are journaled as intents before
// the step and as made after it.
type Work struct {
	Plan *plan.HostPlan
	// Do makes the host's step. It returns the connection to use from
	// then on (a reboot replaces it) and the addresses of the changes
	// made, reporting steps (upgrades, the reboot) through report.
	Do func(ctx context.Context, t transport.Transport, report func(*Event)) (transport.Transport, []string, error)
}

// RunWork runs works in the rollout's batches (one batch when there is no
// rollout), hosts of a batch in parallel up to the bound; each host's
// lock is held for its step and health check. A batch with failures
// beyond the rollout's max_fail_percent stops the run.
func (e *Engine) RunWork(ctx context.Context, works []*Work) *Result {
	_ = e.emit(&Event{Kind: RunStarted})
	res := &Result{}
	batches := [][2]int{{0, len(works)}}
	maxFail := 0.0
	var pause time.Duration
	if e.Rollout != nil && len(e.Rollout.Batches) > 0 {
		batches, maxFail, pause = e.Rollout.Batches, e.Rollout.MaxFailPercent, e.Rollout.Pause
	}
	if len(batches) > 1 {
		var all [][]string
		for _, b := range batches {
			var ns []string
			for _, w := range works[b[0]:b[1]] {
				ns = append(ns, w.Plan.Name)
			}
			all = append(all, ns)
		}
		_ = e.emit(&Event{Kind: BatchesPlanned, Batches: len(batches), BatchHosts: all})
	}
	stopped := false
	for bi, b := range batches {
		batch := works[b[0]:b[1]]
		if stopped || e.Interrupted() {
			for _, w := range batch {
				r := &HostResult{Name: w.Plan.Name, Outcome: NotStarted}
				res.Hosts = append(res.Hosts, r)
			}
			continue
		}
		if bi > 0 && pause > 0 {
			_ = e.emit(&Event{Kind: Pausing, Batch: bi + 1, Duration: pause})
			select {
			case <-ctx.Done():
			case <-time.After(pause):
			}
		}
		if len(batches) > 1 {
			var ns []string
			for _, w := range batch {
				ns = append(ns, w.Plan.Name)
			}
			_ = e.emit(&Event{Kind: BatchStarted, Batch: bi + 1, Batches: len(batches), Hosts: ns})
		}
		out := make([]*HostResult, len(batch))
		sem := make(chan struct{}, e.parallel())
		var wg sync.WaitGroup
		for i, w := range batch {
			a := &hostRun{e: e, hp: w.Plan, seq: int(e.seq.Add(1) - 1)}
			if err := a.emit(&Event{Kind: HostPlanned, Plan: w.Plan, Batch: bi + 1}); err != nil {
				a.vetoed = err
			}
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				out[i] = a.work(ctx, w)
				a.outcome(out[i])
			}()
		}
		wg.Wait()
		failed := 0
		var why []string
		for _, r := range out {
			// A host an interrupt kept from starting did not fail.
			if r.Outcome != Success && r.Outcome != NotStarted {
				failed++
				why = append(why, fmt.Sprintf("%s %s: %v", r.Name, r.Outcome, r.Err))
			}
		}
		res.Hosts = append(res.Hosts, out...)
		if failed > 0 && (100*float64(failed)/float64(len(batch)) > maxFail || e.Interrupted()) {
			stopped = true
			msg := fmt.Sprintf("%d of %d hosts failed: %s", failed, len(batch), strings.Join(why, "; "))
			res.Stopped = fmt.Sprintf("batch %d of %d failed", bi+1, len(batches))
			_ = e.emit(&Event{Kind: BatchFinished, Batch: bi + 1, Batches: len(batches), Outcome: "failed", Message: msg})
		} else if len(batches) > 1 {
			_ = e.emit(&Event{Kind: BatchFinished, Batch: bi + 1, Batches: len(batches), Outcome: "applied"})
		}
	}
	_ = e.emit(&Event{Kind: RunFinished, Outcome: res.Outcome(e)})
	return res
}

// work makes one host's step: journaled intents, the step, what it made.
func (a *hostRun) work(ctx context.Context, w *Work) *HostResult {
	hp := w.Plan
	r := &HostResult{Name: hp.Name, hr: a}
	if hp.Err != nil {
		r.Outcome, r.Err = planOutcome(hp.Err), hp.Err
		return r
	}
	if a.vetoed != nil {
		r.Outcome, r.Err = Failed, a.vetoed
		return r
	}
	if e := a.e; e.Interrupted() {
		r.Outcome, r.Err = NotStarted, errInterrupted
		return r
	}
	a.h = nil
	if err := a.lock(ctx); err != nil {
		r.Outcome, r.Err = Failed, err
		return r
	}
	defer a.unlock()
	pending := hp.Pending()
	for i, ch := range pending {
		if err := a.emit(changeEvent(ChangeStarted, ch, i)); err != nil {
			for k := 0; k < i; k++ {
				_ = a.emit(changeEvent(ChangePending, pending[k], k))
			}
			r.Outcome, r.Err = Failed, fmt.Errorf("not started: the journal could not record it: %w", err)
			return r
		}
	}
	report := func(ev *Event) { _ = a.emit(ev) }
	t, made, err := w.Do(ctx, hp.T, report)
	if t != nil && t != hp.T {
		// A new connection (after a reboot): the lock went with the old
		// one (or with the host's previous boot).
		hp.T = t
		if a.locked {
			a.locked = false
			if lerr := a.lock(ctx); lerr != nil && err == nil {
				err = fmt.Errorf("after the reboot: %w", lerr)
			}
		}
	}
	ok := map[string]bool{}
	for _, m := range made {
		ok[m] = true
	}
	for i, ch := range pending {
		switch {
		case ok[ch.Address]:
			r.Applied++
			_ = a.emit(changeEvent(ChangeApplied, ch, i))
		case err != nil:
			ev := changeEvent(ChangeFailed, ch, i)
			ev.Error = "not made: " + err.Error()
			_ = a.emit(ev)
		default:
			_ = a.emit(changeEvent(ChangePending, ch, i))
		}
	}
	if err != nil {
		r.Outcome, r.Err = Failed, err
		return r
	}
	if a.e.HealthCheck != nil && hp.T != nil {
		if err := RunHealthCheck(ctx, hp.T, a.e.HealthCheck); err != nil {
			r.Outcome, r.Err = Failed, fmt.Errorf("health check: %w", err)
			_ = a.emit(&Event{Kind: Unhealthy, Error: r.Err.Error(), Stderr: stderrOf(err)})
			return r
		}
		_ = a.emit(&Event{Kind: Healthy})
	}
	r.Outcome = Success
	return r
}
