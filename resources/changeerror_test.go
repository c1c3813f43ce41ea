package resources_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/resources/resourcetest"
	"github.com/tendhq/tend/shell"
	"github.com/tendhq/tend/transport"
	"github.com/tendhq/tend/transport/local"
)

// TestScriptError: a script's cause line wins and is not repeated in
// Stderr; without one the last stderr line is the cause, the shell's
// "/bin/sh: N: " taken off; without stderr, the exit status.
func TestScriptError(t *testing.T) {
	for _, c := range []struct {
		stderr           string
		want, wantStderr string
	}{
		{"warning: x\ntend-cause: parent /a is not a directory\n", "update /f: parent /a is not a directory", "warning: x\n"},
		{"/bin/sh: 13: cannot create /srv/x/c.conf: Directory nonexistent\n", "update /f: cannot create /srv/x/c.conf: Directory nonexistent", ""},
		{"sh: 2: foo: not found\n\n", "update /f: foo: not found", ""},
		{"bash: line 3: foo: command not found\n", "update /f: foo: command not found", ""},
		{"E: one\nE: two\n", "update /f: E: two", "E: one\n"},
		{"", "update /f: exit status 2", ""},
	} {
		ce := resources.ScriptError("update", "/f", &transport.Result{ExitStatus: 2, Stderr: []byte(c.stderr)})
		if ce.Error() != c.want || string(ce.Stderr) != c.wantStderr {
			t.Errorf("stderr %q: %q, stderr %q; want %q, %q", c.stderr, ce.Error(), ce.Stderr, c.want, c.wantStderr)
		}
	}
	if got := resources.Indent([]byte("a\nb\n\n"), "    "); got != "    a\n    b\n" {
		t.Errorf("Indent: %q", got)
	}
}

// changeErr returns err as a *ChangeError, failing the test otherwise.
func changeErr(t *testing.T, err error) *resources.ChangeError {
	t.Helper()
	var ce *resources.ChangeError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T), want a *resources.ChangeError", err, err)
	}
	return ce
}

// TestFileChangeErrors: a file, directory or symlink change that fails on
// the host reads "ACTION PATH: CAUSE" with the cause in an operator's
// words, never the shell's "/bin/sh: N: cannot create" about a temporary
// name; nothing is left behind.
func TestFileChangeErrors(t *testing.T) {
	root := t.TempDir()
	host := &resources.Host{Name: "local", T: local.New(), RunID: "test", BackupDir: filepath.Join(t.TempDir(), "backup")}
	ctx := context.Background()
	if err := os.WriteFile(filepath.Join(root, "notadir"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "nowhere"), filepath.Join(root, "broken")); err != nil {
		t.Fatal(err)
	}
	apply := func(typ resources.Type, attrs map[string]cty.Value, between func()) error {
		t.Helper()
		cfg := resourcetest.Object(typ, attrs)
		want, err := typ.Desired(cfg, dirEnv(root))
		if err != nil {
			t.Fatal(err)
		}
		before := resourcetest.Read(t, host.T, typ, cfg, want)
		if between != nil {
			between()
		}
		_, err = typ.Apply(ctx, host, before, want)
		return err
	}
	content := func(p string) map[string]cty.Value {
		return map[string]cty.Value{"path": cty.StringVal(filepath.Join(root, p)), "content": cty.StringVal("c\n")}
	}
	for _, c := range []struct {
		typ   resources.Type
		attrs map[string]cty.Value
		want  string
	}{
		{resources.File{}, content("notadir/c.conf"), "create ROOT/notadir/c.conf: parent ROOT/notadir is not a directory"},
		{resources.File{}, content("missing/c.conf"), "create ROOT/missing/c.conf: parent ROOT/missing does not exist"},
		{resources.File{}, content("notadir/sub/c.conf"), "create ROOT/notadir/sub/c.conf: parent ROOT/notadir/sub does not exist: ROOT/notadir is not a directory"},
		{resources.File{}, content("broken/c.conf"), "create ROOT/broken/c.conf: parent ROOT/broken is a broken symbolic link"},
		{resources.File{}, map[string]cty.Value{"path": cty.StringVal(filepath.Join(root, "missing/empty"))}, "create ROOT/missing/empty: parent ROOT/missing does not exist"},
		{resources.Directory{}, map[string]cty.Value{"path": cty.StringVal(filepath.Join(root, "notadir/d"))}, "create ROOT/notadir/d: parent ROOT/notadir is not a directory"},
		{resources.Symlink{}, map[string]cty.Value{"path": cty.StringVal(filepath.Join(root, "missing/l")), "target": cty.StringVal("/etc")}, "create ROOT/missing/l: parent ROOT/missing does not exist"},
	} {
		err := apply(c.typ, c.attrs, nil)
		ce := changeErr(t, err)
		if want := strings.ReplaceAll(c.want, "ROOT", root); ce.Error() != want || len(ce.Stderr) != 0 {
			t.Errorf("%s %v:\n got %q, stderr %q\nwant %q", c.typ.Name(), c.attrs["path"].AsString(), ce.Error(), ce.Stderr, want)
		}
	}

	// The path became a directory after it was read.
	p := filepath.Join(root, "late")
	err := apply(resources.File{}, content("late"), func() {
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	})
	if got, want := changeErr(t, err).Error(), "create "+p+": it is a directory, not a regular file"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if l, _ := os.ReadDir(p); len(l) > 0 {
		t.Errorf("%s: something was moved into it: %v", p, l)
	}
	if l, _ := filepath.Glob(filepath.Join(root, ".tend.*")); len(l) > 0 {
		t.Errorf("temporary files left: %v", l)
	}
}

