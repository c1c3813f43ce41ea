package resources_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/resources/resourcetest"
	"github.com/tendhq/tend/transport"
	"github.com/tendhq/tend/transport/local"
)

// streamEnv is a configuration directory that can describe its files
// without reading them (resources.SourceFiles), and counts the files it
// had to read whole.
type streamEnv struct {
	dirEnv
	reads *atomic.Int64
}

func newStreamEnv(dir string) streamEnv { return streamEnv{dirEnv(dir), new(atomic.Int64)} }

func (e streamEnv) ReadFile(p string) ([]byte, error) {
	e.reads.Add(1)
	return e.dirEnv.ReadFile(p)
}

func (e streamEnv) StatSource(p string) (string, int64, error) {
	full := filepath.Join(string(e.dirEnv), p)
	fi, err := os.Stat(full)
	if err != nil {
		return "", 0, err
	}
	return full, fi.Size(), nil
}

func (e streamEnv) SourceSHA256(full string) (string, int64, error) {
	f, err := os.Open(full)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	return hex.EncodeToString(h.Sum(nil)), n, err
}

func writeRandom(t *testing.T, p string, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

func fileSHA256(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestLargeSourceLocal: a source file larger than the streaming threshold
// is described by digest, never read whole by the controller, streamed to
// the host (the local transport has no FileSender: on the writing
// script's stdin) and keeps the contract: create, replace, a byte changed
// in the middle on the host is seen and repaired, revert restores.
func TestLargeSourceLocal(t *testing.T) {
	cfgDir, root := t.TempDir(), t.TempDir()
	env := newStreamEnv(cfgDir)
	writeRandom(t, filepath.Join(cfgDir, "big1"), 3<<20+17)
	writeRandom(t, filepath.Join(cfgDir, "big2"), 2<<20)
	host := &resources.Host{Name: "local", T: local.New(), RunID: "test", BackupDir: filepath.Join(t.TempDir(), "backup")}
	s := cty.StringVal
	target := filepath.Join(root, "f.bin")
	cfg := func(src string) map[string]cty.Value {
		return map[string]cty.Value{"path": s(target), "source": s(src)}
	}
	file := resources.File{}
	resourcetest.Run(t, host.T, host, env, []resourcetest.Step{
		{Name: "create", Type: file, Config: cfg("big1"), Want: plan.Create},
		{Name: "no-op", Type: file, Config: cfg("big1"), Want: plan.NoOp},
		{Name: "replace", Type: file, Config: cfg("big2"), Want: plan.Update},
		{Name: "byte changed in the middle", Type: file, Config: cfg("big2"), Want: plan.Update,
			Setup: "printf X | dd of=" + target + " bs=1 seek=1048576 conv=notrunc status=none"},
	})
	if n := env.reads.Load(); n != 0 {
		t.Errorf("the controller read %d large source files whole", n)
	}
	if got, want := fileSHA256(t, target), fileSHA256(t, filepath.Join(cfgDir, "big2")); got != want {
		t.Errorf("host file sha256 %s, want %s", got, want)
	}
	// Nothing left next to the file.
	entries, _ := os.ReadDir(root)
	if len(entries) != 1 {
		t.Errorf("%d entries in the target directory, want 1: %v", len(entries), entries)
	}
}

// TestLargeSourceDesired: the desired content of a large source holds no
// bytes, only its digest, size and path; a small source is read as
// before, so its diff can be shown.
func TestLargeSourceDesired(t *testing.T) {
	dir := t.TempDir()
	env := newStreamEnv(dir)
	big := writeRandom(t, filepath.Join(dir, "big"), 1<<20+1)
	small := writeRandom(t, filepath.Join(dir, "small"), 1<<20)
	cfg := func(src string) cty.Value {
		return resourcetest.Object(resources.File{}, map[string]cty.Value{"path": cty.StringVal("/x"), "source": cty.StringVal(src)})
	}
	st, err := resources.File{}.Desired(cfg("big"), env)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(big)
	if c := st.Content; c.Data != nil || c.Known || c.Source != filepath.Join(dir, "big") || c.Size != int64(len(big)) || c.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("large source: %+v (data %d bytes)", c, len(c.Data))
	}
	st, err = resources.File{}.Desired(cfg("small"), env)
	if err != nil {
		t.Fatal(err)
	}
	if c := st.Content; !c.Known || !bytes.Equal(c.Data, small) || c.Source != "" {
		t.Errorf("small source: known %v, %d bytes, source %q", c.Known, len(c.Data), c.Source)
	}
	if _, err := (resources.File{}).Desired(cfg("missing"), env); err == nil || !strings.Contains(err.Error(), "source") {
		t.Errorf("missing source: %v", err)
	}
}

// TestLargeSourceChangedSinceThePlan: content that is not what the plan
// promised (the source changed after its digest was taken) never replaces
// the file: the host checks the SHA-256 before the rename.
func TestLargeSourceChangedSinceThePlan(t *testing.T) {
	cfgDir, root := t.TempDir(), t.TempDir()
	env := newStreamEnv(cfgDir)
	src := filepath.Join(cfgDir, "big")
	writeRandom(t, src, 2<<20)
	target := filepath.Join(root, "f")
	if err := os.WriteFile(target, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	host := &resources.Host{Name: "local", T: local.New(), RunID: "test", BackupDir: filepath.Join(t.TempDir(), "backup")}
	cfg := resourcetest.Object(resources.File{}, map[string]cty.Value{"path": cty.StringVal(target), "source": cty.StringVal("big")})
	want, err := resources.File{}.Desired(cfg, env)
	if err != nil {
		t.Fatal(err)
	}
	before := resourcetest.Read(t, host.T, resources.File{}, cfg, want)
	writeRandom(t, src, 2<<20) // changed after the plan
	_, err = resources.File{}.Apply(context.Background(), host, before, want)
	if err == nil || !strings.Contains(err.Error(), "arrived damaged") {
		t.Fatalf("apply of content other than planned: %v, want a SHA-256 mismatch", err)
	}
	if b, _ := os.ReadFile(target); string(b) != "old\n" {
		t.Errorf("the file was replaced: %d bytes", len(b))
	}
	if entries, _ := os.ReadDir(root); len(entries) != 1 {
		t.Errorf("%d entries in the target directory, want 1: %v", len(entries), entries)
	}
}

// TestLargeContentKeepsSetID: rewriting a 4755 file's streamed content
// without a declared mode keeps its set-user-ID bit (ownership is given
// before the mode: chown clears set-id bits).
func TestLargeContentKeepsSetID(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: chown of the rewritten file")
	}
	root := t.TempDir()
	target := filepath.Join(root, "suid")
	if err := os.WriteFile(target, []byte("old\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("chmod", "4755", target).CombinedOutput(); err != nil {
		t.Fatalf("chmod: %v %s", err, out)
	}
	host := &resources.Host{Name: "local", T: local.New(), RunID: "test", BackupDir: filepath.Join(t.TempDir(), "backup")}
	big := strings.Repeat("large content\n", 100_000)
	cfg := resourcetest.Object(resources.File{}, map[string]cty.Value{"path": cty.StringVal(target), "content": cty.StringVal(big)})
	want, err := resources.File{}.Desired(cfg, newStreamEnv(root))
	if err != nil {
		t.Fatal(err)
	}
	before := resourcetest.Read(t, host.T, resources.File{}, cfg, want)
	if _, err := (resources.File{}).Apply(context.Background(), host, before, want); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(target)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSetuid == 0 || fi.Mode().Perm() != 0o755 {
		t.Errorf("mode after rewrite: %v, want setuid 0755", fi.Mode())
	}
	if b, _ := os.ReadFile(target); string(b) != big {
		t.Errorf("content: %d bytes, want %d", len(b), len(big))
	}
}

// psRecorder is a Windows host's transport that keeps the scripts it runs
// and what their stdin was.
type psRecorder struct {
	scripts []string
	stdins  []io.Reader
	data    [][]byte
}

func (r *psRecorder) Run(ctx context.Context, cmd transport.Command) (*transport.Result, error) {
	r.scripts = append(r.scripts, cmd.Script)
	r.stdins = append(r.stdins, cmd.Stdin)
	b, _ := io.ReadAll(cmd.Stdin)
	r.data = append(r.data, b)
	return &transport.Result{}, nil
}

func (r *psRecorder) Close() error { return nil }

// TestLargeSourceWindows: on a Windows host a large source streams from
// the controller's file on the script's stdin (WinRM sends it in pieces),
// and the script checks its SHA-256 before it replaces the file.
func TestLargeSourceWindows(t *testing.T) {
	dir := t.TempDir()
	data := writeRandom(t, filepath.Join(dir, "big"), 3<<20)
	typ := resources.OnHost(resources.File{}, true)
	cfg := resourcetest.Object(resources.File{}, map[string]cty.Value{"path": cty.StringVal(`C:\big.bin`), "source": cty.StringVal("big")})
	want, err := typ.Desired(cfg, newStreamEnv(dir))
	if err != nil {
		t.Fatal(err)
	}
	if want.Content.Data != nil {
		t.Fatal("the source was read into memory")
	}
	rec := &psRecorder{}
	h := &resources.Host{Name: "win1", T: rec, RunID: "RUN-ID", BackupDir: `C:\ProgramData\tend\backup\RUN-ID`}
	if _, err := typ.Apply(context.Background(), h, &resources.State{}, want); err != nil {
		t.Fatal(err)
	}
	if len(rec.scripts) != 1 {
		t.Fatalf("%d scripts, want 1", len(rec.scripts))
	}
	if _, ok := rec.stdins[0].(*os.File); !ok {
		t.Errorf("stdin is a %T, want the source file itself", rec.stdins[0])
	}
	if !bytes.Equal(rec.data[0], data) {
		t.Errorf("stdin carried %d bytes, not the source's %d", len(rec.data[0]), len(data))
	}
	if !strings.Contains(rec.scripts[0], "Get-FileHash") || !strings.Contains(rec.scripts[0], strings.ToUpper(want.Content.SHA256)) {
		t.Errorf("the script does not check the SHA-256:\n%s", rec.scripts[0])
	}
}

// TestLargeSourceVerifiedOnce: the read right after a large file's change
// takes the digest the change checked on the host, without hashing the
// file again, only while the file is exactly the one the change wrote
// (device, inode, size, modification and change times); a byte changed
// with the modification time put back, or another file with the same
// size and times renamed over it, is hashed and seen. The next plan's
// desired state carries no such proof and always hashes.
func TestLargeSourceVerifiedOnce(t *testing.T) {
	cfgDir, root := t.TempDir(), t.TempDir()
	env := newStreamEnv(cfgDir)
	writeRandom(t, filepath.Join(cfgDir, "big"), 2<<20+5)
	target := filepath.Join(root, "f.bin")
	host := &resources.Host{Name: "local", T: local.New(), RunID: "test", BackupDir: filepath.Join(t.TempDir(), "backup")}
	cfg := resourcetest.Object(resources.File{}, map[string]cty.Value{"path": cty.StringVal(target), "source": cty.StringVal("big")})
	file := resources.File{}
	// apply writes the file anew.
	apply := func() *resources.State {
		t.Helper()
		os.Remove(target)
		want, err := file.Desired(cfg, env)
		if err != nil {
			t.Fatal(err)
		}
		before := resourcetest.Read(t, host.T, file, cfg, want)
		if _, err := file.Apply(context.Background(), host, before, want); err != nil {
			t.Fatal(err)
		}
		if want.Content.Installed == "" {
			t.Fatal("the change reported no identity of the file it wrote")
		}
		return want
	}
	sh := func(script string) {
		t.Helper()
		if out, err := exec.Command("sh", "-c", script).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", script, err, out)
		}
	}
	// A desired state whose digest is not the file's, with the change's
	// proof: the read reports the digest it was told exactly when it
	// trusts the proof.
	lie := func(want *resources.State) *resources.State {
		c := *want.Content
		c.SHA256 = strings.Repeat("0", 64)
		return &resources.State{Present: true, Attrs: want.Attrs, Content: &c}
	}
	sum := func() string { return fileSHA256(t, target) }

	want := apply()
	if got := resourcetest.Read(t, host.T, file, cfg, lie(want)).Content.SHA256; got != strings.Repeat("0", 64) {
		t.Errorf("the file just written was hashed again (%s): the change's proof was not used", got)
	}
	if got := resourcetest.Read(t, host.T, file, cfg, want).Content.SHA256; got != want.Content.SHA256 || got != sum() {
		t.Errorf("read after the change: %s, want %s", got, want.Content.SHA256)
	}

	// A byte changed in the middle, its modification time put back.
	want = apply()
	sh("cp -p " + target + " " + target + ".ref && printf X | dd of=" + target + " bs=1 seek=1048576 conv=notrunc status=none && touch -m -r " + target + ".ref " + target + " && rm " + target + ".ref")
	if got := resourcetest.Read(t, host.T, file, cfg, lie(want)).Content.SHA256; got != sum() {
		t.Errorf("a byte changed after the change (mtime put back): read %s, the file's digest is %s", got, sum())
	}

	// Another file, same content but one byte, same size and times,
	// renamed over it.
	want = apply()
	sh("cp -p " + target + " " + target + ".new && printf Y | dd of=" + target + ".new bs=1 seek=7 conv=notrunc status=none && touch -m -r " + target + " " + target + ".new && mv " + target + ".new " + target)
	if got := resourcetest.Read(t, host.T, file, cfg, lie(want)).Content.SHA256; got != sum() {
		t.Errorf("a file renamed over the one written: read %s, the file's digest is %s", got, sum())
	}

	// The next plan's desired state has no proof.
	apply()
	next, err := file.Desired(cfg, env)
	if err != nil {
		t.Fatal(err)
	}
	if next.Content.Installed != "" {
		t.Fatalf("a new desired state carries a proof: %q", next.Content.Installed)
	}
	if got := resourcetest.Read(t, host.T, file, cfg, lie(next)).Content.SHA256; got != sum() {
		t.Errorf("the next plan trusted something: read %s, the file's digest is %s", got, sum())
	}
}
