package journal

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/redact"
)

// Join continues the journal of a run that several processes write at
// once, each its own hosts (the workers of a distributed run), on s:
// stored is the run as its records replay now. With host ≥ 0 the
// journal writes only that host's records: the run's own record is
// never written (another writer owns it), and the host's changes that
// a previous writer left applying or reverting are recorded as unknown
// first (that writer died: whether they reached the host is not known).
// With host < 0 it writes the run's own fields (its outcome, its
// batches) and any host's, for the writer that ends the run.
func Join(where string, stored *Run, host int, s Sink) (*Journal, error) {
	if host >= len(stored.Hosts) {
		return nil, fmt.Errorf("journal: %s: run %s has no host %d", where, stored.ID, host)
	}
	j := newJournal(where, s, stored)
	j.hosts = len(stored.Hosts)
	rr, err := encodeRecord(runRecord{"run", runFields{Run: stored}})
	if err != nil {
		return nil, err
	}
	j.runRec = rr
	j.hostOnly = host >= 0
	if host < 0 {
		return j, nil
	}
	var rec []byte
	for n, e := range stored.Hosts[host].Changes {
		if inFlight(e.Status) {
			e.Status = Unknown
			if rec, err = appendRecord(rec, entryRecord{"entry", host, n, e}); err != nil {
				return nil, err
			}
		}
	}
	if len(rec) > 0 {
		if err := s.Append(rec); err != nil {
			return nil, fmt.Errorf("journal: %w", err)
		}
		j.writes = 1
	}
	return j, nil
}

// PlannedHost is host hp of run runID as the journal records it when it
// is planned: its pending changes as entries, or why it could not be
// planned.
func PlannedHost(runID string, hp *plan.HostPlan) *Host {
	jh := &Host{Name: hp.Name, Outcome: "pending", Changes: []*Entry{}}
	if hp.Err != nil {
		jh.Outcome, jh.Error = "failed", redact.String(hp.Err.Error())
		if plan.Unreachable(hp.Err) {
			jh.Outcome = "unreachable"
		}
	} else if hp.Facts.BackupDir != "" {
		jh.BackupDir = hp.Facts.BackupDir + "/" + runID
	}
	for k, ch := range hp.Pending() {
		jh.Changes = append(jh.Changes, entryFor(ch, k))
	}
	return jh
}

// ReplayHost returns run base (as Replay rebuilt it from the records the
// run started with) with records, appended later for its host number
// host only, replayed onto that host. The returned run's host is its
// own; its other hosts are base's, shared: they must not be changed
// (a Join for host changes only host). Base is left as it was, so that
// the workers of many hosts replay the run's first records once.
func ReplayHost(base *Run, host int, records []byte) (*Run, error) {
	if host < 0 || host >= len(base.Hosts) {
		return nil, fmt.Errorf("run %s has no host %d", base.ID, host)
	}
	r := *base
	r.Hosts = append([]*Host(nil), base.Hosts...)
	own, err := json.Marshal(base.Hosts[host])
	if err != nil {
		return nil, err
	}
	h := &Host{}
	if err := json.Unmarshal(own, h); err != nil {
		return nil, err
	}
	r.Hosts[host] = h
	off, line := 0, 0
	for off < len(records) {
		nl := bytes.IndexByte(records[off:], '\n')
		if nl < 0 {
			break
		}
		var rec record
		if json.Unmarshal(records[off:off+nl], &rec) != nil {
			break
		}
		line++
		if (rec.Rec == "host" || rec.Rec == "entry") && rec.I != host {
			return nil, fmt.Errorf("line %d: a record of host %d among host %d's", line, rec.I, host)
		}
		if rec.Rec == "run" || rec.Rec == "header" {
			return nil, fmt.Errorf("line %d: a %s record among host %d's", line, rec.Rec, host)
		}
		if err := r.apply(&rec); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		off += nl + 1
	}
	return &r, nil
}
