package journal

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/resources"
)

// Format is the version of the journal file layout, in every header.
const Format = "tend-journal/2"

// LegacyFormat is what Read reports for a run journaled as one JSON
// document (RUN-ID.json), before Format.
const LegacyFormat = "tend-journal/1"

// Status of one change in a run.
type Status string

// Statuses, in the order a change goes through them.
const (
	Pending      Status = "pending"
	Applying     Status = "applying"
	Applied      Status = "applied"
	Failed       Status = "failed"
	Skipped      Status = "skipped"
	Reverting    Status = "reverting"
	Reverted     Status = "reverted"
	RevertFailed Status = "revert_failed"
	NotReverted  Status = "not_reverted"
	// Unknown is a change that was applying or reverting when its run
	// died: it may or may not have reached the host.
	Unknown Status = "unknown"
	// NotApplied is a change a rollback found never reached the host.
	NotApplied Status = "not_applied"
)

// Run is one apply, rollback, patch, resume or ad-hoc command.
type Run struct {
	ID string `json:"id"`
	// Format is the layout of the run's journal file (Format or
	// LegacyFormat), set when it is created or read.
	Format    string    `json:"format,omitempty"`
	Command   string    `json:"command"`
	Started   time.Time `json:"started"`
	Finished  time.Time `json:"finished,omitzero"`
	User      string    `json:"user"`
	ConfigDir string    `json:"config_dir"`
	Target    string    `json:"target,omitempty"`
	// Resources are the --resource addresses the run was limited to (a
	// resume keeps to them).
	Resources []string `json:"resources,omitempty"`
	// Controller (host name) and PID are of the process that last opened
	// the journal for writing.
	Controller string `json:"controller,omitempty"`
	PID        int    `json:"pid,omitempty"`
	// Outcome is running, success, failed, rolled_back, partial or
	// interrupted (see Interrupted).
	Outcome string  `json:"outcome"`
	Hosts   []*Host `json:"hosts"`
	// RevertsRun names the run a rollback reverted.
	RevertsRun string `json:"reverts_run,omitempty"`
	// Batches records a rollout's batches, in order.
	Batches []*Batch `json:"batches,omitempty"`
	// AdHoc is the command an ad-hoc run (command "run") ran.
	AdHoc *AdHoc `json:"adhoc,omitempty"`
}

// Interrupted reports whether the run's process died before the run
// finished (Read and List derive it from the journal's lock).
func (r *Run) Interrupted() bool { return r.Outcome == "interrupted" }

// Running reports whether the run has not ended (or was interrupted and
// nobody has looked since; see Open).
func (r *Run) Running() bool { return r.Outcome == "running" }

// Batch is one batch of a rollout.
type Batch struct {
	Number  int      `json:"number"`
	Hosts   []string `json:"hosts"`
	Outcome string   `json:"outcome"` // applied, failed, rolled_back, stale, not_started
	Detail  string   `json:"detail,omitempty"`
}

// Host is one host of a run.
type Host struct {
	Name      string   `json:"name"`
	BackupDir string   `json:"backup_dir,omitempty"`
	Outcome   string   `json:"outcome"`
	Error     string   `json:"error,omitempty"`
	Changes   []*Entry `json:"changes"`
	// Refreshed lists the resources without a change of their own whose
	// refresh (a restart) ran, notified by a change of the run.
	Refreshed []string `json:"refreshed,omitempty"`
	// Result is what an ad-hoc run's command left on the host.
	Result *CommandResult `json:"result,omitempty"`
	// Workers are the tend worker processes (host name and pid) that
	// took the host in a distributed run, in order: more than one when
	// a worker died and the queue gave the host to another.
	Workers []string `json:"workers,omitempty"`
}

