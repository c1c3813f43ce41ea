package cli

import (
	"bytes"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"

	"github.com/tendhq/tend/inventory"
	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/probe"
	"github.com/tendhq/tend/redact"
)

// factsCache keeps each host's facts from its last plan, apply, drift,
// patch or facts run in .tend/facts/HOST.json under the configuration
// directory. Host patterns are evaluated before any host is contacted,
// so the os:FAMILY and os:NAME selectors (os:debian, os:ubuntu) read it.
type factsCache struct{ dir string }

func (c *common) facts() factsCache { return factsCache{filepath.Join(c.dir, ".tend", "facts")} }

func (fc factsCache) path(host string) string {
	return filepath.Join(fc.dir, url.PathEscape(host)+".json")
}

// OSFacts implements inventory.FactsCache.
func (fc factsCache) OSFacts(host string) (inventory.OSFacts, bool) {
	b, err := os.ReadFile(fc.path(host))
	if err != nil {
		return inventory.OSFacts{}, false
	}
	var f probe.Facts
	if json.Unmarshal(b, &f) != nil || (f.Kernel == "" && f.OS.Family == "") {
		return inventory.OSFacts{}, false
	}
	return inventory.OSFacts{Kernel: f.Kernel, Family: f.OS.Family, Name: f.OS.Name}, true
}

// save records a host's facts. The cache is a convenience: failing to
// write it does not fail the run.
func (fc factsCache) save(host string, f probe.Facts) {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return
	}
	if os.MkdirAll(fc.dir, 0o700) != nil {
		return
	}
	// Facts are the host's, but a host may hold (and report) a secret.
	b = append([]byte(redact.String(string(b))), '\n')
	if old, err := os.ReadFile(fc.path(host)); err == nil && bytes.Equal(old, b) {
		return // unchanged since the last run: a fleet's worth of rewrites saved
	}
	_ = plan.WriteFileAtomic(fc.path(host), b, 0o600)
}

// savePlan records the facts of every host a plan reached.
func (fc factsCache) savePlan(pl *plan.Plan) {
	if pl == nil {
		return
	}
	for _, h := range pl.Hosts {
		if h.Facts.Kernel != "" {
			fc.save(h.Name, h.Facts)
		}
	}
}
