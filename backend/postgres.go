package backend

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tendhq/tend/journal"
)

// SchemaVersion is the version of the schema this tend reads and
// writes.
const SchemaVersion = 2

// migrations[i] brings the schema from version i to i+1.
var migrations = []string{
	`CREATE TABLE tend_runs (
		id text PRIMARY KEY,
		started timestamptz NOT NULL,
		holder_controller text NOT NULL DEFAULT '',
		holder_pid integer NOT NULL DEFAULT 0,
		token bigint NOT NULL,
		heartbeat timestamptz
	);
	CREATE TABLE tend_journal (
		run_id text NOT NULL REFERENCES tend_runs(id) ON DELETE CASCADE,
		seq bigint NOT NULL,
		records text NOT NULL,
		PRIMARY KEY (run_id, seq)
	);
	CREATE SEQUENCE tend_fencing;
	CREATE TABLE tend_leases (
		host text PRIMARY KEY,
		run_id text NOT NULL,
		run_user text NOT NULL,
		controller text NOT NULL,
		pid integer NOT NULL,
		token bigint NOT NULL,
		acquired timestamptz NOT NULL,
		heartbeat timestamptz NOT NULL
	);`,
	// Version 2: the command kind of each host lease, and the facts
	// cache.
	`ALTER TABLE tend_leases ADD COLUMN command text NOT NULL DEFAULT '';
	CREATE TABLE tend_facts (
		host text PRIMARY KEY,
		facts text NOT NULL,
		gathered timestamptz NOT NULL
	);`,
}

// LeaseTTL is how long a run's or a host lease's heartbeat stays
// valid; HeartbeatEvery is how often a writer renews it.
var (
	LeaseTTL       = 15 * time.Second
	HeartbeatEvery = 3 * time.Second
)

// opTimeout bounds each statement, so that a backend that stops
// answering fails the update rather than hanging the run.
const opTimeout = 10 * time.Second

// Postgres is a backend in a PostgreSQL database.
type Postgres struct {
	pool *pgxpool.Pool
	// where is the URL without its password, for messages.
	where string
	// controller and pid identify this process in leases.
	controller string
	pid        int
}

var _ journal.Store = (*Postgres)(nil)

// redactURL returns u without a password.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.User == nil {
		return u
	}
	if _, ok := p.User.Password(); ok {
		p.User = url.UserPassword(p.User.Username(), "xxxxx")
	}
	return p.String()
}

// Connect opens the PostgreSQL backend at connURL (a postgres:// URL or
// a key=value connection string, as libpq reads them). With check, a
// schema that is not at SchemaVersion is an error naming `tend backend
// migrate`.
func Connect(ctx context.Context, connURL string, check bool) (*Postgres, error) {
	cfg, err := pgxpool.ParseConfig(connURL)
	if err != nil {
		return nil, fmt.Errorf("backend %s: %w", redactURL(connURL), err)
	}
	cfg.MaxConns = 4
	cfg.ConnConfig.ConnectTimeout = opTimeout
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("backend %s: %w", redactURL(connURL), err)
	}
	b := &Postgres{pool: pool, where: "postgres " + redactURL(connURL), pid: os.Getpid()}
	b.controller, _ = os.Hostname()
	if check {
		v, err := b.version(ctx)
		if err != nil {
			pool.Close()
			return nil, err
		}
		if v != SchemaVersion {
			pool.Close()
			return nil, fmt.Errorf("%s: the schema is at version %d, this tend needs %d: run tend backend migrate", b.where, v, SchemaVersion)
		}
	}
	return b, nil
}

// Close closes the backend's connections.
func (b *Postgres) Close() { b.pool.Close() }

// Where names the backend in messages (no password).
func (b *Postgres) Where() string { return b.where }

func (b *Postgres) version(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	var exists bool
	if err := b.pool.QueryRow(ctx, `SELECT to_regclass('tend_schema_version') IS NOT NULL`).Scan(&exists); err != nil {
		return 0, fmt.Errorf("%s: %w", b.where, err)
	}
	if !exists {
		return 0, nil
	}
	var v int
	if err := b.pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM tend_schema_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("%s: %w", b.where, err)
	}
	return v, nil
}

