package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tendhq/tend/inventory"
	"github.com/tendhq/tend/journal"
	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/transport"
)

// TestRunsPrune: `tend runs prune --keep 1` deletes the older run's
// backups on the host, then its journal and key; the newest run keeps
// both, and --dry-run deletes nothing.
func TestRunsPrune(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "motd")
	if err := os.WriteFile(target, []byte("first\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := func(content string) {
		writeFiles(t, dir, map[string]string{"main.hcl": `file "motd" {
  path    = "` + target + `"
  content = "` + content + `\n"
}
`})
	}
	var ids []string
	for _, c := range []string{"second", "third"} {
		conf(c)
		if out, errOut, code := tend(t, "apply", "-C", dir, "-y"); code != 0 {
			t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
		}
		runs, err := journal.List(dir)
		if err != nil || len(runs) == 0 {
			t.Fatal(runs, err)
		}
		ids = append(ids, runs[len(runs)-1].ID)
	}
	runs, _ := journal.List(dir)
	if len(runs) != 2 {
		t.Fatalf("%d runs journaled, want 2", len(runs))
	}
	backup := map[string]string{}
	for _, r := range runs {
		if len(r.Hosts) != 1 || r.Hosts[0].BackupDir == "" {
			t.Fatalf("run %s journals no backup directory: %+v", r.ID, r.Hosts)
		}
		backup[r.ID] = r.Hosts[0].BackupDir
		if _, err := os.Stat(r.Hosts[0].BackupDir); err != nil {
			t.Fatalf("run %s's backups: %v", r.ID, err)
		}
	}
	t.Cleanup(func() {
		for _, d := range backup {
			os.RemoveAll(d)
		}
	})

	out, _, code := tend(t, "runs", "prune", "-C", dir, "--keep", "1", "--dry-run")
	if code != 0 || !strings.Contains(out, ids[0]) || strings.Contains(out, ids[1]) {
		t.Fatalf("prune --dry-run: exit %d, want the older run listed alone:\n%s", code, out)
	}
	if rs, _ := journal.List(dir); len(rs) != 2 {
		t.Fatal("--dry-run deleted a run")
	}
	if _, _, code := tend(t, "runs", "prune", "-C", dir); code == 0 {
		t.Error("prune without --keep or --older-than succeeded")
	}

	out, errOut, code := tend(t, "runs", "prune", "-C", dir, "--keep", "1", "-y")
	if code != 0 || !strings.Contains(out, "Pruned 1 run.") {
		t.Fatalf("prune: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(backup[ids[0]]); !os.IsNotExist(err) {
		t.Errorf("the pruned run's backups %s are still there (%v)", backup[ids[0]], err)
	}
	if _, err := os.Stat(backup[ids[1]]); err != nil {
		t.Errorf("the kept run's backups: %v", err)
	}
	rs, _ := journal.List(dir)
	if len(rs) != 1 || rs[0].ID != ids[1] {
		t.Errorf("runs after prune: %v, want %s alone", rs, ids[1])
	}
	if _, err := journal.Read(dir, ids[0]); err == nil {
		t.Error("the pruned run can still be read")
	}
	// The kept run still rolls back from its backups.
	if out, errOut, code := tend(t, "rollback", ids[1], "-C", dir, "-y"); code != 0 {
		t.Fatalf("rollback of the kept run: exit %d\n%s%s", code, out, errOut)
	}
	if b, _ := os.ReadFile(target); string(b) != "second\n" {
		t.Errorf("after rollback the file holds %q, want %q", b, "second\n")
	}
}

// TestPruneLeavesOtherDirectories: a backup directory that is not the
// run's own (a damaged or edited journal) is never removed.
func TestPruneLeavesOtherDirectories(t *testing.T) {
	inv := inventory.Localhost()
	ih := inv.Hosts()[0]
	connect := func(ctx context.Context, h *inventory.Host) (transport.Transport, error) {
		return (&common{}).connector()(ctx, h)
	}
	keep := t.TempDir()
	os.WriteFile(filepath.Join(keep, "precious"), []byte("x"), 0o600)
	for _, d := range []string{keep, "/", filepath.Join(keep, "RUN-1", ".."), filepath.Join(keep, "other")} {
		err := removeBackup(context.Background(), plan.Connector(connect), inv, "RUN-1", &journal.Host{Name: ih.Name, BackupDir: d})
		if err == nil || !strings.Contains(err.Error(), "left alone") {
			t.Errorf("backup dir %q: %v, want a refusal", d, err)
		}
	}
	if _, err := os.Stat(filepath.Join(keep, "precious")); err != nil {
		t.Fatal(err)
	}
}
