package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/transport"
)

// RevertHost is one host of a journaled run to roll back.
type RevertHost struct {
	Name      string
	Windows   bool
	BackupDir string
	// Connect opens the host's connection (and is used again to
	// reconnect).
	Connect func(ctx context.Context) (transport.Transport, error)
	// Entries are the changes to revert, in the order to revert them
	// (the last made first).
	Entries []*RevertEntry
}

// RevertEntry is one journaled change to revert.
type RevertEntry struct {
	Address  string
	TypeName string
	Action   plan.Action
	Type     resources.Type
	// Config is the resource's configuration as journaled; NilVal when
	// the journal did not keep it (the state cannot then be read back).
	Config        cty.Value
	Before, After *resources.State
	Undo          resources.Undo
	// Unknown says the change's outcome is unknown (its run was killed
	// while it was being made): the host is read to decide.
	Unknown bool
	// BackupKey names the change's backups (resources.Host.BackupKey).
	BackupKey string
	// RunID is the run that made the change (its temporary files are
	// named after it).
	RunID string
	// SecretErr, when set, says which secret(...) the journaled states
	// needed could not be resolved again: a revert failing for want of a
	// secret reports it.
	SecretErr error
	// UndoErr, when set, says why the journaled undo data could not be
	// read (its secret values are encrypted with a key that is gone):
	// the change fails with it, unreverted, and the others go on.
	UndoErr error
}

func (re *RevertEntry) change() *plan.Change {
	return &plan.Change{Address: re.Address, Type: re.TypeName, Resource: re.Type, Config: re.Config, Before: re.Before, After: re.After}
}

func (re *RevertEntry) readable() bool {
	return re.Type != nil && re.Config != cty.NilVal && re.Before != nil
}

// Revert rolls back journaled changes, hosts in parallel. A change is
// marked reverted only when the host was read back at its state before
// the run (or, for a journal that did not keep the configuration, when
// its revert succeeded); a change whose outcome was unknown and that the
// host shows was never made is "not applied".
func (e *Engine) Revert(ctx context.Context, hosts []*RevertHost) *Result {
	_ = e.emit(&Event{Kind: RunStarted})
	res := &Result{Hosts: make([]*HostResult, len(hosts))}
	sem := make(chan struct{}, e.parallel())
	var wg sync.WaitGroup
	for i, rh := range hosts {
		seq := int(e.seq.Add(1) - 1)
		hp := &plan.HostPlan{Name: rh.Name, Windows: rh.Windows}
		for _, re := range rh.Entries {
			// Every entry is registered (a change journaled as made with
			// nothing to do is still reverted from what the journal says).
			action := re.Action
			if action == plan.NoOp || action == "" {
				action = plan.Update
			}
			hp.Changes = append(hp.Changes, &plan.Change{Address: re.Address, Type: re.TypeName, Action: action,
				Before: re.Before, After: re.After, Resource: re.Type, Config: re.Config})
		}
		a := &hostRun{e: e, hp: hp, seq: seq}
		if err := a.emit(&Event{Kind: HostPlanned, Plan: hp}); err != nil {
			a.vetoed = err
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r := a.revertJournaled(ctx, rh)
			res.Hosts[i] = r
			a.outcome(r)
		}()
	}
	wg.Wait()
	_ = e.emit(&Event{Kind: RunFinished, Outcome: res.Outcome(e)})
	return res
}

