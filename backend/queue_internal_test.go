//go:build linux

package backend

import (
	"context"
	"testing"
	"time"

	"github.com/tendhq/tend/backend/pgtest"
	"github.com/tendhq/tend/journal"
	"github.com/tendhq/tend/plan"
)

// TestQueueMigrationNamesHosts: the queue's schema version 2 gives the
// appends of a run queued at version 1 their host, so that a worker
// reading only its host's records reads all of them.
func TestQueueMigrationNamesHosts(t *testing.T) {
	srv := pgtest.Start(t)
	ctx := context.Background()
	b, err := Connect(ctx, srv.URL(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, _, err := b.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, to, err := b.migrateQueue(ctx, 1); err != nil || to != 1 {
		t.Fatalf("to version 1: %d %v", to, err)
	}
	run := &journal.Run{ID: "r1", Command: "apply", Started: time.Now().UTC(), Outcome: "running", Hosts: []*journal.Host{
		{Name: "web1", Outcome: "pending", Changes: []*journal.Entry{{Address: "file.a", Action: plan.Create, Status: journal.Pending}}},
		{Name: "web2", Outcome: "pending", Changes: []*journal.Entry{{Address: "file.a", Action: plan.Create, Status: journal.Pending}}},
	}}
	j, err := b.Create(run)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.pool.Exec(ctx, `INSERT INTO tend_dist_runs (run_id, plan, on_failure, max_fail_percent, batches) VALUES ('r1', '', 'stop', -1, 1)`); err != nil {
		t.Fatal(err)
	}
	appends := []string{
		`{"rec":"host","i":1,"host":{"name":"web2","outcome":"pending","workers":["w pid 1"]}}` + "\n",
		`{"rec":"entry","i":0,"n":0,"entry":{"address":"file.a","status":"applying"}}` + "\n" + `{"rec":"entry","i":0,"n":0,"entry":{"address":"file.a","status":"applied"}}` + "\n",
		`{"rec":"run","run":{"id":"r1","outcome":"success"}}` + "\n",
	}
	for _, a := range appends {
		if _, err := b.pool.Exec(ctx, `INSERT INTO tend_journal (run_id, seq, records) VALUES ('r1', nextval('tend_dist_journal_seq'), $1)`, a); err != nil {
			t.Fatal(err)
		}
	}
	if from, to, err := b.MigrateQueue(ctx); err != nil || from != 1 || to != 2 {
		t.Fatalf("to version 2: from %d to %d, %v", from, to, err)
	}
	rows, err := b.pool.Query(ctx, `SELECT coalesce(host, '-') FROM tend_journal WHERE run_id = 'r1' AND seq >= $1 ORDER BY seq`, distJournalSeq)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			t.Fatal(err)
		}
		got = append(got, h)
	}
	if want := []string{"web2", "web1", "-"}; len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("the appends' hosts: %v, want %v", got, want)
	}
	if n, err := b.pool.Exec(ctx, `SELECT 1 FROM tend_journal WHERE seq < $1 AND host IS NOT NULL`, distJournalSeq); err != nil || n.RowsAffected() != 0 {
		t.Errorf("the run's first records were given a host: %v %v", n, err)
	}
}