// Entry is one change of a run.
type Entry struct {
	Address string           `json:"address"`
	Type    string           `json:"type"`
	Action  plan.Action      `json:"action"`
	Before  *resources.State `json:"before"`
	After   *resources.State `json:"after"`
	Undo    resources.Undo   `json:"undo,omitempty"`
	Status  Status           `json:"status"`
	Error   string           `json:"error,omitempty"`
	// Stdout is the output of the change's command, kept for the record
	// (messages show its error and stderr).
	Stdout string `json:"stdout,omitempty"`
	// Irreversible says why the change cannot be reverted.
	Irreversible string `json:"irreversible,omitempty"`
	// Refreshed is set when the resource's refresh action ran.
	Refreshed bool `json:"refreshed,omitempty"`
	// Started and Finished bound the change's work on the host; Time is
	// when the entry last changed.
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
	Time     time.Time `json:"time,omitzero"`
	// Config is the resource's configuration (sensitive values left
	// out), so a rollback can read the resource back from the host.
	Config json.RawMessage `json:"config,omitempty"`
	// Notify lists what the change notifies when it changes something.
	Notify []string `json:"notify,omitempty"`
	// BackupKey names the change's backups on the host.
	BackupKey string `json:"backup_key,omitempty"`
}

// Sink is where a journal's records go: a file (Create, Open) or a
// backend's storage. Append stores records, whole JSON lines, durably
// before it returns, or fails having stored none of them (a reader
// replays the records appended before). Close ends the writing (and
// releases whatever tells readers the run's writer is alive).
type Sink interface {
	Append(records []byte) error
	Close() error
}

// Journal is a run being written. Its methods are safe for concurrent
// use by the goroutines applying different hosts.
type Journal struct {
	path string
	sink Sink
	mu   sync.Mutex
	run  *Run
	// hosts is how many of run.Hosts have records: Update records the
	// hosts appended after them.
	hosts int
	// runRec is the last run record, so an Update that changed no
	// run-level field writes none.
	runRec []byte
	// Group commit: records gather in pending; one writer at a time
	// takes them all, writes and fsyncs them. seq counts updates that
	// added records, written is the last one durable.
	pending, spare []byte
	seq, written   uint64
	writing        bool
	wrote          *sync.Cond
	writes         int
	// err fails every later update once a write failed or the journal
	// was closed.
	err error
	// hostOnly is set for a writer of some hosts of a run others write
	// too (Join): the run's own record is not its to write.
	hostOnly bool
}

// fileSink appends to a journal file, locked by its writer.
type fileSink struct {
	f *os.File
	// size is the length of the file's durable records.
	size int64
	// write appends b to the file and makes it durable; tests replace
	// it to make writes fail.
	write func(f *os.File, b []byte) error
}

func (s *fileSink) Append(b []byte) error {
	if err := s.write(s.f, b); err != nil {
		// Leave the file replayable: without the partial write.
		_ = s.f.Truncate(s.size)
		return err
	}
	s.size += int64(len(b))
	return nil
}

// Close closes the file: closing the last descriptor releases the flock.
func (s *fileSink) Close() error { return s.f.Close() }

var errClosed = errors.New("journal: closed")

func appendSync(f *os.File, b []byte) error {
	if _, err := f.Write(b); err != nil {
		return err
	}
	return f.Sync()
}

// Writes reports how many times the journal was written so far.
func (j *Journal) Writes() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.writes
}

// Dir is where a configuration directory's journals live.
func Dir(configDir string) string { return filepath.Join(configDir, ".tend", "runs") }

