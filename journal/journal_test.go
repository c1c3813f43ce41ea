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
