package journal

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
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