// NewID returns a run id that sorts by time to the second (List orders
// runs by their start time).
func NewID(now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// Path is the journal's file, or where a backend keeps it.
func (j *Journal) Path() string { return j.path }

func newJournal(path string, s Sink, run *Run) *Journal {
	j := &Journal{path: path, sink: s, run: run}
	j.wrote = sync.NewCond(&j.mu)
	return j
}

// Start begins the journal of a new run on s, at where (what Path
// says): it appends the header, the run and its hosts as one record
// batch, durably. It sets run's Format, and its Controller and PID when
// they are unset.
func Start(where string, run *Run, s Sink) (*Journal, error) {
	run.Format = Format
	if run.PID == 0 {
		run.PID = os.Getpid()
	}
	if run.Controller == "" {
		run.Controller, _ = os.Hostname()
	}
	j := newJournal(where, s, run)
	b, err := encodeHeader(run.ID)
	if err == nil {
		b, err = j.recordRun(b)
	}
	if err == nil {
		err = s.Append(b)
	}
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	j.writes = 1
	return j, nil
}

// Replay rebuilds the run that records (a journal's lines, as Start and
// the updates appended them) record. A torn last line is left out.
func Replay(records []byte) (*Run, error) {
	r, _, err := replay(records)
	return r, err
}

// Continue continues the journal of an existing run on s, as Open does
// for a file: stored is the run as its records replay (Replay), run the
// one the caller continues (typically as Read returned it).
func Continue(where string, stored, run *Run, s Sink) (*Journal, error) {
	if stored.ID != run.ID {
		return nil, fmt.Errorf("journal: %s: the journal of run %s, not %s", where, stored.ID, run.ID)
	}
	j, err := resume(where, stored, run, s)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	return j, nil
}

// Create starts the journal of a new run: it writes the header, the run
// and its hosts, durably, and holds the file's lock until Close. It sets
// run's Format, and its Controller and PID when they are unset.
func Create(configDir string, run *Run) (*Journal, error) {
	dir := Dir(configDir)
	if err := mkdirAll(dir); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	run.Format = Format
	if run.PID == 0 {
		run.PID = os.Getpid()
	}
	if run.Controller == "" {
		run.Controller, _ = os.Hostname()
	}
	j, err := create(dir, run)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	return j, nil
}

// create writes run's journal in dir through a temporary file, so that
// RUN-ID.journal appears whole, and locked.
func create(dir string, run *Run) (*Journal, error) {
	path := filepath.Join(dir, run.ID+".journal")
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(dir, "."+run.ID+"."+hex.EncodeToString(rnd[:])+".tmp")
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp)
	// The file is new: nobody else can hold its lock yet.
	if err := tryLock(f, true); err != nil {
		f.Close()
		return nil, err
	}
	fs := &fileSink{f: f, write: appendSync}
	j := newJournal(path, fs, run)
	b, err := encodeHeader(run.ID)
	if err == nil {
		b, err = j.recordRun(b)
	}
	if err == nil {
		err = appendSync(f, b)
	}
	if err == nil {
		// link(2) fails if the run exists, where rename would replace it.
		err = os.Link(tmp, path)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	fs.size, j.writes = int64(len(b)), 1
	return j, nil
}

// Open continues writing the journal of an existing run: a rollback
// marks what it reverted, a resume continues the run. It takes the
// file's lock, and fails if a live process holds it. run becomes the
// journal's run (typically as Read returned it); Open sets its
// Controller and PID to this process's. If the run was interrupted
// (it is "running" on disk, yet nobody held the lock), Open records
// that: Outcome "interrupted" and the entries left applying or
// reverting "unknown", in run and on disk.
func Open(configDir string, run *Run) (*Journal, error) {
	dir := Dir(configDir)
	path := filepath.Join(dir, run.ID+".journal")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
	if errors.Is(err, os.ErrNotExist) {
		f, err = convert(dir, run.ID)
	}
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	if err := lockWriter(f); err != nil {
		defer f.Close()
		if !isLocked(err) {
			return nil, fmt.Errorf("journal: lock %s: %w", path, err)
		}
		re := &RunningError{ID: run.ID}
		if holder, err := readFile(f); err == nil {
			re.PID, re.Controller = holder.PID, holder.Controller
		}
		return nil, re
	}
	j, err := open(path, f, run)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("journal: %w", err)
	}
	return j, nil
}

// RunningError is Open's error for a run whose journal a live process
// holds.
type RunningError struct {
	ID string
	// PID and Controller are the holder's, as its journal records them
	// (zero if it could not be read).
	PID        int
	Controller string
}

func (e *RunningError) Error() string {
	switch {
	case e.PID == 0:
		return fmt.Sprintf("run %s is still running (its journal is locked)", e.ID)
	case e.Controller == "":
		return fmt.Sprintf("run %s is still running (pid %d)", e.ID, e.PID)
	}
	return fmt.Sprintf("run %s is still running (pid %d on %s)", e.ID, e.PID, e.Controller)
}

