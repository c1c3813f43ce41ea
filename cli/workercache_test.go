package cli

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

// TestRunCache: a run's entry is filled once however many jobs ask at
// once; a failed fill is not kept; the cache holds at most its bound of
// runs, dropping the least recently used.
func TestRunCache(t *testing.T) {
	rc := newRunCache(2)
	var fills atomic.Int32
	fill := func(e *cachedRun) error { fills.Add(1); e.onFailure = "rollback"; return nil }
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, err := rc.get("r1", fill)
			if err != nil || e.onFailure != "rollback" {
				t.Errorf("get: %v %v", e, err)
			}
		}()
	}
	wg.Wait()
	if n := fills.Load(); n != 1 {
		t.Errorf("r1 filled %d times, want 1", n)
	}
	if _, err := rc.get("bad", func(*cachedRun) error { return errors.New("no backend") }); err == nil {
		t.Error("a failed fill returned no error")
	}
	if _, ok := rc.runs["bad"]; ok {
		t.Error("a failed fill was kept")
	}
	rc.get("r2", fill) //nolint:errcheck
	rc.get("r1", fill) //nolint:errcheck
	rc.get("r3", fill) //nolint:errcheck
	if _, ok := rc.runs["r2"]; ok || len(rc.runs) != 2 {
		t.Errorf("cached runs %v: want r1 and r3", rc.used)
	}
	if n := fills.Load(); n != 3 {
		t.Errorf("%d fills, want 3 (r1, r2, r3)", n)
	}
	loads := 0
	e, _ := rc.get("r1", fill)
	for range 3 {
		if _, err := e.load(func() (*loaded, error) { loads++; return &loaded{}, nil }); err != nil {
			t.Fatal(err)
		}
	}
	if loads != 1 {
		t.Errorf("configuration loaded %d times, want 1", loads)
	}
}