// TestFileChangePermission: a change the connecting user may not make
// says so, as the user nobody.
func TestFileChangePermission(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run scripts as nobody")
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("no setpriv")
	}
	root := t.TempDir()
	// nobody can reach root, not write in it.
	for d := root; d != "/"; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o005 != 0o005 {
			if err := os.Chmod(d, fi.Mode().Perm()|0o005); err != nil {
				t.Fatal(err)
			}
		}
	}
	host := &resources.Host{Name: "local", T: asNobody{local.New()}, RunID: "test", BackupDir: filepath.Join(root, "backup")}
	file := resources.File{}
	cfg := resourcetest.Object(file, map[string]cty.Value{"path": cty.StringVal(filepath.Join(root, "locked/sub/c.conf")), "content": cty.StringVal("c\n")})
	want, err := file.Desired(cfg, dirEnv(root))
	if err != nil {
		t.Fatal(err)
	}
	before := &resources.State{Attrs: map[string]cty.Value{}}
	try := func(msg string) {
		t.Helper()
		_, err = file.Apply(context.Background(), host, before, want)
		if got := changeErr(t, err).Error(); got != msg {
			t.Errorf("got %q, want %q", got, msg)
		}
		rs := file.ApplyBatch(context.Background(), host, []resources.BatchItem{{Config: cfg, Before: before, After: want}})
		if got := changeErr(t, rs[0].Err).Error(); got != msg {
			t.Errorf("batch: got %q, want %q", got, msg)
		}
	}
	if err := os.Mkdir(filepath.Join(root, "locked"), 0o700); err != nil {
		t.Fatal(err)
	}
	try("create " + root + "/locked/sub/c.conf: permission denied: cannot search " + root + "/locked")
	if err := os.Chmod(filepath.Join(root, "locked"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "locked/sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	try("create " + root + "/locked/sub/c.conf: permission denied: cannot write in " + root + "/locked/sub")
}

// asNobody runs scripts as the user nobody.
type asNobody struct{ transport.Transport }

func (a asNobody) Run(ctx context.Context, cmd transport.Command) (*transport.Result, error) {
	cmd.Script = "exec setpriv --reuid=65534 --regid=65534 --clear-groups sh -c " + shell.Quote(cmd.Script)
	return a.Transport.Run(ctx, cmd)
}

// TestExecChangeError: a failing command is "run COMMAND: exit status N"
// with its stderr and stdout kept whole; a cancelled run is the
// transport's error, not a ChangeError.
func TestExecChangeError(t *testing.T) {
	host := &resources.Host{Name: "local", T: local.New(), RunID: "test", BackupDir: t.TempDir()}
	cmd := "echo out; echo 'sh: 1: err' >&2; exit 3"
	_, err := resources.Exec{}.Apply(context.Background(), host, &resources.State{}, &resources.State{Present: true, Attrs: map[string]cty.Value{"command": cty.StringVal(cmd)}})
	ce := changeErr(t, err)
	if ce.Error() != "run "+cmd+": exit status 3" || ce.Status != 3 || string(ce.Stderr) != "sh: 1: err\n" || string(ce.Stdout) != "out\n" {
		t.Errorf("got %q status %d stderr %q stdout %q", ce.Error(), ce.Status, ce.Stderr, ce.Stdout)
	}
	if se, so := resources.Detail(fmt.Errorf("wrapped: %w", err)); string(se) != "sh: 1: err\n" || string(so) != "out\n" {
		t.Errorf("Detail: %q %q", se, so)
	}
	long := "for i in 1 2 3; do\n  echo " + strings.Repeat("x", 100) + "\ndone; exit 1"
	err = resources.Exec{}.Refresh(context.Background(), host, resourcetest.Object(resources.Exec{}, map[string]cty.Value{"command": cty.StringVal(long), "refresh_only": cty.True}))
	if got := changeErr(t, err).Path; got != "for i in 1 2 3; do ..." {
		t.Errorf("path of a multi-line command: %q", got)
	}

	_, err = resources.Exec{}.Apply(context.Background(), host, &resources.State{}, &resources.State{Present: true, Attrs: map[string]cty.Value{"command": cty.StringVal("echo hunter2 >/dev/null; exit 4").Mark(resources.Sensitive)}})
	if got := changeErr(t, err).Error(); got != "run (sensitive command): exit status 4" {
		t.Errorf("sensitive command: %q", got)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = resources.Exec{}.Apply(ctx, host, &resources.State{}, &resources.State{Present: true, Attrs: map[string]cty.Value{"command": cty.StringVal("true")}})
	var ce2 *resources.ChangeError
	if err == nil || errors.As(err, &ce2) || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v (%T), want context.Canceled, not a ChangeError", err, err)
	}
	_, err = resources.File{}.Apply(ctx, host, &resources.State{}, &resources.State{Present: true, Attrs: map[string]cty.Value{"path": cty.StringVal(filepath.Join(t.TempDir(), "f"))}})
	if err == nil || errors.As(err, &ce2) || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled file: %v (%T), want context.Canceled, not a ChangeError", err, err)
	}
}

