package engine_test

import (
	"context"
	"errors"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/engine"
	"github.com/tendhq/tend/journal"
	"github.com/tendhq/tend/transport"
)

// TestRevertUndoErr: a journaled change whose undo data cannot be read
// (its run key is gone) fails with that error without being reverted,
// even when the host looks as before (its secret attributes are not
// known), and the other changes are reverted.
func TestRevertUndoErr(t *testing.T) {
	fh := &fakeHost{state: map[string]string{"a": "new-a", "b": "old-b"}}
	typ := kv{host: fh}
	entry := func(k, old string) *engine.RevertEntry {
		return &engine.RevertEntry{Address: "kv." + k, TypeName: "kv", Type: typ, Before: state(k, old), After: state(k, "new-"+k),
			Config: cty.ObjectVal(map[string]cty.Value{"key": cty.StringVal(k), "value": cty.StringVal("new-" + k)})}
	}
	a, b := entry("a", "old-a"), entry("b", "old-b")
	b.UndoErr = errors.New("the secret undo data of run r0 is encrypted with the key /k/r0.key, which cannot be read")
	dir := t.TempDir()
	j, err := journal.Create(dir, &journal.Run{ID: "r1", Outcome: "running"})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	e := &engine.Engine{RunID: "r1", Subscribers: []engine.Subscriber{journal.NewRecorder(j, "r1")}}
	res := e.Revert(context.Background(), []*engine.RevertHost{{Name: "h1",
		Connect: func(context.Context) (transport.Transport, error) { return localSh{}, nil },
		Entries: []*engine.RevertEntry{a, b}}})
	if fh.state["a"] != "old-a" {
		t.Errorf("kv.a not reverted: %v (log %v)", fh.state, fh.log)
	}
	for _, l := range fh.log {
		if l == "set b=old-b" {
			t.Error("kv.b was reverted without its undo data")
		}
	}
	r, err := journal.Read(dir, "r1")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*journal.Entry{}
	for _, en := range r.Hosts[0].Changes {
		got[en.Address] = en
	}
	if got["kv.a"].Status != journal.Reverted || got["kv.b"].Status != journal.RevertFailed || got["kv.b"].Error != b.UndoErr.Error() {
		t.Errorf("journal: a %s, b %s %q", got["kv.a"].Status, got["kv.b"].Status, got["kv.b"].Error)
	}
	if res.Hosts[0].Reverted != 1 || res.Hosts[0].NotReverted != 1 {
		t.Errorf("result: %+v", res.Hosts[0])
	}
}
