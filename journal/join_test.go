package journal

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tendhq/tend/plan"
)

type memSink struct{ b bytes.Buffer }

func (m *memSink) Append(b []byte) error { m.b.Write(b); return nil }
func (m *memSink) Close() error          { return nil }

// TestReplayHost: a host's records replayed onto the run's first
// records give that host as replaying every record does, without
// changing the base the other hosts' workers share; another host's
// record among them is refused.
func TestReplayHost(t *testing.T) {
	run := &Run{ID: "r1", Command: "apply", Outcome: "running", Hosts: []*Host{
		{Name: "a", Outcome: "pending", Changes: []*Entry{{Address: "file.x", Action: plan.Create, Status: Pending}}},
		{Name: "b", Outcome: "pending", Changes: []*Entry{{Address: "file.x", Action: plan.Create, Status: Pending}, {Address: "file.y", Action: plan.Create, Status: Pending}}},
	}}
	first := &memSink{}
	j, err := Start("mem", run, first)
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
	base, err := Replay(first.b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	before, _ := Replay(first.b.Bytes())

	hostB := &memSink{}
	stored, _ := Replay(first.b.Bytes())
	jb, err := Join("mem", stored, 1, hostB)
	if err != nil {
		t.Fatal(err)
	}
	if err := jb.UpdateEntries(1, []int{1}, func(_ int, e *Entry) { e.Status = Applying }); err != nil {
		t.Fatal(err)
	}
	if err := jb.UpdateHost(1, func(h *Host) { h.Workers = append(h.Workers, "w1") }); err != nil {
		t.Fatal(err)
	}
	jb.Close()

	got, err := ReplayHost(base, 1, hostB.b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	want, err := Replay(append(append([]byte{}, first.b.Bytes()...), hostB.b.Bytes()...))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("ReplayHost differs from Replay of every record:\n%s", d)
	}
	if got.Hosts[1].Changes[1].Status != Applying {
		t.Errorf("host b's entry: %s", got.Hosts[1].Changes[1].Status)
	}
	if d := cmp.Diff(before, base); d != "" {
		t.Errorf("ReplayHost changed its base:\n%s", d)
	}
	if _, err := ReplayHost(base, 0, hostB.b.Bytes()); err == nil {
		t.Error("host b's records replayed onto host a")
	}
}
