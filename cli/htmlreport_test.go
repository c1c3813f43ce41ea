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

	"github.com/tendhq/tend/report"
)

// reportOf reads the data an HTML report carries: each host's status.
func reportOf(t *testing.T, path string) (map[string]string, string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the report: %v", err)
	}
	m := regexp.MustCompile(`(?s)<script type="application/json" id="report-data">(.*?)</script>`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s carries no report data", path)
	}
	var r report.Report
	if err := json.Unmarshal(m[1], &r); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	st := map[string]string{}
	for _, h := range r.Hosts {
		st[h.Name] = h.Status
	}
	return st, string(b)
}

// htmlFixture is four hosts: a with a file to change, b in sync, c that
// cannot be planned (a secret its resource needs is not set), u
// unreachable. Every host's file holds a secret.
func htmlFixture(t *testing.T, secret string) (dir, root string) {
	t.Setenv("TEND_TEST_HTML_SECRET", secret)
	unsetenv(t, "TEND_TEST_HTML_UNSET")
	dir, root = t.TempDir(), t.TempDir()
	writeFiles(t, root, map[string]string{"b.conf": "token = " + secret + "\nhost = b\n"})
	writeFiles(t, dir, map[string]string{
		"main.hcl": fmt.Sprintf(`
file "conf" {
  path    = "%[1]s/${host.name}.conf"
  content = "token = ${secret("env:TEND_TEST_HTML_SECRET")}\nhost = ${host.name}\n"
  mode    = "0644"
}
role "broken" {
  hosts = "c"
  file "broken" {
    path    = "%[1]s/c.broken"
    content = secret("env:TEND_TEST_HTML_UNSET")
  }
}
`, root),
		"inventory.hcl": `
host "a" { transport = "local" }
host "b" { transport = "local" }
host "c" { transport = "local" }
host "u" {
  address = "127.0.0.1"
  port    = 1
}
`})
	return dir, root
}

// TestHTMLReportCommands: plan, drift, show of a saved plan and show of
// a run write reports whose hosts have the statuses the plan and the
// run gave them, and the secret is in none of them.
func TestHTMLReportCommands(t *testing.T) {
	const secret = "html-report-s3cret-token"
	dir, _ := htmlFixture(t, secret)
	out := t.TempDir()
	path := func(name string) string { return filepath.Join(out, name) }
	want := map[string]string{"a": "changes", "b": "in_sync", "c": "failed", "u": "unreachable"}

	if stdout, errOut, code := tend(t, "plan", "-C", dir, "--html", path("plan.html"), "--out", path("saved.plan")); code != 1 {
		t.Fatalf("plan: exit %d, want 1 (host c fails, u is unreachable)\n%s%s", code, stdout, errOut)
	}
	got, page := reportOf(t, path("plan.html"))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("plan report statuses (-want +got):\n%s", diff)
	}
	pages := page

	if _, errOut, code := tend(t, "show", path("saved.plan"), "--html", path("saved.html")); code != 0 {
		t.Fatalf("show PLANFILE: exit %d\n%s", code, errOut)
	}
	got, page = reportOf(t, path("saved.html"))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("saved plan report statuses (-want +got):\n%s", diff)
	}
	pages += page

	if _, errOut, code := tend(t, "drift", "-C", dir, "--html", path("drift.html")); code != 1 {
		t.Fatalf("drift: exit %d, want 1\n%s", code, errOut)
	}
	got, page = reportOf(t, path("drift.html"))
	want["a"] = "drifted"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("drift report statuses (-want +got):\n%s", diff)
	}
	pages += page

	if stdout, errOut, code := tend(t, "apply", "-C", dir, "-t", "a:b", "-y"); code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, stdout, errOut)
	}
	run := lastRun(t, dir)
	if _, errOut, code := tend(t, "show", "-C", dir, run.ID, "--html", path("run.html")); code != 0 {
		t.Fatalf("show RUN-ID: exit %d\n%s", code, errOut)
	}
	got, page = reportOf(t, path("run.html"))
	if diff := cmp.Diff(map[string]string{"a": "success", "b": "success"}, got); diff != "" {
		t.Errorf("run report statuses (-want +got):\n%s", diff)
	}
	pages += page

	if strings.Contains(pages, secret) {
		t.Errorf("a report holds the secret")
	}
	if !strings.Contains(pages, "(sensitive") {
		t.Errorf("no report says (sensitive) for the secret content")
	}
}

// TestHTMLReportBadPath: a report that could not be written is refused
// before any host is contacted.
func TestHTMLReportBadPath(t *testing.T) {
	dir, root := htmlFixture(t, "html-report-s3cret-token")
	for _, p := range []string{filepath.Join(root, "missing", "r.html"), root} {
		_, errOut, code := tend(t, "plan", "-C", dir, "-t", "a", "--html", p)
		if code != 1 || !strings.Contains(errOut, "--html "+p) {
			t.Errorf("plan --html %s: exit %d, want 1 and an error naming it\n%s", p, code, errOut)
		}
		if strings.Contains(errOut, "a.conf") {
			t.Errorf("plan --html %s planned the host before refusing", p)
		}
	}
}
