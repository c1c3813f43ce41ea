// Package journal records runs: every change and its pre-state, written
// before and after the change is applied, so a failed or finished run can
// be reverted (`tend rollback RUN-ID`) and audited (`tend runs`). Journals
// live in .tend/runs/RUN-ID.json under the configuration directory, mode
// 0600, and never hold a secret: sensitive values are left out.
package journal

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/resources"
)

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
	Unknown      Status = "unknown"
	NotApplied   Status = "not_applied"
)

// Run is one apply or rollback.
type Run struct {
	ID        string    `json:"id"`
	Command   string    `json:"command"`
	Started   time.Time `json:"started"`
	Finished  time.Time `json:"finished,omitzero"`
	User      string    `json:"user"`
	ConfigDir string    `json:"config_dir"`
	Target    string    `json:"target,omitempty"`
	// Outcome is running, success, failed, rolled_back or partial.
	Outcome    string  `json:"outcome"`
	Hosts      []*Host `json:"hosts"`
	Controller string  `json:"controller,omitempty"`
	PID        int     `json:"pid,omitempty"`
	ResumesRun string  `json:"resumes_run,omitempty"`
	// RevertsRun names the run a rollback reverted.
	RevertsRun string `json:"reverts_run,omitempty"`
	// Batches records a rollout's batches, in order.
	Batches []*Batch `json:"batches,omitempty"`
}

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
	// Irreversible says why the change cannot be reverted.
	Irreversible string `json:"irreversible,omitempty"`
	// Refreshed is set when the resource's refresh action ran.
	Refreshed bool      `json:"refreshed,omitempty"`
	Time      time.Time `json:"time,omitzero"`
	Started   time.Time `json:"started,omitzero"`
	Finished  time.Time `json:"finished,omitzero"`
	Stdout    string    `json:"stdout,omitempty"`
	// Config is the resource's configuration (sensitive values left
	// out), so a rollback can read the resource back from the host.
	Config json.RawMessage `json:"config,omitempty"`
	// Notify lists what the change notifies when it changes something.
	Notify []string `json:"notify,omitempty"`
	// BackupKey names the change's backups on the host.
	BackupKey string `json:"backup_key,omitempty"`
}

// Close ends writing the journal.
func (j *Journal) Close() error { return nil }

