package backend

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/tendhq/tend/journal"
)

// The queue of distributed runs is River's tables (migrated by River's
// own migrator, rivermigrate) and tend's tables of distributed runs,
// versioned apart from the journal's schema, in tend_queue_schema_version.

// QueueSchemaVersion is the version of the distributed runs' tables this
// tend reads and writes.
const QueueSchemaVersion = 2

// queueMigrations[i] brings the distributed runs' tables from version i
// to i+1.
var queueMigrations = []string{
	`CREATE TABLE tend_dist_runs (
		run_id text PRIMARY KEY REFERENCES tend_runs(id) ON DELETE CASCADE,
		plan bytea NOT NULL,
		on_failure text NOT NULL,
		max_fail_percent double precision NOT NULL,
		batches integer NOT NULL,
		current_batch integer NOT NULL DEFAULT 1,
		stopped text NOT NULL DEFAULT '',
		finished boolean NOT NULL DEFAULT false
	);
	CREATE TABLE tend_dist_hosts (
		run_id text NOT NULL REFERENCES tend_dist_runs(run_id) ON DELETE CASCADE,
		host text NOT NULL,
		batch integer NOT NULL,
		outcome text NOT NULL DEFAULT '',
		PRIMARY KEY (run_id, host)
	);
	CREATE SEQUENCE tend_dist_journal_seq START WITH 1000000000;`,
	// Version 2: a worker's journal appends name their host, so that
	// the next worker of the host reads only its records.
	// The appends of runs queued before are given their host: each is
	// one host's (its first record names the host's number in the run,
	// whose name is in the run's first records).
	`ALTER TABLE tend_journal ADD COLUMN host text;
	CREATE INDEX tend_journal_run_host ON tend_journal (run_id, host, seq) WHERE host IS NOT NULL;
	UPDATE tend_journal j SET host = h.name
	FROM (SELECT f.run_id, (l::jsonb->>'i')::int AS i, l::jsonb->'host'->>'name' AS name
		FROM tend_journal f, unnest(string_to_array(f.records, E'\n')) AS l
		WHERE f.seq < 1000000000 AND f.run_id IN (SELECT run_id FROM tend_dist_runs) AND l <> '' AND l::jsonb->>'rec' = 'host') h
	WHERE j.seq >= 1000000000 AND j.run_id = h.run_id
		AND split_part(j.records, E'\n', 1)::jsonb->>'rec' IN ('host', 'entry')
		AND (split_part(j.records, E'\n', 1)::jsonb->>'i')::int = h.i;`,
}

// distJournalSeq is where the sequence numbers of the appends of a
// distributed run's workers start: the records below it are those the
// run started with.
const distJournalSeq = 1000000000

// MigrateQueue brings River's tables and tend's tables of distributed
// runs to the versions this tend uses, and returns the versions tend's
// were and are at. Migrate must have run first.
func (b *Postgres) MigrateQueue(ctx context.Context) (from, to int, err error) {
	return b.migrateQueue(ctx, QueueSchemaVersion)
}

// migrateQueue migrates the queue's tables up to version upTo.
func (b *Postgres) migrateQueue(ctx context.Context, upTo int) (from, to int, err error) {
	m, err := rivermigrate.New(riverpgxv5.New(b.pool), nil)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", b.where, err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return 0, 0, fmt.Errorf("%s: migrating the job queue (River): %w", b.where, err)
	}
	tx, err := b.pool.Begin(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", b.where, err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit it does nothing
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7462003)`); err != nil {
		return 0, 0, fmt.Errorf("%s: %w", b.where, err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS tend_queue_schema_version (version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())`); err != nil {
		return 0, 0, fmt.Errorf("%s: %w", b.where, err)
	}
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM tend_queue_schema_version`).Scan(&from); err != nil {
		return 0, 0, fmt.Errorf("%s: %w", b.where, err)
	}
	if from > QueueSchemaVersion {
		return from, from, fmt.Errorf("%s: the queue's schema is at version %d, newer than this tend's %d", b.where, from, QueueSchemaVersion)
	}
	for v := from; v < upTo; v++ {
		if _, err := tx.Exec(ctx, queueMigrations[v]); err != nil {
			return from, v, fmt.Errorf("%s: migrating the queue's schema to version %d: %w", b.where, v+1, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO tend_queue_schema_version (version) VALUES ($1)`, v+1); err != nil {
			return from, v, fmt.Errorf("%s: %w", b.where, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return from, from, fmt.Errorf("%s: %w", b.where, err)
	}
	return from, max(from, upTo), nil
}

