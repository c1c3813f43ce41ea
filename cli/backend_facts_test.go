//go:build linux

package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/backend"
	"github.com/tendhq/tend/probe"
	"github.com/tendhq/tend/redact"
)

// TestBackendFactsCache: with a backend, the facts gathered from one
// configuration directory are stored in the backend, not in its files;
// another directory (another machine) answers tend facts --cached and
// the os: selectors from them, saying when they were gathered.
func TestBackendFactsCache(t *testing.T) {
	_, url := pgBackend(t)
	t.Setenv("TEND_BACKEND", url)
	inv := map[string]string{"inventory.hcl": "host \"one\" {\n  transport = \"local\"\n}\nhost \"two\" {\n  transport = \"local\"\n}\n"}
	first, second := t.TempDir(), t.TempDir()
	writeFiles(t, first, inv)
	writeFiles(t, second, inv)
	out, errOut, code := tend(t, "facts", "-C", second, "--cached")
	if code != 1 || !strings.Contains(out+errOut, "no cached facts in postgres ") {
		t.Fatalf("--cached before any gathering: exit %d, want 1 saying nothing is cached in the backend\n%s%s", code, out, errOut)
	}
	before := time.Now().Add(-time.Second)
	if out, errOut, code := tend(t, "facts", "-C", first); code != 0 {
		t.Fatalf("facts: exit %d\n%s%s", code, out, errOut)
	}
	after := time.Now().Add(time.Second)
	if _, err := os.Stat(filepath.Join(first, ".tend", "facts")); !os.IsNotExist(err) {
		t.Errorf("the facts were cached in files too: %v", err)
	}
	args := []string{"facts", "--json", "-C", second, "--cached"}
	out, _, code = tend(t, args...)
	got := map[string]string{}
	var family string
	for _, m := range jsonLines(t, uiSchema(t), args, out, code) {
		if m["type"] != "host_facts" {
			continue
		}
		f, _ := m["facts"].(map[string]any)
		at, err := time.Parse(time.RFC3339Nano, stringOf(m["gathered_at"]))
		if f == nil || err != nil || at.Before(before) || at.After(after) {
			t.Errorf("cached facts of %v: gathered at %v (%v), want between %v and %v", m["host"], m["gathered_at"], err, before, after)
		}
		os, _ := f["os"].(map[string]any)
		family = stringOf(os["family"])
		got[stringOf(m["host"])] = stringOf(f["kernel"])
	}
	if code != 0 || got["one"] != "linux" || got["two"] != "linux" || family == "" {
		t.Fatalf("facts --cached --json from the second directory: exit %d, kernels %v, family %q\n%s", code, got, family, out)
	}
	// Without --json: one document, each host's facts with when they
	// were gathered.
	out, errOut, code = tend(t, "facts", "-C", second, "--cached", "one")
	var doc map[string]struct {
		Facts      *probe.Facts `json:"facts"`
		GatheredAt *time.Time   `json:"gathered_at"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 0 || doc["one"].Facts == nil || doc["one"].GatheredAt == nil {
		t.Errorf("facts --cached one: exit %d, %v\n%s%s", code, err, out, errOut)
	}
	out, errOut, code = tend(t, "inventory", "-C", second, "--target", "os:"+family)
	if code != 0 || !strings.Contains(out, "one") || !strings.Contains(out, "two") {
		t.Errorf("os:%s from the second directory: exit %d, want both hosts\n%s%s", family, code, out, errOut)
	}
	// A backend that cannot be reached: the selector's error says so.
	down := "postgres://tend@/postgres?host=" + t.TempDir() + "&port=1"
	if out, errOut, code := tend(t, "inventory", "-C", second, "--target", "os:"+family, "--backend", down); code != 1 || !strings.Contains(errOut, "the facts cache could not be read") {
		t.Errorf("os:%s with the backend down: exit %d\n%s%s", family, code, out, errOut)
	}
	// The files of the second directory are not read with the backend.
	if out, errOut, code := tend(t, "facts", "-C", second, "--cached", "--backend", "files"); code != 1 || !strings.Contains(out+errOut, "no cached facts in "+filepath.Join(second, ".tend", "facts")) {
		t.Errorf("--cached with --backend files: exit %d\n%s%s", code, out, errOut)
	}
}

func stringOf(v any) string {
	s, _ := v.(string)
	return s
}

// TestBackendFactsRedacted: a known secret value a host reports in its
// facts is redacted before the facts are stored in the backend.
func TestBackendFactsRedacted(t *testing.T) {
	_, url := pgBackend(t)
	ctx := context.Background()
	pg, err := backend.Connect(ctx, url, true)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	secret := "Hd5" + "-factsecret-" + "Q2wN"
	redact.Add(secret)
	fc := &factsCache{resolve: func() (*backend.Postgres, error) { return pg, nil }}
	var f probe.Facts
	f.Kernel, f.Hostname, f.Home = "linux", "web-"+secret, "/home/"+secret
	fc.save("web1", f)
	got, err := pg.Facts(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(got["web1"].Facts)
	if !strings.Contains(doc, `"linux"`) || strings.Contains(doc, secret) || !strings.Contains(doc, "(sensitive)") {
		t.Errorf("the stored facts: %s", doc)
	}
	if c := fc.cached("web1", nil); c.err != nil || c.facts.Kernel != "linux" || strings.Contains(c.facts.Home, secret) || c.gathered.IsZero() {
		t.Errorf("the facts read back: %+v", c)
	}
}