// TestFileBatchOwnError: files a, b, c, d made in that order, c's parent
// a regular file, with three new files of another directory staged in
// the same batch: c's error is its own cause, once; d and the staged
// files are not attempted and do not repeat it; a and b are written.
func TestFileBatchOwnError(t *testing.T) {
	root := t.TempDir()
	host := &resources.Host{Name: "local", T: local.New(), RunID: "test", BackupDir: filepath.Join(t.TempDir(), "backup")}
	item := batchItems(t, host, root)
	for _, d := range []string{"x", "s"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "x/notadir"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	// a, b and d each in a directory of its own: made one by one.
	for _, d := range []string{"a", "b", "d"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	names := []string{"a/a.conf", "b/b.conf", "x/notadir/c.conf", "d/d.conf", "s/1", "s/2", "s/3"}
	var items []resources.BatchItem
	for _, n := range names {
		items = append(items, item(n, map[string]cty.Value{"content": cty.StringVal(n + "\n")}))
	}
	rs := resources.File{}.ApplyBatch(context.Background(), host, items)
	for i := 0; i < 2; i++ {
		if rs[i].Err != nil {
			t.Errorf("%s: %v", names[i], rs[i].Err)
		}
		if b, _ := os.ReadFile(filepath.Join(root, names[i])); string(b) != names[i]+"\n" {
			t.Errorf("%s: %q", names[i], b)
		}
	}
	ce := changeErr(t, rs[2].Err)
	if want := "create " + root + "/x/notadir/c.conf: parent " + root + "/x/notadir is not a directory"; ce.Error() != want || len(ce.Stderr) != 0 {
		t.Errorf("c: %q, stderr %q; want %q", ce.Error(), ce.Stderr, want)
	}
	for i := 3; i < len(names); i++ {
		if !errors.Is(rs[i].Err, resources.ErrNotAttempted) || strings.Contains(rs[i].Err.Error(), "notadir") {
			t.Errorf("%s: %v, want not attempted, without c's cause", names[i], rs[i].Err)
		}
		if _, err := os.Stat(filepath.Join(root, names[i])); !os.IsNotExist(err) {
			t.Errorf("%s: written although not attempted", names[i])
		}
	}

	// Staged files whose directory is not one are made one by one: the
	// first has its own cause.
	items = items[:0]
	for _, n := range []string{"x/notadir/1", "x/notadir/2", "x/notadir/3"} {
		items = append(items, item(n, map[string]cty.Value{"content": cty.StringVal("n\n")}))
	}
	rs = resources.File{}.ApplyBatch(context.Background(), host, items)
	if want := "create " + root + "/x/notadir/1: parent " + root + "/x/notadir is not a directory"; changeErr(t, rs[0].Err).Error() != want {
		t.Errorf("staged: %q, want %q", rs[0].Err, want)
	}
}

// TestSetIDKept: rewriting a root-owned set-user-ID file and a
// set-group-ID file whose mode is not declared keeps their mode on disk,
// through Apply, the batch one by one and staged, also with a declared
// owner (chown clears set-id bits, so it must come before chmod).
func TestSetIDKept(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	root := t.TempDir()
	host := &resources.Host{Name: "local", T: local.New(), RunID: "test", BackupDir: filepath.Join(t.TempDir(), "backup")}
	ctx := context.Background()
	file := resources.File{}
	item := batchItems(t, host, root)
	modes := []os.FileMode{os.ModeSetuid | 0o755, os.ModeSetgid | 0o755}
	mk := func(name string, m os.FileMode) {
		t.Helper()
		p := filepath.Join(root, name)
		if err := os.WriteFile(p, []byte("old\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, 0, 0); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, m); err != nil {
			t.Fatal(err)
		}
	}
	check := func(name string, m os.FileMode) {
		t.Helper()
		p := filepath.Join(root, name)
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(p)
		if got := fi.Mode() & (os.ModePerm | os.ModeSetuid | os.ModeSetgid); got != m || string(b) != "new\n" {
			t.Errorf("%s: mode %v, content %q; want %v, \"new\\n\"", name, got, b, m)
		}
	}
	for _, owner := range []string{"", "root"} {
		t.Run("owner="+owner, func(t *testing.T) {
			attrs := func() map[string]cty.Value {
				a := map[string]cty.Value{"content": cty.StringVal("new\n")}
				if owner != "" {
					a["owner"], a["group"] = cty.StringVal(owner), cty.StringVal("root")
				}
				return a
			}
			dir := "d" + owner
			for _, d := range []string{dir, dir + "/one", dir + "/staged"} {
				if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			// Apply, one file at a time.
			for i, m := range modes {
				name := fmt.Sprintf("%s/apply%d", dir, i)
				mk(name, m)
				it := item(name, attrs())
				if _, err := file.Apply(ctx, host, it.Before, it.After); err != nil {
					t.Fatal(err)
				}
				check(name, m)
			}
			// A batch: two files made one by one, three staged.
			var items []resources.BatchItem
			var names []string
			var want []os.FileMode
			for i, m := range modes {
				names = append(names, fmt.Sprintf("%s/one/f%d", dir, i))
				want = append(want, m)
			}
			for i := 0; i < 3; i++ {
				names = append(names, fmt.Sprintf("%s/staged/f%d", dir, i))
				want = append(want, modes[i%2])
			}
			for i, n := range names {
				mk(n, want[i])
				items = append(items, item(n, attrs()))
			}
			for i, r := range file.ApplyBatch(ctx, host, items) {
				if r.Err != nil {
					t.Fatalf("%s: %v", names[i], r.Err)
				}
			}
			for i, n := range names {
				check(n, want[i])
			}
		})
	}
}
