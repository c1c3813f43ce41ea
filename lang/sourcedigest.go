package lang

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// A large `source` file's SHA-256 is remembered across runs in the
// configuration's .tend/sources.json, by the file's identity: device,
// inode, size, modification and change times to the nanosecond. The
// change time moves on every write to the file and cannot be set back,
// so a file with the same identity holds the same bytes. A digest is
// remembered only for a file whose times are well before its reading
// began (racyMargin): a write made within the file system's clock tick
// of the reading could otherwise leave its times unchanged. Whatever the
// cache says, the host checks the SHA-256 of what it receives before the
// file replaces the old one: a wrong digest fails the change, it never
// installs other content.

// racyMargin is how much older than the start of its reading a file's
// modification and change times must be for its digest to be
// remembered.
var racyMargin = 2 * time.Second

// sourcesFile is the cache's name in the configuration directory.
var sourcesFile = filepath.Join(".tend", "sources.json")

// sourceEntry is a remembered digest and the identity it is valid for.
type sourceEntry struct {
	Identity fileIdentity `json:"identity"`
	SHA256   string       `json:"sha256"`
}

// digestCache is the configuration's cache of source digests.
type digestCache struct {
	mu     sync.Mutex
	loaded bool
	m      map[string]sourceEntry
}

func (c *digestCache) load(dir string) {
	if c.loaded {
		return
	}
	c.loaded = true
	c.m = map[string]sourceEntry{}
	if b, err := os.ReadFile(filepath.Join(dir, sourcesFile)); err == nil {
		_ = json.Unmarshal(b, &c.m) // an unreadable cache is an empty one
	}
}

// lookup returns the digest remembered for the file at full when its
// identity is still id.
func (c *digestCache) lookup(dir, full string, id fileIdentity) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.load(dir)
	e, ok := c.m[full]
	if !ok || e.Identity != id || len(e.SHA256) != 64 {
		return "", false
	}
	return e.SHA256, true
}

// store remembers sum for the file at full with identity id, and drops
// the entries of files whose identity changed or that are gone. Writing
// the cache is best effort: a configuration directory tend cannot write
// only costs the next run a reading.
func (c *digestCache) store(dir, full string, id fileIdentity, sum string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.load(dir)
	c.m[full] = sourceEntry{Identity: id, SHA256: sum}
	for p, e := range c.m {
		if p == full {
			continue
		}
		if cur, ok := statIdentity(p); !ok || cur != e.Identity {
			delete(c.m, p)
		}
	}
	b, err := json.Marshal(c.m)
	if err != nil {
		return
	}
	p := filepath.Join(dir, sourcesFile)
	if os.MkdirAll(filepath.Dir(p), 0o700) != nil {
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".sources-*.tmp")
	if err != nil {
		return
	}
	_, werr := tmp.Write(append(b, '\n'))
	if cerr := tmp.Close(); werr != nil || cerr != nil || os.Rename(tmp.Name(), p) != nil {
		os.Remove(tmp.Name())
	}
}

// hashSource returns the SHA-256 and size of the file at full (in the
// configuration directory dir): the remembered digest while the file's
// identity is unchanged, else by reading it, remembering the digest when
// the file was last written well before.
func (c *digestCache) hashSource(dir, full string) (string, int64, error) {
	file, err := os.Open(full)
	if err != nil {
		return "", 0, err
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil {
		return "", 0, err
	}
	id, known := identityOf(fi)
	if known {
		if sum, ok := c.lookup(dir, full, id); ok {
			return sum, fi.Size(), nil
		}
	}
	start := time.Now()
	h := sha256.New()
	n, err := io.Copy(h, file)
	if err != nil {
		return "", 0, err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	// Remembered only when the file is unchanged since it was opened and
	// its last write is well before the reading began.
	if after, err := file.Stat(); known && err == nil && n == fi.Size() {
		if id2, ok := identityOf(after); ok && id2 == id && id.settled(start.Add(-racyMargin)) {
			c.store(dir, full, id, sum)
		}
	}
	return sum, n, nil
}
