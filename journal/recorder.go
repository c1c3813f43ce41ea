package journal

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/tendhq/tend/engine"
	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/resources"
)

// Recorder is the run engine's journal: a subscriber of the run's events
// that makes each change's intent, with its undo data (where its backups
// will be), durable before the change starts, and its outcome after. Its
// errors are the engine's veto: a host whose intent cannot be written
// makes no change.
type Recorder struct {
	j     *Journal
	runID string
	mu    sync.Mutex
	hosts map[int]int // the engine's host sequence → the run's host index
	// resumed is the run a resume continues (ResumeRecorder): its hosts
	// are planned again in place, their entries numbered by the
	// engine's Entries.
	resumed *Run
	// secret maps a type name to its undo keys holding secrets
	// (resources.SecretUndoer), learnt from the plans of the run's hosts;
	// their values are journaled sealed with key, the run's own.
	secret map[string][]string
	key    *runKey
}

// ResumeRecorder returns a recorder continuing run, opened as j: a host
// of the run planned again keeps its entries, those of changes still to
// make replaced, new ones appended (engine.Event.Entries numbers them).
func ResumeRecorder(j *Journal, run *Run) *Recorder {
	r := NewRecorder(j, run.ID)
	r.resumed = run
	return r
}

// NewRecorder returns a recorder writing run runID's events to j.
func NewRecorder(j *Journal, runID string) *Recorder {
	return &Recorder{j: j, runID: runID, hosts: map[int]int{}, secret: map[string][]string{}, key: &runKey{id: runID}}
}

// learn notes which undo keys of the types of a host's changes hold
// secrets.
func (r *Recorder) learn(hp *plan.HostPlan) {
	if hp == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ch := range hp.Changes {
		if ch.Resource == nil {
			continue
		}
		if ks := resources.SecretUndoKeys(ch.Resource); len(ks) > 0 {
			r.secret[ch.Type] = ks
		}
	}
}

// sealing wraps an entry update so that the secret values of the undo
// data it sets are encrypted before the entry is recorded. When one of
// the undo keys may be secret, the run's key is made ready first: a key
// that cannot be written fails the update (so the change is not made)
// rather than the value being journaled in clear.
func (r *Recorder) sealing(e *engine.Event, f func(en *Entry)) (func(en *Entry), error) {
	u := e.Undo
	r.mu.Lock()
	secret := r.secret
	// The key is made before a change that may keep a secret undo value
	// (its state before has the attribute: SecretUndoer) starts, so a key
	// that cannot be written stops the change, not its outcome's record.
	need := false
	if e.Kind == engine.ChangeStarted && e.Before != nil {
		for _, k := range secret[e.Type] {
			if _, ok := e.Before.Attrs[k]; ok {
				need = true
			}
		}
	}
	for _, ks := range secret {
		for _, k := range ks {
			if _, ok := u[k]; ok {
				need = true
			}
		}
	}
	r.mu.Unlock()
	if !need {
		return f, nil
	}
	if _, err := r.key.get(); err != nil {
		return nil, fmt.Errorf("journal: the secret undo data of run %s cannot be encrypted: %w", r.runID, err)
	}
	return func(en *Entry) {
		f(en)
		r.mu.Lock()
		ks := r.secret[en.Type]
		r.mu.Unlock()
		sealed, err := r.key.seal(en.Undo, ks)
		if err != nil {
			// Never in clear: without the value the revert fails,
			// saying the undo data is missing.
			sealed = resources.Undo{}
			for k, v := range en.Undo {
				sealed[k] = v
			}
			for _, k := range ks {
				delete(sealed, k)
			}
		}
		en.Undo = sealed
	}, nil
}

// Event implements engine.Subscriber.
func (r *Recorder) Event(e *engine.Event) error {
	if e.Kind == engine.Changes {
		return r.changes(e)
	}
	if f := entryUpdate(e); f != nil {
		return r.entry(e, f)
	}
	switch e.Kind {
	case engine.HostPlanned:
		r.learn(e.Plan)
		return r.hostPlanned(e)
	case engine.HostReplanned:
		r.learn(e.Plan)
		h, ok := r.hostIndex(e.Seq)
		if !ok {
			return fmt.Errorf("journal: host %s was not registered", e.Host)
		}
		return r.j.ReplaceEntries(h, r.entries(e.Plan))
	case engine.Refreshed:
		return r.host(e, func(h *Host) { h.Refreshed = append(h.Refreshed, e.Address) })
	case engine.HostOutcome:
		return r.host(e, func(h *Host) { h.Outcome, h.Error = e.Outcome, e.Error })
	case engine.BatchesPlanned:
		return r.j.Update(func(run *Run) {
			for i, hs := range e.BatchHosts {
				run.Batches = append(run.Batches, &Batch{Number: i + 1, Hosts: hs, Outcome: "not_started"})
			}
		})
	case engine.BatchFinished:
		return r.j.Update(func(run *Run) {
			if e.Batch-1 < len(run.Batches) {
				run.Batches[e.Batch-1].Outcome, run.Batches[e.Batch-1].Detail = e.Outcome, e.Message
			}
		})
	case engine.RunFinished:
		return r.j.Update(func(run *Run) { run.Outcome, run.Finished = e.Outcome, time.Now().UTC() })
	}
	return nil
}

