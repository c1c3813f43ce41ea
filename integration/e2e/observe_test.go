package e2e

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tendhq/tend/integration/lab"
	"github.com/tendhq/tend/integration/testrepo"
	"github.com/tendhq/tend/journal"
)

// metricsOf checks a metrics file with promtool (Debian's prometheus
// package; a missing promtool fails) and parses it back as Prometheus
// would, into "name{label=value,...}" → value.
func metricsOf(t *testing.T, path string) map[string]float64 {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool is missing: integration/scripts/e2e-deps.sh installs Debian's prometheus package")
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(bin, "check", "metrics")
	cmd.Stdin = f
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics %s: %v\n%s", path, err, out)
	}
	if _, err := f.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(f)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for name, fam := range fams {
		for _, m := range fam.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			out[name+"{"+strings.Join(labels, ",")+"}"] = m.GetGauge().GetValue()
		}
	}
	return out
}

func fileSum(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		return "absent"
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestObservabilityLab: on lab hosts, patch --check's metrics count each
// host's pending upgrades and mark the stopped host down; the change
// record of a saved plan folds the two hosts' identical changes into one
// section; its implementation plan applies the plan, whose metrics and
// events match the journal; its backout plan, given the run's ID,
// restores the hosts' bytes; the run's close notes say what was rolled
// back.
func TestObservabilityLab(t *testing.T) {
	lab.Required(t)
	l := lab.StartT(t, lab.Options{Hosts: 3, Name: "observe"})
	dir, mdir := t.TempDir(), t.TempDir()
	if err := l.WriteInventory(filepath.Join(dir, "inventory.hcl")); err != nil {
		t.Fatal(err)
	}
	v1 := filepath.Join(t.TempDir(), "v1")
	if err := testrepo.BuildApt(v1, testrepo.Packages[0], testrepo.Packages[2]); err != nil {
		t.Fatal(err)
	}
	all := filepath.Join(t.TempDir(), "all")
	if err := testrepo.BuildApt(all); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{1, 2} {
		if err := testrepo.InstallApt(l, i, v1); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Exec(i, "DEBIAN_FRONTEND=noninteractive apt-get -q -y install tend-hello >/dev/null"); err != nil {
			t.Fatal(err)
		}
	}
	// Only host 1 is offered the upgrade; host 3 is down.
	if err := testrepo.InstallApt(l, 1, all); err != nil {
		t.Fatal(err)
	}
	if err := l.Stop(3); err != nil {
		t.Fatal(err)
	}
	h1, h2, h3 := l.Host(1).Name, l.Host(2).Name, l.Host(3).Name
	events := filepath.Join(mdir, "events.ndjson")

	patchProm := filepath.Join(mdir, "patch.prom")
	out, _, code := tend(t, "patch", "-C", dir, "--check", "--metrics-file", patchProm, "--events", events)
	if code != 1 {
		t.Fatalf("patch --check: exit %d, want 1 (host 3 is down)", code)
	}
	pending := map[string]int{}
	host := ""
	for _, line := range strings.Split(out, "\n") {
		if m := regexp.MustCompile(`^(\S+): `).FindStringSubmatch(line); m != nil {
			host = m[1]
		}
		if strings.HasPrefix(line, "    ~ ") {
			pending[host]++
		}
	}
	got := metricsOf(t, patchProm)
	for name, want := range map[string]float64{
		"tend_host_package_upgrades_pending{command=patch,host=" + h1 + "}": float64(pending[h1]),
		"tend_host_package_upgrades_pending{command=patch,host=" + h2 + "}": float64(pending[h2]),
		"tend_host_up{command=patch,host=" + h1 + "}":                       1,
		"tend_host_up{command=patch,host=" + h3 + "}":                       0,
		"tend_last_run_success{command=patch}":                              0,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
	if pending[h1] == 0 || pending[h2] != 0 {
		t.Fatalf("the fixture's pending upgrades: %v (host 1 should have some, host 2 none)", pending)
	}
	if _, ok := got["tend_host_package_upgrades_pending{command=patch,host="+h3+"}"]; ok {
		t.Errorf("pending upgrades reported for the host that is down")
	}

	write(t, filepath.Join(dir, "main.hcl"), `
file "motd" {
  path    = "/etc/motd"
  content = "Managed by tend.\n"
}
file "conf" {
  path    = "/etc/observe.conf"
  content = "level = 2\n"
  mode    = "0640"
}
`)
	target := h1 + "," + h2
	motdBefore := map[string]string{}
	for _, i := range []int{1, 2} {
		motdBefore[l.Host(i).Name] = fileSum(t, filepath.Join(l.Host(i).Root, "etc/motd"))
	}
	planFile := filepath.Join(t.TempDir(), "change.plan")
	if _, _, code := tend(t, "plan", "-C", dir, "--target", target, "-out", planFile); code != 0 {
		t.Fatalf("plan: exit %d", code)
	}
	md, _, code := tend(t, "show", "--format", "markdown", planFile)
	if code != 0 {
		t.Fatalf("show: exit %d", code)
	}
	if !strings.Contains(md, "\n### "+h1+", "+h2+": same 2 changes\n") {
		t.Errorf("the record does not fold the hosts' identical changes:\n%s", md)
	}
	var sh []string
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)\n\\s*```").FindAllStringSubmatch(md, -1) {
		sh = append(sh, strings.TrimSpace(m[1]))
	}
	if len(sh) != 3 || sh[1] != "tend apply "+planFile || !strings.HasPrefix(sh[2], "tend rollback RUN-ID -C ") {
		t.Fatalf("the record's commands: %q", sh)
	}
	if out, err := exec.Command("sh", "-c", sh[0]).CombinedOutput(); err != nil {
		t.Fatalf("the record's digest check fails: %v\n%s", err, out)
	}

	applyProm := filepath.Join(mdir, "apply.prom")
	if _, _, code := tend(t, "apply", planFile, "--metrics-file", applyProm, "--events", events); code != 0 {
		t.Fatalf("apply: exit %d", code)
	}
	runs, _ := journal.List(dir)
	run := runs[len(runs)-1]
	if js, _, _ := tend(t, "show", "-C", dir, "--format", "change-request", run.ID); !strings.Contains(js, `"close_code": "successful"`) {
		t.Errorf("the applied run does not close successful:\n%s", js)
	}
	got = metricsOf(t, applyProm)
	for _, h := range run.Hosts {
		applied := 0
		for _, e := range h.Changes {
			if e.Status == journal.Applied {
				applied++
			}
		}
		name := "tend_host_changes_applied{command=apply,host=" + h.Name + "}"
		if got[name] != float64(applied) || applied != 2 {
			t.Errorf("%s = %v, the journal has %d applied", name, got[name], applied)
		}
		if got["tend_host_last_run_outcome{command=apply,host="+h.Name+",outcome="+h.Outcome+"}"] != 1 {
			t.Errorf("%s: outcome %s not at 1", h.Name, h.Outcome)
		}
		if sum := fileSum(t, filepath.Join(l.Host(indexOf(l, h.Name)).Root, "etc/motd")); sum != fileSum(t, writeTemp(t, "Managed by tend.\n")) {
			t.Errorf("%s: /etc/motd is not what was applied", h.Name)
		}
	}
	// Every event line of the apply carries the journaled run's ID.
	f, err := os.Open(events)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		var ev struct {
			Event struct {
				Action string `json:"action"`
			} `json:"event"`
			Tend struct {
				RunID   string `json:"run_id"`
				Command string `json:"command"`
			} `json:"tend"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("events line %q: %v", sc.Text(), err)
		}
		if ev.Tend.Command == "apply" {
			n++
			if ev.Tend.RunID != run.ID {
				t.Errorf("apply event %s of run %s, want %s", ev.Event.Action, ev.Tend.RunID, run.ID)
			}
		}
	}
	if n == 0 {
		t.Errorf("no apply events")
	}

	back := strings.Fields(strings.Replace(sh[2], "RUN-ID", run.ID, 1))
	if _, _, code := tend(t, append(back[1:], "-y")...); code != 0 {
		t.Fatalf("%s: exit %d", sh[2], code)
	}
	for name, sum := range motdBefore {
		if got := fileSum(t, filepath.Join(l.Host(indexOf(l, name)).Root, "etc/motd")); got != sum {
			t.Errorf("%s: /etc/motd not restored by the backout plan", name)
		}
	}
	notes, _, code := tend(t, "show", "-C", dir, "--format", "markdown", run.ID)
	if code != 0 {
		t.Fatalf("show run: exit %d", code)
	}
	for _, want := range []string{"**Close code:** Unsuccessful (`unsuccessful`)", "Changes by status: 4 reverted.",
		fmt.Sprintf("%s: file.motd", h1), fmt.Sprintf("%s: file.conf", h2)} {
		if !strings.Contains(notes, want) {
			t.Errorf("close notes lack %q:\n%s", want, notes)
		}
	}
}

func indexOf(l *lab.Lab, name string) int {
	for _, h := range l.Hosts {
		if h.Name == name {
			return h.Index
		}
	}
	return 0
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	write(t, p, content)
	return p
}
