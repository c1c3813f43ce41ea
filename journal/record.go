package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// The records of a journal file (see the package documentation).
type (
	headerRecord struct {
		Rec    string `json:"rec"`
		Format string `json:"format"`
		ID     string `json:"id"`
	}
	runRecord struct {
		Rec string    `json:"rec"`
		Run runFields `json:"run"`
	}
	hostRecord struct {
		Rec  string `json:"rec"`
		I    int    `json:"i"`
		Host *Host  `json:"host"`
	}
	entryRecord struct {
		Rec   string `json:"rec"`
		I     int    `json:"i"`
		N     int    `json:"n"`
		Entry *Entry `json:"entry"`
	}
	// record is any of them, as read.
	record struct {
		Rec    string          `json:"rec"`
		Format string          `json:"format"`
		ID     string          `json:"id"`
		I      int             `json:"i"`
		N      int             `json:"n"`
		Run    json.RawMessage `json:"run"`
		Host   json.RawMessage `json:"host"`
		Entry  json.RawMessage `json:"entry"`
	}
)

// runFields encodes a Run without its hosts, which have records of their
// own: the outer Hosts field hides the Run's and is always left out.
type runFields struct {
	*Run
	Hosts struct{} `json:"hosts,omitzero"`
}

func encodeRecord(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	// json.Marshal escapes newlines in strings: a record is one line.
	return append(b, '\n'), nil
}

func appendRecord(b []byte, v any) ([]byte, error) {
	r, err := encodeRecord(v)
	if err != nil {
		return b, err
	}
	return append(b, r...), nil
}

func encodeHeader(id string) ([]byte, error) {
	return encodeRecord(headerRecord{"header", Format, id})
}

// replay rebuilds the run a journal file's bytes record. It returns the
// run and the length of the records it used: replay stops at a line that
// is incomplete or not JSON, the remains of a torn last write.
func replay(b []byte) (*Run, int, error) {
	var run *Run
	off, line := 0, 0
	for off < len(b) {
		nl := bytes.IndexByte(b[off:], '\n')
		if nl < 0 {
			break
		}
		var rec record
		if json.Unmarshal(b[off:off+nl], &rec) != nil {
			break
		}
		line++
		if run == nil {
			if rec.Rec != "header" || !strings.HasPrefix(rec.Format, "tend-journal/") {
				return nil, 0, errors.New("not a tend journal: its first line is not a header")
			}
			if rec.Format != Format {
				return nil, 0, fmt.Errorf("journal format %s: this tend reads %s", rec.Format, Format)
			}
			run = &Run{ID: rec.ID, Format: rec.Format}
		} else if err := run.apply(&rec); err != nil {
			return nil, 0, fmt.Errorf("line %d: %w", line, err)
		}
		off += nl + 1
	}
	if run == nil {
		return nil, 0, errors.New("not a tend journal: no header")
	}
	return run, off, nil
}

// apply replays one record onto the run.
func (r *Run) apply(rec *record) error {
	switch rec.Rec {
	case "run":
		var nr Run
		if err := json.Unmarshal(rec.Run, &nr); err != nil {
			return err
		}
		nr.Hosts = r.Hosts
		*r = nr
	case "host":
		if rec.I < 0 || rec.I > len(r.Hosts) {
			return fmt.Errorf("host %d of %d", rec.I, len(r.Hosts))
		}
		var h Host
		if err := json.Unmarshal(rec.Host, &h); err != nil {
			return err
		}
		if rec.I == len(r.Hosts) {
			r.Hosts = append(r.Hosts, &h)
			break
		}
		if h.Changes == nil {
			h.Changes = r.Hosts[rec.I].Changes
		}
		r.Hosts[rec.I] = &h
	case "entry":
		if rec.I < 0 || rec.I >= len(r.Hosts) {
			return fmt.Errorf("entry of host %d of %d", rec.I, len(r.Hosts))
		}
		h := r.Hosts[rec.I]
		if rec.N < 0 || rec.N > len(h.Changes) {
			return fmt.Errorf("entry %d of %d of host %s", rec.N, len(h.Changes), h.Name)
		}
		var e Entry
		if err := json.Unmarshal(rec.Entry, &e); err != nil {
			return err
		}
		if rec.N == len(h.Changes) {
			h.Changes = append(h.Changes, &e)
		} else {
			h.Changes[rec.N] = &e
		}
	}
	// Kinds added later are skipped (see the package documentation).
	return nil
}

func decodeLegacy(b []byte) (*Run, error) {
	var r Run
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	r.Format = LegacyFormat
	return &r, nil
}

func readAll(f *os.File) ([]byte, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return io.ReadAll(f)
}

// readFile returns the run f records, in either format.
func readFile(f *os.File) (*Run, error) {
	b, err := readAll(f)
	if err != nil {
		return nil, err
	}
	if strings.HasSuffix(f.Name(), ".json") {
		return decodeLegacy(b)
	}
	r, _, err := replay(b)
	return r, err
}

// ReadFile returns the run a journal file (RUN-ID.journal or a legacy
// RUN-ID.json) records, as written: unlike Read, it does not ask whether
// a running run's process is still alive.
func ReadFile(path string) (*Run, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := readFile(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// readRun reads a run's file and derives whether it was interrupted.
func readRun(path string) (*Run, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Holding the shared lock, the file read is the whole story: no
	// writer can finish the run between the read and the lock.
	free := tryLock(f, false) == nil
	r, err := readFile(f)
	if free {
		unlock(f)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if free {
		r.MarkInterrupted()
	}
	return r, nil
}

// files lists the runs journaled in dir, by id: RUN-ID.journal, or a
// legacy RUN-ID.json when the run has no .journal (an interrupted
// conversion leaves both).
func files(dir string) (map[string]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		switch filepath.Ext(name) {
		case ".journal":
			out[strings.TrimSuffix(name, ".journal")] = filepath.Join(dir, name)
		case ".json":
			id := strings.TrimSuffix(name, ".json")
			if _, ok := out[id]; !ok {
				if _, err := os.Stat(filepath.Join(dir, id+".journal")); err != nil {
					out[id] = filepath.Join(dir, name)
				}
			}
		}
	}
	return out, nil
}

// Read loads a run by id (or unique id prefix), reporting a run whose
// process died as interrupted (see the package documentation).
func Read(configDir, id string) (*Run, error) {
	dir := Dir(configDir)
	fs, err := files(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	path, ok := fs[id]
	if !ok {
		var match []string
		for m := range fs {
			if strings.HasPrefix(m, id) {
				match = append(match, m)
			}
		}
		sort.Strings(match)
		switch len(match) {
		case 0:
			return nil, fmt.Errorf("no run %q in %s", id, dir)
		case 1:
			path = fs[match[0]]
		default:
			return nil, fmt.Errorf("run id %q is ambiguous: %s", id, strings.Join(match, ", "))
		}
	}
	return readRun(path)
}

// List returns every journaled run, oldest first, as Read reads them;
// files that cannot be read are left out.
func List(configDir string) ([]*Run, error) {
	fs, err := files(Dir(configDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var runs []*Run
	for _, path := range fs {
		if r, err := readRun(path); err == nil {
			runs = append(runs, r)
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
