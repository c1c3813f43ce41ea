package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/probe"
	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/transport"
)

// hostRun is one host's part of a run.
type hostRun struct {
	e   *Engine
	hp  *plan.HostPlan
	seq int
	h   *resources.Host
	// vetoed is why the host makes no further change, reverts included:
	// a subscriber (the journal) refused, or the host's state became
	// unknown (lostState) and it could not be reached again.
	vetoed    error
	lostState bool
	// locked is set while the host's run lock is held; release frees it.
	// waited is set when another run held it first.
	locked  bool
	waited  bool
	release func() error
	index   map[*plan.Change]int
	applied []done
	// connect, when set, reconnects this host (instead of the engine's
	// Reconnect).
	connect func(ctx context.Context) (transport.Transport, error)
}

type done struct {
	ch   *plan.Change
	undo resources.Undo
	n    int // index among the host's pending changes (journal entry)
}

func (a *hostRun) emit(ev *Event) error {
	ev.Host, ev.Seq = a.hp.Name, a.seq
	for _, it := range ev.Items {
		it.Host, it.Seq, it.RunID = a.hp.Name, a.seq, a.e.RunID
		if it.Time.IsZero() {
			it.Time = time.Now()
		}
	}
	err := a.e.emit(ev)
	if err != nil && a.vetoed == nil {
		a.vetoed = err
	}
	return err
}

// changeEvent is an event about change ch (entry n).
func changeEvent(kind Kind, ch *plan.Change, n int) *Event {
	return &Event{Kind: kind, Address: ch.Address, Type: ch.Type, Action: ch.Action, Entry: n, Before: ch.Before, After: ch.After}
}

func (a *hostRun) outcome(r *HostResult) {
	_ = a.emit(&Event{Kind: HostOutcome, Outcome: r.Outcome, Error: errString(r.Err), Applied: r.Applied, Reverted: r.Reverted, NotRevertedN: r.NotReverted})
}

// lock takes the host's run lock when the run has an identity and the
// transport can hold one.
func (a *hostRun) lock(ctx context.Context) error {
	if a.e.Lock == nil || a.locked {
		return nil
	}
	l, ok := a.hp.T.(transport.Locker)
	if !ok {
		return nil
	}
	rel, err := l.Lock(ctx, *a.e.Lock, 0)
	var le *transport.LockedError
	if errors.As(err, &le) && a.e.LockWait > 0 {
		_ = a.emit(&Event{Kind: LockWaiting, Message: le.Error()})
		rel, err = l.Lock(ctx, *a.e.Lock, a.e.LockWait)
		a.waited = true
	}
	if err != nil {
		return err
	}
	a.locked, a.release = true, rel
	_ = a.emit(&Event{Kind: HostLocked})
	return nil
}

// replan reads the host's resources again after waiting for its lock
// (another run may have changed them) and plans its changes from what it
// holds now, before any is made: the run then makes the host match its
// configuration, whatever the other run left. The journal's entries for
// the host are replaced.
func (a *hostRun) replan(ctx context.Context) error {
	var chs []*plan.Change
	for _, ch := range a.hp.Changes {
		if ch.Deferred == "" && ch.Action != plan.Refresh && ch.After != nil {
			chs = append(chs, ch)
		}
	}
	if len(chs) == 0 {
		return nil
	}
	cur, err := a.read(ctx, chs)
	if err != nil {
		return fmt.Errorf("reading the host again after waiting for its lock: %w", err)
	}
	var moved []string
	for i, ch := range chs {
		after := ch.After
		if rs, ok := ch.Resource.(resources.Resolver); ok {
			if after, err = rs.Resolve(ch.Config, cur[i], ch.After); err != nil {
				return fmt.Errorf("%s: %w", ch.Address, err)
			}
		}
		act, changed := plan.Diff(cur[i], after)
		before := cur[i]
		if ch.Action == plan.Replace && (act == plan.NoOp || act == plan.Update) {
			// Asked to be made again (--replace): still is.
			act, changed, before = plan.Replace, ch.Changed, plan.ReplaceBase(ch.Resource, cur[i], after)
		}
		if act != ch.Action || (ch.Before != nil && !atBefore(cur[i], ch.Before)) {
			moved = append(moved, ch.Address)
		}
		ch.Before, ch.After, ch.Action, ch.Changed = before, after, act, changed
	}
	if len(moved) == 0 {
		return nil
	}
	a.reindex()
	return a.emit(&Event{Kind: HostReplanned, Plan: a.hp, Message: fmt.Sprintf("the host changed while this run waited for its lock (%s); planned again from what it holds now", strings.Join(moved, ", "))})
}

