package journal

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/resources"
)

// TestUpdateDurableUnderConcurrency: writes are shared between hosts
// updating at once, yet every Update returns only when the file on disk
// holds its change.
func TestUpdateDurableUnderConcurrency(t *testing.T) {
	const hosts, steps = 8, 25
	run := &Run{ID: NewID(time.Now()), Command: "apply", Outcome: "running"}
	for i := 0; i < hosts; i++ {
		run.Hosts = append(run.Hosts, &Host{Name: fmt.Sprintf("h%d", i), Outcome: "pending"})
	}
	j, err := Create(t.TempDir(), run)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, hosts)
	for i := 0; i < hosts; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 1; k <= steps; k++ {
				want := fmt.Sprintf("step %d", k)
				if err := j.Update(func(r *Run) { r.Hosts[i].Error = want }); err != nil {
					errs <- err
					return
				}
				b, err := os.ReadFile(j.Path())
				if err != nil {
					errs <- err
					return
				}
				var onDisk Run
				if err := json.Unmarshal(b, &onDisk); err != nil {
					errs <- err
					return
				}
				// Other hosts may have moved on; this host's field is
				// only changed by this goroutine.
				if got := onDisk.Hosts[i].Error; got != want {
					errs <- fmt.Errorf("host %d: Update returned but disk has %q, want %q", i, got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestListOrder: runs started within the same second are listed in the
// order they started, whatever their IDs' random suffixes say.
func TestListOrder(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 11, 25, 8, 52, 37, 100, time.UTC)
	for _, r := range []*Run{
		{ID: "20261125T085237Z-ffffff", Command: "apply", Started: at, Outcome: "success"},
		{ID: "20261125T085237Z-000000", Command: "apply", Started: at.Add(500 * time.Millisecond), Outcome: "success"},
		{ID: "20261125T085236Z-aaaaaa", Command: "apply", Started: at.Add(-time.Second), Outcome: "success"},
	} {
		if _, err := Create(dir, r); err != nil {
			t.Fatal(err)
		}
	}
	runs, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range runs {
		got = append(got, r.ID)
	}
	want := []string{"20261125T085236Z-aaaaaa", "20261125T085237Z-ffffff", "20261125T085237Z-000000"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("List order %v, want %v", got, want)
	}
}

// TestEncodeReusesEntries: the file after UpdateEntries, UpdateHost and
// Update holds exactly what json.Marshal of the run gives (entries
// changed through each, one changed behind the journal's back and then
// recorded by Update), while an entry left alone is not encoded again.
func TestEncodeReusesEntries(t *testing.T) {
	st := func(v string) *resources.State {
		return &resources.State{Present: true, Attrs: map[string]cty.Value{"path": cty.StringVal("/etc/" + v), "mode": cty.StringVal("0644")}}
	}
	run := &Run{ID: NewID(time.Now()), Command: "apply", Outcome: "running", User: "ops <ops@example.com>"}
	for i := 0; i < 3; i++ {
		h := &Host{Name: fmt.Sprintf("h%d", i), Outcome: "pending", Changes: []*Entry{}}
		for k := 0; k < 4; k++ {
			h.Changes = append(h.Changes, &Entry{Address: fmt.Sprintf("file.f%d", k), Type: "file", Before: &resources.State{}, After: st(fmt.Sprint(k)), Status: Pending})
		}
		run.Hosts = append(run.Hosts, h)
	}
	dir := t.TempDir()
	j, err := Create(dir, run)
	if err != nil {
		t.Fatal(err)
	}
	same := func(step string) {
		t.Helper()
		got, err := os.ReadFile(j.Path())
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(run)
		if err != nil {
			t.Fatal(err)
		}
		var g, w any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("%s: the file is not JSON: %v\n%s", step, err, got)
		}
		_ = json.Unmarshal(want, &w)
		if d := cmp.Diff(w, g); d != "" {
			t.Errorf("%s: file differs from json.Marshal(run) (-want +got):\n%s", step, d)
		}
		if string(got) != string(want)+"\n" {
			t.Errorf("%s: file is not byte for byte json.Marshal(run)", step)
		}
	}
	same("created")
	if err := j.UpdateEntries(1, []int{0, 2}, func(i int, e *Entry) { e.Status, e.Undo = Applied, resources.Undo{"backup": fmt.Sprint(i)} }); err != nil {
		t.Fatal(err)
	}
	same("UpdateEntries")
	if err := j.UpdateHost(2, func(h *Host) { h.Outcome, h.Error = "failed", `"quoted" "changes":null` }); err != nil {
		t.Fatal(err)
	}
	same("UpdateHost")
	// Changed without telling the journal which entry: Update encodes
	// everything again.
	run.Hosts[0].Changes[3].After = st("other")
	if err := j.Update(func(r *Run) { r.Outcome = "success" }); err != nil {
		t.Fatal(err)
	}
	same("Update")
	// An entry not named is not encoded again: changed behind the
	// journal's back, the file keeps what was recorded.
	run.Hosts[0].Changes[1].Status = Failed
	if err := j.UpdateEntries(0, []int{0}, func(int, *Entry) {}); err != nil {
		t.Fatal(err)
	}
	r, err := Read(dir, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if s := r.Hosts[0].Changes[1].Status; s != Pending {
		t.Errorf("an entry UpdateEntries did not name was encoded again: %s", s)
	}
}