// checkQueue fails, naming tend backend migrate, when the queue's
// tables are not at the version this tend uses.
func (b *Postgres) checkQueue(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	var v int
	err := b.pool.QueryRow(ctx, `SELECT CASE WHEN to_regclass('tend_queue_schema_version') IS NULL THEN 0
		ELSE (SELECT coalesce(max(version), 0) FROM tend_queue_schema_version) END`).Scan(&v)
	if err != nil {
		return fmt.Errorf("%s: %w", b.where, err)
	}
	if v != QueueSchemaVersion {
		return fmt.Errorf("%s: the job queue's schema is at version %d, this tend needs %d: run tend backend migrate", b.where, v, QueueSchemaVersion)
	}
	return nil
}

// HostJob is the queue's job of applying one host of a distributed run.
type HostJob struct {
	RunID string `json:"run_id"`
	Host  string `json:"host"`
}

// Kind implements river.JobArgs.
func (HostJob) Kind() string { return "tend_host" }

// InsertOpts implements river.JobArgsWithInsertOpts: a job is tried
// again after an error (a worker that died, a host held by another
// worker) many times before it is given up.
func (HostJob) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 100, Queue: QueueName}
}

// QueueName is the River queue of tend's host jobs.
const QueueName = "tend"

// DistRun is a distributed run as it is queued.
type DistRun struct {
	RunID string
	// Plan is the saved plan (plan.Encode).
	Plan      []byte
	OnFailure string
	// MaxFailPercent stops the rollout when more of the run's hosts
	// than this failed (-1: no limit).
	MaxFailPercent float64
	// Batches are the hosts of each batch, in order.
	Batches [][]string
}

