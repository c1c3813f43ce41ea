package e2e

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tendhq/tend/integration/lab"
	"github.com/tendhq/tend/integration/testrepo"
)

// TestFactsWhere: two lab hosts run tend-hello 1.0, one runs 2.0 and one
// does not have it; `tend facts --where` with version_compare returns
// exactly the two old ones, with the versions dpkg reports on each host,
// in one SSH connection and one exec per host (counted by sshd), and
// --cached gives the same answer without connecting at all.
func TestFactsWhere(t *testing.T) {
	lab.Required(t)
	l := lab.StartT(t, lab.Options{Hosts: 4, Name: "fquery"})
	dir := t.TempDir()
	if err := l.WriteInventory(filepath.Join(dir, "inventory.hcl")); err != nil {
		t.Fatal(err)
	}
	repo := filepath.Join(t.TempDir(), "repo")
	if err := testrepo.BuildApt(repo); err != nil {
		t.Fatal(err)
	}
	install := map[int]string{1: "tend-hello=1.0", 2: "tend-hello=2.0", 3: "tend-hello=1.0"}
	for _, h := range l.Hosts {
		if err := testrepo.InstallApt(l, h.Index, repo); err != nil {
			t.Fatal(err)
		}
		if p := install[h.Index]; p != "" {
			if _, err := l.Exec(h.Index, "DEBIAN_FRONTEND=noninteractive apt-get -q -y install "+p+" >/dev/null"); err != nil {
				t.Fatal(err)
			}
		}
		write(t, filepath.Join(h.Root, "etc/ssh/sshd_config.d/verbose.conf"), "LogLevel VERBOSE\n")
		if err := l.ReloadSSH(context.Background(), h.Index); err != nil {
			t.Fatal(err)
		}
		waitSSH(t, h.Address)
	}
	// What each host's dpkg says, the reference for the answer.
	onHost := map[string]string{}
	for _, h := range l.Hosts {
		out, _ := l.Exec(h.Index, "dpkg-query -W -f '${db:Status-Abbrev}${Version}' tend-hello 2>/dev/null || true")
		if v, ok := strings.CutPrefix(strings.TrimSpace(out), "ii "); ok {
			onHost[h.Name] = v
		}
	}
	if d := cmp.Diff(map[string]string{l.Host(1).Name: "1.0", l.Host(2).Name: "2.0", l.Host(3).Name: "1.0"}, onHost); d != "" {
		t.Fatalf("lab hosts' tend-hello versions (-want +dpkg):\n%s", d)
	}

	sshdCounts := func() map[string][2]int {
		out := map[string][2]int{}
		for _, h := range l.Hosts {
			log, err := l.Exec(h.Index, "journalctl -u ssh.service -o cat --no-pager")
			if err != nil {
				t.Fatal(err)
			}
			var c [2]int
			for _, line := range strings.Split(log, "\n") {
				switch {
				case strings.HasPrefix(line, "Accepted publickey for root"):
					c[0]++
				case strings.HasPrefix(line, "Starting session:"):
					c[1]++
				}
			}
			out[h.Name] = c
		}
		return out
	}
	diffCounts := func(before, after map[string][2]int) map[string][2]int {
		d := map[string][2]int{}
		for h, a := range after {
			d[h] = [2]int{a[0] - before[h][0], a[1] - before[h][1]}
		}
		return d
	}
	where := `version_compare(host.facts.packages["tend-hello"], "<", "2.0")`
	wantHosts := []string{l.Host(1).Name, l.Host(3).Name}
	sort.Strings(wantHosts)

	before := sshdCounts()
	out, errOut, code := tend(t, "facts", "-C", dir, "--where", where, "--csv")
	if code != 0 {
		t.Fatalf("tend facts --where: exit %d\n%s%s", code, out, errOut)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("--csv output: %v\n%s", err, out)
	}
	if d := cmp.Diff([]string{"host", `host.facts.packages["tend-hello"]`}, recs[0]); d != "" {
		t.Errorf("CSV header (-want +got):\n%s", d)
	}
	var gotHosts []string
	for _, r := range recs[1:] {
		gotHosts = append(gotHosts, r[0])
		if r[1] != onHost[r[0]] {
			t.Errorf("%s: tend reports tend-hello %q, dpkg on the host %q", r[0], r[1], onHost[r[0]])
		}
	}
	sort.Strings(gotHosts)
	if d := cmp.Diff(wantHosts, gotHosts); d != "" {
		t.Errorf("hosts matching %s (-want +got):\n%s", where, d)
	}
	for h, c := range diffCounts(before, sshdCounts()) {
		if c != [2]int{1, 1} {
			t.Errorf("%s: sshd logged %d connections and %d sessions for one query, want 1 and 1", h, c[0], c[1])
		}
	}

	// The host without the package, and the one with 2.0, by --json.
	out, errOut, code = tend(t, "facts", "-C", dir, "--json", "--where", `host.facts.packages["tend-hello"] == null || version_compare(host.facts.packages["tend-hello"], ">=", "2.0")`,
		"--select", `host.facts.packages["tend-hello"], host.facts.package_manager`)
	if code != 0 {
		t.Fatalf("tend facts --json: exit %d\n%s%s", code, out, errOut)
	}
	ans := queryAnswer(t, out)
	got := map[string]any{}
	for _, h := range ans.Hosts {
		got[h.Host] = h.Values[`host.facts.packages["tend-hello"]`]
		if pm := h.Values["host.facts.package_manager"]; pm != "apt" {
			t.Errorf("%s: package manager %v", h.Host, pm)
		}
	}
	if d := cmp.Diff(map[string]any{l.Host(2).Name: "2.0", l.Host(4).Name: nil}, got); d != "" {
		t.Errorf("--json answer (-want +got):\n%s", d)
	}

	// From the cache: the same answer, no connection.
	before = sshdCounts()
	out, errOut, code = tend(t, "facts", "-C", dir, "--cached", "--where", where, "--csv")
	if code != 0 {
		t.Fatalf("tend facts --cached: exit %d\n%s%s", code, out, errOut)
	}
	recs, err = csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	gotHosts = nil
	for _, r := range recs[1:] {
		gotHosts = append(gotHosts, r[0])
	}
	sort.Strings(gotHosts)
	if d := cmp.Diff(wantHosts, gotHosts); d != "" {
		t.Errorf("--cached hosts (-want +got):\n%s", d)
	}
	for h, c := range diffCounts(before, sshdCounts()) {
		if c != [2]int{0, 0} {
			t.Errorf("%s: --cached connected: sshd logged %d connections and %d sessions", h, c[0], c[1])
		}
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
