package resources_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/resources/resourcetest"
	"github.com/tendhq/tend/transport"
	"github.com/tendhq/tend/transport/local"
)

// TestFileBatch: a host's file changes in one script write exactly the
// bytes and modes declared (text the shell reads line by line, content
// without a final newline, empty, binary and large content through
// Apply), and stop at the first failure: the changes before it are
// applied with their undo, the failing one has the host's error, the rest
// are not attempted and not touched.
func TestFileBatch(t *testing.T) {
	root := t.TempDir()
	host := &resources.Host{Name: "local", T: local.New(), RunID: "test", BackupDir: filepath.Join(t.TempDir(), "backup")}
	ctx := context.Background()
	file := resources.File{}
	big := strings.Repeat("0123456789abcdef", 2048) // over the batch's line limit
	contents := map[string]string{
		"plain":     "key = value\n",
		"nonl":      "no final newline",
		"empty":     "",
		"tricky":    "  leading\\n spaces\t\r\n%s %d $(x) `y` 'q' \"d\"\n\n\nblank lines above\\",
		"binary":    "a\x00b\xff\n",
		"big":       big,
		"rewritten": "new content\n",
	}
	modes := map[string]string{"plain": "0640", "nonl": "0600", "empty": "0644", "tricky": "0755", "binary": "0644", "big": "0644", "rewritten": "0600"}
	if err := os.WriteFile(filepath.Join(root, "rewritten"), []byte("old content\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "removed"), []byte("bye\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	item := batchItems(t, host, root)
	names := []string{"plain", "nonl", "empty", "tricky", "binary", "big", "rewritten"}
	var items []resources.BatchItem
	for _, n := range names {
		items = append(items, item(n, map[string]cty.Value{"content": cty.StringVal(contents[n]), "mode": cty.StringVal(modes[n])}))
	}
	items = append(items, item("removed", map[string]cty.Value{"state": cty.StringVal("absent")}))
	rs := file.ApplyBatch(ctx, host, items)
	if len(rs) != len(items) {
		t.Fatalf("%d results for %d items", len(rs), len(items))
	}
	for i, r := range rs {
		if r.Err != nil {
			t.Fatalf("item %d: %v", i, r.Err)
		}
	}
	for _, n := range names {
		p := filepath.Join(root, n)
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != contents[n] {
			t.Errorf("%s: content %q, want %q", n, got, contents[n])
		}
		fi, _ := os.Stat(p)
		if m := "0" + strings.TrimPrefix(fi.Mode().Perm().String(), "-"); fi.Mode().Perm() != parseMode(t, modes[n]) {
			t.Errorf("%s: mode %s, want %s", n, m, modes[n])
		}
	}
	if _, err := os.Stat(filepath.Join(root, "removed")); !os.IsNotExist(err) {
		t.Errorf("removed: still there (%v)", err)
	}
	if rs[6].Undo["backup"] == "" {
		t.Errorf("rewritten: no backup in the undo")
	} else if b, _ := os.ReadFile(rs[6].Undo["backup"]); string(b) != "old content\n" {
		t.Errorf("rewritten: backup holds %q", b)
	}
	leftovers, _ := filepath.Glob(filepath.Join(root, ".tend.*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}

	// One by one (each file in a directory of its own), a failure in the
	// middle: the third item's parent is a file.
	if err := os.WriteFile(filepath.Join(root, "notadir"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"a", "b", "c", "d"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	items = []resources.BatchItem{
		item("a/f1", map[string]cty.Value{"content": cty.StringVal("1\n")}),
		item("b/f2", map[string]cty.Value{"content": cty.StringVal("2\n")}),
		{Config: cty.NilVal, Before: &resources.State{}, After: &resources.State{Present: true, Attrs: map[string]cty.Value{"path": cty.StringVal(filepath.Join(root, "notadir/f3"))},
			Content: &resources.Content{SHA256: "x", Data: []byte("3\n"), Known: true}}},
		item("c/f4", map[string]cty.Value{"content": cty.StringVal("4\n")}),
		item("d/f5", map[string]cty.Value{"content": cty.StringVal("5\n")}),
	}
	rs = file.ApplyBatch(ctx, host, items)
	for i := 0; i < 2; i++ {
		if rs[i].Err != nil {
			t.Errorf("item %d: %v", i, rs[i].Err)
		}
	}
	if rs[2].Err == nil || errors.Is(rs[2].Err, resources.ErrNotAttempted) || !strings.Contains(rs[2].Err.Error(), "notadir") {
		t.Errorf("item 2: error %v, want the host's words about notadir", rs[2].Err)
	}
	for i := 3; i < 5; i++ {
		if !errors.Is(rs[i].Err, resources.ErrNotAttempted) {
			t.Errorf("item %d: error %v, want not attempted", i, rs[i].Err)
		}
	}
	for _, n := range []string{"a/f1", "b/f2"} {
		if b, err := os.ReadFile(filepath.Join(root, n)); err != nil || len(b) != 2 {
			t.Errorf("%s: %q %v", n, b, err)
		}
	}
	for _, n := range []string{"c/f4", "d/f5"} {
		if _, err := os.Stat(filepath.Join(root, n)); !os.IsNotExist(err) {
			t.Errorf("%s: written although not attempted", n)
		}
	}
}

// TestFileBatchStaged: new content for several files of one directory is
// staged in a private directory and renamed into place together. Modes
// and declared owners are set on every file, a rewritten file keeps a
// backup; a file whose rename fails (its path became a directory after it
// was read) fails alone, with the host's words, while the others are in
// place; when the staging directory cannot be made (the directory went
// away) the files are made one by one and fail as such; nothing staged is
// left behind in any case.
func TestFileBatchStaged(t *testing.T) {
	root := t.TempDir()
	host := &resources.Host{Name: "local", T: local.New(), RunID: "test", BackupDir: filepath.Join(t.TempDir(), "backup")}
	ctx := context.Background()
	file := resources.File{}
	item := batchItems(t, host, root)
	leftovers := func(dir string) {
		t.Helper()
		if l, _ := filepath.Glob(filepath.Join(dir, ".tend.*")); len(l) > 0 {
			t.Errorf("staged files left in %s: %v", dir, l)
		}
	}
	root0 := os.Geteuid() == 0

	// Twelve files in two directories, three modes, two of them owned by
	// a declared user and group, one rewritten.
	for _, d := range []string{"s", "t"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "s/old"), []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	modes := []string{"0644", "0600", "0755"}
	var items []resources.BatchItem
	var names []string
	for i := 0; i < 12; i++ {
		name := fmt.Sprintf("%s/f%02d", []string{"s", "t"}[i%2], i)
		if i == 0 {
			name = "s/old"
		}
		attrs := map[string]cty.Value{"content": cty.StringVal(fmt.Sprintf("file %d\nline 2\n", i)), "mode": cty.StringVal(modes[i%3])}
		if root0 && i >= 10 {
			attrs["owner"], attrs["group"] = cty.StringVal("nobody"), cty.StringVal("nogroup")
		}
		items = append(items, item(name, attrs))
		names = append(names, name)
	}
	// Count the host's processes: wrappers first in PATH log each call.
	calls := countCalls(t, "mkdir", "chmod", "chown", "mv", "rm", "rmdir", "cp", "sync")
	rs := file.ApplyBatch(ctx, host, items)
	// One mkdir for both staging directories (and one for the backup's
	// directory with a cp), one chmod per mode, one chown for the owned
	// files, one sync for all, one mv per directory, one rm.
	want := map[string]int{"mkdir": 2, "cp": 1, "chmod": 3, "sync": 1, "mv": 2, "rm": 1}
	if root0 {
		want["chown"] = 1
	}
	if got := calls(); !cmp.Equal(got, want) {
		t.Errorf("processes on the host: %v, want %v", got, want)
	}
	for i, r := range rs {
		if r.Err != nil {
			t.Fatalf("item %d: %v", i, r.Err)
		}
		p := filepath.Join(root, names[i])
		b, err := os.ReadFile(p)
		if err != nil || string(b) != fmt.Sprintf("file %d\nline 2\n", i) {
			t.Errorf("%s: %q %v", names[i], b, err)
		}
		fi, _ := os.Stat(p)
		if fi.Mode().Perm() != parseMode(t, modes[i%3]) {
			t.Errorf("%s: mode %v, want %s", names[i], fi.Mode().Perm(), modes[i%3])
		}
		if root0 && i >= 10 {
			if u, _ := user.Lookup("nobody"); u != nil && fileUID(t, fi) != u.Uid {
				t.Errorf("%s: uid %s, want nobody's %s", names[i], fileUID(t, fi), u.Uid)
			}
		}
	}
	if b, _ := os.ReadFile(rs[0].Undo["backup"]); string(b) != "old\n" {
		t.Errorf("s/old: backup %q holds %q", rs[0].Undo["backup"], b)
	}
	leftovers(filepath.Join(root, "s"))
	leftovers(filepath.Join(root, "t"))

	// A rename that fails: g3's path became a directory after it was read.
	if err := os.Mkdir(filepath.Join(root, "u"), 0o755); err != nil {
		t.Fatal(err)
	}
	items = items[:0]
	for i := 1; i <= 5; i++ {
		items = append(items, item(fmt.Sprintf("u/g%d", i), map[string]cty.Value{"content": cty.StringVal(fmt.Sprintf("g%d\n", i))}))
	}
	if err := os.Mkdir(filepath.Join(root, "u/g3"), 0o755); err != nil {
		t.Fatal(err)
	}
	rs = file.ApplyBatch(ctx, host, items)
	for i, r := range rs {
		if i == 2 {
			if r.Err == nil || errors.Is(r.Err, resources.ErrNotAttempted) || !strings.Contains(r.Err.Error(), "is a directory") {
				t.Errorf("u/g3: error %v, want the host's words: is a directory", r.Err)
			}
			continue
		}
		if r.Err != nil {
			t.Errorf("u/g%d: %v", i+1, r.Err)
		} else if b, _ := os.ReadFile(filepath.Join(root, fmt.Sprintf("u/g%d", i+1))); string(b) != fmt.Sprintf("g%d\n", i+1) {
			t.Errorf("u/g%d: %q", i+1, b)
		}
	}
	if l, _ := os.ReadDir(filepath.Join(root, "u/g3")); len(l) > 0 {
		t.Errorf("u/g3: something was moved into the directory: %v", l)
	}
	leftovers(filepath.Join(root, "u"))

	// Staging fails: the directory is gone. One by one, the first fails
	// with the host's words and the rest are not attempted.
	if err := os.Mkdir(filepath.Join(root, "gone"), 0o755); err != nil {
		t.Fatal(err)
	}
	items = items[:0]
	for i := 1; i <= 3; i++ {
		items = append(items, item(fmt.Sprintf("gone/h%d", i), map[string]cty.Value{"content": cty.StringVal("h\n")}))
	}
	if err := os.Remove(filepath.Join(root, "gone")); err != nil {
		t.Fatal(err)
	}
	rs = file.ApplyBatch(ctx, host, items)
	if rs[0].Err == nil || errors.Is(rs[0].Err, resources.ErrNotAttempted) || !strings.Contains(rs[0].Err.Error(), "gone") {
		t.Errorf("gone/h1: error %v, want the host's words about gone", rs[0].Err)
	}
	for i := 1; i < 3; i++ {
		if !errors.Is(rs[i].Err, resources.ErrNotAttempted) {
			t.Errorf("gone/h%d: error %v, want not attempted", i+1, rs[i].Err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "gone")); !os.IsNotExist(err) {
		t.Errorf("gone: %v, want still missing", err)
	}
	leftovers(root)
}

// TestFileBatchMixed: a batch of staged files and other changes is one
// script, the other changes first; when one of them fails, the staged
// files are not attempted and nothing of them is left.
func TestFileBatchMixed(t *testing.T) {
	root := t.TempDir()
	runs := &countRuns{Transport: local.New()}
	host := &resources.Host{Name: "local", T: runs, RunID: "test", BackupDir: filepath.Join(t.TempDir(), "backup")}
	ctx := context.Background()
	file := resources.File{}
	item := batchItems(t, host, root)
	for _, d := range []string{"m", "n"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"n/chmod", "n/gone"} {
		if err := os.WriteFile(filepath.Join(root, f), []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Three new files of m (staged), a mode, a removal and one new file
	// of n (one by one).
	items := []resources.BatchItem{
		item("m/a", map[string]cty.Value{"content": cty.StringVal("a\n")}),
		item("n/chmod", map[string]cty.Value{"mode": cty.StringVal("0600")}),
		item("m/b", map[string]cty.Value{"content": cty.StringVal("b\n")}),
		item("n/gone", map[string]cty.Value{"state": cty.StringVal("absent")}),
		item("m/c", map[string]cty.Value{"content": cty.StringVal("c\n")}),
		item("n/new", map[string]cty.Value{"content": cty.StringVal("new\n")}),
	}
	runs.n = 0
	rs := file.ApplyBatch(ctx, host, items)
	if runs.n != 1 {
		t.Errorf("%d scripts, want 1", runs.n)
	}
	for i, r := range rs {
		if r.Err != nil {
			t.Errorf("item %d: %v", i, r.Err)
		}
	}
	for name, want := range map[string]string{"m/a": "a\n", "m/b": "b\n", "m/c": "c\n", "n/new": "new\n", "n/chmod": "x\n"} {
		if b, err := os.ReadFile(filepath.Join(root, name)); err != nil || string(b) != want {
			t.Errorf("%s: %q %v, want %q", name, b, err, want)
		}
	}
	if fi, err := os.Stat(filepath.Join(root, "n/chmod")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("n/chmod: %v %v, want mode 0600", fi, err)
	}
	if _, err := os.Lstat(filepath.Join(root, "n/gone")); !os.IsNotExist(err) {
		t.Errorf("n/gone: %v, want removed", err)
	}
	if b, _ := os.ReadFile(rs[3].Undo["backup"]); string(b) != "x\n" {
		t.Errorf("n/gone: backup %q holds %q", rs[3].Undo["backup"], b)
	}

	// n/late became a directory after it was read: its change fails with
	// the host's words, the staged files of o are not attempted.
	if err := os.Mkdir(filepath.Join(root, "o"), 0o755); err != nil {
		t.Fatal(err)
	}
	items = []resources.BatchItem{
		item("o/a", map[string]cty.Value{"content": cty.StringVal("a\n")}),
		item("n/late", map[string]cty.Value{"content": cty.StringVal("late\n")}),
		item("o/b", map[string]cty.Value{"content": cty.StringVal("b\n")}),
		item("o/c", map[string]cty.Value{"content": cty.StringVal("c\n")}),
	}
	if err := os.Mkdir(filepath.Join(root, "n/late"), 0o755); err != nil {
		t.Fatal(err)
	}
	runs.n = 0
	rs = file.ApplyBatch(ctx, host, items)
	if runs.n != 1 {
		t.Errorf("%d scripts, want 1", runs.n)
	}
	if rs[1].Err == nil || errors.Is(rs[1].Err, resources.ErrNotAttempted) || !strings.Contains(rs[1].Err.Error(), "is a directory") {
		t.Errorf("n/late: error %v, want the host's words: is a directory", rs[1].Err)
	}
	for _, i := range []int{0, 2, 3} {
		if !errors.Is(rs[i].Err, resources.ErrNotAttempted) || rs[i].Undo != nil {
			t.Errorf("item %d: %v %v, want not attempted", i, rs[i].Err, rs[i].Undo)
		}
	}
	if l, _ := os.ReadDir(filepath.Join(root, "o")); len(l) > 0 {
		t.Errorf("o: %v, want nothing written", l)
	}
	if l, _ := filepath.Glob(filepath.Join(root, "n/.tend.*")); len(l) > 0 {
		t.Errorf("n: temporary files left: %v", l)
	}
}

// countRuns counts the scripts run through it.
type countRuns struct {
	transport.Transport
	n int
}

func (c *countRuns) Run(ctx context.Context, cmd transport.Command) (*transport.Result, error) {
	c.n++
	return c.Transport.Run(ctx, cmd)
}

// batchItems returns a function making the batch item of a file under
// root, with the attributes given and the state read from the host.
func batchItems(t *testing.T, host *resources.Host, root string) func(name string, attrs map[string]cty.Value) resources.BatchItem {
	file := resources.File{}
	return func(name string, attrs map[string]cty.Value) resources.BatchItem {
		t.Helper()
		attrs["path"] = cty.StringVal(filepath.Join(root, name))
		cfg := resourcetest.Object(file, attrs)
		want, err := file.Desired(cfg, dirEnv(root))
		if err != nil {
			t.Fatal(err)
		}
		before := resourcetest.Read(t, host.T, file, cfg, want)
		return resources.BatchItem{Config: cfg, Before: before, After: want}
	}
}

func parseMode(t *testing.T, s string) os.FileMode {
	t.Helper()
	var m uint32
	for _, c := range strings.TrimPrefix(s, "0") {
		m = m*8 + uint32(c-'0')
	}
	return os.FileMode(m)
}

// countCalls puts wrappers for the named commands first in PATH, each
// logging its name and running the real command; the returned function
// counts the calls logged since, by name.
func countCalls(t *testing.T, names ...string) func() map[string]int {
	t.Helper()
	dir := t.TempDir()
	log := filepath.Join(dir, "calls.log")
	for _, n := range names {
		real, err := exec.LookPath(n)
		if err != nil {
			t.Fatal(err)
		}
		w := fmt.Sprintf("#!/bin/sh\necho %s >> %s\nexec %s \"$@\"\n", n, log, real)
		if err := os.WriteFile(filepath.Join(dir, n), []byte(w), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return func() map[string]int {
		b, _ := os.ReadFile(log)
		_ = os.Remove(log)
		got := map[string]int{}
		for _, l := range strings.Fields(string(b)) {
			got[l]++
		}
		return got
	}
}