func (a *hostRun) unlock() {
	if a.locked && a.release != nil {
		_ = a.release()
	}
	a.locked, a.release = false, nil
}

// connLost reports whether err means the host's connection is gone (as
// opposed to the change failing on the host).
func connLost(err error) bool {
	return errors.Is(err, transport.ErrConnLost)
}

// reconnect replaces the host's lost connection, with backoff, and takes
// the run lock again. The lock of the lost connection may still be held
// by a session the host has not yet seen die: waiting for it to go is
// waiting for our own run, so the wait is longer than the run's own.
func (a *hostRun) reconnect(ctx context.Context, cause error) error {
	e := a.e
	connect := a.connect
	if connect == nil && e.Reconnect != nil {
		connect = func(ctx context.Context) (transport.Transport, error) { return e.Reconnect(ctx, a.hp.Name) }
	}
	if connect == nil {
		return cause
	}
	attempts := e.ReconnectAttempts
	if attempts <= 0 {
		attempts = 5
	}
	delay := 500 * time.Millisecond
	last := cause
	for i := 1; i <= attempts; i++ {
		_ = a.emit(&Event{Kind: Reconnecting, Message: fmt.Sprintf("attempt %d of %d after: %v", i, attempts, last)})
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (reconnecting: %v)", cause, ctx.Err())
		case <-time.After(delay):
		}
		delay *= 2
		t, err := connect(ctx)
		if err != nil {
			last = err
			continue
		}
		old := a.hp.T
		a.hp.T, a.h.T = t, t
		if old != nil {
			old.Close()
		}
		if a.locked {
			a.locked = false
			if l, ok := t.(transport.Locker); ok {
				wait := max(e.LockWait, 30*time.Second)
				rel, err := l.Lock(ctx, *e.Lock, wait)
				if err != nil {
					return fmt.Errorf("reconnected, but could not take the host's lock again: %w", err)
				}
				a.locked, a.release = true, rel
			}
		}
		_ = a.emit(&Event{Kind: Reconnected, Message: fmt.Sprintf("after %d attempt(s)", i)})
		return nil
	}
	return fmt.Errorf("%w (could not reconnect after %d attempts: %v)", cause, attempts, last)
}

// reindex numbers the host's pending changes: in order, or, on a resumed
// run, as the run's journal numbered them (Engine.Entries).
func (a *hostRun) reindex() {
	a.index = map[*plan.Change]int{}
	m := a.e.Entries[a.hp.Name]
	for _, ch := range a.hp.Pending() {
		if k, ok := m[ch.Address]; ok {
			a.index[ch] = k
		} else {
			a.index[ch] = len(a.index)
		}
	}
}

// hostFor returns the resources.Host a change of entry n sees: its
// backups are named after the entry, so the journal can say where they
// will be before the change starts.
func (a *hostRun) hostFor(n int) *resources.Host {
	return &resources.Host{Name: a.hp.Name, T: a.hp.T, RunID: a.e.RunID, BackupDir: a.h.BackupDir, BackupKey: fmt.Sprintf("%04d", n)}
}