// Enqueue stores a distributed run and queues the jobs of its first
// batch, in one transaction; its run (already journaled, its journal
// closed) is held by the queue from then on: it reads as running until
// the worker finishing its last host ends it.
func (b *Postgres) Enqueue(ctx context.Context, d *DistRun) error {
	if err := b.checkQueue(ctx); err != nil {
		return err
	}
	client, err := river.NewClient(riverpgxv5.New(b.pool), &river.Config{})
	if err != nil {
		return fmt.Errorf("%s: %w", b.where, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 4*opTimeout)
	defer cancel()
	tx, err := b.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", b.where, err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit it does nothing
	if _, err := tx.Exec(ctx, `INSERT INTO tend_dist_runs (run_id, plan, on_failure, max_fail_percent, batches) VALUES ($1, $2, $3, $4, $5)`,
		d.RunID, d.Plan, d.OnFailure, d.MaxFailPercent, len(d.Batches)); err != nil {
		return fmt.Errorf("%s: %w", b.where, err)
	}
	for i, hs := range d.Batches {
		if _, err := tx.Exec(ctx, `INSERT INTO tend_dist_hosts (run_id, host, batch) SELECT $1, h, $2 FROM unnest($3::text[]) AS h`, d.RunID, i+1, hs); err != nil {
			return fmt.Errorf("%s: %w", b.where, err)
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE tend_runs SET holder_controller = $2, holder_pid = 0, token = nextval('tend_fencing'), heartbeat = now() + interval '100 years' WHERE id = $1`,
		d.RunID, queueHolder); err != nil {
		return fmt.Errorf("%s: %w", b.where, err)
	}
	if len(d.Batches) > 0 {
		if err := insertJobs(ctx, client, tx, d.RunID, d.Batches[0]); err != nil {
			return fmt.Errorf("%s: %w", b.where, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("%s: %w", b.where, err)
	}
	return nil
}

// queueHolder is the holder of a run the queue holds.
const queueHolder = "(job queue)"

func insertJobs(ctx context.Context, client *river.Client[pgx.Tx], tx pgx.Tx, runID string, hosts []string) error {
	var ps []river.InsertManyParams
	for _, h := range hosts {
		ps = append(ps, river.InsertManyParams{Args: HostJob{RunID: runID, Host: h}})
	}
	_, err := client.InsertManyTx(ctx, tx, ps)
	return err
}

// DistPlan returns a distributed run's saved plan and its on-failure
// policy.
func (b *Postgres) DistPlan(ctx context.Context, runID string) (savedPlan []byte, onFailure string, err error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	err = b.pool.QueryRow(ctx, `SELECT plan, on_failure FROM tend_dist_runs WHERE run_id = $1`, runID).Scan(&savedPlan, &onFailure)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, "", fmt.Errorf("no distributed run %q in %s", runID, b.where)
	}
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", b.where, err)
	}
	return savedPlan, onFailure, nil
}

// DistState is where a distributed run is.
type DistState struct {
	Batches, CurrentBatch int
	Stopped               string
	Finished              bool
	// Outcomes are the hosts' outcomes as their workers reported them
	// ("" while not done).
	Outcomes map[string]string
}

// DistState returns the state of distributed run runID.
func (b *Postgres) DistState(ctx context.Context, runID string) (*DistState, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	st := &DistState{Outcomes: map[string]string{}}
	err := b.pool.QueryRow(ctx, `SELECT batches, current_batch, stopped, finished FROM tend_dist_runs WHERE run_id = $1`, runID).
		Scan(&st.Batches, &st.CurrentBatch, &st.Stopped, &st.Finished)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("no distributed run %q in %s", runID, b.where)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.where, err)
	}
	rows, err := b.pool.Query(ctx, `SELECT host, outcome FROM tend_dist_hosts WHERE run_id = $1`, runID)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.where, err)
	}
	defer rows.Close()
	for rows.Next() {
		var h, o string
		if err := rows.Scan(&h, &o); err != nil {
			return nil, fmt.Errorf("%s: %w", b.where, err)
		}
		st.Outcomes[h] = o
	}
	return st, rows.Err()
}

// HostDone is FinishHost's account of a distributed run after a host.
type HostDone struct {
	// AlreadyDone is set when the host had been reported before (a job
	// run again): nothing was changed.
	AlreadyDone bool
	// NextBatch is the batch whose jobs were queued (0: none).
	NextBatch int
	// Finished is set when the run has ended: the caller records its
	// outcome (Outcomes, Stopped), and NotStarted lists the hosts whose
	// batches never started.
	Finished   bool
	Stopped    string
	NotStarted []string
	Outcomes   map[string]string
	// Batches are the run's batches' hosts, in order.
	Batches [][]string
}

// FinishHost records host's outcome in distributed run runID. The
// worker finishing the last host of a batch queues the next batch's
// jobs when the rollout may go on: no more of the run's hosts failed
// than its max-fail percentage allows, counted over every host of the
// run, whichever worker applied it. Otherwise, or after the last batch,
// the run is finished.
func (b *Postgres) FinishHost(ctx context.Context, runID, host, outcome string, ok bool) (*HostDone, error) {
	client, err := river.NewClient(riverpgxv5.New(b.pool), &river.Config{})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.where, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 4*opTimeout)
	defer cancel()
	tx, err := b.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.where, err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit it does nothing
	var (
		batches, current int
		maxFail          float64
		stopped          string
		finished         bool
	)
	// The run's row is the turn every worker of the run takes.
	if err := tx.QueryRow(ctx, `SELECT batches, current_batch, max_fail_percent, stopped, finished FROM tend_dist_runs WHERE run_id = $1 FOR UPDATE`, runID).
		Scan(&batches, &current, &maxFail, &stopped, &finished); err != nil {
		return nil, fmt.Errorf("%s: %w", b.where, err)
	}
	var prev string
	if err := tx.QueryRow(ctx, `SELECT outcome FROM tend_dist_hosts WHERE run_id = $1 AND host = $2`, runID, host).Scan(&prev); err != nil {
		return nil, fmt.Errorf("%s: %w", b.where, err)
	}
	if prev != "" || finished {
		return &HostDone{AlreadyDone: true}, nil
	}
	if !ok && outcome == "" {
		outcome = "failed"
	}
	if _, err := tx.Exec(ctx, `UPDATE tend_dist_hosts SET outcome = $3 WHERE run_id = $1 AND host = $2`, runID, host, outcomeMark(outcome, ok)); err != nil {
		return nil, fmt.Errorf("%s: %w", b.where, err)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, progressChannel, runID); err != nil {
		return nil, fmt.Errorf("%s: %w", b.where, err)
	}
	done := &HostDone{Outcomes: map[string]string{}}
	var (
		left, failed, total int
		byBatch             = make([][]string, batches)
	)
	rows, err := tx.Query(ctx, `SELECT host, batch, outcome FROM tend_dist_hosts WHERE run_id = $1 ORDER BY batch, host`, runID)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.where, err)
	}
	for rows.Next() {
		var h, o string
		var bn int
		if err := rows.Scan(&h, &bn, &o); err != nil {
			rows.Close()
			return nil, fmt.Errorf("%s: %w", b.where, err)
		}
		total++
		if bn >= 1 && bn <= batches {
			byBatch[bn-1] = append(byBatch[bn-1], h)
		}
		done.Outcomes[h] = o
		if bn == current && o == "" {
			left++
		}
		if o != "" && o[0] == '!' {
			failed++
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", b.where, err)
	}
	done.Batches = byBatch
	if left > 0 {
		return done, tx.Commit(ctx)
	}
	if maxFail >= 0 && float64(failed*100) > maxFail*float64(total) {
		stopped = fmt.Sprintf("%d of %d hosts failed (%.0f%%, more than max_fail_percent %g)", failed, total, float64(failed*100)/float64(total), maxFail)
	}
	if stopped == "" && current < batches {
		done.NextBatch = current + 1
		if _, err := tx.Exec(ctx, `UPDATE tend_dist_runs SET current_batch = $2 WHERE run_id = $1`, runID, done.NextBatch); err != nil {
			return nil, fmt.Errorf("%s: %w", b.where, err)
		}
		if err := insertJobs(ctx, client, tx, runID, byBatch[current]); err != nil {
			return nil, fmt.Errorf("%s: %w", b.where, err)
		}
		return done, tx.Commit(ctx)
	}
	for bn := current + 1; bn <= batches; bn++ {
		done.NotStarted = append(done.NotStarted, byBatch[bn-1]...)
	}
	if len(done.NotStarted) > 0 {
		if _, err := tx.Exec(ctx, `UPDATE tend_dist_hosts SET outcome = 'not_started' WHERE run_id = $1 AND host = ANY($2)`, runID, done.NotStarted); err != nil {
			return nil, fmt.Errorf("%s: %w", b.where, err)
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE tend_dist_runs SET finished = true, stopped = $2 WHERE run_id = $1`, runID, stopped); err != nil {
		return nil, fmt.Errorf("%s: %w", b.where, err)
	}
	done.Finished, done.Stopped = true, stopped
	return done, tx.Commit(ctx)
}

// outcomeMark is a host's outcome as tend_dist_hosts keeps it: a
// failed host's starts with "!".
func outcomeMark(outcome string, ok bool) string {
	if ok {
		return outcome
	}
	return "!" + outcome
}

// EndQueued ends a distributed run's hold by the queue: its journal
// has its outcome.
func (b *Postgres) EndQueued(ctx context.Context, runID string) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	_, err := b.pool.Exec(ctx, `UPDATE tend_runs SET heartbeat = NULL WHERE id = $1 AND holder_controller = $2`, runID, queueHolder)
	if err != nil {
		return fmt.Errorf("%s: %w", b.where, err)
	}
	// Only a follower waits for it: a lost notification costs it one
	// poll.
	_, _ = b.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, progressChannel, runID)
	return nil
}

