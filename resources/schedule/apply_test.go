package schedule

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/transport"
	"github.com/tendhq/tend/transport/local"
)

// inDir runs scripts with CronDir moved to dir.
type inDir struct {
	transport.Transport
	dir string
}

func (d inDir) Run(ctx context.Context, cmd transport.Command) (*transport.Result, error) {
	cmd.Script = strings.ReplaceAll(cmd.Script, CronDir, d.dir)
	return d.Transport.Run(ctx, cmd)
}

// TestCronChangeErrors: writing a cron file whose directory is missing
// fails with the action, the file and the cause, through Apply and the
// batch, through real sh; once the directory exists the file is written
// root-owned, mode 0644.
func TestCronChangeErrors(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cron.d")
	host := &resources.Host{Name: "local", T: inDir{local.New(), dir}, RunID: "test", BackupDir: filepath.Join(t.TempDir(), "backup")}
	want, err := Task{}.Desired(cfg(base(nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	before := &resources.State{Attrs: want.Attrs}
	msg := "create /etc/cron.d/tend-backup: parent " + dir + " does not exist"
	_, err = Task{}.Apply(context.Background(), host, before, want)
	var ce *resources.ChangeError
	if !errors.As(err, &ce) || ce.Error() != msg {
		t.Errorf("apply: %v (%T), want %q", err, err, msg)
	}
	rs := Task{}.ApplyBatch(context.Background(), host, []resources.BatchItem{{Config: cfg(base(nil)), Before: before, After: want}})
	if !errors.As(rs[0].Err, &ce) || ce.Error() != msg {
		t.Errorf("batch: %v (%T), want %q", rs[0].Err, rs[0].Err, msg)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := (Task{}).Apply(context.Background(), host, before, want); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "tend-backup"))
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("written: %v %v", fi, err)
	}
}

// TestCronSecretMode: a cron task whose environment comes from a secret
// is written root-owned 0600 with the value in it, through Apply and the
// batch, and an existing 0644 file is planned to become 0600.
func TestCronSecretMode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cron.d")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	host := &resources.Host{Name: "local", T: inDir{local.New(), dir}, RunID: "test", BackupDir: filepath.Join(t.TempDir(), "backup")}
	c := cfg(base(map[string]cty.Value{"environment": cty.MapVal(map[string]cty.Value{"PW": s("hunter2").Mark(resources.Sensitive)})}))
	want, err := Task{}.Desired(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want.Str("mode") != "0600" {
		t.Errorf("desired mode %q, want 0600", want.Str("mode"))
	}
	p := filepath.Join(dir, "tend-backup")
	check := func(how string) {
		t.Helper()
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %o, want 600", how, fi.Mode().Perm())
		}
		b, _ := os.ReadFile(p)
		if !strings.Contains(string(b), "\nPW=\"hunter2\"\n30 2 * * * root /usr/local/bin/backup\n") {
			t.Errorf("%s: content %q", how, b)
		}
	}
	if _, err := (Task{}).Apply(context.Background(), host, &resources.State{Attrs: want.Attrs}, want); err != nil {
		t.Fatal(err)
	}
	check("apply")
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	cur := &resources.State{Present: true, Attrs: map[string]cty.Value{"name": s("backup"), "kind": s("cron"), "path": s(CronPath("backup")), "mode": s("0644"), "owner": s("root")}, Content: want.Content}
	rs := Task{}.ApplyBatch(context.Background(), host, []resources.BatchItem{{Config: c, Before: cur, After: want}})
	if rs[0].Err != nil {
		t.Fatal(rs[0].Err)
	}
	check("batch")
}