func (a *hostRun) run(ctx context.Context) *HostResult {
	hp := a.hp
	res := &HostResult{Name: hp.Name, hr: a}
	a.h = &resources.Host{Name: hp.Name, T: hp.T, RunID: a.e.RunID, BackupDir: hostBackupDir(hp, a.e.RunID)}
	if a.vetoed != nil {
		res.Outcome, res.Err = Failed, fmt.Errorf("not started: %w", a.vetoed)
		return res
	}
	a.reindex()
	notified := map[string]bool{}
	for _, t := range a.e.Notified[hp.Name] {
		notified[t] = true
	}
	if len(a.index) > 0 || len(notified) > 0 || a.e.HealthCheck != nil {
		if err := a.lock(ctx); err != nil {
			res.Outcome, res.Err = Failed, err
			return res
		}
	}
	defer a.unlock()
	if _, resumed := a.e.Entries[hp.Name]; resumed && a.locked {
		// A resumed run removes what it left behind when it was killed
		// (temporary files of a write cut short) before going on.
		var all []done
		for _, ch := range hp.Changes {
			all = append(all, done{ch: ch})
		}
		a.tidy(ctx, all)
	}
	if a.waited {
		if err := a.replan(ctx); err != nil {
			res.Outcome, res.Err = Failed, err
			return res
		}
	}
	firstErr := a.walk(ctx, res, notified)
	if firstErr == nil && len(a.applied) > 0 {
		if err := a.verify(ctx, a.applied); err != nil {
			firstErr = err
			res.Failed++
			_ = a.emit(&Event{Kind: ChangeFailed, Error: err.Error()})
		} else {
			_ = a.emit(&Event{Kind: Verified})
		}
	}
	if firstErr == nil && a.e.HealthCheck != nil {
		// An unhealthy host keeps its changes: what to do about it is the
		// rollout's decision (revertAll), made per batch.
		if err := a.health(ctx); err != nil {
			res.Outcome, res.Err = UnhealthyO, fmt.Errorf("health check: %w", err)
			_ = a.emit(&Event{Kind: Unhealthy, Error: res.Err.Error(), Stderr: stderrOf(err)})
			return res
		}
		_ = a.emit(&Event{Kind: Healthy})
	}
	switch {
	case firstErr == nil && a.vetoed != nil:
		// Every change was made, but the journal did not record all
		// their outcomes: the run cannot say it succeeded.
		res.Outcome, res.Err = Failed, outcomeNotJournaled(a.vetoed)
		return res
	case firstErr == nil:
		res.Outcome = Success
	case a.vetoed != nil:
		// Without a journal nothing more is done, reverts included: what
		// the host holds is what the journal says.
		res.Outcome = Failed
		switch {
		case len(a.applied) == 0:
		case a.lostState:
			firstErr = fmt.Errorf("%w; the host could not be reached again, so the %d change(s) made were left in place (tend rollback %s --target %s once it is back)", firstErr, len(a.applied), a.e.RunID, a.hp.Name)
		default:
			firstErr = fmt.Errorf("%w; the journal could not be written, so the %d change(s) made were left in place (tend rollback %s once it can be written)", firstErr, len(a.applied), a.e.RunID)
		}
	case a.e.OnFailure == Rollback || (a.e.Interrupted() && a.e.OnFailure != Stop && a.e.OnFailure != Continue):
		a.revert(ctx, res)
		if res.NotReverted == 0 {
			res.Outcome = RolledBack
		} else {
			res.Outcome = Failed
		}
	case res.Applied > 0:
		res.Outcome = Partial
	default:
		res.Outcome = Failed
	}
	res.Err = firstErr
	return res
}