// entryUpdate returns how an event about one change updates its entry,
// or nil when it is not such an event.
func entryUpdate(e *engine.Event) func(en *Entry) {
	now := time.Now().UTC()
	undo := func(en *Entry) {
		if e.Undo != nil {
			en.Undo = e.Undo
		}
	}
	states := func(en *Entry) {
		if e.Before != nil {
			en.Before, en.After, en.Action = e.Before, e.After, e.Action
		}
	}
	switch e.Kind {
	case engine.ChangeStarted:
		return func(en *Entry) {
			en.Status, en.Undo, en.Started, en.Error = Applying, e.Undo, now, ""
			states(en)
		}
	case engine.ChangeApplied:
		return func(en *Entry) {
			en.Status, en.Finished = Applied, now
			undo(en)
			states(en)
		}
	case engine.ChangeFailed:
		if e.Address == "" {
			return nil
		}
		return func(en *Entry) {
			en.Status, en.Error, en.Finished, en.Stdout = Failed, e.Error, now, e.Stdout
			undo(en)
		}
	case engine.ChangeUnknown:
		return func(en *Entry) {
			en.Status, en.Error = Unknown, e.Error
			undo(en)
		}
	case engine.ChangeSkipped:
		return func(en *Entry) { en.Status, en.Error = Skipped, e.Error }
	case engine.ChangePending:
		return func(en *Entry) { en.Status = Pending }
	case engine.Refreshed:
		if e.Entry < 0 {
			return nil
		}
		return func(en *Entry) { en.Refreshed = true }
	case engine.Reverting:
		return func(en *Entry) { en.Status = Reverting }
	case engine.Reverted:
		return func(en *Entry) { en.Status, en.Error = Reverted, "" }
	case engine.RevertFailed:
		return func(en *Entry) { en.Status, en.Error = RevertFailed, e.Error }
	case engine.NotReverted:
		return func(en *Entry) { en.Status, en.Error = NotReverted, e.Error }
	case engine.NotApplied:
		return func(en *Entry) { en.Status, en.Error = NotApplied, "" }
	}
	return nil
}

// changes records the events of a batch's items in one write.
func (r *Recorder) changes(e *engine.Event) error {
	h, ok := r.hostIndex(e.Seq)
	if !ok {
		return fmt.Errorf("journal: host %s was not registered", e.Host)
	}
	var ns []int
	var fs []func(en *Entry)
	for _, it := range e.Items {
		if f := entryUpdate(it); f != nil {
			f, err := r.sealing(it, f)
			if err != nil {
				return err
			}
			ns, fs = append(ns, it.Entry), append(fs, f)
		}
	}
	if len(ns) == 0 {
		return nil
	}
	now := time.Now().UTC()
	return r.j.UpdateEntries(h, ns, func(i int, en *Entry) {
		fs[i](en)
		en.Time = now
	})
}

func (r *Recorder) hostPlanned(e *engine.Event) error {
	if r.resumed != nil && e.Plan != nil {
		for i := len(r.resumed.Hosts) - 1; i >= 0; i-- {
			h := r.resumed.Hosts[i]
			if h.Name != e.Host {
				continue
			}
			merged := append([]*Entry{}, h.Changes...)
			for _, ch := range e.Plan.Pending() {
				k, ok := e.Entries[ch.Address]
				if !ok || k > len(merged) {
					return fmt.Errorf("journal: %s on %s has no entry in run %s", ch.Address, e.Host, r.runID)
				}
				en := entryFor(ch, k)
				if k == len(merged) {
					merged = append(merged, en)
				} else {
					merged[k] = en
				}
			}
			r.mu.Lock()
			r.hosts[e.Seq] = i
			r.mu.Unlock()
			if err := r.j.ReplaceEntries(i, merged); err != nil {
				return err
			}
			return r.j.UpdateHost(i, func(h *Host) { h.Outcome, h.Error = "pending", "" })
		}
	}
	jh := &Host{Name: e.Host, Outcome: "pending", Changes: []*Entry{}}
	if hp := e.Plan; hp != nil {
		jh = PlannedHost(r.runID, hp)
		jh.Name = e.Host
	}
	var idx int
	err := r.j.Update(func(run *Run) {
		idx = len(run.Hosts)
		run.Hosts = append(run.Hosts, jh)
	})
	r.mu.Lock()
	r.hosts[e.Seq] = idx
	r.mu.Unlock()
	return err
}

