// Package apply carries out a plan: for each host, in parallel (bounded),
// it walks the host's changes in dependency order, journals each change
// and its pre-state before and after applying it, runs notified refresh
// actions once, re-reads every changed resource in one round trip to
// verify it, and on failure reverts that host's applied changes in
// reverse order (or stops, or continues, as asked).
package apply

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tendhq/tend/journal"
	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/probe"
	"github.com/tendhq/tend/resources"
)

// Failure policy: what a host does when one of its changes fails.
const (
	Rollback = "rollback"
	Stop     = "stop"
	Continue = "continue"
)

// EventKind says what happened.
type EventKind string

// Event kinds.
const (
	EvStart        EventKind = "start"
	EvDone         EventKind = "done"
	EvFailed       EventKind = "failed"
	EvSkipped      EventKind = "skipped"
	EvRefreshed    EventKind = "refreshed"
	EvReverted     EventKind = "reverted"
	EvRevertFailed EventKind = "revert_failed"
	EvNotReverted  EventKind = "not_reverted"
	EvHostDone     EventKind = "host_done"
	EvHealthy      EventKind = "healthy"
	EvUnhealthy    EventKind = "unhealthy"
)

// Event is one step of an apply, for live output and JSON lines.
type Event struct {
	Time     time.Time     `json:"time"`
	Host     string        `json:"host"`
	Kind     EventKind     `json:"event"`
	Address  string        `json:"address,omitempty"`
	Action   plan.Action   `json:"action,omitempty"`
	Error    string        `json:"error,omitempty"`
	Duration time.Duration `json:"duration_ns,omitempty"`
	// Outcome is set on host_done: success, failed, rolled_back, partial.
	Outcome string `json:"outcome,omitempty"`
}

// Options control an apply.
type Options struct {
	RunID     string
	OnFailure string
	Parallel  int
	Journal   *journal.Journal
	// Events receives every event; calls are serialized.
	Events func(Event)
	// Env gives types the configuration directory's files.
	Env resources.Env
	// HealthCheck, when set, runs on each host once its changes are
	// applied and verified (also on a host without changes); an error fails
	// the host, which then follows OnFailure.
	HealthCheck func(ctx context.Context, h *plan.HostPlan) error
}

// HostResult is how one host's apply ended.
type HostResult struct {
	Name                                   string
	Outcome                                string // success, failed, rolled_back, partial, unreachable
	Err                                    error
	Applied, Failed, Reverted, NotReverted int
	// Unhealthy is set when the host's changes applied but its health
	// check failed.
	Unhealthy bool

	ha      *hostApply
	applied []done
}

// RevertHost reverts every change a successful or unhealthy host applied
// (a rollout rolling back failed hosts or a whole batch), in reverse order.
func RevertHost(ctx context.Context, hr *HostResult) {
	if hr.ha == nil || (hr.Outcome != "success" && hr.Outcome != "unhealthy") {
		return
	}
	hr.Reverted, hr.NotReverted = hr.ha.revert(ctx, hr.applied)
	hr.applied = nil
	if hr.NotReverted == 0 {
		hr.Outcome = "rolled_back"
	} else {
		hr.Outcome = "failed"
	}
	hr.ha.hostOutcome(hr.Outcome, hr.Err)
}

// Result is how an apply ended.
type Result struct {
	Hosts []*HostResult
}

// OK reports whether every host succeeded.
func (r *Result) OK() bool {
	for _, h := range r.Hosts {
		if h.Outcome != "success" {
			return false
		}
	}
	return true
}

