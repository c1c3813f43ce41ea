package backend

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// Lease is a run's hold on a host.
type Lease struct {
	Host       string
	RunID      string
	User       string
	Controller string
	PID        int
	// Token is the fencing token: it grows with every acquisition.
	Token     int64
	Acquired  time.Time
	Heartbeat time.Time
}

func (l *Lease) String() string {
	return fmt.Sprintf("%s held by run %s (%s, pid %d on %s, since %s)", l.Host, l.RunID, l.User, l.PID, l.Controller, l.Acquired.UTC().Format(time.RFC3339))
}

// AcquireHosts takes the leases of hosts for the run holder names (its
// RunID, User, Controller, PID): all of them, or none when another live
// run holds any; then it returns the conflicting leases, by host. A
// host this run already holds is renewed.
func (b *Postgres) AcquireHosts(ctx context.Context, holder Lease, hosts []string) ([]*Lease, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	tx, err := b.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.where, err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit it does nothing
	// Acquisitions take turns: two runs inserting leases of the same
	// new host must not both see it free.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7462002)`); err != nil {
		return nil, fmt.Errorf("%s: %w", b.where, err)
	}
	held, err := b.leases(ctx, tx, hosts)
	if err != nil {
		return nil, err
	}
	var conflicts []*Lease
	for _, l := range held {
		if l.RunID != holder.RunID {
			conflicts = append(conflicts, l)
		}
	}
	if len(conflicts) > 0 {
		return conflicts, nil
	}
	_, err = tx.Exec(ctx, `INSERT INTO tend_leases (host, run_id, run_user, controller, pid, token, acquired, heartbeat)
		SELECT h, $2, $3, $4, $5, nextval('tend_fencing'), now(), now() FROM unnest($1::text[]) AS h
		ON CONFLICT (host) DO UPDATE SET run_id = excluded.run_id, run_user = excluded.run_user, controller = excluded.controller,
			pid = excluded.pid, token = excluded.token, acquired = excluded.acquired, heartbeat = excluded.heartbeat`,
		hosts, holder.RunID, holder.User, holder.Controller, holder.PID)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.where, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", b.where, err)
	}
	return nil, nil
}

// ReleaseHosts drops run runID's host leases (closing its journal
// does too).
func (b *Postgres) ReleaseHosts(ctx context.Context, runID string) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	if _, err := b.pool.Exec(ctx, `DELETE FROM tend_leases WHERE run_id = $1`, runID); err != nil {
		return fmt.Errorf("%s: %w", b.where, err)
	}
	return nil
}

// Leases returns the live host leases, by host.
func (b *Postgres) Leases(ctx context.Context) ([]*Lease, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	return b.leases(ctx, b.pool, nil)
}

// leases returns the live leases of hosts (all hosts when nil), by
// host; with a transaction, it locks their rows.
func (b *Postgres) leases(ctx context.Context, q querier, hosts []string) ([]*Lease, error) {
	rows, err := q.Query(ctx, `SELECT host, run_id, run_user, controller, pid, token, acquired, heartbeat, now() - heartbeat
		FROM tend_leases WHERE $1::text[] IS NULL OR host = ANY($1) ORDER BY host`, hosts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.where, err)
	}
	defer rows.Close()
	var out []*Lease
	for rows.Next() {
		l := &Lease{}
		var age time.Duration
		if err := rows.Scan(&l.Host, &l.RunID, &l.User, &l.Controller, &l.PID, &l.Token, &l.Acquired, &l.Heartbeat, &age); err != nil {
			return nil, fmt.Errorf("%s: %w", b.where, err)
		}
		if b.alive(&age, l.Controller, l.PID) {
			out = append(out, l)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", b.where, err)
	}
	sort.Slice(out, func(i, k int) bool { return out[i].Host < out[k].Host })
	return out, nil
}

// Hold is host leases taken by HoldHosts, renewed until released.
type Hold struct {
	b     *Postgres
	runID string
	stop  chan struct{}
	done  chan struct{}
}

// HoldHosts takes the leases of hosts as AcquireHosts does and, when it
// got them, renews them every HeartbeatEvery until Release.
func (b *Postgres) HoldHosts(ctx context.Context, holder Lease, hosts []string) (*Hold, []*Lease, error) {
	conflicts, err := b.AcquireHosts(ctx, holder, hosts)
	if err != nil || len(conflicts) > 0 {
		return nil, conflicts, err
	}
	h := &Hold{b: b, runID: holder.RunID, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		t := time.NewTicker(HeartbeatEvery)
		defer t.Stop()
		for {
			select {
			case <-h.stop:
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), HeartbeatEvery)
			_, _ = b.pool.Exec(ctx, `UPDATE tend_leases SET heartbeat = now() WHERE run_id = $1`, h.runID)
			cancel()
		}
	}()
	return h, nil, nil
}

// Release stops renewing the leases and drops them.
func (h *Hold) Release() error {
	if h == nil {
		return nil
	}
	select {
	case <-h.stop:
	default:
		close(h.stop)
	}
	<-h.done
	return h.b.ReleaseHosts(context.Background(), h.runID)
}
