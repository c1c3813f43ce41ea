package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/engine"
	"github.com/tendhq/tend/journal"
	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/probe"
	"github.com/tendhq/tend/resources"
)

// fakeHost is an in-memory host: a map of key → value the fake types
// read and write, and a log of calls.
type fakeHost struct {
	mu    sync.Mutex
	state map[string]string
	log   []string
}

// kv is a fake type managing one key of a fakeHost. Keys listed in fail
// fail to apply.
type kv struct {
	host *fakeHost
	fail map[string]bool
}

func (k kv) Name() string { return "kv" }
func (k kv) Schema() *resources.Schema {
	return &resources.Schema{Attributes: []resources.Attribute{{Name: "key", Type: cty.String}, {Name: "value", Type: cty.String}}}
}
func (k kv) Key(cfg cty.Value) (string, error) { return cfg.GetAttr("key").AsString(), nil }
func (k kv) Desired(cfg cty.Value, _ resources.Env) (*resources.State, error) {
	return state(cfg.GetAttr("key").AsString(), cfg.GetAttr("value").AsString()), nil
}
func (k kv) Probe(cfg cty.Value, _ *resources.State) string {
	k.host.mu.Lock()
	defer k.host.mu.Unlock()
	key := cfg.GetAttr("key").AsString()
	return "out value '" + k.host.state[key] + "'\n"
}
func (k kv) Read(cfg cty.Value, out resources.ProbeOutput) (*resources.State, error) {
	v := out.Values["value"]
	if v == "" {
		return &resources.State{Attrs: map[string]cty.Value{"key": cfg.GetAttr("key")}}, nil
	}
	return state(cfg.GetAttr("key").AsString(), v), nil
}
func state(key, value string) *resources.State {
	return &resources.State{Present: true, Attrs: map[string]cty.Value{"key": cty.StringVal(key), "value": cty.StringVal(value)}}
}
func (k kv) set(key, value string) error {
	k.host.mu.Lock()
	defer k.host.mu.Unlock()
	if k.fail[key] {
		k.host.log = append(k.host.log, "fail "+key)
		return errors.New("injected failure")
	}
	k.host.log = append(k.host.log, "set "+key+"="+value)
	if value == "" {
		delete(k.host.state, key)
	} else {
		k.host.state[key] = value
	}
	return nil
}
func (k kv) Apply(_ context.Context, _ *resources.Host, before, after *resources.State) (resources.Undo, error) {
	return nil, k.set(after.Str("key"), after.Str("value"))
}
func (k kv) Revert(_ context.Context, _ *resources.Host, before, after *resources.State, _ resources.Undo) error {
	return k.set(before.Str("key"), before.Str("value"))
}

// batchKV applies all its changes in one call.
type batchKV struct{ kv }

func (b batchKV) ApplyBatch(ctx context.Context, h *resources.Host, items []resources.BatchItem) []resources.BatchResult {
	b.host.mu.Lock()
	var keys []string
	for _, it := range items {
		keys = append(keys, it.After.Str("key"))
	}
	b.host.log = append(b.host.log, "batch "+strings.Join(keys, ","))
	b.host.mu.Unlock()
	out := make([]resources.BatchResult, len(items))
	for i, it := range items {
		out[i].Err = b.set(it.After.Str("key"), it.After.Str("value"))
	}
	return out
}

// hostPlan builds a host plan of kv changes in the given order; deps maps
// an address to the addresses it follows.
func hostPlan(t *testing.T, typ resources.Type, fh *fakeHost, keys []string, deps map[string][]string) *plan.HostPlan {
	hp := &plan.HostPlan{Name: "h1", T: localSh{}}
	for _, k := range keys {
		cfg := cty.ObjectVal(map[string]cty.Value{"key": cty.StringVal(k), "value": cty.StringVal("new-" + k)})
		before := &resources.State{Attrs: map[string]cty.Value{"key": cty.StringVal(k)}}
		if v, ok := fh.state[k]; ok {
			before = state(k, v)
		}
		after, _ := typ.Desired(cfg, nil)
		act, changed := plan.Diff(before, after)
		hp.Changes = append(hp.Changes, &plan.Change{Address: "kv." + k, Type: "kv", Action: act, Changed: changed,
			Before: before, After: after, Resource: typ, Config: cfg, Deps: deps["kv."+k]})
	}
	return hp
}

func statuses(j *journal.Journal, dir string) map[string]journal.Status {
	r, err := journal.Read(dir, "r1")
	if err != nil {
		panic(err)
	}
	out := map[string]journal.Status{}
	for _, e := range r.Hosts[0].Changes {
		out[e.Address] = e.Status
	}
	return out
}