// walk makes the host's changes in order. It returns the first failure.
func (a *hostRun) walk(ctx context.Context, res *HostResult, notified map[string]bool) error {
	hp := a.hp
	failed := map[string]bool{}
	batched := map[*plan.Change]resources.BatchResult{}
	var firstErr error
	stopped := false
	fail := func(err error) {
		if firstErr == nil {
			firstErr = err
		}
		if a.e.OnFailure != Continue || a.vetoed != nil || a.e.Interrupted() {
			stopped = true
		}
	}
	for _, ch := range hp.Changes {
		n, pending := a.index[ch]
		if _, ok := batched[ch]; !ok && !stopped && pending && (a.e.Interrupted() || a.vetoed != nil) {
			if a.e.Interrupted() {
				fail(errInterrupted)
			} else {
				fail(a.vetoed)
			}
		}
		if stopped {
			if _, done := batched[ch]; pending && !done {
				why := "not started: an earlier change failed"
				if a.e.Interrupted() {
					why = "not started: the run was interrupted"
				}
				ev := changeEvent(ChangeSkipped, ch, n)
				ev.Error = why
				_ = a.emit(ev)
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
			if pending {
				ev := changeEvent(ChangeSkipped, ch, n)
				ev.Error = "depends on failed " + blocked
				_ = a.emit(ev)
			}
			continue
		}
		var err error
		changed := false
		if r, ok := batched[ch]; ok {
			// Made with an earlier change of its batch.
			err, changed = r.Err, r.Err == nil
		} else if pending && ch.Action != plan.Refresh {
			if batch := a.batch(ch, batched, failed); len(batch) > 1 {
				results := a.applyBatch(ctx, batch, res)
				for i, b := range batch {
					if errors.Is(results[i].Err, resources.ErrNotAttempted) {
						continue // made later, as if not batched
					}
					batched[b] = results[i]
				}
				err, changed = results[0].Err, results[0].Err == nil
				if errors.Is(err, resources.ErrNotAttempted) {
					// Not attempted with its batch (one before it in the
					// batch's own order failed, or the connection went):
					// made on its own now, as without batching.
					err = a.applyOne(ctx, ch, n, res)
					changed = err == nil
				}
			} else {
				err = a.applyOne(ctx, ch, n, res)
				changed = err == nil
			}
		}
		if err == nil && notified[ch.Address] && ch.Action != plan.Create && !refreshSatisfied(ch, changed) {
			if rf, ok := ch.Resource.(resources.Refresher); ok {
				err = rf.Refresh(ctx, a.h, ch.Config)
				if err == nil {
					ev := &Event{Kind: Refreshed, Address: ch.Address, Type: ch.Type, Entry: -1}
					if pending {
						ev.Entry = n
					}
					_ = a.emit(ev)
				} else if pending && ch.Action == plan.Refresh {
					ev := changeEvent(ChangeFailed, ch, n)
					ev.Error, ev.Stderr = err.Error(), stderrOf(err)
					_ = a.emit(ev)
				}
			}
		}
		if err != nil {
			err = fmt.Errorf("%s: %w", ch.Address, err)
			res.Failed++
			failed[ch.Address] = true
			fail(err)
			continue
		}
		if changed {
			for _, t := range ch.Notify {
				notified[t] = true
			}
		}
	}
	return firstErr
}

// RefreshSatisfier is implemented by notify targets whose own change can
// already do what their refresh would: a service this run has just
// started runs the new configuration, and restarting it again would only
// bounce it. (A created resource is never refreshed either.)
type RefreshSatisfier interface {
	// RefreshSatisfied reports whether applying before → after made the
	// refresh unnecessary.
	RefreshSatisfied(before, after *resources.State) bool
}

func refreshSatisfied(ch *plan.Change, changed bool) bool {
	rs, ok := ch.Resource.(RefreshSatisfier)
	return ok && changed && rs.RefreshSatisfied(ch.Before, ch.After)
}

// batch collects the changes of first's type that can be made together
// with it: each must depend only on changes already made before the batch
// (never on another of the batch), so a batch never runs a change before
// its dependencies. Unless failures do not stop the host (continue), the
// batch is the run of such changes that immediately follow first in
// order, no-ops aside: when one fails, the changes made are then exactly
// those made without batching (a batch stops at its first failure).
func (a *hostRun) batch(first *plan.Change, batched map[*plan.Change]resources.BatchResult, failed map[string]bool) []*plan.Change {
	if _, ok := first.Resource.(resources.Batcher); !ok || a.e.NoBatch {
		return []*plan.Change{first}
	}
	made := map[string]bool{}
	for _, d := range a.applied {
		made[d.ch.Address] = true
	}
	for _, c := range a.hp.Changes {
		if !c.HasChange() && !failed[c.Address] {
			made[c.Address] = true
		}
	}
	ready := func(c *plan.Change) bool {
		for _, d := range c.Deps {
			if !made[d] {
				return false
			}
		}
		return true
	}
	if !ready(first) {
		return []*plan.Change{first}
	}
	batch := []*plan.Change{first}
	seen := false
	for _, c := range a.hp.Changes {
		if c == first {
			seen = true
			continue
		}
		if !seen || !c.HasChange() {
			continue
		}
		if _, done := batched[c]; done {
			continue
		}
		fits := c.Type == first.Type && c.Action != plan.Refresh && c.Deferred == "" && ready(c)
		if !fits {
			if a.e.OnFailure == Continue {
				continue
			}
			break
		}
		batch = append(batch, c)
	}
	return batch
}

// predictUndo is the undo data a change will record, known before it is
// made (where its backups will be), for the journal's intent.
func predictUndo(ch *plan.Change, h *resources.Host) resources.Undo {
	if p, ok := ch.Resource.(resources.UndoPredictor); ok {
		return p.PredictUndo(h, ch.Before, ch.After)
	}
	return nil
}

// applyOne makes one change, journaled before (intent) and after.
func (a *hostRun) applyOne(ctx context.Context, ch *plan.Change, n int, res *HostResult) error {
	h := a.hostFor(n)
	if ch.Deferred != "" {
		if err := a.reread(ctx, ch); err != nil {
			ev := changeEvent(ChangeFailed, ch, n)
			ev.Error = err.Error()
			_ = a.emit(ev)
			return err
		}
		if ch.Action == plan.NoOp {
			ev := changeEvent(ChangeApplied, ch, n)
			_ = a.emit(ev)
			return nil
		}
	}
	start := changeEvent(ChangeStarted, ch, n)
	start.Undo = predictUndo(ch, h)
	if err := a.emit(start); err != nil {
		return fmt.Errorf("not made: the journal could not record it: %w", err)
	}
	t0 := time.Now()
	undo, err := ch.Resource.Apply(ctx, h, ch.Before, ch.After)
	if err != nil && (connLost(err) || ctx.Err() != nil) {
		// The change may have been made on the host before the
		// connection went: read it back before saying anything.
		undo = mergeUndo(start.Undo, undo)
		made, rerr := a.readBack(ctx, []*plan.Change{ch}, err)
		switch {
		case rerr != nil:
			ev := changeEvent(ChangeUnknown, ch, n)
			ev.Undo, ev.Error = undo, fmt.Sprintf("%v; its outcome on the host is unknown: %v", err, rerr)
			_ = a.emit(ev)
			a.vetoed, a.lostState = errors.New("the host's state is unknown"), true
			return errors.New(ev.Error)
		case made[0] == 1:
			err = nil
		case made[0] == 0:
			err = fmt.Errorf("%w (the host was read again: the change was not made)", err)
		default:
			ev := changeEvent(ChangeUnknown, ch, n)
			ev.Undo, ev.Error = undo, fmt.Sprintf("%v; the host was read again and holds neither the state before nor the one wanted", err)
			_ = a.emit(ev)
			a.applied = append(a.applied, done{ch, undo, n})
			return errors.New(ev.Error)
		}
	}
	if err != nil {
		ev := changeEvent(ChangeFailed, ch, n)
		ev.Error, ev.Undo, ev.Stderr, ev.Stdout = err.Error(), undo, stderrOf(err), stdoutOf(err)
		_ = a.emit(ev)
		return err
	}
	a.applied = append(a.applied, done{ch, undo, n})
	res.Applied++
	ev := changeEvent(ChangeApplied, ch, n)
	ev.Undo, ev.Duration = undo, time.Since(t0)
	_ = a.emit(ev)
	return nil
}

func mergeUndo(predicted, got resources.Undo) resources.Undo {
	if len(got) == 0 {
		return predicted
	}
	return got
}

// applyBatch makes a batch's changes in one call of their type; each item
// is journaled (intent, with where its backups will be) before the batch
// starts, and its outcome after.
func (a *hostRun) applyBatch(ctx context.Context, batch []*plan.Change, res *HostResult) []resources.BatchResult {
	items := make([]resources.BatchItem, len(batch))
	starts := make([]*Event, len(batch))
	for i, c := range batch {
		n := a.index[c]
		hb := a.hostFor(n)
		items[i] = resources.BatchItem{Config: c.Config, Before: c.Before, After: c.After, BackupKey: hb.BackupKey}
		starts[i] = changeEvent(ChangeStarted, c, n)
		starts[i].Undo = predictUndo(c, hb)
	}
	if err := a.emit(&Event{Kind: Changes, Items: starts}); err != nil {
		// Not one item of the batch is made.
		out := make([]resources.BatchResult, len(batch))
		for k := range batch {
			out[k].Err = resources.ErrNotAttempted
		}
		out[0].Err = fmt.Errorf("not made: the journal could not record it: %w", err)
		return out
	}
	t0 := time.Now()
	results := batch[0].Resource.(resources.Batcher).ApplyBatch(ctx, a.h, items)
	if len(results) != len(batch) {
		err := fmt.Errorf("internal error: %s batch returned %d results for %d changes", batch[0].Type, len(results), len(batch))
		results = make([]resources.BatchResult, len(batch))
		for i := range results {
			results[i].Err = err
		}
	}
	// Items lost with the connection may have been made: read them back.
	// The batch's script may have gone on after its answer was lost, so
	// the items it reports not attempted are read back too.
	var lost []*plan.Change
	var lostAt []int
	var cause error
	for _, r := range results {
		if r.Err != nil && (connLost(r.Err) || ctx.Err() != nil) {
			cause = r.Err
			break
		}
	}
	if cause != nil {
		for i, r := range results {
			if r.Err != nil && (connLost(r.Err) || ctx.Err() != nil || errors.Is(r.Err, resources.ErrNotAttempted)) {
				lost, lostAt = append(lost, batch[i]), append(lostAt, i)
			}
		}
		made, rerr := a.readBack(ctx, lost, cause)
		for k, i := range lostAt {
			notAttempted := errors.Is(results[i].Err, resources.ErrNotAttempted)
			switch {
			case rerr != nil || made[k] == -1:
				results[i].Err = &unknownError{cause: cause, read: rerr}
			case made[k] == 1:
				results[i].Err = nil
			case notAttempted:
				// Not made: pending again, made later as without batching.
			default:
				results[i].Err = fmt.Errorf("%w (the host was read again: the change was not made)", cause)
			}
		}
	}
	outs := make([]*Event, 0, len(batch))
	for i, c := range batch {
		n := a.index[c]
		r := results[i]
		undo := mergeUndo(predictUndo(c, a.hostFor(n)), r.Undo)
		var ev *Event
		var ue *unknownError
		switch {
		case errors.Is(r.Err, resources.ErrNotAttempted):
			ev = changeEvent(ChangePending, c, n)
		case errors.As(r.Err, &ue):
			ev = changeEvent(ChangeUnknown, c, n)
			ev.Error, ev.Undo = r.Err.Error(), undo
			a.applied = append(a.applied, done{c, undo, n})
			if ue.read != nil {
				a.vetoed, a.lostState = errors.New("the host's state is unknown"), true
			}
		case r.Err == nil:
			a.applied = append(a.applied, done{c, undo, n})
			res.Applied++
			ev = changeEvent(ChangeApplied, c, n)
			ev.Undo, ev.Duration = undo, time.Since(t0)
		default:
			ev = changeEvent(ChangeFailed, c, n)
			ev.Error, ev.Undo, ev.Stderr, ev.Stdout = r.Err.Error(), undo, stderrOf(r.Err), stdoutOf(r.Err)
		}
		outs = append(outs, ev)
	}
	_ = a.emit(&Event{Kind: Changes, Items: outs})
	return results
}

// unknownError is a change whose outcome could not be told after its
// connection was lost.
type unknownError struct {
	cause, read error
}

func (e *unknownError) Error() string {
	if e.read != nil {
		return fmt.Sprintf("%v; its outcome on the host is unknown: %v", e.cause, e.read)
	}
	return fmt.Sprintf("%v; the host was read again and holds neither the state before nor the one wanted", e.cause)
}

// readBack reconnects if needed and reads the changes' resources: 1 for
// a change made (the host holds its wanted state), 0 for one not made
// (still the state before), -1 for neither.
func (a *hostRun) readBack(ctx context.Context, chs []*plan.Change, cause error) ([]int, error) {
	if ctx.Err() != nil {
		return nil, fmt.Errorf("not read again: %w", ctx.Err())
	}
	if connLost(cause) {
		if err := a.reconnect(ctx, cause); err != nil {
			return nil, err
		}
	}
	cur, err := a.read(ctx, chs)
	if err != nil && connLost(err) {
		if rerr := a.reconnect(ctx, err); rerr != nil {
			return nil, rerr
		}
		cur, err = a.read(ctx, chs)
	}
	if err != nil {
		return nil, err
	}
	out := make([]int, len(chs))
	for i, ch := range chs {
		want := ch.After
		if rs, ok := ch.Resource.(resources.Resolver); ok {
			if w, err := rs.Resolve(ch.Config, cur[i], ch.After); err == nil {
				want = w
			}
		}
		switch {
		case cur[i] == nil:
			out[i] = -1
		case sameState(cur[i], want):
			out[i] = 1
		case sameState(cur[i], ch.Before):
			out[i] = 0
		default:
			out[i] = -1
		}
	}
	return out, nil
}

// sameState reports whether cur holds every attribute of want.
func sameState(cur, want *resources.State) bool {
	if want == nil {
		return false
	}
	act, _ := plan.Diff(cur, want)
	return act == plan.NoOp
}

// read reads the current state of each change's resource in one probe
// (types with a reader of their own read directly).
func (a *hostRun) read(ctx context.Context, chs []*plan.Change) ([]*resources.State, error) {
	return readStates(ctx, a.h, a.hp.Windows, chs)
}

// readStates reads the current states of changes' resources on h.
func readStates(ctx context.Context, h *resources.Host, windows bool, chs []*plan.Change) ([]*resources.State, error) {
	var frags []probe.Fragment
	for _, ch := range chs {
		if _, direct := ch.Resource.(resources.DirectReader); !direct {
			frags = append(frags, probe.For(ch.Address, ch.Resource, ch.Config, ch.After))
		}
	}
	pr := &probe.Result{}
	if len(frags) > 0 {
		var err error
		if pr, err = probe.RunOn(ctx, h.T, windows, false, frags); err != nil {
			return nil, fmt.Errorf("reading the host: %w", err)
		}
	}
	out := make([]*resources.State, len(chs))
	var errs []error
	for i, ch := range chs {
		if msg, ok := pr.Failed[ch.Address]; ok {
			errs = append(errs, fmt.Errorf("reading %s: %s", ch.Address, msg))
			continue
		}
		var cur *resources.State
		var err error
		if dr, ok := ch.Resource.(resources.DirectReader); ok {
			cur, err = dr.ReadCurrent(ctx, h, ch.Config, ch.After)
		} else {
			cur, err = ch.Resource.Read(ch.Config, pr.Outputs[ch.Address])
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("reading %s: %w", ch.Address, err))
			continue
		}
		out[i] = cur
	}
	return out, errors.Join(errs...)
}