// Apply carries out p. Hosts that failed to plan are reported and skipped.
func Apply(ctx context.Context, p *plan.Plan, opts Options) *Result {
	if opts.OnFailure == "" {
		opts.OnFailure = Rollback
	}
	n := opts.Parallel
	if n <= 0 {
		n = 32
	}
	var emu sync.Mutex
	emit := func(e Event) {
		if opts.Events == nil {
			return
		}
		e.Time = time.Now()
		emu.Lock()
		defer emu.Unlock()
		opts.Events(e)
	}
	res := &Result{Hosts: make([]*HostResult, len(p.Hosts))}
	// A run may apply several plans (the batches of a rollout): this
	// plan's hosts follow those already journaled.
	base := 0
	if opts.Journal != nil {
		_ = opts.Journal.Update(func(r *journal.Run) {
			base = len(r.Hosts)
			for _, hp := range p.Hosts {
				jh := &journal.Host{Name: hp.Name, Outcome: "pending", Changes: []*journal.Entry{}}
				if hp.Err != nil {
					jh.Outcome, jh.Error = planOutcome(hp.Err), hp.Err.Error()
				} else {
					jh.BackupDir = hostBackupDir(hp, opts.RunID)
				}
				for _, ch := range hp.Pending() {
					jh.Changes = append(jh.Changes, &journal.Entry{Address: ch.Address, Type: ch.Type, Action: ch.Action,
						Before: ch.Before, After: ch.After, Status: journal.Pending, Irreversible: ch.Irreversible})
				}
				r.Hosts = append(r.Hosts, jh)
			}
		})
	}
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i, hp := range p.Hosts {
		if hp.Err != nil {
			res.Hosts[i] = &HostResult{Name: hp.Name, Outcome: planOutcome(hp.Err), Err: hp.Err}
			emit(Event{Host: hp.Name, Kind: EvHostDone, Outcome: planOutcome(hp.Err), Error: hp.Err.Error()})
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ha := &hostApply{hp: hp, opts: opts, emit: emit, j: opts.Journal, idx: base + i}
			res.Hosts[i] = ha.run(ctx)
			emit(Event{Host: hp.Name, Kind: EvHostDone, Outcome: res.Hosts[i].Outcome, Error: errString(res.Hosts[i].Err)})
		}()
	}
	wg.Wait()
	return res
}