// newEngine returns an engine journaling run r1 into dir.
func newEngine(t *testing.T, dir, onFailure string) (*engine.Engine, *journal.Journal) {
	t.Helper()
	j, err := journal.Create(dir, &journal.Run{ID: "r1", Outcome: "running"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return &engine.Engine{RunID: "r1", OnFailure: onFailure, Subscribers: []engine.Subscriber{journal.NewRecorder(j, "r1")}}, j
}

func run(t *testing.T, hp *plan.HostPlan, onFailure string) (*engine.Result, map[string]journal.Status) {
	dir := t.TempDir()
	e, j := newEngine(t, dir, onFailure)
	hp.Facts = probe.Facts{BackupDir: t.TempDir()}
	res := e.Apply(context.Background(), &plan.Plan{Hosts: []*plan.HostPlan{hp}})
	return res, statuses(j, dir)
}

func TestRollbackRestoresInReverse(t *testing.T) {
	fh := &fakeHost{state: map[string]string{"b": "old-b"}}
	typ := kv{host: fh, fail: map[string]bool{"c": true}}
	hp := hostPlan(t, typ, fh, []string{"a", "b", "c", "d"}, map[string][]string{"kv.d": {"kv.c"}})
	res, st := run(t, hp, engine.Rollback)
	if res.OK() || res.Hosts[0].Outcome != "rolled_back" {
		t.Fatalf("outcome %+v", res.Hosts[0])
	}
	wantLog := []string{"set a=new-a", "set b=new-b", "fail c", "set b=old-b", "set a="}
	if diff := cmp.Diff(wantLog, fh.log); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"b": "old-b"}, fh.state); diff != "" {
		t.Errorf("state after rollback (-want +got):\n%s", diff)
	}
	want := map[string]journal.Status{"kv.a": journal.Reverted, "kv.b": journal.Reverted, "kv.c": journal.Failed, "kv.d": journal.Skipped}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("journal (-want +got):\n%s", diff)
	}
}

func TestContinueSkipsDependents(t *testing.T) {
	fh := &fakeHost{state: map[string]string{}}
	typ := kv{host: fh, fail: map[string]bool{"a": true}}
	hp := hostPlan(t, typ, fh, []string{"a", "b", "c"}, map[string][]string{"kv.b": {"kv.a"}})
	res, st := run(t, hp, engine.Continue)
	if res.Hosts[0].Outcome != "partial" {
		t.Fatalf("outcome %q", res.Hosts[0].Outcome)
	}
	want := map[string]journal.Status{"kv.a": journal.Failed, "kv.b": journal.Skipped, "kv.c": journal.Applied}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("journal (-want +got):\n%s", diff)
	}
}

// TestBatch: changes of a Batcher type whose dependencies are met go in
// one call; one that depends on a change of another kind waits for it.
func TestBatch(t *testing.T) {
	fh := &fakeHost{state: map[string]string{}}
	typ := batchKV{kv{host: fh}}
	hp := hostPlan(t, typ, fh, []string{"a", "b", "c", "d"}, map[string][]string{"kv.d": {"kv.c"}})
	// c is not batchable: a plain kv change between them.
	hp.Changes[2].Resource = kv{host: fh}
	hp.Changes[2].Type = "other"
	res, st := run(t, hp, engine.Rollback)
	if !res.OK() {
		t.Fatalf("outcome %+v", res.Hosts[0])
	}
	wantLog := []string{"batch a,b", "set a=new-a", "set b=new-b", "set c=new-c", "set d=new-d"}
	if diff := cmp.Diff(wantLog, fh.log); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	for a, s := range st {
		if s != journal.Applied {
			t.Errorf("%s: %s", a, s)
		}
	}
}

// journalBatchKV checks, when its batch is applied, that the journal on
// disk already says every item is being applied.
type journalBatchKV struct {
	batchKV
	t   *testing.T
	dir string
	j   **journal.Journal
}

func (b journalBatchKV) ApplyBatch(ctx context.Context, h *resources.Host, items []resources.BatchItem) []resources.BatchResult {
	st := statuses(*b.j, b.dir)
	for _, it := range items {
		if a := "kv." + it.After.Str("key"); st[a] != journal.Applying {
			b.t.Errorf("%s is %q in the journal when its batch runs, want applying", a, st[a])
		}
	}
	return b.batchKV.ApplyBatch(ctx, h, items)
}

// TestBatchJournal: a batch's items are journaled together, before the
// batch runs (all applying) and after it (each applied), in two writes
// however many items it has: a write per item rewrote the whole journal
// once per item.
func TestBatchJournal(t *testing.T) {
	fh := &fakeHost{state: map[string]string{}}
	var keys []string
	for i := 0; i < 40; i++ {
		keys = append(keys, fmt.Sprintf("k%02d", i))
	}
	dir := t.TempDir()
	e, j := newEngine(t, dir, engine.Rollback)
	typ := journalBatchKV{batchKV{kv{host: fh}}, t, dir, &j}
	hp := hostPlan(t, typ, fh, keys, nil)
	hp.Facts = probe.Facts{BackupDir: t.TempDir()}
	before := j.Writes()
	res := e.Apply(context.Background(), &plan.Plan{Hosts: []*plan.HostPlan{hp}})
	if !res.OK() {
		t.Fatalf("outcome %+v", res.Hosts[0])
	}
	for a, s := range statuses(j, dir) {
		if s != journal.Applied {
			t.Errorf("%s: %s", a, s)
		}
	}
	// Two for the batch, the rest for the host (its start, outcome and
	// verification): not one per item.
	if n := j.Writes() - before; n > 6 {
		t.Errorf("%d journal writes for a batch of %d, want at most 6", n, len(keys))
	}
}