// lockWriter takes f's exclusive lock. Readers hold a shared lock for
// the moment they read, so a few tries tell them from a writer.
func lockWriter(f *os.File) error {
	var err error
	for range 20 {
		if err = tryLock(f, true); !isLocked(err) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
	return err
}

// open continues the journal in f, whose lock is held.
func open(path string, f *os.File, run *Run) (*Journal, error) {
	b, err := readAll(f)
	if err != nil {
		return nil, err
	}
	disk, valid, err := replay(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if disk.ID != run.ID {
		return nil, fmt.Errorf("%s: the journal of run %s, not %s", path, disk.ID, run.ID)
	}
	// Appending after a torn tail would glue the next record to it.
	if valid < len(b) {
		if err := f.Truncate(int64(valid)); err != nil {
			return nil, err
		}
		if err := f.Sync(); err != nil {
			return nil, err
		}
	}
	return resume(path, disk, run, &fileSink{f: f, size: int64(valid), write: appendSync})
}

// resume continues the journal on s whose records replay to disk, with
// run as the journal's run: it records the run taken over by this
// process, and an interruption (see Open).
func resume(path string, disk, run *Run, s Sink) (*Journal, error) {
	j := newJournal(path, s, run)
	j.hosts = min(len(disk.Hosts), len(run.Hosts))
	run.Format = Format
	run.PID = os.Getpid()
	run.Controller, _ = os.Hostname()
	var rec []byte
	var err error
	if disk.Outcome == "running" {
		if run.Outcome == "running" {
			run.Outcome = "interrupted"
		}
		for i, h := range disk.Hosts[:j.hosts] {
			for n, e := range h.Changes {
				if n >= len(run.Hosts[i].Changes) || !inFlight(e.Status) {
					continue
				}
				re := run.Hosts[i].Changes[n]
				if inFlight(re.Status) || re.Status == Unknown {
					re.Status = Unknown
					if rec, err = appendRecord(rec, entryRecord{"entry", i, n, re}); err != nil {
						return nil, err
					}
				}
			}
		}
	}
	if rec, err = j.recordRun(rec); err != nil {
		return nil, err
	}
	if err := s.Append(rec); err != nil {
		return nil, err
	}
	j.writes = 1
	return j, nil
}

func inFlight(s Status) bool { return s == Applying || s == Reverting }

// convert turns a legacy RUN-ID.json into RUN-ID.journal and returns the
// new file, open for appending and not locked (another process may be
// converting it too: the one that links first wins).
func convert(dir, id string) (*os.File, error) {
	legacy := filepath.Join(dir, id+".json")
	b, err := os.ReadFile(legacy)
	if err != nil {
		return nil, err
	}
	old, err := decodeLegacy(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", legacy, err)
	}
	old.Format = Format
	j, err := create(dir, old)
	switch {
	case err == nil:
		j.sink.Close()
		if err := os.Remove(legacy); err != nil {
			return nil, err
		}
		if err := syncDir(dir); err != nil {
			return nil, err
		}
	case !errors.Is(err, os.ErrExist):
		return nil, err
	}
	return os.OpenFile(filepath.Join(dir, id+".journal"), os.O_RDWR|os.O_APPEND, 0)
}

// Close releases the journal's lock; later updates fail.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	for j.writing {
		j.wrote.Wait()
	}
	if j.sink == nil {
		return nil
	}
	if j.err == nil {
		j.err = errClosed
	}
	err := j.sink.Close()
	j.sink = nil
	return err
}

// Update changes the run's own fields (outcome, finish time, batches)
// and records them, with the hosts f appended to r.Hosts (and their
// entries). It returns once the records are durable. Update does not
// see changes to the hosts already recorded: UpdateHost and
// UpdateEntries record those.
func (j *Journal) Update(f func(r *Run)) error {
	return j.update(func(b []byte) ([]byte, error) {
		f(j.run)
		return j.recordRun(b)
	})
}

