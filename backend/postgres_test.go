//go:build linux

package backend_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tendhq/tend/backend"
	"github.com/tendhq/tend/backend/pgtest"
	"github.com/tendhq/tend/journal"
	"github.com/tendhq/tend/plan"
)

func connect(t *testing.T) (*pgtest.Server, *backend.Postgres) {
	t.Helper()
	srv := pgtest.Start(t)
	ctx := context.Background()
	if _, err := backend.Connect(ctx, srv.URL(), true); err == nil {
		t.Fatal("a backend without a schema opened")
	}
	b, err := backend.Connect(ctx, srv.URL(), false)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		from, to, err := b.Migrate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := [2]int{map[int]int{0: 0, 1: backend.SchemaVersion}[i], backend.SchemaVersion}; [2]int{from, to} != want {
			t.Errorf("migration %d: from %d to %d, want %v", i+1, from, to, want)
		}
	}
	b.Close()
	b, err = backend.Connect(ctx, srv.URL(), true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return srv, b
}

func newRun(id string) *journal.Run {
	return &journal.Run{ID: id, Command: "apply", Started: time.Now().UTC().Truncate(time.Second), User: "ops", ConfigDir: "/cfg", Outcome: "running",
		Hosts: []*journal.Host{{Name: "web1", Outcome: "pending", Changes: []*journal.Entry{
			{Address: "file.a", Type: "file", Action: plan.Create, Status: journal.Pending},
			{Address: "file.b", Type: "file", Action: plan.Update, Status: journal.Pending},
		}}}}
}