// stopBatchKV applies its batch in order and stops at the first failure,
// as the file type's batch script does: the rest are not attempted.
type stopBatchKV struct{ kv }

func (b stopBatchKV) ApplyBatch(ctx context.Context, h *resources.Host, items []resources.BatchItem) []resources.BatchResult {
	b.host.mu.Lock()
	var keys []string
	for _, it := range items {
		keys = append(keys, it.After.Str("key"))
	}
	b.host.log = append(b.host.log, "batch "+strings.Join(keys, ","))
	b.host.mu.Unlock()
	out := make([]resources.BatchResult, len(items))
	failed := false
	for i, it := range items {
		if failed {
			out[i].Err = resources.ErrNotAttempted
			continue
		}
		out[i].Err = b.set(it.After.Str("key"), it.After.Str("value"))
		failed = out[i].Err != nil
	}
	return out
}

// TestBatchStops: the changes a batch did not attempt after its failing
// one are skipped when the host rolls back (not "failed"), and made
// later, in a batch of their own, when failures do not stop the host.
func TestBatchStops(t *testing.T) {
	fh := &fakeHost{state: map[string]string{}}
	typ := stopBatchKV{kv{host: fh, fail: map[string]bool{"b": true}}}
	res, st := run(t, hostPlan(t, typ, fh, []string{"a", "b", "c", "d"}, nil), engine.Rollback)
	if res.OK() || res.Hosts[0].Outcome != "rolled_back" {
		t.Fatalf("outcome %+v", res.Hosts[0])
	}
	wantLog := []string{"batch a,b,c,d", "set a=new-a", "fail b", "set a="}
	if diff := cmp.Diff(wantLog, fh.log); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	want := map[string]journal.Status{"kv.a": journal.Reverted, "kv.b": journal.Failed, "kv.c": journal.Skipped, "kv.d": journal.Skipped}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("journal (-want +got):\n%s", diff)
	}

	fh = &fakeHost{state: map[string]string{}}
	typ = stopBatchKV{kv{host: fh, fail: map[string]bool{"b": true}}}
	_, st = run(t, hostPlan(t, typ, fh, []string{"a", "b", "c", "d"}, nil), engine.Continue)
	wantLog = []string{"batch a,b,c,d", "set a=new-a", "fail b", "batch c,d", "set c=new-c", "set d=new-d"}
	if diff := cmp.Diff(wantLog, fh.log); diff != "" {
		t.Errorf("continue: calls (-want +got):\n%s", diff)
	}
	want = map[string]journal.Status{"kv.a": journal.Applied, "kv.b": journal.Failed, "kv.c": journal.Applied, "kv.d": journal.Applied}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("continue: journal (-want +got):\n%s", diff)
	}
}

// TestInterruptedBatchNotStartedIsNotFailed: hosts of a batch an
// interrupt kept from starting are not started, not failed: the batch's
// message does not count them among its failures.
func TestInterruptedBatchNotStartedIsNotFailed(t *testing.T) {
	dir := t.TempDir()
	e, _ := newEngine(t, dir, engine.Stop)
	e.Parallel = 1
	e.Rollout = &engine.Rollout{Batches: [][2]int{{0, 3}}, OnFailure: engine.Stop}
	var finished []*engine.Event
	e.Subscribers = append(e.Subscribers, engine.SubscriberFunc(func(ev *engine.Event) error {
		switch ev.Kind {
		case engine.ChangeApplied:
			e.Interrupt() // after the first host's change
		case engine.BatchFinished:
			finished = append(finished, ev)
		}
		return nil
	}))
	var hosts []*plan.HostPlan
	for i := range 3 {
		fh := &fakeHost{state: map[string]string{}}
		hp := hostPlan(t, kv{host: fh}, fh, []string{"a"}, nil)
		hp.Name = fmt.Sprintf("h%d", i+1)
		hp.Facts = probe.Facts{BackupDir: t.TempDir()}
		hosts = append(hosts, hp)
	}
	res := e.Apply(context.Background(), &plan.Plan{Hosts: hosts})
	outcomes := map[string]string{}
	for _, h := range res.Hosts {
		outcomes[h.Name] = h.Outcome
	}
	if outcomes["h1"] != engine.Success || outcomes["h2"] != engine.NotStarted || outcomes["h3"] != engine.NotStarted {
		t.Fatalf("outcomes %v, want h1 success and the others not started", outcomes)
	}
	for _, ev := range finished {
		if strings.Contains(ev.Message, "failed") {
			t.Errorf("batch %d finished %s: %q counts hosts never started as failed", ev.Batch, ev.Outcome, ev.Message)
		}
	}
}