// planOutcome is the outcome of a host whose plan failed: unreachable,
// or failed (its configuration or state refused before any change).
func planOutcome(err error) string {
	if plan.Unreachable(err) {
		return "unreachable"
	}
	return "failed"
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func hostBackupDir(hp *plan.HostPlan, runID string) string {
	return hp.Facts.BackupDir + "/" + runID
}

type hostApply struct {
	hp   *plan.HostPlan
	opts Options
	emit func(Event)
	j    *journal.Journal
	idx  int
	h    *resources.Host
}

type done struct {
	ch   *plan.Change
	undo resources.Undo
	n    int // index in the journal's entries
}

// entry updates this host's journal entry n.
func (a *hostApply) entry(n int, f func(e *journal.Entry)) {
	a.entries([]int{n}, func(_ int, e *journal.Entry) { f(e) })
}

// entries records changes to several journal entries in one write: a
// batch's items start and end together, and a write per item rewrote
// the whole journal once per item (quadratic in a run's changes).
func (a *hostApply) entries(ns []int, f func(i int, e *journal.Entry)) {
	if a.j == nil || len(ns) == 0 {
		return
	}
	now := time.Now().UTC()
	_ = a.j.UpdateEntries(a.idx, ns, func(i int, e *journal.Entry) {
		f(i, e)
		e.Time = now
	})
}

func (a *hostApply) hostOutcome(outcome string, err error) {
	if a.j == nil {
		return
	}
	_ = a.j.UpdateHost(a.idx, func(h *journal.Host) {
		h.Outcome = outcome
		h.Error = errString(err)
	})
}

func (a *hostApply) run(ctx context.Context) *HostResult {
	hp := a.hp
	a.h = &resources.Host{Name: hp.Name, T: hp.T, RunID: a.opts.RunID, BackupDir: hostBackupDir(hp, a.opts.RunID)}
	res := &HostResult{Name: hp.Name}
	var applied []done
	failed := map[string]bool{}
	notified := map[string]bool{}
	var firstErr error
	stopped := false
	batched := map[*plan.Change]resources.BatchResult{}
	entryIndex := map[*plan.Change]int{}
	for _, ch := range hp.Pending() {
		entryIndex[ch] = len(entryIndex)
	}
	n := -1
	for _, ch := range hp.Changes {
		if ch.HasChange() {
			n++
		}
		if stopped {
			if _, done := batched[ch]; ch.HasChange() && !done {
				a.entry(n, func(e *journal.Entry) { e.Status = journal.Skipped })
			}
			continue
		}
		blocked := ""
		for _, d := range ch.Deps {
			if failed[d] {
				blocked = d
			}
		}
		if blocked != "" {
			failed[ch.Address] = true
			if ch.HasChange() {
				a.entry(n, func(e *journal.Entry) { e.Status, e.Error = journal.Skipped, "depends on failed "+blocked })
				a.emit(Event{Host: hp.Name, Kind: EvSkipped, Address: ch.Address, Action: ch.Action, Error: "depends on failed " + blocked})
			}
			continue
		}
		var err error
		changed := false
		if r, ok := batched[ch]; ok {
			// Applied with an earlier change of its batch.
			err, changed = r.Err, r.Err == nil
		} else if ch.Action != plan.NoOp && ch.Action != plan.Refresh {
			if _, ok := ch.Resource.(resources.Batcher); ok {
				batch := a.batch(ch, entryIndex, applied, failed)
				if len(batch) > 1 {
					results := a.applyBatch(ctx, batch, entryIndex)
					for i, b := range batch {
						if errors.Is(results[i].Err, resources.ErrNotAttempted) {
							continue // left for later, as if not batched
						}
						batched[b] = results[i]
						if results[i].Err == nil {
							applied = append(applied, done{b, results[i].Undo, entryIndex[b]})
							res.Applied++
						}
					}
					err, changed = results[0].Err, results[0].Err == nil
					goto after
				}
			}
			k := n
			a.entry(k, func(e *journal.Entry) { e.Status = journal.Applying })
			a.emit(Event{Host: hp.Name, Kind: EvStart, Address: ch.Address, Action: ch.Action})
			start := time.Now()
			var undo resources.Undo
			if ch.Deferred != "" {
				err = a.reread(ctx, ch, k)
			}
			if err == nil && ch.Action != plan.NoOp {
				undo, err = ch.Resource.Apply(ctx, a.h, ch.Before, ch.After)
			}
			if err == nil {
				changed = true
				applied = append(applied, done{ch, undo, k})
				res.Applied++
				a.entry(k, func(e *journal.Entry) { e.Status, e.Undo = journal.Applied, undo })
				a.emit(Event{Host: hp.Name, Kind: EvDone, Address: ch.Address, Action: ch.Action, Duration: time.Since(start)})
			} else {
				a.entry(k, func(e *journal.Entry) { e.Status, e.Error, e.Undo = journal.Failed, err.Error(), undo })
			}
		}
	after:
		if err == nil && notified[ch.Address] && ch.Action != plan.Create && !refreshSatisfied(ch, changed) {
			if rf, ok := ch.Resource.(resources.Refresher); ok {
				err = rf.Refresh(ctx, a.h, ch.Config)
				if err == nil {
					if ch.HasChange() {
						a.entry(n, func(e *journal.Entry) { e.Refreshed = true })
					}
					a.emit(Event{Host: hp.Name, Kind: EvRefreshed, Address: ch.Address})
				} else if ch.HasChange() && ch.Action == plan.Refresh {
					a.entry(n, func(e *journal.Entry) { e.Status, e.Error = journal.Failed, err.Error() })
				}
			}
		}
		if err != nil {
			a.emit(Event{Host: hp.Name, Kind: EvFailed, Address: ch.Address, Action: ch.Action, Error: err.Error()})
			err = fmt.Errorf("%s: %w", ch.Address, err)
			res.Failed++
			failed[ch.Address] = true
			if firstErr == nil {
				firstErr = err
			}
			if a.opts.OnFailure != Continue {
				stopped = true
			}
			continue
		}
		if changed {
			for _, t := range ch.Notify {
				notified[t] = true
			}
		}
	}
	if firstErr == nil && len(applied) > 0 {
		if err := a.verify(ctx, applied); err != nil {
			firstErr = err
			res.Failed++
			a.emit(Event{Host: hp.Name, Kind: EvFailed, Error: err.Error()})
		}
	}
	if firstErr == nil && a.opts.HealthCheck != nil {
		// An unhealthy host keeps its changes: what to do about it is the
		// rollout's decision (RevertHost), made per batch.
		if err := a.opts.HealthCheck(ctx, hp); err != nil {
			res.Unhealthy = true
			res.Outcome, res.Err = "unhealthy", fmt.Errorf("health check: %w", err)
			res.ha, res.applied = a, applied
			a.emit(Event{Host: hp.Name, Kind: EvUnhealthy, Error: res.Err.Error()})
			a.hostOutcome(res.Outcome, res.Err)
			return res
		}
		a.emit(Event{Host: hp.Name, Kind: EvHealthy})
	}
	switch {
	case firstErr == nil:
		res.Outcome = "success"
	case a.opts.OnFailure == Rollback:
		res.Reverted, res.NotReverted = a.revert(ctx, applied)
		if res.NotReverted == 0 {
			res.Outcome = "rolled_back"
		} else {
			res.Outcome = "failed"
		}
	case res.Applied > 0:
		res.Outcome = "partial"
	default:
		res.Outcome = "failed"
	}
	res.Err = firstErr
	res.ha, res.applied = a, applied
	a.hostOutcome(res.Outcome, firstErr)
	return res
}

// RefreshSatisfier is implemented by notify targets whose own change can
// already do what their refresh would: a service this apply has just
// started runs the new configuration, and restarting it again would only
// bounce it. (A created resource is never refreshed either.)
type RefreshSatisfier interface {
	// RefreshSatisfied reports whether applying before → after made the
	// refresh unnecessary.
	RefreshSatisfied(before, after *resources.State) bool
}

// refreshSatisfied reports whether ch, applied in this run (changed), has
// made its refresh unnecessary.
func refreshSatisfied(ch *plan.Change, changed bool) bool {
	rs, ok := ch.Resource.(RefreshSatisfier)
	return ok && changed && rs.RefreshSatisfied(ch.Before, ch.After)
}

// batch collects the pending changes of first's type that can be made
// together with it now: those whose dependencies are all applied or in
// the batch.
func (a *hostApply) batch(first *plan.Change, idx map[*plan.Change]int, applied []done, failed map[string]bool) []*plan.Change {
	ok := map[string]bool{}
	for _, d := range applied {
		ok[d.ch.Address] = true
	}
	for _, c := range a.hp.Changes {
		if !c.HasChange() && !failed[c.Address] {
			ok[c.Address] = true
		}
	}
	batch := []*plan.Change{first}
	ok[first.Address] = true
	for _, c := range a.hp.Changes {
		if c == first || c.Type != first.Type || !c.HasChange() || c.Action == plan.Refresh || idx[c] < idx[first] {
			continue
		}
		ready := true
		for _, d := range c.Deps {
			if !ok[d] {
				ready = false
				break
			}
		}
		if ready {
			batch = append(batch, c)
			ok[c.Address] = true
		}
	}
	return batch
}

// applyBatch applies a batch in one call of its type, journaling each item.
func (a *hostApply) applyBatch(ctx context.Context, batch []*plan.Change, idx map[*plan.Change]int) []resources.BatchResult {
	items := make([]resources.BatchItem, len(batch))
	ns := make([]int, len(batch))
	for i, c := range batch {
		items[i] = resources.BatchItem{Config: c.Config, Before: c.Before, After: c.After}
		ns[i] = idx[c]
	}
	a.entries(ns, func(_ int, e *journal.Entry) { e.Status = journal.Applying })
	for _, c := range batch {
		a.emit(Event{Host: a.hp.Name, Kind: EvStart, Address: c.Address, Action: c.Action})
	}
	start := time.Now()
	results := batch[0].Resource.(resources.Batcher).ApplyBatch(ctx, a.h, items)
	if len(results) != len(batch) {
		err := fmt.Errorf("internal error: %s batch returned %d results for %d changes", batch[0].Type, len(results), len(batch))
		results = make([]resources.BatchResult, len(batch))
		for i := range results {
			results[i].Err = err
		}
	}
	a.entries(ns, func(i int, e *journal.Entry) {
		switch r := results[i]; {
		case errors.Is(r.Err, resources.ErrNotAttempted):
			e.Status = journal.Pending
		case r.Err == nil:
			e.Status, e.Undo = journal.Applied, r.Undo
		default:
			e.Status, e.Error, e.Undo = journal.Failed, r.Err.Error(), r.Undo
		}
	})
	for i, c := range batch {
		if results[i].Err == nil {
			a.emit(Event{Host: a.hp.Name, Kind: EvDone, Address: c.Address, Action: c.Action, Duration: time.Since(start)})
		}
	}
	return results
}

// reread reads a deferred change's resource again, now that the changes
// it follows are applied, and makes the change from that state. A
// resource still missing is the change's failure.
func (a *hostApply) reread(ctx context.Context, ch *plan.Change, k int) error {
	res, err := probe.RunOn(ctx, a.hp.T, a.hp.Windows, false, []probe.Fragment{probe.For(ch.Address, ch.Resource, ch.Config, ch.After)})
	if err != nil {
		return fmt.Errorf("reading again: %w", err)
	}
	if msg, ok := res.Failed[ch.Address]; ok {
		return fmt.Errorf("reading again: %s", msg)
	}
	cur, err := ch.Resource.Read(ch.Config, res.Outputs[ch.Address])
	if err != nil {
		var ny *resources.NotYetError
		if errors.As(err, &ny) {
			return fmt.Errorf("%w, even after the changes it follows were applied", ny.Err)
		}
		return err
	}
	after := ch.After
	if rs, ok := ch.Resource.(resources.Resolver); ok {
		if after, err = rs.Resolve(ch.Config, cur, ch.After); err != nil {
			return err
		}
	}
	ch.Before, ch.After = cur, after
	ch.Action, ch.Changed = plan.Diff(cur, after)
	ch.Deferred = ""
	a.entry(k, func(e *journal.Entry) { e.Before, e.After, e.Action = cur, after, ch.Action })
	return nil
}

// verify re-reads every applied change in one probe and checks it now
// matches its desired state.
func (a *hostApply) verify(ctx context.Context, applied []done) error {
	var frags []probe.Fragment
	for _, d := range applied {
		if _, direct := d.ch.Resource.(resources.DirectReader); direct {
			continue
		}
		frags = append(frags, probe.For(d.ch.Address, d.ch.Resource, d.ch.Config, d.ch.After))
	}
	res := &probe.Result{}
	if len(frags) > 0 {
		var err error
		if res, err = probe.RunOn(ctx, a.hp.T, a.hp.Windows, false, frags); err != nil {
			return fmt.Errorf("verifying: %w", err)
		}
	}
	var errs []error
	for _, d := range applied {
		if msg, ok := res.Failed[d.ch.Address]; ok {
			errs = append(errs, fmt.Errorf("verifying %s: %s", d.ch.Address, msg))
			continue
		}
		var cur *resources.State
		var err error
		if dr, ok := d.ch.Resource.(resources.DirectReader); ok {
			cur, err = dr.ReadCurrent(ctx, a.h, d.ch.Config, d.ch.After)
		} else {
			cur, err = d.ch.Resource.Read(d.ch.Config, res.Outputs[d.ch.Address])
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("verifying %s: %w", d.ch.Address, err))
			continue
		}
		want := d.ch.After
		if rs, ok := d.ch.Resource.(resources.Resolver); ok {
			// Several changes may edit one file: what this one wants is
			// judged against the state they left together.
			if want, err = rs.Resolve(d.ch.Config, cur, d.ch.After); err != nil {
				errs = append(errs, fmt.Errorf("verifying %s: %w", d.ch.Address, err))
				continue
			}
		}
		if act, changed := plan.Diff(cur, want); act != plan.NoOp {
			if d.ch.Type == "exec" {
				continue // a command's guard may legitimately stay unmet
			}
			errs = append(errs, fmt.Errorf("verifying %s: still differs after apply (%s %v)", d.ch.Address, act, changed))
		}
	}
	return errors.Join(errs...)
}

