package cli

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// queryInventory is three local hosts, told apart by vars and groups,
// and one that cannot be reached (nothing listens on port 1).
const queryInventory = `
host "a" {
  transport = "local"
  groups    = ["web"]
  vars      = { tier = "front" }
}
host "b" {
  transport = "local"
  vars      = { tier = "back" }
}
host "c" {
  transport = "local"
  groups    = ["web"]
  vars      = { tier = "front" }
}
host "dead" {
  address = "127.0.0.1"
  port    = 1
  user    = "nobody"
}
`

func dpkgVersion(t *testing.T, pkg string) string {
	t.Helper()
	if _, err := exec.LookPath("apt-get"); err != nil {
		if os.Getenv("TEND_LAB") == "1" {
			t.Fatal("TEND_LAB=1 but apt-get is missing: the lab controller is Debian")
		}
		t.Skip("needs a Debian controller (apt-get, dpkg-query)")
	}
	v, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", pkg).Output()
	if err != nil {
		t.Fatal(err)
	}
	return string(v)
}

// TestFactsWhereSelect: --where picks the hosts, --select the columns
// (a comma inside a call does not split one), in a table, CSV or JSON;
// installed versions come from the host's dpkg, a package that is not
// installed is null; an unreachable host is reported and makes the exit
// status 1 without hiding the others' answer.
func TestFactsWhereSelect(t *testing.T) {
	dpkg := dpkgVersion(t, "dpkg")
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"inventory.hcl": queryInventory})

	sel := `host.name, host.facts.packages["dpkg"], version_compare(host.facts.packages["dpkg"], ">=", "1.0"), host.facts.packages.tend-no-such-package`
	out, errOut, code := tend(t, "facts", "-C", dir, "a", "b", "c", "--where", `host.vars.tier == "front"`, "--select", sel, "--csv")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := [][]string{
		{"host", "host.name", `host.facts.packages["dpkg"]`, `version_compare(host.facts.packages["dpkg"], ">=", "1.0")`, "host.facts.packages.tend-no-such-package"},
		{"a", "a", dpkg, "true", ""},
		{"c", "c", dpkg, "true", ""},
	}
	if d := cmp.Diff(want, recs); d != "" {
		t.Errorf("CSV (-want +got):\n%s", d)
	}
	if !strings.Contains(errOut, "2 of 3 hosts match") {
		t.Errorf("summary: %q", errOut)
	}

	// The default columns are what --where reads; the unreachable host
	// fails the command, and the others still answer.
	out, errOut, code = tend(t, "facts", "-C", dir, "--where", `version_compare(host.facts.packages["dpkg"], "<", "99") && contains(host.groups, "web")`)
	if code != 1 || !strings.Contains(errOut, "dead: ") || !strings.Contains(errOut, "2 of 4 hosts match; 1 failed") {
		t.Errorf("unreachable host: exit %d\n%s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || strings.Fields(lines[0])[1] != `host.facts.packages["dpkg"]` || strings.Fields(lines[1])[0] != "a" || strings.Fields(lines[2])[0] != "c" || strings.Fields(lines[1])[1] != dpkg {
		t.Errorf("table:\n%s", out)
	}

	out, errOut, code = tend(t, "facts", "-C", dir, "--json", "--where", `host.facts.packages["tend-no-such-package"] == null && host.name != "c"`, "--select", `host.facts.packages["tend-no-such-package"]`)
	if code != 1 {
		t.Errorf("--json: exit %d, want 1 for the unreachable host\n%s", code, errOut)
	}
	ans := queryAnswer(t, out)
	if len(ans.Hosts) != 2 || ans.Hosts[0].Host != "a" || ans.Hosts[1].Host != "b" || ans.Errors["dead"] == "" {
		t.Errorf("--json answer: %+v", ans)
	}
	if v, ok := ans.Hosts[0].Values[`host.facts.packages["tend-no-such-package"]`]; !ok || v != nil {
		t.Errorf("a package not installed: %v, %v; want null", v, ok)
	}
}