// progressChannel is the notification channel on which the workers of
// a distributed run announce each host done and the run's end (the
// payload is the run's ID).
const progressChannel = "tend_dist_progress"

// RunWatch is a connection of its own listening for the progress of
// distributed runs.
type RunWatch struct {
	conn   *pgxpool.Conn
	broken bool
}

// WatchRuns returns a RunWatch; Close it.
func (b *Postgres) WatchRuns(ctx context.Context) (*RunWatch, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	conn, err := b.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.where, err)
	}
	if _, err := conn.Exec(ctx, `LISTEN `+progressChannel); err != nil {
		conn.Release()
		return nil, fmt.Errorf("%s: %w", b.where, err)
	}
	return &RunWatch{conn: conn}, nil
}

// Wait returns once a worker has announced progress of run runID (a
// host done, the run's end) since the last Wait, or after d, or when
// ctx ends. Without notifications (a connection lost) it waits d.
func (w *RunWatch) Wait(ctx context.Context, runID string, d time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for !w.broken {
		n, err := w.conn.Conn().WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() == nil || w.conn.Conn().IsClosed() {
				w.broken = true
				break
			}
			return
		}
		if n.Payload == runID {
			return
		}
	}
	<-ctx.Done()
}

// Close stops listening and gives the connection back (or drops it
// when it may be unusable).
func (w *RunWatch) Close() {
	if w.broken {
		_ = w.conn.Conn().Close(context.Background())
		w.conn.Release()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if _, err := w.conn.Exec(ctx, `UNLISTEN *`); err != nil {
		_ = w.conn.Conn().Close(ctx)
	}
	w.conn.Release()
}

// WorkerLease is a worker's lease on one host of a distributed run,
// renewed until Release.
type WorkerLease struct {
	b          *Postgres
	runID      string
	host       string
	token      int64
	stop, done chan struct{}
}

// AcquireHost takes the lease of host for a worker of run runID (this
// process): it fails with the holder when another live process holds
// it, another run's or another worker's of the same run. A dead holder's
// lease (its heartbeat older than LeaseTTL, or a process of this
// controller that is gone) is taken over, with a new fencing token.
func (b *Postgres) AcquireHost(ctx context.Context, runID, user, host string) (*WorkerLease, *Lease, error) {
	ctx2, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	tx, err := b.pool.Begin(ctx2)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", b.where, err)
	}
	defer tx.Rollback(ctx2) //nolint:errcheck // after Commit it does nothing
	// Host acquisitions by workers lock only their host's row; they share
	// the lock that a run's acquisition of many hosts at once
	// (AcquireHosts) takes alone.
	if _, err := tx.Exec(ctx2, `SELECT pg_advisory_xact_lock_shared(7462002)`); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", b.where, err)
	}
	var token int64
	// A free host: the insert takes it (a concurrent insert of the same
	// host waits for this transaction, then finds the row).
	err = tx.QueryRow(ctx2, `INSERT INTO tend_leases (host, run_id, run_user, controller, pid, token, acquired, heartbeat)
		VALUES ($1, $2, $3, $4, $5, nextval('tend_fencing'), now(), now())
		ON CONFLICT (host) DO NOTHING RETURNING token`, host, runID, user, b.controller, b.pid).Scan(&token)
	if errors.Is(err, pgx.ErrNoRows) {
		// A held host: its row, locked, is taken over when its holder
		// is dead.
		l := &Lease{}
		var age time.Duration
		err = tx.QueryRow(ctx2, `SELECT host, run_id, command, run_user, controller, pid, token, acquired, heartbeat, now() - heartbeat
			FROM tend_leases WHERE host = $1 FOR UPDATE`, host).
			Scan(&l.Host, &l.RunID, &l.Command, &l.User, &l.Controller, &l.PID, &l.Token, &l.Acquired, &l.Heartbeat, &age)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", b.where, err)
		}
		if b.alive(&age, l.Controller, l.PID) && (l.RunID != runID || l.Controller != b.controller || l.PID != b.pid) {
			return nil, l, nil
		}
		err = tx.QueryRow(ctx2, `UPDATE tend_leases SET run_id = $2, command = '', run_user = $3, controller = $4, pid = $5,
			token = nextval('tend_fencing'), acquired = now(), heartbeat = now() WHERE host = $1 RETURNING token`,
			host, runID, user, b.controller, b.pid).Scan(&token)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", b.where, err)
	}
	if err := tx.Commit(ctx2); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", b.where, err)
	}
	w := &WorkerLease{b: b, runID: runID, host: host, token: token, stop: make(chan struct{}), done: make(chan struct{})}
	go w.heartbeat()
	return w, nil, nil
}

