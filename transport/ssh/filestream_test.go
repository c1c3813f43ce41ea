package ssh

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/resources/resourcetest"
)

// The file resource's large content over a real sshd: streamed by sftp on
// the connection the scripts use, checked on the host, and seen again by
// the next plan when a byte of it changes.

// sourceDir is a configuration directory whose large files the file
// resource streams (resources.SourceFiles); reading one whole fails.
type sourceDir string

func (d sourceDir) ReadFile(p string) ([]byte, error) {
	return nil, os.ErrPermission // a large source is never read whole
}

func (d sourceDir) RenderTemplate(p string, vars cty.Value) (string, error) {
	return "", os.ErrPermission
}

func (d sourceDir) StatSource(p string) (string, int64, error) {
	full := filepath.Join(string(d), p)
	fi, err := os.Stat(full)
	if err != nil {
		return "", 0, err
	}
	return full, fi.Size(), nil
}

func (d sourceDir) SourceSHA256(full string) (string, int64, error) {
	f, err := os.Open(full)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	return hex.EncodeToString(h.Sum(nil)), n, err
}

// randomSource writes n random bytes to dir/name and returns their
// SHA-256.
func randomSource(t *testing.T, dir, name string, n int) string {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func TestLargeFileOverSFTP(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	s := serverFor(t, c, sshdConfig{})
	tr := c.dial(t, c.host(s), c.options())
	src := t.TempDir()
	sum := randomSource(t, src, "big", 8<<20+3)
	dir := strings.TrimSpace(runOK(t, tr, "mktemp -d"))
	defer runOK(t, tr, "rm -rf "+dir)
	host := &resources.Host{Name: "sshd", T: tr, RunID: "test", BackupDir: dir + "/backup"}
	target := dir + "/big.bin"
	cfg := map[string]cty.Value{"path": cty.StringVal(target), "source": cty.StringVal("big")}
	resourcetest.Run(t, tr, host, sourceDir(src), []resourcetest.Step{
		{Name: "create", Type: resources.File{}, Config: cfg, Want: plan.Create},
		{Name: "no-op", Type: resources.File{}, Config: cfg, Want: plan.NoOp},
		{Name: "byte changed in the middle", Type: resources.File{}, Config: cfg, Want: plan.Update,
			Setup: "printf X | dd of=" + target + " bs=1 seek=4194304 conv=notrunc status=none"},
	})
	if t.Failed() {
		return
	}
	if got := strings.Fields(runOK(t, tr, "sha256sum "+target))[0]; got != sum {
		t.Errorf("the host's file has sha256 %s, want %s", got, sum)
	}
	if got := runOK(t, tr, "cd "+dir+" && ls -A"); got != "backup\nbig.bin\n" {
		t.Errorf("the target directory holds %q, want the file and the backups only", got)
	}
	// Every byte went over the one connection: one login, one sftp
	// channel on it.
	st := tr.Stats()
	if st.Connections != 1 || st.SFTPSessions != 1 {
		t.Errorf("%+v, want 1 connection and 1 sftp session", st)
	}
	log := s.log.String()
	if got := strings.Count(log, "Accepted publickey for "); got != 1 {
		t.Errorf("sshd logged %d logins, want 1", got)
	}
	if got := strings.Count(log, "Starting session: subsystem 'sftp'"); got != 1 {
		t.Errorf("sshd logged %d sftp sessions, want 1", got)
	}
}

// TestLargeFileBecome: with become, sftp (the login user) stages the
// content in the login user's home, and the script, run as root, moves it
// into a directory only root may write in; the file belongs to root, a
// rewritten set-user-ID file keeps its bit, and no staging is left.
func TestLargeFileBecome(t *testing.T) {
	t.Parallel()
	c, s := startBecomeServer(t)
	tr := c.dial(t, becomeHost(c, s, nopasswdUser, ""), c.options())
	src := t.TempDir()
	sum := randomSource(t, src, "big", 3<<20)
	dir := strings.TrimSpace(runOK(t, tr, "mktemp -d")) // root's, 0700
	defer runOK(t, tr, "rm -rf "+dir)
	host := &resources.Host{Name: "sshd", T: tr, RunID: "test", BackupDir: dir + "/backup"}
	target := dir + "/big.bin"
	cfg := map[string]cty.Value{"path": cty.StringVal(target), "source": cty.StringVal("big")}
	resourcetest.Run(t, tr, host, sourceDir(src), []resourcetest.Step{
		{Name: "create", Type: resources.File{}, Config: cfg, Want: plan.Create},
		{Name: "byte changed in the middle", Type: resources.File{}, Config: cfg, Want: plan.Update,
			Setup: "printf X | dd of=" + target + " bs=1 seek=1048576 conv=notrunc status=none"},
	})
	if t.Failed() {
		return
	}
	if got := runOK(t, tr, "stat -c %U:%G:%a "+target+" && sha256sum < "+target); got != "root:root:644\n"+sum+"  -\n" {
		t.Errorf("file as root sees it: %q, want root:root:644 and sha256 %s", got, sum)
	}

	// A root-owned 4755 file rewritten without a declared mode.
	runOK(t, tr, "echo old > "+target+" && chmod 4755 "+target)
	sum = randomSource(t, src, "big", 2<<20)
	ctx := context.Background()
	objCfg := resourcetest.Object(resources.File{}, cfg)
	want, err := resources.File{}.Desired(objCfg, sourceDir(src))
	if err != nil {
		t.Fatal(err)
	}
	before := resourcetest.Read(t, tr, resources.File{}, objCfg, want)
	if _, err := (resources.File{}).Apply(ctx, host, before, want); err != nil {
		t.Fatal(err)
	}
	if got := runOK(t, tr, "stat -c %U:%G:%a "+target+" && sha256sum < "+target); got != "root:root:4755\n"+sum+"  -\n" {
		t.Errorf("rewritten set-user-ID file: %q, want root:root:4755 and sha256 %s", got, sum)
	}
	home := strings.TrimSpace(runOK(t, tr, "getent passwd "+nopasswdUser+" | cut -d: -f6"))
	if got := runOK(t, tr, "cd "+home+" && for f in .tend.*; do [ -e \"$f\" ] && echo \"$f\"; done; true"); got != "" {
		t.Errorf("staging left in the login user's home: %q", got)
	}
	if st := tr.Stats(); st.Connections != 1 || st.SFTPSessions != 1 {
		t.Errorf("%+v, want 1 connection and 1 sftp session", st)
	}
}

// TestLargeFileWithoutSFTP: a server without the sftp subsystem gets
// large content on the change script's stdin instead, checked the same
// way.
func TestLargeFileWithoutSFTP(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	s := serverFor(t, c, sshdConfig{noSFTP: true})
	opts := c.options()
	opts.Stderr = io.Discard
	tr := c.dial(t, c.host(s), opts)
	src := t.TempDir()
	sum := randomSource(t, src, "big", 3<<20)
	dir := strings.TrimSpace(runOK(t, tr, "mktemp -d"))
	defer runOK(t, tr, "rm -rf "+dir)
	host := &resources.Host{Name: "sshd", T: tr, RunID: "test", BackupDir: dir + "/backup"}
	target := dir + "/big.bin"
	cfg := map[string]cty.Value{"path": cty.StringVal(target), "source": cty.StringVal("big")}
	resourcetest.Run(t, tr, host, sourceDir(src), []resourcetest.Step{
		{Name: "create", Type: resources.File{}, Config: cfg, Want: plan.Create},
	})
	if got := strings.Fields(runOK(t, tr, "sha256sum "+target))[0]; got != sum {
		t.Errorf("the host's file has sha256 %s, want %s", got, sum)
	}
	if st := tr.Stats(); st.Connections != 1 || st.SFTPSessions != 0 {
		t.Errorf("%+v, want 1 connection and no sftp session", st)
	}
}

// patternReader yields n bytes of a repeating pattern without holding
// them: what SendFile allocates is then its own.
type patternReader struct{ n int64 }

func (r *patternReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.n)]
	for i := range p {
		p[i] = byte(i * 7)
	}
	r.n -= int64(len(p))
	return len(p), nil
}

// TestSendFileMemoryBounded: what the controller allocates to send a file
// over sftp does not grow with the file (a buffer reused for every write,
// a bounded number of writes in flight): sending 256 MiB allocates less
// than a 32nd of it, whatever the speed. Not parallel, so that the
// process's allocations are this test's.
func TestSendFileMemoryBounded(t *testing.T) {
	c := newClient(t)
	s := serverFor(t, c, sshdConfig{})
	tr := c.dial(t, c.host(s), c.options())
	ctx := context.Background()
	// Stage first (this opens the sftp channel), then send to /dev/null:
	// the host's disk plays no part.
	_, cleanup, err := tr.StageFile(ctx, t.TempDir(), ".tend-test.")
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	const size = 256 << 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if err := tr.SendFile(ctx, "/dev/null", &patternReader{n: size}); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("sending %d MiB allocated %d KiB in %d allocations", size>>20, alloc>>10, after.Mallocs-before.Mallocs)
	if alloc >= size/32 {
		t.Errorf("sending %d MiB allocated %d KiB, want under %d KiB", size>>20, alloc>>10, size/32>>10)
	}
}
