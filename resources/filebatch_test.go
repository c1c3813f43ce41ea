package resources_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/resources/resourcetest"
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
	item := func(name string, attrs map[string]cty.Value) resources.BatchItem {
		attrs["path"] = cty.StringVal(filepath.Join(root, name))
		cfg := resourcetest.Object(file, attrs)
		want, err := file.Desired(cfg, dirEnv(root))
		if err != nil {
			t.Fatal(err)
		}
		before := resourcetest.Read(t, host.T, file, cfg, want)
		return resources.BatchItem{Config: cfg, Before: before, After: want}
	}
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

	// A failure in the middle: the third item's parent is a file.
	if err := os.WriteFile(filepath.Join(root, "notadir"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	items = []resources.BatchItem{
		item("f1", map[string]cty.Value{"content": cty.StringVal("1\n")}),
		item("f2", map[string]cty.Value{"content": cty.StringVal("2\n")}),
		{Config: cty.NilVal, Before: &resources.State{}, After: &resources.State{Present: true, Attrs: map[string]cty.Value{"path": cty.StringVal(filepath.Join(root, "notadir/f3"))},
			Content: &resources.Content{SHA256: "x", Data: []byte("3\n"), Known: true}}},
		item("f4", map[string]cty.Value{"content": cty.StringVal("4\n")}),
		item("f5", map[string]cty.Value{"content": cty.StringVal("5\n")}),
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
	for _, n := range []string{"f1", "f2"} {
		if b, err := os.ReadFile(filepath.Join(root, n)); err != nil || len(b) != 2 {
			t.Errorf("%s: %q %v", n, b, err)
		}
	}
	for _, n := range []string{"f4", "f5"} {
		if _, err := os.Stat(filepath.Join(root, n)); !os.IsNotExist(err) {
			t.Errorf("%s: written although not attempted", n)
		}
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
