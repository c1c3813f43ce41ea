package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tendhq/tend/journal"
)

// twoHostInventory is a reachable host and one that cannot be reached.
const twoHostInventory = `
host "local1" {
  transport = "local"
}
host "gone" {
  address = "127.0.0.1"
  port    = 1
}
`

// readMetrics parses a textfile-collector file back, as Prometheus would,
// into "name{label=value,...}" → value.
func readMetrics(t *testing.T, path string) map[string]float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(f)
	if err != nil {
		t.Fatalf("%s does not parse: %v", path, err)
	}
	out := map[string]float64{}
	for name, fam := range fams {
		if fam.GetType() != dto.MetricType_GAUGE {
			t.Errorf("%s is a %s, want a gauge", name, fam.GetType())
		}
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

// promtoolCheck runs promtool check metrics on a file. Without promtool
// the check is skipped, except under TEND_LAB=1 where that fails.
func promtoolCheck(t *testing.T, path string) {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("TEND_LAB") == "1" {
			t.Fatalf("promtool is missing (Debian's prometheus package; integration/scripts/e2e-deps.sh installs it)")
		}
		t.Logf("promtool is missing: %s not checked by it", path)
		return
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(bin, "check", "metrics")
	cmd.Stdin = f
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics %s: %v\n%s", path, err, out)
	}
}

// TestMetricsFile: plan and apply write textfile-collector metrics that
// promtool accepts, atomically (nothing else is left in the directory),
// whose values are the plan's and the journal's: an unreachable host is
// down, the reachable one's drift is the plan's, its changes applied,
// failed and reverted are the journal's.
func TestMetricsFile(t *testing.T) {
	dir, _ := rollbackFixture(t)
	writeFiles(t, dir, map[string]string{"inventory.hcl": twoHostInventory})
	mdir := t.TempDir()
	planProm, applyProm := filepath.Join(mdir, "tend-plan.prom"), filepath.Join(mdir, "tend-apply.prom")

	out, errOut, code := tend(t, "plan", "-C", dir, "--json-document", "--metrics-file", planProm)
	if code != 1 {
		t.Fatalf("plan: exit %d, want 1 (a host is unreachable)\n%s", code, errOut)
	}
	var jp struct {
		Hosts []struct {
			Name    string `json:"name"`
			Error   string `json:"error"`
			Changes []struct {
				Action string `json:"action"`
			} `json:"changes"`
		} `json:"hosts"`
	}
	if err := json.Unmarshal([]byte(out), &jp); err != nil {
		t.Fatal(err)
	}
	promtoolCheck(t, planProm)
	got := readMetrics(t, planProm)
	for _, h := range jp.Hosts {
		up := 1.0
		if h.Error != "" {
			up = 0
		}
		if v, ok := got["tend_host_up{command=plan,host="+h.Name+"}"]; !ok || v != up {
			t.Errorf("tend_host_up for %s: %v (present %v), want %v", h.Name, v, ok, up)
		}
		if h.Error != "" {
			if _, ok := got["tend_host_resources_drifted{command=plan,host="+h.Name+"}"]; ok {
				t.Errorf("drift reported for %s, which was not planned", h.Name)
			}
			continue
		}
		drifted := 0
		for _, c := range h.Changes {
			if c.Action != "no-op" {
				drifted++
			}
		}
		if got["tend_host_resources_drifted{command=plan,host="+h.Name+"}"] != float64(drifted) || drifted == 0 {
			t.Errorf("tend_host_resources_drifted for %s: %v, the plan has %d", h.Name, got["tend_host_resources_drifted{command=plan,host="+h.Name+"}"], drifted)
		}
		if got["tend_host_resources{command=plan,host="+h.Name+"}"] != float64(len(h.Changes)) {
			t.Errorf("tend_host_resources for %s: %v, the plan has %d", h.Name, got["tend_host_resources{command=plan,host="+h.Name+"}"], len(h.Changes))
		}
	}
	if got["tend_last_run_success{command=plan}"] != 0 || got["tend_last_run_hosts{command=plan}"] != 2 {
		t.Errorf("run metrics: %v", got)
	}

	if out, errOut, code := tend(t, "apply", "-C", dir, "-y", "--metrics-file", applyProm); code != 1 {
		t.Fatalf("apply: exit %d, want 1\n%s%s", code, out, errOut)
	}
	promtoolCheck(t, applyProm)
	got = readMetrics(t, applyProm)
	run := lastRun(t, dir)
	want := map[string]float64{}
	for _, h := range run.Hosts {
		n := map[journal.Status]int{}
		for _, e := range h.Changes {
			n[e.Status]++
		}
		l := "{command=apply,host=" + h.Name + "}"
		want["tend_host_changes_applied"+l] = float64(n[journal.Applied] + n[journal.Reverted] + n[journal.RevertFailed] + n[journal.NotReverted])
		want["tend_host_changes_failed"+l] = float64(n[journal.Failed])
		want["tend_host_changes_reverted"+l] = float64(n[journal.Reverted])
		want["tend_host_changes_not_reverted"+l] = float64(n[journal.NotReverted] + n[journal.RevertFailed])
		want["tend_host_last_run_outcome{command=apply,host="+h.Name+",outcome="+h.Outcome+"}"] = 1
		up := 1.0
		if h.Outcome == "unreachable" {
			up = 0
		}
		want["tend_host_up"+l] = up
	}
	sub := map[string]float64{}
	for k := range want {
		sub[k] = got[k]
	}
	if d := cmp.Diff(want, sub); d != "" {
		t.Errorf("apply metrics (-journal +metrics):\n%s", d)
	}
	if want["tend_host_changes_reverted{command=apply,host=local1}"] == 0 || want["tend_host_up{command=apply,host=gone}"] != 0 {
		t.Fatalf("the fixture's run has no rollback or no unreachable host (the test would prove little): %v", want)
	}
	outcomes := 0.0
	for k, v := range got {
		if strings.HasPrefix(k, "tend_host_last_run_outcome{command=apply,host=local1,") {
			outcomes += v
		}
	}
	if outcomes != 1 {
		t.Errorf("local1 has %v outcomes at 1, want exactly one", outcomes)
	}
	mdoc, err := os.ReadFile("../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	for k := range got {
		name, _, _ := strings.Cut(k, "{")
		if !strings.Contains(string(mdoc), "`"+name+"`") {
			t.Errorf("docs/metrics.md does not document %s", name)
		}
	}
	entries, err := os.ReadDir(mdir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if d := cmp.Diff([]string{"tend-apply.prom", "tend-plan.prom"}, names); d != "" {
		t.Errorf("the metrics directory holds (-want +got):\n%s", d)
	}
}

// TestMetricsFileUnwritable: a metrics file that cannot be written is an
// error of the command, after the run.
func TestMetricsFileUnwritable(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"main.hcl": ""})
	_, errOut, code := tend(t, "plan", "-C", dir, "--metrics-file", filepath.Join(dir, "no", "such", "dir", "m.prom"))
	if code != 1 || !strings.Contains(errOut, "--metrics-file") {
		t.Errorf("plan with an unwritable metrics file: exit %d\n%s", code, errOut)
	}
}
