package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tendhq/tend/plan"
)

// TestPlanStreamedInOrder: tend plan shows each host as soon as it is
// planned, yet in the inventory's order whatever order the hosts finish
// in (the first hosts take longest here), as the human plan, as JSON
// lines, and in the plan file written host by host, which holds every
// host's complete plan as --json-document does.
func TestPlanStreamedInOrder(t *testing.T) {
	dir, root := t.TempDir(), t.TempDir()
	const n = 12
	var inv strings.Builder
	var want []string
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("h%02d", i)
		// The first hosts' probes take longest: they finish last.
		fmt.Fprintf(&inv, "host %q {\n  transport = \"local\"\n  vars = { delay = \"%.2f\" }\n}\n", name, float64(n-i)*0.05)
		if i%3 != 0 {
			want = append(want, name) // the others already hold their file
		} else if err := os.WriteFile(filepath.Join(root, name), []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeFiles(t, dir, map[string]string{
		"main.hcl": fmt.Sprintf(`
exec "wait" {
  command = "true"
  unless  = "sleep ${host.vars.delay}; true"
}
file "f" {
  path    = "%s/${host.name}"
  content = "x\n"
}
`, root),
		"inventory.hcl": inv.String(),
	})
	hostLine := regexp.MustCompile(`(?m)^(h\d\d)$`)

	out, errOut, code := tend(t, "plan", "-C", dir, "--parallel", "4", "-out", filepath.Join(dir, "saved.plan"))
	if code != 0 {
		t.Fatalf("plan: exit %d\n%s%s", code, out, errOut)
	}
	var got []string
	for _, m := range hostLine.FindAllStringSubmatch(out, -1) {
		got = append(got, m[1])
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("hosts shown (-inventory order +got):\n%s\n%s", d, out)
	}
	if !strings.Contains(out, fmt.Sprintf("Plan: %d to add, 0 to change, 0 to remove on %d of %d hosts; %d hosts unchanged.", len(want), len(want), n, n-len(want))) {
		t.Errorf("summary missing:\n%s", out)
	}

	doc, errOut, code := tend(t, "plan", "-C", dir, "--parallel", "4", "--json-document")
	if code != 0 {
		t.Fatalf("plan --json-document: exit %d\n%s", code, errOut)
	}
	var whole plan.JSONPlan
	if err := json.Unmarshal([]byte(doc), &whole); err != nil {
		t.Fatal(err)
	}
	saved, err := plan.Load(filepath.Join(dir, "saved.plan"))
	if err != nil {
		t.Fatal(err)
	}
	strip := func(p *plan.JSONPlan) string {
		var hs []plan.JSONHost
		for _, h := range p.Hosts {
			h.Facts = nil
			hs = append(hs, h)
		}
		b, err := json.MarshalIndent(hs, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if d := cmp.Diff(strip(&whole), strip(saved.Plan)); d != "" {
		t.Errorf("plan file written host by host (-one document +file):\n%s", d)
	}
	if saved.Plan.Summary != whole.Summary {
		t.Errorf("plan file summary %+v, document's %+v", saved.Plan.Summary, whole.Summary)
	}

	lines, errOut, code := tend(t, "plan", "-C", dir, "--parallel", "4", "--json")
	if code != 0 {
		t.Fatalf("plan --json: exit %d\n%s", code, errOut)
	}
	got = nil
	changes := 0
	for _, l := range strings.Split(strings.TrimSpace(lines), "\n") {
		var m struct {
			Type    string          `json:"type"`
			Host    string          `json:"host"`
			Changes json.RawMessage `json:"changes"`
		}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		switch m.Type {
		case "planned_host":
			got = append(got, m.Host)
			var c int
			if err := json.Unmarshal(m.Changes, &c); err != nil {
				t.Fatalf("%q: %v", l, err)
			}
			changes += c
		case "planned_change":
			if len(got) == 0 || got[len(got)-1] != m.Host {
				t.Errorf("planned_change of %s not after its planned_host", m.Host)
			}
		}
	}
	all := make([]string, n)
	for i := range all {
		all[i] = fmt.Sprintf("h%02d", i)
	}
	if d := cmp.Diff(all, got); d != "" || changes != len(want) {
		t.Errorf("planned_host messages (-inventory order +got), %d changes (want %d):\n%s", changes, len(want), d)
	}
}