// revert undoes applied changes in reverse order. It returns how many
// were reverted and how many could not be.
func (a *hostApply) revert(ctx context.Context, applied []done) (int, int) {
	ok, bad := 0, 0
	for i := len(applied) - 1; i >= 0; i-- {
		d := applied[i]
		if d.ch.Irreversible != "" {
			bad++
			a.entry(d.n, func(e *journal.Entry) { e.Status, e.Error = journal.NotReverted, d.ch.Irreversible })
			a.emit(Event{Host: a.hp.Name, Kind: EvNotReverted, Address: d.ch.Address, Error: d.ch.Irreversible})
			continue
		}
		a.entry(d.n, func(e *journal.Entry) { e.Status = journal.Reverting })
		if err := d.ch.Resource.Revert(ctx, a.h, d.ch.Before, d.ch.After, d.undo); err != nil {
			bad++
			a.entry(d.n, func(e *journal.Entry) { e.Status, e.Error = journal.RevertFailed, err.Error() })
			a.emit(Event{Host: a.hp.Name, Kind: EvRevertFailed, Address: d.ch.Address, Error: err.Error()})
			continue
		}
		ok++
		a.entry(d.n, func(e *journal.Entry) { e.Status = journal.Reverted })
		a.emit(Event{Host: a.hp.Name, Kind: EvReverted, Address: d.ch.Address})
	}
	return ok, bad
}