func (w *WorkerLease) heartbeat() {
	defer close(w.done)
	t := time.NewTicker(HeartbeatEvery)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), HeartbeatEvery)
		_, _ = w.b.pool.Exec(ctx, `UPDATE tend_leases SET heartbeat = now() WHERE host = $1 AND token = $2`, w.host, w.token)
		cancel()
	}
}

// Held reports whether the lease is still this worker's: not taken
// over by another process (after its heartbeat lapsed).
func (w *WorkerLease) Held(ctx context.Context) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	var n int
	if err := w.b.pool.QueryRow(ctx, `SELECT count(*) FROM tend_leases WHERE host = $1 AND token = $2`, w.host, w.token).Scan(&n); err != nil {
		return false, fmt.Errorf("%s: %w", w.b.where, err)
	}
	return n == 1, nil
}

// Release stops renewing the lease and drops it.
func (w *WorkerLease) Release() error {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if _, err := w.b.pool.Exec(ctx, `DELETE FROM tend_leases WHERE host = $1 AND token = $2`, w.host, w.token); err != nil {
		return fmt.Errorf("%s: %w", w.b.where, err)
	}
	return nil
}

// RunStart returns run runID as the records it started with (before
// its workers' appends) replay: the base of JoinRun, the same for every
// host of the run.
func (b *Postgres) RunStart(ctx context.Context, runID string) (*journal.Run, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	recs, err := collectRecords(b.pool.Query(ctx, `SELECT records FROM tend_journal WHERE run_id = $1 AND seq < $2 ORDER BY seq`, runID, distJournalSeq))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.where, err)
	}
	run, err := journal.Replay(recs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.runWhere(runID), err)
	}
	return run, nil
}