// entries are the pending changes of a host's plan, as journal entries.
func (r *Recorder) entries(hp *plan.HostPlan) []*Entry {
	es := []*Entry{}
	for k, ch := range hp.Pending() {
		es = append(es, entryFor(ch, k))
	}
	return es
}

// entryFor is the journal entry, pending, of change ch numbered k.
func entryFor(ch *plan.Change, k int) *Entry {
	return &Entry{Address: ch.Address, Type: ch.Type, Action: ch.Action,
		Before: ch.Before, After: ch.After, Status: Pending, Irreversible: ch.Irreversible,
		Config: EncodeConfig(ch.Resource, ch.Config), Notify: ch.Notify, BackupKey: fmt.Sprintf("%04d", k)}
}

func (r *Recorder) hostIndex(seq int) (int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i, ok := r.hosts[seq]
	return i, ok
}

func (r *Recorder) entry(e *engine.Event, f func(en *Entry)) error {
	h, ok := r.hostIndex(e.Seq)
	if !ok {
		return fmt.Errorf("journal: host %s was not registered", e.Host)
	}
	f, err := r.sealing(e, f)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	return r.j.UpdateEntries(h, []int{e.Entry}, func(_ int, en *Entry) {
		f(en)
		en.Time = now
	})
}

func (r *Recorder) host(e *engine.Event, f func(h *Host)) error {
	h, ok := r.hostIndex(e.Seq)
	if !ok {
		return fmt.Errorf("journal: host %s was not registered", e.Host)
	}
	return r.j.UpdateHost(h, f)
}

// EncodeConfig encodes a resource's configuration for the journal, so a
// rollback can read the resource back: sensitive values are left out
// (null), never written.
func EncodeConfig(typ resources.Type, cfg cty.Value) json.RawMessage {
	if typ == nil || cfg == cty.NilVal || !cfg.IsWhollyKnown() {
		return nil
	}
	ty := hcldec.ImpliedType(typ.Schema().Spec())
	clean, err := cty.Transform(cfg, func(_ cty.Path, v cty.Value) (cty.Value, error) {
		if v.IsMarked() {
			return cty.NullVal(v.Type()), nil
		}
		return v, nil
	})
	if err != nil {
		return nil
	}
	b, err := ctyjson.Marshal(clean, ty)
	if err != nil {
		return nil
	}
	return b
}

// DecodeConfig decodes a journaled configuration for typ; NilVal when
// there is none or it does not fit the type's schema any more.
func DecodeConfig(typ resources.Type, b json.RawMessage) cty.Value {
	if typ == nil || len(b) == 0 {
		return cty.NilVal
	}
	v, err := ctyjson.Unmarshal(b, hcldec.ImpliedType(typ.Schema().Spec()))
	if err != nil {
		return cty.NilVal
	}
	return v
}

// Marker records, in the runs a rollback reverts, what the rollback did
// to each of their entries, so a second rollback does not revert them
// again.
type Marker struct {
	// Entries maps the engine's host sequence, then the rollback's entry
	// index, to the journaled entry it reverts.
	Entries map[int][]Marked
}

// Marked is one journaled entry a rollback reverts: run J's host Host,
// entry Entry.
type Marked struct {
	J           *Journal
	Host, Entry int
}

// Event implements engine.Subscriber.
func (m *Marker) Event(e *engine.Event) error {
	var st Status
	switch e.Kind {
	case engine.Reverted:
		st = Reverted
	case engine.RevertFailed:
		st = RevertFailed
	case engine.NotApplied:
		st = NotApplied
	case engine.Reverting:
		st = Reverting
	case engine.ChangeUnknown:
		st = Unknown
	default:
		return nil
	}
	es := m.Entries[e.Seq]
	if e.Entry < 0 || e.Entry >= len(es) {
		return nil
	}
	me := es[e.Entry]
	return me.J.UpdateEntries(me.Host, []int{me.Entry}, func(_ int, en *Entry) {
		en.Status, en.Time = st, time.Now().UTC()
		if st == RevertFailed {
			en.Error = e.Error
		}
	})
}