// UpdateEntries changes entries ns of host number host (in the run's
// order) and records them, as Update does; f gets each entry with its
// index in ns. Only the entries named are recorded.
func (j *Journal) UpdateEntries(host int, ns []int, f func(i int, e *Entry)) error {
	return j.update(func(b []byte) ([]byte, error) {
		if host < 0 || host >= j.hosts {
			return b, fmt.Errorf("journal: host %d is not journaled (Update appends hosts)", host)
		}
		h := j.run.Hosts[host]
		for _, n := range ns {
			if n < 0 || n >= len(h.Changes) {
				return b, fmt.Errorf("journal: host %s has no entry %d", h.Name, n)
			}
		}
		var err error
		for i, n := range ns {
			e := h.Changes[n]
			f(i, e)
			if b, err = appendRecord(b, entryRecord{"entry", host, n, e}); err != nil {
				return b, err
			}
		}
		return b, nil
	})
}

// UpdateHost changes host number host's own fields (its outcome, its
// error) and records them, as Update does. f must not change the host's
// entries: UpdateEntries does.
func (j *Journal) UpdateHost(host int, f func(h *Host)) error {
	return j.update(func(b []byte) ([]byte, error) {
		if host < 0 || host >= j.hosts {
			return b, fmt.Errorf("journal: host %d is not journaled (Update appends hosts)", host)
		}
		h := j.run.Hosts[host]
		f(h)
		own := *h
		own.Changes = nil // null: the entries are kept
		return appendRecord(b, hostRecord{"host", host, &own})
	})
}

// recordRun appends the run record, unless it is unchanged, and the
// records of the hosts not yet recorded.
func (j *Journal) recordRun(b []byte) ([]byte, error) {
	if len(j.run.Hosts) < j.hosts {
		return b, fmt.Errorf("journal: run %s lost hosts that were journaled", j.run.ID)
	}
	rr, err := encodeRecord(runRecord{"run", runFields{Run: j.run}})
	if err != nil {
		return b, err
	}
	if string(rr) != string(j.runRec) && !j.hostOnly {
		b = append(b, rr...)
		j.runRec = rr
	}
	for ; j.hosts < len(j.run.Hosts); j.hosts++ {
		if b, err = appendRecord(b, hostRecord{"host", j.hosts, j.run.Hosts[j.hosts]}); err != nil {
			return b, err
		}
	}
	return b, nil
}

// update runs rec under the journal's lock, which applies a change to
// the run and appends its records to the pending ones, and returns once
// they are durable.
func (j *Journal) update(rec func(b []byte) ([]byte, error)) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return j.err
	}
	n, hosts, runRec := len(j.pending), j.hosts, j.runRec
	b, err := rec(j.pending)
	if err != nil {
		// Nothing of a failed update is recorded.
		j.pending, j.hosts, j.runRec = j.pending[:n], hosts, runRec
		return err
	}
	j.pending = b
	if len(b) > n {
		j.seq++
	}
	// An update that recorded nothing still waits for the earlier ones.
	mine := j.seq
	for j.written < mine {
		if j.err != nil {
			return j.err
		}
		if j.writing {
			j.wrote.Wait()
			continue
		}
		j.writing = true
		upto, buf := j.seq, j.pending
		j.pending = j.spare[:0]
		j.mu.Unlock()
		err := j.sink.Append(buf)
		j.mu.Lock()
		j.writing = false
		j.writes++
		if err != nil {
			j.err = fmt.Errorf("journal: %w", err)
		} else {
			j.written = upto
		}
		j.spare = buf
		j.wrote.Broadcast()
	}
	return nil
}

// mkdirAll makes dir and its missing parents, mode 0700, each made
// durable in its parent.
func mkdirAll(dir string) error {
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := mkdirAll(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return syncDir(parent)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// ReplaceEntries replaces the entries of host number host, in one
// record: a host planned again (after waiting for its lock) before any
// of its changes started.
func (j *Journal) ReplaceEntries(host int, es []*Entry) error {
	if es == nil {
		es = []*Entry{}
	}
	return j.update(func(b []byte) ([]byte, error) {
		if host < 0 || host >= j.hosts {
			return b, fmt.Errorf("journal: host %d is not journaled (Update appends hosts)", host)
		}
		h := j.run.Hosts[host]
		h.Changes = es
		return appendRecord(b, hostRecord{"host", host, h})
	})
}