// JoinRun opens run runID's journal for a worker writing host (whose
// lease w holds: an append fails once another process took the lease
// over), the run being base (RunStart) and the host's records appended
// since, read alone; or, with w nil, for the worker ending the run, the
// run being all its records. See journal.Join.
func (b *Postgres) JoinRun(ctx context.Context, runID string, w *WorkerLease, base *journal.Run) (*journal.Journal, *journal.Run, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	var run *journal.Run
	host := -1
	s := &sharedSink{b: b, runID: runID}
	if w != nil {
		s.host, s.token = w.host, w.token
		for i, h := range base.Hosts {
			if h.Name == w.host {
				host = i
			}
		}
		if host < 0 {
			return nil, nil, fmt.Errorf("%s: host %s is not in the run", b.runWhere(runID), w.host)
		}
		recs, err := collectRecords(b.pool.Query(ctx, `SELECT records FROM tend_journal WHERE run_id = $1 AND host = $2 ORDER BY seq`, runID, w.host))
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", b.where, err)
		}
		if run, err = journal.ReplayHost(base, host, recs); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", b.runWhere(runID), err)
		}
	} else {
		recs, _, err := records(ctx, b.pool, runID)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", b.where, err)
		}
		if run, err = journal.Replay(recs); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", b.runWhere(runID), err)
		}
	}
	j, err := journal.Join(b.runWhere(runID), run, host, s)
	if err != nil {
		return nil, nil, err
	}
	return j, run, nil
}

// collectRecords concatenates the records of rows.
func collectRecords(rows pgx.Rows, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var b []byte
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, err
		}
		b = append(b, r...)
	}
	return b, rows.Err()
}

// sharedSink appends to the journal of a run several workers write,
// each append one committed transaction, made only while the worker
// holds its host's lease. Appends of different hosts commit at once:
// their sequence numbers come from one sequence (above the numbers of
// the records the run started with), so each writer's records keep
// their order, and records of different hosts, which replay apart, may
// commit in either order.
type sharedSink struct {
	b     *Postgres
	runID string
	host  string
	token int64
}

