//go:build linux

package lang

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSourceDigestRemembered: a large source's digest is remembered in
// the configuration directory and used by a later configuration while
// the file's identity holds; a byte changed in the middle, even with the
// modification time put back, is read again; a file written within
// racyMargin of its reading is not remembered.
func TestSourceDigestRemembered(t *testing.T) {
	old := racyMargin
	racyMargin = 20 * time.Millisecond
	t.Cleanup(func() { racyMargin = old })
	dir := t.TempDir()
	src := filepath.Join(dir, "big.bin")
	data := []byte(strings.Repeat("0123456789abcdef", 1<<16))
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
	time.Sleep(50 * time.Millisecond)

	got, n, err := (&fileCache{}).sourceSHA256(dir, src)
	if err != nil || got != sum(data) || n != int64(len(data)) {
		t.Fatalf("first reading: %s %d %v, want %s %d", got, n, err, sum(data), len(data))
	}
	cache := filepath.Join(dir, sourcesFile)
	b, err := os.ReadFile(cache)
	if err != nil {
		t.Fatalf("no digest remembered: %v", err)
	}
	if fi, _ := os.Stat(cache); fi.Mode().Perm() != 0o600 {
		t.Errorf("cache mode %v, want 0600", fi.Mode().Perm())
	}
	// A digest only the cache knows: a later configuration takes it.
	var m map[string]sourceEntry
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	e := m[src]
	e.SHA256 = strings.Repeat("ab", 32)
	m[src] = e
	b, _ = json.Marshal(m)
	if err := os.WriteFile(cache, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := (&fileCache{}).sourceSHA256(dir, src); got != e.SHA256 {
		t.Errorf("the remembered digest was not used: %s", got)
	}

	// One byte in the middle, the modification time put back: the change
	// time differs and the file is read.
	fi, _ := os.Stat(src)
	f, err := os.OpenFile(src, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("X"), int64(len(data)/2))
	f.Close()
	if err := os.Chtimes(src, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] = 'X'
	if got, _, _ := (&fileCache{}).sourceSHA256(dir, src); got != sum(data) {
		t.Errorf("after a byte changed (mtime put back): %s, want %s", got, sum(data))
	}

	// Written just before its reading: read each time, never remembered.
	racyMargin = time.Hour
	if err := os.WriteFile(src, []byte("new content"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Remove(cache)
	if got, _, _ := (&fileCache{}).sourceSHA256(dir, src); got != sum([]byte("new content")) {
		t.Errorf("new content: %s", got)
	}
	if _, err := os.Stat(cache); err == nil {
		t.Errorf("the digest of a file written within racyMargin of its reading was remembered")
	}
}
