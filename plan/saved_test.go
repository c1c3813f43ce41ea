package plan

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/resources"
)

// TestSavedWriterIsSave: a plan file written host by host is, byte for
// byte, the plan as one JSON document (none, one and several hosts, a
// failed one among them), and reads back as the same plan.
func TestSavedWriterIsSave(t *testing.T) {
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	state := func(v string) *resources.State {
		return &resources.State{Present: true, Attrs: map[string]cty.Value{"mode": cty.StringVal(v)}}
	}
	ok := &HostPlan{Name: "web1", Address: "10.0.0.1", Groups: []string{"web"},
		Changes: []*Change{{Address: "file.a", Type: "file", Action: Update, Before: state("0644"), After: state("0600"), Changed: []string{"mode"}},
			{Address: "file.b", Type: "file", Action: NoOp, Before: state("0644"), After: state("0644")}}}
	ok.Facts.Kernel = "Linux"
	failed := &HostPlan{Name: "web2", Err: &UnreachableError{errors.New("dial: refused")}}
	in := Inputs{ConfigDir: "/c", Vars: []string{"a=b"}}
	for name, hosts := range map[string][]*HostPlan{"none": nil, "one": {ok}, "several": {ok, failed, ok}} {
		p := &Plan{Created: created, Target: "web", Hosts: hosts}
		want, err := json.MarshalIndent(&Saved{Kind: savedKind, Inputs: in, Plan: p.JSON()}, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "plan.json")
		if err := Save(path, in, p); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(string(want)+"\n", string(got)); d != "" {
			t.Errorf("%s (-one document +host by host):\n%s", name, d)
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v (%v), want 0600", name, fi.Mode(), err)
		}
		s, err := Load(path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(s.Plan.Hosts) != len(hosts) || s.Plan.Summary != p.Count().JSON() {
			t.Errorf("%s: read back %d hosts, summary %+v", name, len(s.Plan.Hosts), s.Plan.Summary)
		}
	}
	// Abort leaves nothing behind.
	dir := t.TempDir()
	w, err := CreateSaved(filepath.Join(dir, "p.json"), in, created, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Host(ok); err != nil {
		t.Fatal(err)
	}
	w.Abort()
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("after Abort: %v", ents)
	}
}