// reread reads a deferred change's resource again, now that the changes
// it follows are made, and makes the change from that state. A resource
// still missing is the change's failure.
func (a *hostRun) reread(ctx context.Context, ch *plan.Change) error {
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
	return nil
}

// verify re-reads every applied change in one probe and checks it now
// matches its desired state.
func (a *hostRun) verify(ctx context.Context, applied []done) error {
	chs := make([]*plan.Change, len(applied))
	for i, d := range applied {
		chs[i] = d.ch
	}
	cur, err := a.read(ctx, chs)
	if err != nil && connLost(err) {
		if rerr := a.reconnect(ctx, err); rerr == nil {
			cur, err = a.read(ctx, chs)
		}
	}
	if cur == nil {
		return fmt.Errorf("verifying: %w", err)
	}
	errs := []error{}
	if err != nil {
		errs = append(errs, fmt.Errorf("verifying: %w", err))
	}
	for i, d := range applied {
		if cur[i] == nil {
			continue
		}
		want := d.ch.After
		if rs, ok := d.ch.Resource.(resources.Resolver); ok {
			// Several changes may edit one file: what this one wants is
			// judged against the state they left together.
			if want, err = rs.Resolve(d.ch.Config, cur[i], d.ch.After); err != nil {
				errs = append(errs, fmt.Errorf("verifying %s: %w", d.ch.Address, err))
				continue
			}
		}
		if act, changed := plan.Diff(cur[i], want); act != plan.NoOp {
			if _, ok := d.ch.Resource.(resources.Command); ok {
				continue // a command's guard may legitimately stay unmet
			}
			errs = append(errs, fmt.Errorf("verifying %s: still differs after apply (%s %v)", d.ch.Address, act, changed))
		}
	}
	return errors.Join(errs...)
}