func (a *hostRun) revertJournaled(ctx context.Context, rh *RevertHost) *HostResult {
	r := &HostResult{Name: rh.Name, hr: a}
	if a.vetoed != nil {
		r.Outcome, r.Err = Failed, a.vetoed
		return r
	}
	t, err := rh.Connect(ctx)
	if err != nil {
		r.Outcome, r.Err = Unreachable, err
		return r
	}
	a.hp.T = t
	defer func() { a.hp.T.Close() }()
	a.h = &resources.Host{Name: rh.Name, T: t, RunID: a.e.RunID, BackupDir: rh.BackupDir}
	a.connect = rh.Connect
	if err := a.lock(ctx); err != nil {
		r.Outcome, r.Err = Failed, err
		return r
	}
	defer a.unlock()
	ev := func(kind Kind, i int, re *RevertEntry) *Event {
		return &Event{Kind: kind, Address: re.Address, Entry: i, Before: re.Before, After: re.After, Undo: re.Undo}
	}
	// Read every change that can be read: one that already holds its
	// state from before the run needs no revert (and one of unknown
	// outcome was never made).
	var readIdx []int
	var chs []*plan.Change
	for i, re := range rh.Entries {
		if re.readable() {
			readIdx, chs = append(readIdx, i), append(chs, re.change())
		}
	}
	at := map[int]bool{}
	if len(chs) > 0 {
		cur, err := a.read(ctx, chs)
		if err != nil && connLost(err) {
			if rerr := a.reconnect(ctx, err); rerr == nil {
				cur, _ = a.read(ctx, chs)
			}
		}
		for k, i := range readIdx {
			if cur != nil && cur[k] != nil && atBefore(cur[k], rh.Entries[i].Before) {
				at[i] = true
			}
		}
	}
	var tried []int
	for i, re := range rh.Entries {
		switch {
		case re.Type == nil:
			r.NotReverted++
			e := ev(RevertFailed, i, re)
			e.Error = "unknown resource type"
			_ = a.emit(e)
			continue
		case at[i] && re.Unknown:
			_ = a.emit(ev(NotApplied, i, re))
			continue
		case re.UndoErr != nil:
			// Without its secret undo data the state before is not
			// whole either: the host cannot be checked against it.
			r.NotReverted++
			e := ev(RevertFailed, i, re)
			e.Error = re.UndoErr.Error()
			_ = a.emit(e)
			continue
		case at[i]:
			r.Reverted++
			e := ev(Reverted, i, re)
			e.Message = "already at its state before the run"
			_ = a.emit(e)
			continue
		}
		if ctx.Err() != nil {
			r.NotReverted++
			continue
		}
		if err := a.emit(ev(Reverting, i, re)); err != nil {
			r.NotReverted++
			e := ev(RevertFailed, i, re)
			e.Error = "not reverted: the journal could not record it: " + err.Error()
			_ = a.emit(e)
			continue
		}
		h := &resources.Host{Name: rh.Name, T: a.hp.T, RunID: a.e.RunID, BackupDir: rh.BackupDir, BackupKey: re.BackupKey}
		err := re.Type.Revert(ctx, h, re.Before, re.After, re.Undo)
		if err != nil && connLost(err) {
			if rerr := a.reconnect(ctx, err); rerr == nil {
				h.T = a.hp.T
				err = re.Type.Revert(ctx, h, re.Before, re.After, re.Undo)
			}
		}
		if err != nil && (ctx.Err() != nil || connLost(err)) {
			r.NotReverted++
			e := ev(ChangeUnknown, i, re)
			e.Error = fmt.Sprintf("reverting it was cut short (%v): whether the host holds its state before the run is unknown", err)
			_ = a.emit(e)
			continue
		}
		if err != nil {
			if errors.Is(err, resources.ErrSecretNeeded) && re.SecretErr != nil {
				err = fmt.Errorf("%v: set it and roll back again", re.SecretErr)
			}
			r.NotReverted++
			e := ev(RevertFailed, i, re)
			e.Error, e.Stderr = err.Error(), stderrOf(err)
			_ = a.emit(e)
			continue
		}
		tried = append(tried, i)
	}
	// Read back what was reverted.
	readIdx, chs = nil, nil
	for _, i := range tried {
		if rh.Entries[i].readable() {
			readIdx, chs = append(readIdx, i), append(chs, rh.Entries[i].change())
		}
	}
	var cur []*resources.State
	var rerr error
	if len(chs) > 0 {
		cur, rerr = a.read(ctx, chs)
	}
	got := map[int]*resources.State{}
	for k, i := range readIdx {
		if cur != nil {
			got[i] = cur[k]
		}
	}
	for _, i := range tried {
		re := rh.Entries[i]
		if !re.readable() {
			r.Reverted++
			_ = a.emit(ev(Reverted, i, re))
			continue
		}
		c := got[i]
		switch {
		case c == nil && ctx.Err() != nil:
			r.Reverted++
			_ = a.emit(ev(Reverted, i, re))
		case c == nil:
			r.NotReverted++
			e := ev(RevertFailed, i, re)
			e.Error = fmt.Sprintf("reverted, but could not be read back: %v", rerr)
			_ = a.emit(e)
		case !atBefore(c, re.Before):
			r.NotReverted++
			e := ev(RevertFailed, i, re)
			_, changed := plan.Diff(c, re.Before)
			e.Error = fmt.Sprintf("still differs from its state before the run after reverting (%v)", changed)
			_ = a.emit(e)
		default:
			r.Reverted++
			_ = a.emit(ev(Reverted, i, re))
		}
	}
	a.tidyJournaled(ctx, rh)
	if r.NotReverted == 0 {
		r.Outcome = Success
	} else {
		r.Outcome = Failed
		r.Err = fmt.Errorf("%d change(s) could not be reverted", r.NotReverted)
	}
	return r
}

// atBefore reports whether the host's current state cur is the state
// before the run: present with every attribute of before, or absent as
// before was.
func atBefore(cur, before *resources.State) bool {
	if !before.Present {
		return !cur.Present
	}
	return sameState(cur, before)
}

// tidyJournaled removes what the runs of rh's entries left behind next
// to the paths they manage (a run killed in mid-write).
func (a *hostRun) tidyJournaled(ctx context.Context, rh *RevertHost) {
	type key struct {
		t     resources.Tidier
		runID string
	}
	states := map[key][]*resources.State{}
	var order []key
	for _, re := range rh.Entries {
		t, ok := re.Type.(resources.Tidier)
		if !ok || re.RunID == "" {
			continue
		}
		k := key{t, re.RunID}
		if _, seen := states[k]; !seen {
			order = append(order, k)
		}
		states[k] = append(states[k], re.Before, re.After)
	}
	for _, k := range order {
		h := &resources.Host{Name: rh.Name, T: a.hp.T, RunID: k.runID, BackupDir: rh.BackupDir}
		if err := k.t.Tidy(ctx, h, states[k]); err != nil {
			_ = a.emit(&Event{Kind: Diagnostic, Message: fmt.Sprintf("removing what run %s left behind: %v", k.runID, err)})
		}
	}
}