// Journal is a run being written. Its methods are safe for concurrent
// use by the goroutines applying different hosts.
type Journal struct {
	path string
	mu   sync.Mutex
	run  *Run
	// Group commit: every Update returns once a write holding its change
	// is on disk, but the hosts of a run applying in parallel share
	// writes. seq counts changes, written is the last one on disk.
	seq, written uint64
	writing      bool
	wrote        *sync.Cond
	writes       int
	// enc holds each entry's encoding from the last write: UpdateEntries
	// drops only those of the entries it changes, Update (which may change
	// anything) all of them. A write then encodes the run's own fields,
	// its hosts' and the changed entries, and reuses the rest, so a
	// change's record costs in proportion to what changed, not to the
	// whole run (before, a fresh apply of thousands of changes spent most
	// of its controller CPU re-encoding unchanged states).
	enc map[*Entry][]byte
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

// Create starts a journal for run and writes it.
func Create(configDir string, run *Run) (*Journal, error) {
	dir := Dir(configDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	j := &Journal{path: filepath.Join(dir, run.ID+".json"), run: run}
	return j, j.Update(func(*Run) {})
}

// Path is the journal's file.
func (j *Journal) Path() string { return j.path }

// Update changes the run and writes the journal atomically. It returns
// once a write holding the change is on disk (see the group commit below).
func (j *Journal) Update(f func(r *Run)) error {
	return j.update(func() {
		f(j.run)
		clear(j.enc)
	})
}

// UpdateEntries changes entries ns of host number host (in the run's
// order) and writes the journal as Update does; f gets each entry with
// its index in ns.
func (j *Journal) UpdateEntries(host int, ns []int, f func(i int, e *Entry)) error {
	return j.update(func() {
		h := j.run.Hosts[host]
		for i, n := range ns {
			e := h.Changes[n]
			f(i, e)
			delete(j.enc, e)
		}
	})
}

// UpdateHost changes host number host's own fields (its outcome, its
// error) and writes the journal as Update does. f must not change the
// host's entries: UpdateEntries does.
func (j *Journal) UpdateHost(host int, f func(h *Host)) error {
	return j.update(func() { f(j.run.Hosts[host]) })
}

// encode returns the run's JSON, as json.Marshal(run) would, reusing the
// encodings of the entries that did not change since the last write.
func (j *Journal) encode() ([]byte, error) {
	if j.enc == nil {
		j.enc = map[*Entry][]byte{}
	}
	r := *j.run
	r.Hosts = nil
	top, err := json.Marshal(&r)
	if err != nil {
		return nil, err
	}
	hosts := []byte{'['}
	for i, h := range j.run.Hosts {
		if i > 0 {
			hosts = append(hosts, ',')
		}
		hc := *h
		hc.Changes = nil
		hb, err := json.Marshal(&hc)
		if err != nil {
			return nil, err
		}
		changes := []byte{'['}
		for k, e := range h.Changes {
			if k > 0 {
				changes = append(changes, ',')
			}
			b, ok := j.enc[e]
			if !ok {
				if b, err = json.Marshal(e); err != nil {
					return nil, err
				}
				j.enc[e] = b
			}
			changes = append(changes, b...)
		}
		changes = append(changes, ']')
		hosts = append(hosts, splice(hb, `"changes":null`, changes)...)
	}
	hosts = append(hosts, ']')
	return splice(top, `"hosts":null`, hosts), nil
}

// splice replaces the first occurrence of key (a field whose value was
// encoded as null) in b with the field holding v. A string value cannot
// contain key: its quotes would be escaped.
func splice(b []byte, key string, v []byte) []byte {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		panic("journal: " + key + " missing from the encoding")
	}
	name := key[:len(key)-len("null")]
	out := make([]byte, 0, len(b)+len(v))
	out = append(out, b[:i]...)
	out = append(out, name...)
	out = append(out, v...)
	return append(out, b[i+len(key):]...)
}

// update runs apply (under the journal's lock) and writes the journal.
func (j *Journal) update(apply func()) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.wrote == nil {
		j.wrote = sync.NewCond(&j.mu)
	}
	apply()
	j.seq++
	mine := j.seq
	// The file is rewritten whole at each write (unchanged entries
	// copied from enc), which costs in proportion to its size: while one
	// write is under way, the changes of other hosts gather and the next
	// write carries them all, instead of one write each.
	for j.written < mine {
		if j.writing {
			j.wrote.Wait()
			continue
		}
		j.writing = true
		upto := j.seq
		b, err := j.encode()
		if err == nil {
			j.mu.Unlock()
			err = plan.WriteFileAtomic(j.path, append(b, '\n'), 0o600)
			j.mu.Lock()
		}
		j.writing = false
		j.writes++
		j.wrote.Broadcast()
		if err != nil {
			return fmt.Errorf("journal: %w", err)
		}
		j.written = max(j.written, upto)
	}
	return nil
}

// Read loads a run by id (or unique id prefix).
func Read(configDir, id string) (*Run, error) {
	dir := Dir(configDir)
	path := filepath.Join(dir, id+".json")
	if _, err := os.Stat(path); err != nil {
		runs, _ := List(configDir)
		var match []string
		for _, r := range runs {
			if strings.HasPrefix(r.ID, id) {
				match = append(match, r.ID)
			}
		}
		switch len(match) {
		case 0:
			return nil, fmt.Errorf("no run %q in %s", id, dir)
		case 1:
			path = filepath.Join(dir, match[0]+".json")
		default:
			return nil, fmt.Errorf("run id %q is ambiguous: %s", id, strings.Join(match, ", "))
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Run
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

// List returns every journaled run, oldest first.
func List(configDir string) ([]*Run, error) {
	entries, err := os.ReadDir(Dir(configDir))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var runs []*Run
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(Dir(configDir), e.Name()))
		if err != nil {
			continue
		}
		var r Run
		if json.Unmarshal(b, &r) == nil {
			runs = append(runs, &r)
		}
	}
	// By start time: IDs sort by time to the second only, and runs a
	// second apart are common (their random suffixes would decide).
	sort.Slice(runs, func(i, k int) bool {
		if !runs[i].Started.Equal(runs[k].Started) {
			return runs[i].Started.Before(runs[k].Started)
		}
		return runs[i].ID < runs[k].ID
	})
	return runs, nil
}

// Open returns a journal for rewriting an existing run (a rollback marks
// what it reverted).
func Open(configDir string, run *Run) (*Journal, error) {
	path := filepath.Join(Dir(configDir), run.ID+".json")
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	return &Journal{path: path, run: run}, nil
}