// revert undoes the host's applied changes in reverse order, then reads
// them all back: a change is reverted only when the host holds its state
// from before the run again.
func (a *hostRun) revert(ctx context.Context, res *HostResult) {
	applied := a.applied
	a.applied = nil
	var tried []done
	for i := len(applied) - 1; i >= 0; i-- {
		d := applied[i]
		if d.ch.Irreversible != "" {
			res.Irreversible++
			ev := changeEvent(NotReverted, d.ch, d.n)
			ev.Error = d.ch.Irreversible
			_ = a.emit(ev)
			continue
		}
		if a.vetoed != nil || ctx.Err() != nil {
			// Stopped at once, or without a journal: what is left stays
			// journaled as made, for tend rollback.
			res.NotReverted++
			continue
		}
		if err := a.emit(changeEvent(Reverting, d.ch, d.n)); err != nil {
			res.NotReverted++
			ev := changeEvent(RevertFailed, d.ch, d.n)
			ev.Error = "not reverted: the journal could not record it: " + err.Error()
			_ = a.emit(ev)
			continue
		}
		err := d.ch.Resource.Revert(ctx, a.hostFor(d.n), d.ch.Before, d.ch.After, d.undo)
		if err != nil && connLost(err) {
			if rerr := a.reconnect(ctx, err); rerr == nil {
				err = d.ch.Resource.Revert(ctx, a.hostFor(d.n), d.ch.Before, d.ch.After, d.undo)
			} else {
				err = rerr
			}
		}
		if err != nil && (ctx.Err() != nil || connLost(err)) {
			// Cut short: the revert may or may not have reached the host.
			res.NotReverted++
			ev := changeEvent(ChangeUnknown, d.ch, d.n)
			ev.Error = fmt.Sprintf("reverting it was cut short (%v): whether the host holds its state before the run is unknown", err)
			_ = a.emit(ev)
			continue
		}
		if err != nil {
			res.NotReverted++
			ev := changeEvent(RevertFailed, d.ch, d.n)
			ev.Error, ev.Stderr = err.Error(), stderrOf(err)
			_ = a.emit(ev)
			continue
		}
		tried = append(tried, d)
	}
	if ctx.Err() == nil {
		a.tidy(ctx, applied)
	}
	if len(tried) == 0 {
		return
	}
	chs := make([]*plan.Change, len(tried))
	for i, d := range tried {
		chs[i] = d.ch
	}
	cur, err := a.read(ctx, chs)
	for i, d := range tried {
		switch {
		case (cur == nil || cur[i] == nil) && ctx.Err() != nil:
			// Its revert ran to its end; only reading it back was cut
			// short.
			res.Reverted++
			_ = a.emit(changeEvent(Reverted, d.ch, d.n))
		case cur == nil || cur[i] == nil:
			res.NotReverted++
			ev := changeEvent(RevertFailed, d.ch, d.n)
			ev.Error = fmt.Sprintf("reverted, but could not be read back: %v", err)
			_ = a.emit(ev)
		case !atBefore(cur[i], d.ch.Before):
			res.NotReverted++
			ev := changeEvent(RevertFailed, d.ch, d.n)
			_, changed := plan.Diff(cur[i], d.ch.Before)
			ev.Error = fmt.Sprintf("still differs from its state before the run after reverting (%v)", changed)
			if !d.ch.Before.Present {
				ev.Error = "still present after reverting"
			}
			_ = a.emit(ev)
		default:
			res.Reverted++
			_ = a.emit(changeEvent(Reverted, d.ch, d.n))
		}
	}
}

