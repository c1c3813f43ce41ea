// Package backend keeps runs where several controllers share them. The
// default store is the configuration directory's files (journal.Files);
// a PostgreSQL backend (Postgres) stores the runs' journal records, the
// liveness of their writers, and leases on hosts, so that `tend runs`,
// `show`, `rollback` and `resume` work from any machine that reaches
// it, and a second operator's run learns which hosts another run holds
// before it connects to any.
//
// # Journal
//
// A run's journal is the same records as a journal file's lines (see
// package journal), stored in tend_journal, one row per append: each
// append is one committed INSERT, made before the engine starts the
// change it records, so a change is never made without its intent
// committed. The row is inserted only while the writer holds the run's
// fencing token (tend_runs.token): a writer that lost the run to
// another one fails its next append instead of interleaving records.
//
// # Liveness and leases
//
// Where a journal file's writer holds a flock, a run's writer holds a
// lease row: tend_runs records its controller, pid and a heartbeat
// renewed every HeartbeatEvery. A run still "running" whose heartbeat
// is older than LeaseTTL (or released, or whose holder is a dead
// process of this same controller) reads as interrupted. Host leases
// (tend_leases) name the run, user, controller and pid holding each
// host, with a fencing token from one sequence; they are renewed with
// the run's heartbeat and released when its journal is closed. They are
// taken before connecting, besides the lock on the host itself.
//
// # Schema
//
// The schema is versioned (tend_schema_version); Migrate brings it to
// the version this tend knows, idempotently, under an advisory lock.
// Opening a backend whose schema is older or newer fails, naming the
// command to run.
package backend
