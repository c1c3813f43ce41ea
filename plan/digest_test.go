package plan

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/resources"
)

// TestNoPlainDigestOfSecrets: neither a saved plan nor the JSON plan
// holds a plain SHA-256 of sensitive content or of a state holding a
// secret (a short secret is found from one by trying candidates); their
// keyed digests still tell an unchanged state from a changed one.
func TestNoPlainDigestOfSecrets(t *testing.T) {
	secret := "hunter2-digest"
	content := func(s string) *resources.Content {
		sum := sha256.Sum256([]byte(s))
		return &resources.Content{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(s)), Data: []byte(s), Known: true, Sensitive: true}
	}
	state := func(s string) *resources.State {
		return &resources.State{Present: true, Attrs: map[string]cty.Value{
			"path":     cty.StringVal("/etc/pw"),
			"password": cty.StringVal(s).Mark(resources.Sensitive),
		}, Content: content(s)}
	}
	p := &Plan{Hosts: []*HostPlan{{Name: "h", Changes: []*Change{{
		Address: "file.pw", Type: "file", Action: Update,
		Before: &resources.State{Present: true, Attrs: map[string]cty.Value{"path": cty.StringVal("/etc/pw")}, Content: content("old " + secret)},
		After:  state(secret),
	}}}}}
	path := filepath.Join(t.TempDir(), "saved.plan")
	if err := Save(path, Inputs{ConfigDir: "."}, p); err != nil {
		t.Fatal(err)
	}
	saved, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(p.JSON())
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(saved)
	sum := sha256.Sum256([]byte(secret))
	sumOld := sha256.Sum256([]byte("old " + secret))
	for what, b := range map[string]string{"the saved plan": string(raw), "the JSON plan": string(js)} {
		for _, needle := range []string{secret, hex.EncodeToString(sum[:]), hex.EncodeToString(sumOld[:]), base64.StdEncoding.EncodeToString([]byte(secret))} {
			if strings.Contains(b, needle) {
				t.Errorf("%s holds %s", what, needle)
			}
		}
		if !strings.Contains(b, `"sha256":"hmac-sha256:`) && !strings.Contains(b, `"sha256": "hmac-sha256:`) {
			t.Errorf("%s has no keyed content digest: %s", what, b)
		}
	}
	// Fingerprints of states holding a secret are keyed, and compare.
	c := saved.Plan.Hosts[0].Changes[0]
	if !strings.HasPrefix(c.AfterFingerprint, "hmac-sha256:") || !strings.HasPrefix(c.BeforeFingerprint, "hmac-sha256:") {
		t.Errorf("fingerprints %s, %s: want keyed", c.BeforeFingerprint, c.AfterFingerprint)
	}
	if why := saved.KeyMismatch(); saved.DigestKey == "" || why != "" {
		t.Errorf("digest key %q: %s", saved.DigestKey, why)
	}
	if stale := Stale(saved.Plan, p); len(stale) != 0 {
		t.Errorf("the same plan is stale: %v", stale)
	}
	p.Hosts[0].Changes[0].After = state(secret + "-rotated")
	if stale := Stale(saved.Plan, p); len(stale) != 1 || !strings.Contains(stale[0], "configured differently") {
		t.Errorf("a changed secret: stale = %v", stale)
	}
	saved.DigestKey = "0123456789abcdef"
	if why := saved.KeyMismatch(); !strings.Contains(why, "another digest key") {
		t.Errorf("another key: %q", why)
	}
}