// tidy removes what the run's writes left next to the paths of changes
// (a script cut short when the connection went).
func (a *hostRun) tidy(ctx context.Context, ds []done) {
	states := map[resources.Tidier][]*resources.State{}
	var order []resources.Tidier
	for _, d := range ds {
		t, ok := d.ch.Resource.(resources.Tidier)
		if !ok {
			continue
		}
		if _, seen := states[t]; !seen {
			order = append(order, t)
		}
		states[t] = append(states[t], d.ch.Before, d.ch.After)
	}
	for _, t := range order {
		if err := t.Tidy(ctx, a.h, states[t]); err != nil {
			_ = a.emit(&Event{Kind: Diagnostic, Message: "removing temporary files: " + err.Error()})
		}
	}
}

// revertAll reverts a host that kept its changes (healthy or unhealthy)
// because a rollout decided so.
func (a *hostRun) revertAll(ctx context.Context, r *HostResult) {
	if len(a.applied) == 0 {
		return
	}
	if err := a.lock(ctx); err != nil {
		r.Outcome, r.Err = Failed, fmt.Errorf("reverting: %w", err)
		return
	}
	defer a.unlock()
	a.revert(ctx, r)
	if r.NotReverted == 0 {
		r.Outcome = RolledBack
	} else {
		r.Outcome = Failed
	}
}

