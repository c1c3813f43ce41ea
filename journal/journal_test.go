package journal

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/resources"
)

func state(v string) *resources.State {
	return &resources.State{Present: true, Attrs: map[string]cty.Value{"path": cty.StringVal("/etc/" + v), "mode": cty.StringVal("0644")}}
}

// newRun returns a running run of hosts hosts with entries pending
// changes each.
func newRun(hosts, entries int) *Run {
	run := &Run{ID: NewID(time.Now()), Command: "apply", Started: time.Now().UTC(), User: "ops <ops@example.com>", Outcome: "running"}
	for i := range hosts {
		h := &Host{Name: fmt.Sprintf("h%d", i), Outcome: "pending", Changes: []*Entry{}}
		for k := range entries {
			h.Changes = append(h.Changes, &Entry{Address: fmt.Sprintf("file.f%d", k), Type: "file", Action: plan.Create,
				Before: &resources.State{}, After: state(fmt.Sprint(k)), Status: Pending})
		}
		run.Hosts = append(run.Hosts, h)
	}
	return run
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func readFileT(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReplayEqualsMemory: hosts updating their entries, their own fields
// and the run's at once share writes, every update is on disk when it
// returns, and replaying the file gives exactly the run in memory.
func TestReplayEqualsMemory(t *testing.T) {
	const hosts, entries = 8, 6
	run := newRun(hosts, entries)
	dir := t.TempDir()
	j, err := Create(dir, run)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if err := j.Update(func(r *Run) { r.Batches = []*Batch{{Number: 1, Outcome: "not_started"}} }); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, hosts)
	updates := 0
	for i := range hosts {
		wg.Add(1)
		updates += 2*entries + 1
		go func() {
			defer wg.Done()
			fail := func(err error) { errs <- fmt.Errorf("host %d: %w", i, err) }
			for n := range entries {
				if err := j.UpdateEntries(i, []int{n}, func(_ int, e *Entry) { e.Status, e.Started = Applying, time.Now().UTC() }); err != nil {
					fail(err)
					return
				}
				want := fmt.Sprintf("out %d/%d\n\"quoted\"", i, n)
				if err := j.UpdateEntries(i, []int{n}, func(_ int, e *Entry) {
					e.Status, e.Stdout, e.Undo, e.Finished = Applied, want, resources.Undo{"backup": fmt.Sprint(n)}, time.Now().UTC()
				}); err != nil {
					fail(err)
					return
				}
				// Durable on return: only this goroutine changes this entry.
				r, err := ReadFile(j.Path())
				if err != nil {
					fail(err)
					return
				}
				if e := r.Hosts[i].Changes[n]; e.Status != Applied || e.Stdout != want {
					fail(fmt.Errorf("UpdateEntries returned but the file has entry %d %s %q", n, e.Status, e.Stdout))
					return
				}
			}
			if err := j.UpdateHost(i, func(h *Host) { h.Outcome = "success" }); err != nil {
				fail(err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// A later batch's hosts join the run through Update.
	late := newRun(1, 2).Hosts[0]
	late.Name = "late"
	if err := j.Update(func(r *Run) { r.Hosts = append(r.Hosts, late) }); err != nil {
		t.Fatal(err)
	}
	if err := j.UpdateEntries(hosts, []int{1}, func(_ int, e *Entry) { e.Status, e.Error = Failed, "no\nspace" }); err != nil {
		t.Fatal(err)
	}
	if err := j.Update(func(r *Run) { r.Outcome, r.Finished, r.Batches[0].Outcome = "success", time.Now().UTC(), "applied" }); err != nil {
		t.Fatal(err)
	}
	got, err := Read(dir, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(mustJSON(t, run), mustJSON(t, got)); d != "" {
		t.Errorf("replay differs from the run in memory (-memory +replay):\n%s", d)
	}
	t.Logf("%d updates in %d writes", updates, j.Writes())
	if j.Writes() > updates+3 {
		t.Errorf("%d writes for %d updates", j.Writes(), updates)
	}
}

// TestAppendOnly: an update appends its records, leaves every byte
// before them as it was, and costs in proportion to what it changed,
// not to the run.
func TestAppendOnly(t *testing.T) {
	run := newRun(50, 40)
	j, err := Create(t.TempDir(), run)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	entry, err := json.Marshal(run.Hosts[0].Changes[0])
	if err != nil {
		t.Fatal(err)
	}
	for k := range 20 {
		before := readFileT(t, j.Path())
		host, n := k%len(run.Hosts), k
		if err := j.UpdateEntries(host, []int{n}, func(_ int, e *Entry) { e.Status = Applied }); err != nil {
			t.Fatal(err)
		}
		after := readFileT(t, j.Path())
		if !bytes.HasPrefix(after, before) {
			t.Fatalf("update %d changed the bytes already written", k)
		}
		if grew := len(after) - len(before); grew > len(entry)+100 {
			t.Fatalf("update %d of one entry (%d bytes encoded) grew the file by %d bytes (the file is %d)", k, len(entry), grew, len(after))
		}
	}
	before := readFileT(t, j.Path())
	if err := j.UpdateHost(3, func(h *Host) { h.Outcome, h.Error = "failed", "boom" }); err != nil {
		t.Fatal(err)
	}
	if err := j.Update(func(r *Run) { r.Outcome = "failed" }); err != nil {
		t.Fatal(err)
	}
	after := readFileT(t, j.Path())
	if !bytes.HasPrefix(after, before) || len(after)-len(before) > 2000 {
		t.Errorf("UpdateHost and Update grew the file by %d bytes (or rewrote it)", len(after)-len(before))
	}
	// An Update that changed nothing writes nothing.
	if err := j.Update(func(*Run) {}); err != nil {
		t.Fatal(err)
	}
	if n := len(readFileT(t, j.Path())); n != len(after) {
		t.Errorf("an empty Update wrote %d bytes", n-len(after))
	}
}

// TestOnlyNamedEntries: UpdateEntries records the entries it names and
// no other, even one changed behind the journal's back.
func TestOnlyNamedEntries(t *testing.T) {
	run := newRun(2, 3)
	dir := t.TempDir()
	j, err := Create(dir, run)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	run.Hosts[0].Changes[1].Status = Failed
	if err := j.UpdateEntries(0, []int{0, 2}, func(i int, e *Entry) { e.Status = Applied }); err != nil {
		t.Fatal(err)
	}
	r, err := Read(dir, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	got := []Status{r.Hosts[0].Changes[0].Status, r.Hosts[0].Changes[1].Status, r.Hosts[0].Changes[2].Status}
	if want := []Status{Applied, Pending, Applied}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("entries on disk %v, want %v", got, want)
	}
	if err := j.UpdateEntries(5, []int{0}, func(int, *Entry) {}); err == nil {
		t.Error("UpdateEntries of a host that is not journaled succeeded")
	}
	if err := j.UpdateEntries(1, []int{3}, func(int, *Entry) {}); err == nil {
		t.Error("UpdateEntries of an entry that does not exist succeeded")
	}
}

// TestCreateDurable: the journal is a 0600 file in a 0700 directory,
// starting with the versioned header, and a run id cannot be created
// twice.
func TestCreateDurable(t *testing.T) {
	dir := t.TempDir()
	run := newRun(1, 1)
	j, err := Create(dir, run)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if want := filepath.Join(Dir(dir), run.ID+".journal"); j.Path() != want {
		t.Errorf("path %s, want %s", j.Path(), want)
	}
	for p, mode := range map[string]os.FileMode{j.Path(): 0o600, Dir(dir): 0o700, filepath.Join(dir, ".tend"): 0o700} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v (%v), want %v", p, fi.Mode().Perm(), err, mode)
		}
	}
	first, _, _ := bytes.Cut(readFileT(t, j.Path()), []byte("\n"))
	var h headerRecord
	if err := json.Unmarshal(first, &h); err != nil || h.Rec != "header" || h.Format != Format || h.ID != run.ID {
		t.Errorf("first line %s, want the header", first)
	}
	if run.Format != Format || run.PID != os.Getpid() || run.Controller == "" {
		t.Errorf("run format %q pid %d controller %q", run.Format, run.PID, run.Controller)
	}
	if _, err := Create(dir, &Run{ID: run.ID}); err == nil {
		t.Error("a second Create of the same run id succeeded")
	}
	if ents, _ := os.ReadDir(Dir(dir)); len(ents) != 1 {
		t.Errorf("files left in %s: %v", Dir(dir), ents)
	}
}

// TestTornLastLine: a crash in the middle of a write leaves part of a
// record (or zeros) at the end; replay ignores it, and Open cuts it off
// before appending.
func TestTornLastLine(t *testing.T) {
	for name, tail := range map[string]func(rec []byte) []byte{
		"half a record": func(rec []byte) []byte { return rec[:len(rec)/2] },
		"zeros":         func(rec []byte) []byte { return make([]byte, 512) },
		"record, then half a record": func(rec []byte) []byte {
			return append(append([]byte{}, rec[:len(rec)/3]...), '\n')
		},
	} {
		t.Run(name, func(t *testing.T) {
			run := newRun(2, 3)
			dir := t.TempDir()
			j, err := Create(dir, run)
			if err != nil {
				t.Fatal(err)
			}
			if err := j.UpdateEntries(1, []int{2}, func(_ int, e *Entry) { e.Status = Applied }); err != nil {
				t.Fatal(err)
			}
			want := mustJSON(t, run)
			j.Close()
			rec, err := encodeRecord(entryRecord{"entry", 1, 1, &Entry{Address: "torn", Status: Failed}})
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(j.Path(), os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write(tail(rec)); err != nil {
				t.Fatal(err)
			}
			f.Close()
			got, err := ReadFile(j.Path())
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(want, mustJSON(t, got)); d != "" {
				t.Errorf("replay with a torn tail (-want +got):\n%s", d)
			}
			oj, err := Open(dir, got)
			if err != nil {
				t.Fatal(err)
			}
			defer oj.Close()
			if err := oj.UpdateEntries(1, []int{1}, func(_ int, e *Entry) { e.Status = Applied }); err != nil {
				t.Fatal(err)
			}
			again, err := Read(dir, run.ID)
			if err != nil {
				t.Fatal(err)
			}
			if s := again.Hosts[1].Changes[1].Status; s != Applied {
				t.Errorf("after Open cut the torn tail and appended: entry %s, want applied", s)
			}
			if bytes.Contains(readFileT(t, j.Path()), []byte("torn")) {
				t.Error("the torn record is still in the file")
			}
		})
	}
}

// TestLegacyJSON: a run journaled as one JSON document is read and
// listed, by id and prefix, and Open converts it to a journal file.
func TestLegacyJSON(t *testing.T) {
	dir := t.TempDir()
	old := newRun(1, 2)
	old.ID, old.Outcome = "20250101T000000Z-abcdef", "failed"
	old.Hosts[0].Changes[0].Status = Applied
	b, err := json.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(Dir(dir), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(Dir(dir), old.ID+".json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	newer := newRun(1, 1)
	nj, err := Create(dir, newer)
	if err != nil {
		t.Fatal(err)
	}
	defer nj.Close()
	for _, id := range []string{old.ID, "20250101"} {
		r, err := Read(dir, id)
		if err != nil {
			t.Fatalf("Read %s: %v", id, err)
		}
		if r.Format != LegacyFormat || r.Hosts[0].Changes[0].Status != Applied || r.Outcome != "failed" {
			t.Errorf("Read %s: format %q, outcome %s, entry %s", id, r.Format, r.Outcome, r.Hosts[0].Changes[0].Status)
		}
	}
	runs, err := List(dir)
	if err != nil || len(runs) != 2 || runs[0].ID != old.ID || runs[1].ID != newer.ID {
		t.Fatalf("List: %v, %v", runs, err)
	}
	r, _ := Read(dir, old.ID)
	oj, err := Open(dir, r)
	if err != nil {
		t.Fatal(err)
	}
	if err := oj.UpdateEntries(0, []int{0}, func(_ int, e *Entry) { e.Status = Reverted }); err != nil {
		t.Fatal(err)
	}
	oj.Close()
	if _, err := os.Stat(filepath.Join(Dir(dir), old.ID+".json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the legacy file is still there after Open: %v", err)
	}
	r, err = Read(dir, old.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Format != Format || r.Hosts[0].Changes[0].Status != Reverted || r.Hosts[0].Changes[1].Status != Pending {
		t.Errorf("converted run: format %q, entries %s %s", r.Format, r.Hosts[0].Changes[0].Status, r.Hosts[0].Changes[1].Status)
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
		j, err := Create(dir, r)
		if err != nil {
			t.Fatal(err)
		}
		j.Close()
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

const helperEnv = "TEND_JOURNAL_TEST_HELPER"

// TestHelperProcess is the process TestInterrupted kills: it journals a
// run with an entry applying, says so, and waits.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(helperEnv)
	if dir == "" {
		t.Skip("run by TestInterrupted")
	}
	run := newRun(1, 3)
	run.ID = "20260101T000000Z-000001"
	j, err := Create(dir, run)
	if err == nil {
		err = j.UpdateEntries(0, []int{0, 1}, func(i int, e *Entry) { e.Status = []Status{Applied, Applying}[i] })
	}
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	time.Sleep(time.Minute)
	os.Exit(1)
}

// TestInterrupted: a run whose process holds its journal is running; once
// the process is SIGKILLed, the run is interrupted and its entry that was
// applying is unknown. Open fails while the process lives, and after it
// died takes the run over, recording the interruption.
func TestInterrupted(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "ready\n" {
		t.Fatalf("helper: %q", line)
	}
	const id = "20260101T000000Z-000001"
	statuses := func(r *Run) string {
		var s []string
		for _, e := range r.Hosts[0].Changes {
			s = append(s, string(e.Status))
		}
		return r.Outcome + " " + strings.Join(s, ",")
	}

	r, err := Read(dir, id)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := statuses(r), "running applied,applying,pending"; got != want || r.PID != pid {
		t.Errorf("live run: %s (pid %d), want %s (pid %d)", got, r.PID, want, pid)
	}
	if r.Interrupted() {
		t.Error("a live run says it was interrupted")
	}
	_, err = Open(dir, r)
	var re *RunningError
	if !errors.As(err, &re) || re.PID != pid || !strings.Contains(err.Error(), fmt.Sprintf("run %s is still running (pid %d on ", id, pid)) {
		t.Errorf("Open of a live run: %v", err)
	}

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	onDisk := readFileT(t, filepath.Join(Dir(dir), id+".journal"))
	for _, read := range []func() (*Run, error){
		func() (*Run, error) { return Read(dir, id) },
		func() (*Run, error) {
			runs, err := List(dir)
			if err != nil || len(runs) != 1 {
				return nil, fmt.Errorf("List: %d runs, %v", len(runs), err)
			}
			return runs[0], nil
		},
	} {
		r, err = read()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := statuses(r), "interrupted applied,unknown,pending"; got != want || !r.Interrupted() {
			t.Errorf("killed run: %s, want %s", got, want)
		}
	}
	if !bytes.Equal(onDisk, readFileT(t, filepath.Join(Dir(dir), id+".journal"))) {
		t.Error("reading an interrupted run changed its file")
	}

	j, err := Open(dir, r)
	if err != nil {
		t.Fatalf("Open of a dead run: %v", err)
	}
	if err := j.UpdateEntries(0, []int{1}, func(_ int, e *Entry) { e.Status = Reverted }); err != nil {
		t.Fatal(err)
	}
	after := readFileT(t, j.Path())
	if !bytes.HasPrefix(after, onDisk) {
		t.Error("Open rewrote the journal instead of appending")
	}
	// While this process holds it, the run's file says what Open
	// recorded, and its own lock is no proof of life for Read.
	recorded, err := ReadFile(j.Path())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := statuses(recorded), "interrupted applied,reverted,pending"; got != want || recorded.PID != os.Getpid() {
		t.Errorf("after Open: file says %s (pid %d), want %s (pid %d)", got, recorded.PID, want, os.Getpid())
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if err := j.UpdateHost(0, func(*Host) {}); err == nil {
		t.Error("an update after Close succeeded")
	}
}

// TestOpenHeldInProcess: the lock is per open file, so a run this very
// process is writing is running, and cannot be opened a second time.
func TestOpenHeldInProcess(t *testing.T) {
	dir := t.TempDir()
	run := newRun(1, 1)
	j, err := Create(dir, run)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Read(dir, run.ID)
	if err != nil || r.Outcome != "running" {
		t.Fatalf("Read of a run being written: %v %v", r, err)
	}
	if _, err := Open(dir, r); err == nil || !strings.Contains(err.Error(), "is still running") {
		t.Errorf("second Open: %v", err)
	}
	j.Close()
	r, _ = Read(dir, run.ID)
	if !r.Interrupted() {
		t.Errorf("closed while running: outcome %s, want interrupted", r.Outcome)
	}
	oj, err := Open(dir, r)
	if err != nil {
		t.Fatal(err)
	}
	oj.Close()
}

// TestWriteFails: once a write fails, the update that made it and every
// later one return an error, and the file keeps what was durable.
func TestWriteFails(t *testing.T) {
	run := newRun(2, 2)
	dir := t.TempDir()
	j, err := Create(dir, run)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if err := j.UpdateEntries(0, []int{0}, func(_ int, e *Entry) { e.Status = Applied }); err != nil {
		t.Fatal(err)
	}
	good := readFileT(t, j.Path())
	fs := j.sink.(*fileSink)
	fs.write = func(f *os.File, b []byte) error {
		_, _ = f.Write(b[:len(b)/2])
		return syscall.EIO
	}
	if err := j.UpdateEntries(0, []int{1}, func(_ int, e *Entry) { e.Status = Applying }); !errors.Is(err, syscall.EIO) {
		t.Errorf("UpdateEntries after a failed write: %v", err)
	}
	fs.write = appendSync
	if err := j.UpdateHost(1, func(h *Host) { h.Outcome = "failed" }); err == nil {
		t.Error("an update after a failed write succeeded")
	}
	if !bytes.Equal(good, readFileT(t, j.Path())) {
		t.Error("the file is not as it was before the failed write")
	}
}