// TestFactsCached: --cached answers from .tend/facts without connecting
// (the hosts cannot be reached at all), including the package versions
// a live query gathered; a package no live query asked about is an
// error naming the fix.
func TestFactsCached(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"inventory.hcl": `
host "x" {
  address = "127.0.0.1"
  port    = 1
  user    = "nobody"
}
host "y" {
  address = "127.0.0.1"
  port    = 1
  user    = "nobody"
}
`})
	if _, _, code := tend(t, "facts", "-C", dir, "--where", "true"); code != 1 {
		t.Fatalf("live query of unreachable hosts: exit %d, want 1", code)
	}
	cache := filepath.Join(dir, ".tend", "facts")
	if err := os.MkdirAll(cache, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, cache, map[string]string{
		"x.json": `{"os":{"family":"rhel","name":"rocky","version":"9.3"},"kernel":"linux","package_manager":"dnf","packages":{"openssl":"1:3.0.7-27.el9"}}`,
		"y.json": `{"os":{"family":"rhel","name":"rocky","version":"9.4"},"kernel":"linux","package_manager":"dnf","packages":{"openssl":"1:3.0.7-28.el9"}}`,
	})
	out, errOut, code := tend(t, "facts", "-C", dir, "--cached", "--where", `version_compare(host.facts.packages.openssl, "<", "1:3.0.7-28.el9")`, "--select", "host.facts.os.version", "--csv")
	if code != 0 {
		t.Fatalf("--cached: exit %d\n%s%s", code, out, errOut)
	}
	if d := cmp.Diff("host,host.facts.os.version\nx,9.3\n", out); d != "" {
		t.Errorf("--cached (-want +got):\n%s", d)
	}
	_, errOut, code = tend(t, "facts", "-C", dir, "--cached", "--where", `host.facts.packages["curl"] != null`)
	if code != 1 || !strings.Contains(errOut, `no version of package "curl": query once without --cached`) {
		t.Errorf("package not in the cache: exit %d\n%s", code, errOut)
	}
	out, _, code = tend(t, "facts", "-C", dir, "--cached", "x")
	if code != 0 || !strings.Contains(out, `"rocky"`) {
		t.Errorf("tend facts --cached x: exit %d\n%s", code, out)
	}
}

// TestFactsQueryBadInput: mistakes in --where and --select are
// diagnostics pointing into the flag's value, before any host is
// contacted.
func TestFactsQueryBadInput(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"inventory.hcl": `
host "x" {
  address = "127.0.0.1"
  port    = 1
  user    = "nobody"
}
`})
	for name, tc := range map[string]struct {
		args []string
		want []string
	}{
		"other variable": {[]string{"--where", `var.x == 1`}, []string{"Unknown variable", "on --where:1:1:", `there is no "var" here`}},
		"host attribute": {[]string{"--where", `host.address == "x"`}, []string{"Unsupported attribute", "on --where:1:5:"}},
		"dynamic package": {[]string{"--where", `host.facts.packages[host.name] == null`},
			[]string{"Which package?", `host.facts.packages["NAME"]`}},
		"syntax":         {[]string{"--select", `host.name, (1 +`}, []string{"on --select:1:"}},
		"bad package":    {[]string{"--where", `host.facts.packages["-rf"] == null`}, []string{"Invalid package name", "starts with a hyphen"}},
		"select columns": {[]string{"--select", `host.vars.x, 1`, "--where", `host.nope`}, []string{"Unsupported attribute", "on --where:1:5:"}},
	} {
		t.Run(name, func(t *testing.T) {
			out, errOut, code := tend(t, append([]string{"facts", "-C", dir}, tc.args...)...)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			if out != "" {
				t.Errorf("stdout %q", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			if strings.Contains(errOut, "authenticate") || strings.Contains(errOut, "connect") {
				t.Errorf("a bad query contacted the host:\n%s", errOut)
			}
		})
	}
	// With --json the mistake is a diagnostic message on stdout.
	out, errOut, code := tend(t, "facts", "-C", dir, "--where", "true", "--json", "--csv")
	if code != 1 || !strings.Contains(out, `"type":"diagnostic"`) || !strings.Contains(out, "--json and --csv are exclusive") {
		t.Errorf("--json --csv: exit %d\n%s%s", code, out, errOut)
	}
}

// queryHosts is what facts --where --json answered: the hosts that meet
// the query with their values, and the hosts it failed for.
type queryHosts struct {
	Hosts []struct {
		Host   string
		Values map[string]any
	}
	Errors map[string]string
}

// queryAnswer reads facts --json's query_result lines.
func queryAnswer(t *testing.T, out string) queryHosts {
	t.Helper()
	ans := queryHosts{Errors: map[string]string{}}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m struct {
			Type   string         `json:"type"`
			Host   string         `json:"host"`
			Values map[string]any `json:"values"`
			Error  string         `json:"error"`
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		switch {
		case m.Type != "query_result":
		case m.Error != "":
			ans.Errors[m.Host] = m.Error
		default:
			ans.Hosts = append(ans.Hosts, struct {
				Host   string
				Values map[string]any
			}{m.Host, m.Values})
		}
	}
	return ans
}