// health runs the health check with its retries. Each failure keeps the
// command's own words: exit status and stderr, or a timeout when it did
// time out.
func (a *hostRun) health(ctx context.Context) error {
	return RunHealthCheck(ctx, a.hp.T, a.e.HealthCheck)
}

// RunHealthCheck runs hc on t, with retries.
func RunHealthCheck(ctx context.Context, t transport.Transport, hc *HealthCheck) error {
	var last error
	attempts := hc.Retries + 1
	for attempt := 0; attempt < attempts; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(hc.Delay):
			}
		}
		actx, cancel := context.WithTimeout(ctx, hc.Timeout)
		_, err := transport.Output(actx, t, transport.Command{Script: hc.Command})
		timedOut := err != nil && errors.Is(actx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
		cancel()
		if err == nil {
			return nil
		}
		last = err
		if timedOut {
			last = fmt.Errorf("timed out after %s", hc.Timeout)
		}
	}
	what := "1 attempt"
	if attempts > 1 {
		what = fmt.Sprintf("%d attempts", attempts)
	}
	shown := strconv.Quote(hc.Command)
	if hc.Display != "" {
		shown = hc.Display
	}
	return fmt.Errorf("%s failed after %s: %w", shown, what, last)
}

// stderrOf returns the host's stderr an error carries apart from its
// message, if any (a transport.ExitError's message holds its stderr).
func stderrOf(err error) string {
	stderr, _ := resources.Detail(err)
	return string(stderr)
}

// stdoutOf returns the host's stdout an error carries, if any.
func stdoutOf(err error) string {
	_, stdout := resources.Detail(err)
	return string(stdout)
}

func hostBackupDir(hp *plan.HostPlan, runID string) string {
	return hp.Facts.BackupDir + "/" + runID
}

// outcomeNotJournaled is a host's error when its changes were made but
// the journal could not record how they ended.
func outcomeNotJournaled(err error) error {
	return fmt.Errorf("the changes were made, but the journal could not record their outcome: %w", err)
}