// TestJournalRoundTrip: what a journal on the backend records is what
// Read and List return, in another connection; a run whose writer
// holds it cannot be opened, and reads as interrupted once released
// while still running.
func TestJournalRoundTrip(t *testing.T) {
	srv, b := connect(t)
	run := newRun("20260101T000000Z-aaaaaa")
	j, err := b.Create(run)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.UpdateEntries(0, []int{0}, func(_ int, e *journal.Entry) { e.Status = journal.Applied }); err != nil {
		t.Fatal(err)
	}
	if err := j.UpdateEntries(0, []int{1}, func(_ int, e *journal.Entry) { e.Status = journal.Applying }); err != nil {
		t.Fatal(err)
	}
	if err := j.Update(func(r *journal.Run) {
		r.Hosts = append(r.Hosts, &journal.Host{Name: "web2", Outcome: "pending", Changes: []*journal.Entry{}})
	}); err != nil {
		t.Fatal(err)
	}
	if err := j.UpdateHost(1, func(h *journal.Host) { h.Outcome = "unreachable" }); err != nil {
		t.Fatal(err)
	}

	other, err := backend.Connect(context.Background(), srv.URL(), true)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	got, err := other.Read("20260101T000000Z")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(run, got); d != "" {
		t.Errorf("read back (-written +read):\n%s", d)
	}
	var re *journal.RunningError
	if _, err := other.Open(got); !errors.As(err, &re) || re.PID != os.Getpid() {
		t.Errorf("Open of a run being written: %v", err)
	}
	if err := other.Remove(run.ID); !errors.As(err, &re) {
		t.Errorf("Remove of a run being written: %v", err)
	}
	if _, err := other.Read("nope"); err == nil {
		t.Error("Read of a missing run succeeded")
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}

	// Released while running: the writer died.
	got, err = other.Read(run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Outcome != "interrupted" || got.Hosts[0].Changes[1].Status != journal.Unknown {
		t.Errorf("a released running run reads %s, its applying entry %s", got.Outcome, got.Hosts[0].Changes[1].Status)
	}
	j2, err := other.Open(got)
	if err != nil {
		t.Fatal(err)
	}
	if err := j2.Update(func(r *journal.Run) { r.Outcome = "failed" }); err != nil {
		t.Fatal(err)
	}
	j2.Close()
	run2 := newRun("20260101T000001Z-bbbbbb")
	j3, err := b.Create(run2)
	if err != nil {
		t.Fatal(err)
	}
	j3.Close()
	list, err := b.List()
	if err != nil {
		t.Fatal(err)
	}
	var ids, outcomes []string
	for _, r := range list {
		ids, outcomes = append(ids, r.ID), append(outcomes, r.Outcome)
	}
	if d := cmp.Diff([]string{run.ID, run2.ID}, ids); d != "" {
		t.Errorf("List ids:\n%s", d)
	}
	if d := cmp.Diff([]string{"failed", "interrupted"}, outcomes); d != "" {
		t.Errorf("List outcomes:\n%s", d)
	}
	if got, _ := b.Read(run.ID); got.Hosts[0].Changes[1].Status != journal.Unknown || got.Hosts[1].Outcome != "unreachable" {
		t.Errorf("after the takeover: %+v", got.Hosts[0].Changes[1])
	}
	if err := b.Remove(run2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Read(run2.ID); err == nil {
		t.Error("a removed run is still read")
	}
}

// TestAppendFailsWhenFenced: a writer whose run another process took
// over fails its next append.
func TestAppendFailsWhenFenced(t *testing.T) {
	srv, b := connect(t)
	run := newRun("20260101T000000Z-cccccc")
	j, err := b.Create(run)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	other, err := backend.Connect(context.Background(), srv.URL(), true)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	// The lease expires: the writer is taken for dead.
	ttl := backend.LeaseTTL
	backend.LeaseTTL = -time.Second
	r, err := other.Read(run.ID)
	if err == nil {
		var j2 *journal.Journal
		j2, err = other.Open(r)
		if err == nil {
			defer j2.Close()
		}
	}
	backend.LeaseTTL = ttl
	if err != nil {
		t.Fatal(err)
	}
	if err := j.UpdateEntries(0, []int{0}, func(_ int, e *journal.Entry) { e.Status = journal.Applying }); !errors.Is(err, backend.ErrFenced) {
		t.Errorf("append after a takeover: %v", err)
	}
}

// TestAppendFailsWhenBackendDown: with the server gone, an append
// fails (the engine's veto), and every later one.
func TestAppendFailsWhenBackendDown(t *testing.T) {
	srv, b := connect(t)
	run := newRun("20260101T000000Z-dddddd")
	j, err := b.Create(run)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	srv.Kill()
	if err := j.UpdateEntries(0, []int{0}, func(_ int, e *journal.Entry) { e.Status = journal.Applying }); err == nil {
		t.Fatal("an append with the backend down succeeded")
	}
	srv.Start()
	if err := j.UpdateEntries(0, []int{1}, func(_ int, e *journal.Entry) { e.Status = journal.Applying }); err == nil {
		t.Error("an append after a failed one succeeded")
	}
	got, err := b.Read(run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Hosts[0].Changes[0].Status != journal.Pending {
		t.Errorf("the failed append was stored: %s", got.Hosts[0].Changes[0].Status)
	}
}

// TestLeases: a second run asking for overlapping hosts gets the
// holders and takes none; once the first releases, it takes them all.
func TestLeases(t *testing.T) {
	_, b := connect(t)
	ctx := context.Background()
	a := backend.Lease{RunID: "run-a", Command: "patch", User: "alice", Controller: "c1", PID: os.Getpid()}
	if c, err := b.AcquireHosts(ctx, a, []string{"web1", "web2"}); err != nil || c != nil {
		t.Fatalf("first acquisition: %v %v", c, err)
	}
	bb := backend.Lease{RunID: "run-b", User: "bob", Controller: "c2", PID: 1}
	c, err := b.AcquireHosts(ctx, bb, []string{"web2", "web3"})
	if err != nil {
		t.Fatal(err)
	}
	if len(c) != 1 || c[0].Host != "web2" || c[0].RunID != "run-a" || c[0].Command != "patch" || c[0].User != "alice" || c[0].Controller != "c1" {
		t.Fatalf("conflicts: %v", c)
	}
	ls, err := b.Leases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range ls {
		got = append(got, l.Host+"="+l.RunID)
	}
	if d := cmp.Diff([]string{"web1=run-a", "web2=run-a"}, got); d != "" {
		t.Errorf("leases after a refused acquisition:\n%s", d)
	}
	tok := ls[0].Token
	if err := b.ReleaseHosts(ctx, "run-a"); err != nil {
		t.Fatal(err)
	}
	if c, err := b.AcquireHosts(ctx, bb, []string{"web2", "web3"}); err != nil || c != nil {
		t.Fatalf("after release: %v %v", c, err)
	}
	ls, _ = b.Leases(ctx)
	if len(ls) != 2 || ls[0].RunID != "run-b" || ls[0].Token <= tok {
		t.Errorf("leases after release: %v (tokens must grow past %d)", ls, tok)
	}
}

// TestFactsCache: facts saved by one connection are read by another
// with when they were gathered; an older gathering does not replace a
// newer one.
func TestFactsCache(t *testing.T) {
	srv, b := connect(t)
	ctx := context.Background()
	if got, err := b.Facts(ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("an empty cache: %v %v", got, err)
	}
	t1 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := b.SaveFacts(ctx, map[string]backend.CachedFacts{
		"web1": {Facts: []byte(`{"kernel":"linux"}`), Gathered: t1},
		"web2": {Facts: []byte(`{"kernel":"freebsd"}`), Gathered: t1},
	}); err != nil {
		t.Fatal(err)
	}
	other, err := backend.Connect(ctx, srv.URL(), true)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	// A newer gathering of web1 replaces it; an older one of web2 does
	// not.
	if err := other.SaveFacts(ctx, map[string]backend.CachedFacts{
		"web1": {Facts: []byte(`{"kernel":"windows"}`), Gathered: t1.Add(time.Minute)},
		"web2": {Facts: []byte(`{"kernel":"darwin"}`), Gathered: t1.Add(-time.Minute)},
	}); err != nil {
		t.Fatal(err)
	}
	got, err := b.Facts(ctx, []string{"web1", "web2", "web3"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]backend.CachedFacts{
		"web1": {Facts: []byte(`{"kernel":"windows"}`), Gathered: t1.Add(time.Minute)},
		"web2": {Facts: []byte(`{"kernel":"freebsd"}`), Gathered: t1},
	}
	if d := cmp.Diff(want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); d != "" {
		t.Errorf("facts (-want +got):\n%s", d)
	}
	if got, err := b.Facts(ctx, []string{"web2"}); err != nil || len(got) != 1 {
		t.Errorf("facts of web2 alone: %v %v", got, err)
	}
}

// TestWorkerLeases: a worker's lease of one host excludes another run's
// (one host at a time, or many at once) and is excluded by theirs;
// workers take different hosts at once; a dead holder's lease is taken
// over with a greater fencing token, and the old token no longer holds.
func TestWorkerLeases(t *testing.T) {
	_, b := connect(t)
	ctx := context.Background()
	w1, held, err := b.AcquireHost(ctx, "run-w", "ops", "web1")
	if err != nil || held != nil {
		t.Fatalf("a free host: %v %v", held, err)
	}
	if _, held, err := b.AcquireHost(ctx, "run-x", "ops", "web1"); err != nil || held == nil || held.RunID != "run-w" {
		t.Fatalf("a host another run's worker holds: holder %v, %v", held, err)
	}
	other := backend.Lease{RunID: "run-o", User: "bob", Controller: "c2", PID: 1}
	if c, err := b.AcquireHosts(ctx, other, []string{"web1", "web2"}); err != nil || len(c) != 1 || c[0].Host != "web1" || c[0].RunID != "run-w" {
		t.Fatalf("a run's acquisition of a host a worker holds: %v %v", c, err)
	}
	if c, err := b.AcquireHosts(ctx, other, []string{"web2"}); err != nil || c != nil {
		t.Fatalf("a free host for a run: %v %v", c, err)
	}
	if _, held, err := b.AcquireHost(ctx, "run-w", "ops", "web2"); err != nil || held == nil || held.RunID != "run-o" {
		t.Fatalf("a host another run holds: holder %v, %v", held, err)
	}
	// Many workers' hosts at once.
	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			w, held, err := b.AcquireHost(ctx, "run-w", "ops", "db"+string(rune('a'+i)))
			if err == nil && held != nil {
				err = errors.New("held by " + held.String())
			}
			if err == nil {
				err = w.Release()
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	// The holder of web2 dies (its heartbeat lapses).
	ttl := backend.LeaseTTL
	backend.LeaseTTL = 0
	time.Sleep(10 * time.Millisecond)
	w2, held, err := b.AcquireHost(ctx, "run-w", "ops", "web2")
	backend.LeaseTTL = ttl
	if err != nil || held != nil {
		t.Fatalf("a dead holder's host: %v %v", held, err)
	}
	defer w2.Release() //nolint:errcheck
	ls, err := b.Leases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range ls {
		got = append(got, l.Host+"="+l.RunID)
	}
	if d := cmp.Diff([]string{"web1=run-w", "web2=run-w"}, got); d != "" {
		t.Errorf("leases:\n%s", d)
	}
	if ok, err := w1.Held(ctx); err != nil || !ok {
		t.Errorf("web1's lease no longer held: %v", err)
	}
	if err := w1.Release(); err != nil {
		t.Fatal(err)
	}
	if _, held, err := b.AcquireHost(ctx, "run-x", "ops", "web1"); err != nil || held != nil {
		t.Fatalf("a released host: %v %v", held, err)
	}
}