func (s *sharedSink) Append(records []byte) error {
	if len(records) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	tx, err := s.b.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", s.b.where, err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit it does nothing
	if s.host != "" {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM tend_leases WHERE host = $1 AND token = $2`, s.host, s.token).Scan(&n); err != nil {
			return fmt.Errorf("%s: %w", s.b.where, err)
		}
		if n != 1 {
			return fmt.Errorf("%s: run %s, host %s: %w", s.b.where, s.runID, s.host, ErrFenced)
		}
	}
	host := &s.host
	if s.host == "" {
		host = nil
	}
	if _, err := tx.Exec(ctx, `INSERT INTO tend_journal (run_id, seq, records, host) VALUES ($1, nextval('tend_dist_journal_seq'), $2, $3)`, s.runID, string(records), host); err != nil {
		return fmt.Errorf("%s: %w", s.b.where, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("%s: %w", s.b.where, err)
	}
	return nil
}

func (s *sharedSink) Close() error { return nil }

// Worker is a River client working the host jobs of distributed runs.
type Worker struct {
	client *river.Client[pgx.Tx]
}

// WorkerConfig configures a Worker.
type WorkerConfig struct {
	// Concurrency is how many hosts the worker applies at once.
	Concurrency int
	// JobTimeout bounds one job: its context is cancelled then.
	JobTimeout time.Duration
	// RescueAfter (at least JobTimeout) is how long after a job started
	// the queue takes it as stuck (its worker died) and gives it to
	// another worker; a worker still alive keeps its host's lease, so
	// the job waits for it.
	RescueAfter time.Duration
	// PollInterval is how often the worker looks for jobs besides the
	// database's notifications.
	PollInterval time.Duration
	// Work applies one host; an error makes the queue try the job again
	// later.
	Work func(ctx context.Context, job HostJob, attempt int) error
}

type hostWorker struct {
	river.WorkerDefaults[HostJob]
	work func(ctx context.Context, job HostJob, attempt int) error
}

func (w *hostWorker) Work(ctx context.Context, job *river.Job[HostJob]) error {
	return w.work(ctx, job.Args, job.Attempt)
}

// ForWorker returns the backend with a pool of connections of its own
// sized for a worker applying concurrency hosts at once: the queue's
// client holds some (its notifications, its fetches, its leader's
// maintenance) besides each host's journal appends and lease renewals.
// Closing it closes that pool.
func (b *Postgres) ForWorker(ctx context.Context, concurrency int) (*Postgres, error) {
	cfg := b.pool.Config()
	cfg.MaxConns = int32(concurrency + 3)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.where, err)
	}
	w := *b
	w.pool = pool
	return &w, nil
}

// NewWorker returns a worker of the backend's queue (not started).
func (b *Postgres) NewWorker(ctx context.Context, cfg WorkerConfig) (*Worker, error) {
	if err := b.checkQueue(ctx); err != nil {
		return nil, err
	}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &hostWorker{work: cfg.Work}); err != nil {
		return nil, err
	}
	rc := &river.Config{
		Queues:               map[string]river.QueueConfig{QueueName: {MaxWorkers: max(cfg.Concurrency, 1)}},
		Workers:              workers,
		JobTimeout:           cfg.JobTimeout,
		RescueStuckJobsAfter: cfg.RescueAfter,
		FetchPollInterval:    cfg.PollInterval,
		RetryPolicy:          &quickRetry{},
	}
	client, err := river.NewClient(riverpgxv5.New(b.pool), rc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.where, err)
	}
	return &Worker{client: client}, nil
}

// Start starts working jobs.
func (w *Worker) Start(ctx context.Context) error { return w.client.Start(ctx) }

// Stop waits for the jobs in hand to finish, or ctx to end.
func (w *Worker) Stop(ctx context.Context) error { return w.client.Stop(ctx) }

// quickRetry retries a host job after a second or two: its error is a
// host another worker still holds, or a backend that did not answer.
type quickRetry struct{}

func (quickRetry) NextRetry(job *rivertype.JobRow) time.Time {
	return time.Now().Add(time.Duration(min(job.Attempt, 5)) * time.Second)
}
