package schedule

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