// Migrate brings the schema to SchemaVersion and returns the versions
// it was and is at. Running it again does nothing; a schema newer than
// this tend's is refused.
func (b *Postgres) Migrate(ctx context.Context) (from, to int, err error) {
	tx, err := b.pool.Begin(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", b.where, err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit it does nothing
	// One migration at a time, whoever runs it.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7462001)`); err != nil {
		return 0, 0, fmt.Errorf("%s: %w", b.where, err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS tend_schema_version (version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())`); err != nil {
		return 0, 0, fmt.Errorf("%s: %w", b.where, err)
	}
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM tend_schema_version`).Scan(&from); err != nil {
		return 0, 0, fmt.Errorf("%s: %w", b.where, err)
	}
	if from > SchemaVersion {
		return from, from, fmt.Errorf("%s: the schema is at version %d, newer than this tend's %d", b.where, from, SchemaVersion)
	}
	for v := from; v < SchemaVersion; v++ {
		if _, err := tx.Exec(ctx, migrations[v]); err != nil {
			return from, v, fmt.Errorf("%s: migrating to schema version %d: %w", b.where, v+1, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO tend_schema_version (version) VALUES ($1)`, v+1); err != nil {
			return from, v, fmt.Errorf("%s: %w", b.where, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return from, from, fmt.Errorf("%s: %w", b.where, err)
	}
	return from, SchemaVersion, nil
}

// alive tells whether a holder with a heartbeat age (nil: released) is
// still alive: its heartbeat is recent, and it is not a process of this
// controller that no longer exists.
func (b *Postgres) alive(age *time.Duration, controller string, pid int) bool {
	if age == nil || *age > LeaseTTL {
		return false
	}
	if controller == b.controller && pid > 0 {
		if processGone(pid) {
			return false
		}
	}
	return true
}

// Create starts a new run's journal: its lease row and first records,
// each committed before Create returns.
func (b *Postgres) Create(run *journal.Run) (*journal.Journal, error) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	var token int64
	err := b.pool.QueryRow(ctx, `INSERT INTO tend_runs (id, started, holder_controller, holder_pid, token, heartbeat)
		VALUES ($1, $2, $3, $4, nextval('tend_fencing'), now()) RETURNING token`,
		run.ID, run.Started, b.controller, b.pid).Scan(&token)
	if err != nil {
		return nil, fmt.Errorf("journal: %s: %w", b.where, err)
	}
	s := b.newSink(run.ID, token, 0)
	j, err := journal.Start(b.runWhere(run.ID), run, s)
	if err != nil {
		s.Close()
		return nil, err
	}
	return j, nil
}

func (b *Postgres) runWhere(id string) string { return b.where + " run " + id }

// Open continues an existing run's journal, taking the run's lease; a
// run whose writer is alive is refused with a *journal.RunningError.
func (b *Postgres) Open(run *journal.Run) (*journal.Journal, error) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	tx, err := b.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("journal: %s: %w", b.where, err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit it does nothing
	var (
		controller string
		pid        int
		age        *time.Duration
	)
	err = tx.QueryRow(ctx, `SELECT holder_controller, holder_pid, now() - heartbeat FROM tend_runs WHERE id = $1 FOR UPDATE`, run.ID).Scan(&controller, &pid, &age)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("no run %q in %s", run.ID, b.where)
	}
	if err != nil {
		return nil, fmt.Errorf("journal: %s: %w", b.where, err)
	}
	if b.alive(age, controller, pid) {
		return nil, &journal.RunningError{ID: run.ID, PID: pid, Controller: controller}
	}
	var token int64
	if err := tx.QueryRow(ctx, `UPDATE tend_runs SET holder_controller = $2, holder_pid = $3, token = nextval('tend_fencing'), heartbeat = now()
		WHERE id = $1 RETURNING token`, run.ID, b.controller, b.pid).Scan(&token); err != nil {
		return nil, fmt.Errorf("journal: %s: %w", b.where, err)
	}
	recs, seq, err := records(ctx, tx, run.ID)
	if err != nil {
		return nil, fmt.Errorf("journal: %s: %w", b.where, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("journal: %s: %w", b.where, err)
	}
	stored, err := journal.Replay(recs)
	if err != nil {
		return nil, fmt.Errorf("journal: %s: %w", b.runWhere(run.ID), err)
	}
	s := b.newSink(run.ID, token, seq)
	j, err := journal.Continue(b.runWhere(run.ID), stored, run, s)
	if err != nil {
		s.Close()
		return nil, err
	}
	return j, nil
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// records returns a run's records, in order, and the next sequence
// number.
func records(ctx context.Context, q querier, id string) ([]byte, int64, error) {
	rows, err := q.Query(ctx, `SELECT seq, records FROM tend_journal WHERE run_id = $1 ORDER BY seq`, id)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var b []byte
	var next int64
	for rows.Next() {
		var seq int64
		var r string
		if err := rows.Scan(&seq, &r); err != nil {
			return nil, 0, err
		}
		b = append(b, r...)
		next = seq + 1
	}
	return b, next, rows.Err()
}

// Read loads a run by id or unique id prefix.
func (b *Postgres) Read(id string) (*journal.Run, error) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	rows, err := b.pool.Query(ctx, `SELECT id FROM tend_runs WHERE starts_with(id, $1) ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.where, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.where, err)
	}
	for _, m := range ids {
		if m == id {
			ids = []string{id}
			break
		}
	}
	switch len(ids) {
	case 0:
		return nil, fmt.Errorf("no run %q in %s", id, b.where)
	case 1:
	default:
		return nil, fmt.Errorf("run id %q is ambiguous: %s", id, strings.Join(ids, ", "))
	}
	runs, err := b.load(ctx, ids[0])
	if err != nil {
		return nil, err
	}
	if len(runs) == 0 {
		return nil, fmt.Errorf("no run %q in %s", id, b.where)
	}
	return runs[0], nil
}

// List returns every run, oldest first; runs whose records cannot be
// replayed are left out.
func (b *Postgres) List() ([]*journal.Run, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*opTimeout)
	defer cancel()
	return b.load(ctx, "")
}

// load reads run id, or every run when id is empty, in one snapshot.
func (b *Postgres) load(ctx context.Context, id string) ([]*journal.Run, error) {
	rows, err := b.pool.Query(ctx, `SELECT r.id, r.holder_controller, r.holder_pid, now() - r.heartbeat,
			string_agg(j.records, '' ORDER BY j.seq)
		FROM tend_runs r JOIN tend_journal j ON j.run_id = r.id
		WHERE $1 = '' OR r.id = $1
		GROUP BY r.id ORDER BY r.started, r.id`, id)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.where, err)
	}
	defer rows.Close()
	var runs []*journal.Run
	for rows.Next() {
		var (
			rid, controller, recs string
			pid                   int
			age                   *time.Duration
		)
		if err := rows.Scan(&rid, &controller, &pid, &age, &recs); err != nil {
			return nil, fmt.Errorf("%s: %w", b.where, err)
		}
		r, err := journal.Replay([]byte(recs))
		if err != nil {
			if id != "" {
				return nil, fmt.Errorf("%s: %w", b.runWhere(rid), err)
			}
			continue
		}
		if !b.alive(age, controller, pid) {
			r.MarkInterrupted()
		}
		runs = append(runs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", b.where, err)
	}
	return runs, nil
}

