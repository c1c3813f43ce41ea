package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tendhq/tend/backend"
	"github.com/tendhq/tend/inventory"
	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/probe"
	"github.com/tendhq/tend/redact"
)

// factsCache keeps each host's facts from its last plan, apply, drift,
// patch or facts run, with when they were gathered: in
// .tend/facts/HOST.json under the configuration directory (gathered
// when the file was written), or in the backend when the command has
// one, where every controller sharing it reads them. Host patterns are
// evaluated before any host is contacted, so the os:FAMILY and os:NAME
// selectors (os:debian, os:ubuntu) read it. Known secret values are
// redacted before an entry is stored, wherever it is stored.
type factsCache struct {
	dir string
	// resolve opens the command's backend on first use (nil: files).
	resolve func() (*backend.Postgres, error)

	once sync.Once
	pg   *backend.Postgres
	err  error // the backend could not be opened

	mu      sync.Mutex
	loaded  bool
	entries map[string]backend.CachedFacts // the backend's, read once
	loadErr error
}

// facts returns the command's facts cache.
func (c *common) facts() *factsCache {
	c.factsOnce.Do(func() {
		c.factsC = &factsCache{dir: filepath.Join(c.dir, ".tend", "facts"), resolve: func() (*backend.Postgres, error) {
			if c.cmd == nil {
				return nil, nil
			}
			if _, err := c.runStore(c.cmd); err != nil {
				return nil, err
			}
			return c.pg, nil
		}}
	})
	return c.factsC
}

// backend returns the backend the cache is in, nil for files.
func (fc *factsCache) backend() (*backend.Postgres, error) {
	fc.once.Do(func() {
		if fc.resolve == nil {
			return
		}
		pg, err := fc.resolve()
		fc.mu.Lock()
		fc.pg, fc.err = pg, err
		fc.mu.Unlock()
	})
	return fc.pg, fc.err
}

func (fc *factsCache) path(host string) string {
	return filepath.Join(fc.dir, url.PathEscape(host)+".json")
}

// read returns a host's cached facts document and when it was
// gathered; ok is false when none is cached.
func (fc *factsCache) read(host string) (doc []byte, gathered time.Time, ok bool, err error) {
	pg, err := fc.backend()
	if err != nil {
		return nil, time.Time{}, false, err
	}
	if pg == nil {
		st, err := os.Stat(fc.path(host))
		if err != nil {
			return nil, time.Time{}, false, nil
		}
		b, err := os.ReadFile(fc.path(host))
		if err != nil {
			return nil, time.Time{}, false, nil
		}
		return b, st.ModTime(), true, nil
	}
	// The backend's entries are read in one query, once per command:
	// a pattern's selectors ask host by host.
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if !fc.loaded {
		fc.entries, fc.loadErr = pg.Facts(context.Background(), nil)
		fc.loaded = true
	}
	if fc.loadErr != nil {
		return nil, time.Time{}, false, fc.loadErr
	}
	e, ok := fc.entries[host]
	return e.Facts, e.Gathered, ok, nil
}

// readErr is why the cache could not be read, if it could not.
func (fc *factsCache) readErr() error {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.err != nil {
		return fc.err
	}
	return fc.loadErr
}

// where names the cache in messages.
func (fc *factsCache) where() string {
	if pg, _ := fc.backend(); pg != nil {
		return pg.Where()
	}
	return fc.dir
}

// OSFacts implements inventory.FactsCache.
func (fc *factsCache) OSFacts(host string) (inventory.OSFacts, bool) {
	b, _, ok, err := fc.read(host)
	if err != nil || !ok {
		return inventory.OSFacts{}, false
	}
	var f probe.Facts
	if json.Unmarshal(b, &f) != nil || (f.Kernel == "" && f.OS.Family == "") {
		return inventory.OSFacts{}, false
	}
	return inventory.OSFacts{Kernel: f.Kernel, Family: f.OS.Family, Name: f.OS.Name}, true
}

// save records a host's facts.
func (fc *factsCache) save(host string, f probe.Facts) {
	fc.saveAll(map[string]probe.Facts{host: f})
}

// saveAll records hosts' facts, by host. The cache is a convenience:
// failing to write it does not fail the run.
func (fc *factsCache) saveAll(facts map[string]probe.Facts) {
	if len(facts) == 0 {
		return
	}
	now := time.Now()
	docs := map[string]backend.CachedFacts{}
	for host, f := range facts {
		b, err := json.MarshalIndent(f, "", "  ")
		if err != nil {
			continue
		}
		// Facts are the host's, but a host may hold (and report) a
		// secret.
		docs[host] = backend.CachedFacts{Facts: []byte(redact.String(string(b))), Gathered: now}
	}
	pg, err := fc.backend()
	if err != nil {
		return
	}
	if pg != nil {
		if pg.SaveFacts(context.Background(), docs) == nil {
			fc.mu.Lock()
			if fc.loaded && fc.loadErr == nil {
				for h, d := range docs {
					fc.entries[h] = d
				}
			}
			fc.mu.Unlock()
		}
		return
	}
	if os.MkdirAll(fc.dir, 0o700) != nil {
		return
	}
	for host, d := range docs {
		b := append(d.Facts, '\n')
		if old, err := os.ReadFile(fc.path(host)); err == nil && bytes.Equal(old, b) {
			// Unchanged since the last run: a fleet's worth of rewrites
			// saved; the time says when they were gathered.
			_ = os.Chtimes(fc.path(host), now, now)
			continue
		}
		_ = plan.WriteFileAtomic(fc.path(host), b, 0o600)
	}
}

// savePlan records the facts of every host a plan reached.
func (fc *factsCache) savePlan(pl *plan.Plan) {
	if pl == nil {
		return
	}
	facts := map[string]probe.Facts{}
	for _, h := range pl.Hosts {
		if h.Facts.Kernel != "" {
			facts[h.Name] = h.Facts
		}
	}
	fc.saveAll(facts)
}

// cached reads a host's facts from the cache, with the versions of
// packages a live query saved there.
func (fc *factsCache) cached(host string, packages []string) hostFacts {
	b, gathered, ok, err := fc.read(host)
	switch {
	case err != nil:
		return hostFacts{err: fmt.Errorf("the facts cache could not be read: %w", err)}
	case !ok:
		return hostFacts{err: fmt.Errorf("no cached facts in %s (tend facts, plan or apply without --cached gathers them)", fc.where())}
	}
	var f probe.Facts
	if err := json.Unmarshal(b, &f); err != nil {
		return hostFacts{err: fmt.Errorf("cached facts of %s in %s: %w", host, fc.where(), err)}
	}
	for _, n := range packages {
		if _, ok := f.Packages[n]; !ok {
			return hostFacts{err: fmt.Errorf("the cached facts hold no version of package %q: query once without --cached to gather it", n)}
		}
	}
	return hostFacts{facts: &f, gathered: gathered}
}
