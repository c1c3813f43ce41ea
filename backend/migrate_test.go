//go:build linux

package backend

import (
	"context"
	"testing"

	"github.com/tendhq/tend/backend/pgtest"
)

// TestMigrateFromVersion1: a schema at version 1 holding a lease is
// brought to the current version; the lease is kept, with no command.
func TestMigrateFromVersion1(t *testing.T) {
	srv := pgtest.Start(t)
	ctx := context.Background()
	b, err := Connect(ctx, srv.URL(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, q := range []string{
		`CREATE TABLE tend_schema_version (version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())`,
		migrations[0],
		`INSERT INTO tend_schema_version (version) VALUES (1)`,
		`INSERT INTO tend_leases (host, run_id, run_user, controller, pid, token, acquired, heartbeat)
			VALUES ('web1', 'run-old', 'alice', 'c1', 1, 1, now(), now())`,
	} {
		if _, err := b.pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Connect(ctx, srv.URL(), true); err == nil {
		t.Fatal("a schema at version 1 opened")
	}
	from, to, err := b.Migrate(ctx)
	if err != nil || from != 1 || to != SchemaVersion {
		t.Fatalf("migrate: from %d to %d, %v", from, to, err)
	}
	var host, command string
	if err := b.pool.QueryRow(ctx, `SELECT host, command FROM tend_leases`).Scan(&host, &command); err != nil || host != "web1" || command != "" {
		t.Errorf("the lease after the migration: %q %q %v", host, command, err)
	}
	if got, err := b.Facts(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("the facts cache after the migration: %v %v", got, err)
	}
}