// Remove deletes a run that is not running, with its records, and the
// key of its secret undo values when this controller holds it.
func (b *Postgres) Remove(id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	tx, err := b.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", b.where, err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit it does nothing
	var (
		controller string
		pid        int
		age        *time.Duration
	)
	err = tx.QueryRow(ctx, `SELECT holder_controller, holder_pid, now() - heartbeat FROM tend_runs WHERE id = $1 FOR UPDATE`, id).Scan(&controller, &pid, &age)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("no run %q in %s", id, b.where)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", b.where, err)
	}
	if b.alive(age, controller, pid) {
		return &journal.RunningError{ID: id, PID: pid, Controller: controller}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM tend_runs WHERE id = $1`, id); err != nil {
		return fmt.Errorf("%s: %w", b.where, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("%s: %w", b.where, err)
	}
	// The key of the run's secret undo values, if this controller made
	// them.
	if kp, err := journal.KeyPath(id); err == nil {
		if err := os.Remove(kp); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// sink appends a run's records, one committed INSERT per append, while
// it holds the run's fencing token, and renews the run's and its host
// leases' heartbeat until closed.
type sink struct {
	b     *Postgres
	id    string
	token int64
	seq   int64
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

var _ journal.Sink = (*sink)(nil)

func (b *Postgres) newSink(id string, token, seq int64) *sink {
	s := &sink{b: b, id: id, token: token, seq: seq, stop: make(chan struct{}), done: make(chan struct{})}
	go s.heartbeat()
	return s
}

// ErrFenced is an append's error when another writer took the run over.
var ErrFenced = errors.New("another process took the run over (its fencing token changed)")

func (s *sink) Append(records []byte) error {
	if len(records) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	tag, err := s.b.pool.Exec(ctx, `INSERT INTO tend_journal (run_id, seq, records)
		SELECT id, $2, $3 FROM tend_runs WHERE id = $1 AND token = $4`, s.id, s.seq, string(records), s.token)
	if err != nil {
		return fmt.Errorf("%s: %w", s.b.where, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("%s: run %s: %w", s.b.where, s.id, ErrFenced)
	}
	s.seq++
	return nil
}

func (s *sink) heartbeat() {
	defer close(s.done)
	t := time.NewTicker(HeartbeatEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), HeartbeatEvery)
		_, _ = s.b.pool.Exec(ctx, `UPDATE tend_runs SET heartbeat = now() WHERE id = $1 AND token = $2`, s.id, s.token)
		_, _ = s.b.pool.Exec(ctx, `UPDATE tend_leases SET heartbeat = now() WHERE run_id = $1`, s.id)
		cancel()
	}
}

// Close stops the heartbeat and releases the run's lease and its host
// leases. If the backend cannot be reached, they expire after LeaseTTL.
func (s *sink) Close() error {
	s.once.Do(func() {
		close(s.stop)
		<-s.done
	})
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	_, err := s.b.pool.Exec(ctx, `UPDATE tend_runs SET heartbeat = NULL WHERE id = $1 AND token = $2`, s.id, s.token)
	if _, lerr := s.b.pool.Exec(ctx, `DELETE FROM tend_leases WHERE run_id = $1`, s.id); err == nil {
		err = lerr
	}
	if err != nil {
		return fmt.Errorf("%s: releasing run %s: %w", s.b.where, s.id, err)
	}
	return nil
}
