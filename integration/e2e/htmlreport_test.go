package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tendhq/tend/integration/browser"
	"github.com/tendhq/tend/integration/lab"
	"github.com/tendhq/tend/journal"
)

// requireChromium skips without Chromium, unless TEND_LAB=1 asked for
// every end-to-end test: then its absence fails.
func requireChromium(t *testing.T) {
	t.Helper()
	if _, err := browser.Path(); err != nil {
		if lab.Enabled() {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

var (
	tileRe  = regexp.MustCompile(`<button [^>]*class="tile s-([a-z_]+)[ "]`)
	countRe = regexp.MustCompile(`<b class="count" data-status="([a-z_]+)" data-count="(\d+)"`)
	shownRe = regexp.MustCompile(`<span id="shown" data-shown="(\d+)"`)
	markRe  = regexp.MustCompile(`<body [^>]*data-rendered-ms="[0-9.]+"`)
	asideRe = regexp.MustCompile(`(?s)<aside id="detail"[^>]*>(.*?)</aside>`)
)

// domCounts opens a report in headless Chromium and reads back, from the
// DOM its script built, the host tiles by status, the legend's counts
// and how many hosts the filter shows; fragment opens a host's detail,
// returned too.
func domCounts(t *testing.T, page, fragment string) (tiles, legend map[string]int, shown int, detail string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dom, took, err := browser.DumpDOM(ctx, page, fragment)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("chromium --dump-dom %s#%s: %v, %d bytes of DOM", filepath.Base(page), fragment, took.Round(time.Millisecond), len(dom))
	if !markRe.MatchString(dom) {
		t.Fatalf("the page's script did not finish (no data-rendered-ms on body):\n%.3000s", dom)
	}
	tiles, legend = map[string]int{}, map[string]int{}
	for _, m := range tileRe.FindAllStringSubmatch(dom, -1) {
		tiles[m[1]]++
	}
	for _, m := range countRe.FindAllStringSubmatch(dom, -1) {
		var n int
		fmt.Sscan(m[2], &n)
		if n > 0 {
			legend[m[1]] = n
		}
	}
	if m := shownRe.FindStringSubmatch(dom); m != nil {
		fmt.Sscan(m[1], &shown)
	}
	if m := asideRe.FindStringSubmatch(dom); m != nil {
		detail = m[1]
	}
	return tiles, legend, shown, detail
}

// TestHTMLReportChromium: the HTML reports of a real plan of seven hosts
// (three with changes, two in sync, one that cannot be planned, one
// unreachable) and of the run that applies it, opened in Debian's
// headless Chromium, show each host in its status's colour and the
// right counts; a host's detail, drawn on demand, shows its content
// diff as text (the markup in it escaped); a screenshot is made.
func TestHTMLReportChromium(t *testing.T) {
	requireChromium(t)
	t.Setenv("TEND_TEST_HTML_TOKEN", "chromium-report-s3cret")
	t.Setenv("TEND_TEST_HTML_UNSET", "")
	os.Unsetenv("TEND_TEST_HTML_UNSET")
	dir, root, out := t.TempDir(), t.TempDir(), t.TempDir()
	for _, h := range []string{"db1", "db2"} {
		write(t, filepath.Join(root, h+".motd"), "<b>welcome</b> to "+h+"\n")
		write(t, filepath.Join(root, h+".token"), "chromium-report-s3cret\n")
	}
	write(t, filepath.Join(root, "web1.motd"), "old motd\n")
	write(t, filepath.Join(dir, "main.hcl"), fmt.Sprintf(`
file "motd" {
  path    = "%[1]s/${host.name}.motd"
  content = "<b>welcome</b> to ${host.name}\n"
  mode    = "0644"
}
file "token" {
  path    = "%[1]s/${host.name}.token"
  content = "${secret("env:TEND_TEST_HTML_TOKEN")}\n"
  mode    = "0644"
}
role "broken" {
  hosts = "bad1"
  file "broken" {
    path    = "%[1]s/bad1.broken"
    content = secret("env:TEND_TEST_HTML_UNSET")
  }
}
`, root))
	var inv strings.Builder
	for _, h := range []string{"web1", "web2", "web3", "db1", "db2", "bad1"} {
		fmt.Fprintf(&inv, "host %q {\n  transport = \"local\"\n}\n", h)
	}
	inv.WriteString("host \"gone1\" {\n  address = \"127.0.0.1\"\n  port    = 1\n}\n")
	write(t, filepath.Join(dir, "inventory.hcl"), inv.String())

	planHTML := filepath.Join(out, "plan.html")
	if _, _, code := tend(t, "plan", "-C", dir, "--html", planHTML); code != 1 {
		t.Fatalf("plan: exit %d, want 1 (bad1 fails, gone1 is unreachable)", code)
	}
	if b := read(t, planHTML); strings.Contains(b, "chromium-report-s3cret") {
		t.Fatalf("the report holds the secret")
	}
	want := map[string]int{"changes": 3, "in_sync": 2, "failed": 1, "unreachable": 1}
	tiles, legend, shown, detail := domCounts(t, planHTML, "host=web1")
	if diff := cmp.Diff(want, tiles); diff != "" {
		t.Errorf("host tiles by status in the DOM (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, legend); diff != "" {
		t.Errorf("legend counts in the DOM (-want +got):\n%s", diff)
	}
	if shown != 7 {
		t.Errorf("the filter shows %d hosts, want 7", shown)
	}
	for _, s := range []string{`<h2>web1</h2>`, `<span class="del">-old motd`, `<span class="add">+&lt;b&gt;welcome&lt;/b&gt; to web1`, `content: (sensitive, 23 bytes)`} {
		if !strings.Contains(detail, s) {
			t.Errorf("web1's detail lacks %q:\n%s", s, detail)
		}
	}
	if strings.Contains(detail, "<b>welcome") {
		t.Errorf("web1's diff was rendered as markup:\n%s", detail)
	}

	png := filepath.Join(out, "plan.png")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := browser.Screenshot(ctx, planHTML, png, 1280, 900); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(png); err != nil || fi.Size() == 0 {
		t.Fatalf("screenshot: %v", err)
	} else {
		t.Logf("screenshot: %s, %d bytes", png, fi.Size())
	}

	if _, _, code := tend(t, "apply", "-C", dir, "-t", "web*:db*", "-y", "--serial", "1"); code != 0 {
		t.Fatalf("apply: exit %d", code)
	}
	runs, err := journal.List(dir)
	if err != nil || len(runs) == 0 {
		t.Fatalf("no run journaled: %v", err)
	}
	runHTML := filepath.Join(out, "run.html")
	if _, _, code := tend(t, "show", "-C", dir, runs[len(runs)-1].ID, "--html", runHTML); code != 0 {
		t.Fatalf("show RUN-ID --html: exit %d", code)
	}
	tiles, legend, shown, _ = domCounts(t, runHTML, "")
	want = map[string]int{"success": 5}
	if diff := cmp.Diff(want, tiles); diff != "" {
		t.Errorf("run report tiles by status (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, legend); diff != "" {
		t.Errorf("run report legend (-want +got):\n%s", diff)
	}
	if shown != 5 {
		t.Errorf("the run report shows %d hosts, want 5", shown)
	}
}
