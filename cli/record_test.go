package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/journal"
	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/resources"
)

// testRecord makes the change record of pl as if saved in a file, made
// from configuration directory cfgDir.
func testRecord(t *testing.T, pl *plan.Plan, cfgDir string) *changeRecord {
	t.Helper()
	path := filepath.Join(t.TempDir(), "p.plan")
	if err := os.WriteFile(path, []byte("plan bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	rec, err := newChangeRecord(path, &plan.Saved{Inputs: plan.Inputs{ConfigDir: cfgDir}}, pl)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func st(present bool, kv ...string) *resources.State {
	s := &resources.State{Present: present, Attrs: map[string]cty.Value{}}
	for i := 0; i+1 < len(kv); i += 2 {
		s.Attrs[kv[i]] = cty.StringVal(kv[i+1])
	}
	return s
}

// TestChangeRecordCollapses: hosts with identical changes share one
// section headed "web1, web2: same N changes"; a host whose changes
// differ has its own; risks name the irreversible change, the package
// upgrade and the notified service with their hosts; the test plan
// carries the configuration's health check.
func TestChangeRecordCollapses(t *testing.T) {
	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, map[string]string{"main.hcl": `
rollout {
  serial           = "1,50%"
  max_fail_percent = 10
  health_check {
    command = "curl -fsS http://localhost/health"
    retries = 3
    delay   = "2s"
  }
}
`})
	same := func() []*plan.Change {
		return []*plan.Change{
			{Address: "package.openssl", Type: "package", Action: plan.Update, Changed: []string{"version"},
				Before: st(true, "name", "openssl", "version", "3.0.11-1"), After: st(true, "name", "openssl", "version", "3.0.13-1")},
			{Address: "file.conf", Type: "file", Action: plan.Update, Changed: []string{"mode"},
				Before: st(true, "path", "/etc/app.conf", "mode", "0644"), After: st(true, "path", "/etc/app.conf", "mode", "0640")},
			{Address: "service.app", Type: "service", Action: plan.Refresh, NotifiedBy: []string{"file.conf"},
				Before: st(true, "name", "app"), After: st(true, "name", "app")},
			{Address: "exec.migrate", Type: "exec", Action: plan.Create, Irreversible: "a command cannot be undone",
				Before: st(false), After: st(true, "command", "migrate")},
			{Address: "file.same", Type: "file", Action: plan.NoOp, Before: st(true), After: st(true)},
		}
	}
	db := same()[:2]
	db[1].After = st(true, "path", "/etc/app.conf", "mode", "0600")
	pl := &plan.Plan{Target: "web:db", Hosts: []*plan.HostPlan{
		{Name: "web1", Groups: []string{"all", "web"}, Changes: same()},
		{Name: "db1", Groups: []string{"all", "db"}, Changes: db},
		{Name: "web2", Groups: []string{"all", "prod", "web"}, Changes: same()},
		{Name: "idle", Groups: []string{"all", "ungrouped"}},
	}}
	rec := testRecord(t, pl, cfgDir)
	var sb strings.Builder
	rec.writeMarkdown(&sb)
	md := sb.String()
	doc := parseMarkdown(t, md)
	want := []string{"# Change record", "## Affected hosts and groups", "## Changes",
		"### web1, web2: same 4 changes", "### db1",
		"## Risk and impact", "## Implementation plan", "## Backout plan", "## Test plan"}
	if d := cmp.Diff(want, doc.Headings); d != "" {
		t.Fatalf("headings (-want +got):\n%s\n%s", d, md)
	}
	if len(doc.Tables) != 2 || len(doc.Tables[0]) != 5 || len(doc.Tables[1]) != 3 {
		t.Fatalf("tables: want 4 changes for web1, web2 and 2 for db1: %q", doc.Tables)
	}
	if !strings.Contains(doc.Tables[1][2][2], `mode: "0644" → "0600"`) {
		t.Errorf("db1's own change: %q", doc.Tables[1][2])
	}
	for _, line := range []string{
		"**Changed (3):** web1, db1, web2",
		"**Group web:** web1, web2",
		"**Group db:** db1",
		"**Unchanged (1):** idle",
		"Irreversible: `exec.migrate` cannot be rolled back: a command cannot be undone, on web1, web2.",
		"Restart or refresh: `service.app` is refreshed (a service restarts or reloads, a command runs again), notified by file.conf, on web1, web2.",
		"Package: `package.openssl` goes from version 3.0.11-1 to 3.0.13-1, on web1, db1, web2.",
		"Health check on each host once its changes are applied and verified: `curl -fsS http://localhost/health` must exit 0 (3 retries, 2s apart, each within 30s); a host that fails it fails its batch.",
		"Rollout: batches of 1, 50% hosts",
	} {
		if !strings.Contains(md, line) {
			t.Errorf("the record lacks %q:\n%s", line, md)
		}
	}
	if strings.Contains(md, "Group all") || strings.Contains(md, "ungrouped") {
		t.Errorf("the record lists the implicit groups:\n%s", md)
	}
}

// TestChangeRecordBackout: the record of a real saved plan names the
// plan's SHA-256 in a check that sha256sum accepts, the apply command
// that applies it, and a rollback command that, given the run's ID,
// restores the host's bytes; the run's close notes then match its
// journal.
func TestChangeRecordBackout(t *testing.T) {
	dir, root := t.TempDir(), t.TempDir()
	writeFiles(t, root, map[string]string{"app.conf": "a=1\n"})
	writeFiles(t, dir, map[string]string{"main.hcl": fmt.Sprintf(`
file "conf" {
  path    = "%[1]s/app.conf"
  content = "a=2\n"
}
file "motd" {
  path    = "%[1]s/motd"
  content = "hello\n"
}
exec "stamp" {
  command = "touch %[1]s/stamp"
  creates = "%[1]s/stamp"
}
`, root)})
	before := snapshot(t, root)
	planFile := filepath.Join(t.TempDir(), "change 42.plan")
	if out, errOut, code := tend(t, "plan", "-C", dir, "-out", planFile); code != 0 {
		t.Fatalf("plan: exit %d\n%s%s", code, out, errOut)
	}
	md, errOut, code := tend(t, "show", "--format", "markdown", planFile)
	if code != 0 {
		t.Fatalf("show: exit %d\n%s", code, errOut)
	}
	doc := parseMarkdown(t, md)
	var sh []string
	for _, c := range doc.Code {
		if c.Info == "sh" {
			sh = append(sh, strings.TrimSpace(c.Text))
		}
	}
	b, err := os.ReadFile(planFile)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	digest := hex.EncodeToString(sum[:])
	wantSh := []string{
		fmt.Sprintf("echo '%s  %s' | sha256sum -c -", digest, planFile),
		"tend apply '" + planFile + "'",
		"tend rollback RUN-ID -C " + shellWord(dir),
	}
	if d := cmp.Diff(wantSh, sh); d != "" {
		t.Fatalf("shell blocks (-want +got):\n%s\n%s", d, md)
	}
	if out, err := exec.Command("sh", "-c", sh[0]).CombinedOutput(); err != nil {
		t.Errorf("the digest check fails on the plan file: %v\n%s", err, out)
	}
	if !strings.Contains(md, "`exec.stamp` cannot be rolled back") {
		t.Errorf("the backout plan does not say the command cannot be undone:\n%s", md)
	}

	// The implementation plan, word for word.
	args := shellWords(t, sh[1])
	out, errOut, code := tend(t, append(args[1:], "-y")...)
	if code != 0 {
		t.Fatalf("%s: exit %d\n%s%s", sh[1], code, out, errOut)
	}
	run := lastRun(t, dir)
	checkCloseNotes(t, dir, run, CloseSuccessful)

	// The backout plan, word for word, with the run's ID.
	args = shellWords(t, strings.Replace(sh[2], "RUN-ID", run.ID, 1))
	if out, errOut, code := tend(t, append(args[1:], "-y")...); code != 0 {
		t.Fatalf("%s: exit %d\n%s%s", sh[2], code, out, errOut)
	}
	after := snapshot(t, root)
	delete(after, "stamp") // the command's work, which the record says stays
	if d := cmp.Diff(before, after); d != "" {
		t.Errorf("the backout plan did not restore the host (-before +after):\n%s", d)
	}
	if run, err = journal.Read(dir, run.ID); err != nil {
		t.Fatal(err)
	}
	// Backed out but for the command, which stays done.
	notes := checkCloseNotes(t, dir, run, CloseSuccessfulIssues)
	if !strings.Contains(notes, "Rolled back: localhost: file.conf; localhost: file.motd.") &&
		!strings.Contains(notes, "Rolled back: localhost: file.motd; localhost: file.conf.") {
		t.Errorf("the close notes do not list what was rolled back:\n%s", notes)
	}
}

// TestCloseNotesFailedRun: a run whose host failed and was rolled back
// closes unsuccessful, its notes counting the journal's statuses.
func TestCloseNotesFailedRun(t *testing.T) {
	dir, _ := rollbackFixture(t)
	if out, errOut, code := tend(t, "apply", "-C", dir, "-y"); code != 1 {
		t.Fatalf("apply: exit %d, want 1\n%s%s", code, out, errOut)
	}
	notes := checkCloseNotes(t, dir, lastRun(t, dir), CloseUnsuccessful)
	if !strings.Contains(notes, "Rolled back: localhost: file.one; localhost: directory.two.") {
		t.Errorf("close notes:\n%s", notes)
	}
}

// checkCloseNotes checks tend show RUN-ID's close notes, in Markdown and
// JSON, against the journal: the close code, and the changes counted by
// status. It returns the Markdown.
func checkCloseNotes(t *testing.T, dir string, run *journal.Run, wantCode string) string {
	t.Helper()
	md, errOut, code := tend(t, "show", "-C", dir, "--format", "markdown", run.ID)
	if code != 0 {
		t.Fatalf("show: exit %d\n%s", code, errOut)
	}
	doc := parseMarkdown(t, md)
	if doc.Headings[len(doc.Headings)-1] != "## Close notes" {
		t.Fatalf("no close notes section: %q\n%s", doc.Headings, md)
	}
	notes := md[strings.Index(md, "## Close notes"):]
	if !strings.Contains(notes, "**Close code:** "+closeLabels[wantCode]+" (`"+wantCode+"`)") {
		t.Errorf("close code, want %s:\n%s", wantCode, notes)
	}
	// The counts, from the journal as this test reads it.
	counts := map[string]int{}
	for _, h := range run.Hosts {
		for _, e := range h.Changes {
			counts[string(e.Status)]++
		}
	}
	var parts []string
	for s, n := range counts {
		parts = append(parts, fmt.Sprintf("%d %s", n, s))
	}
	sort.Slice(parts, func(i, k int) bool { return strings.Fields(parts[i])[1] < strings.Fields(parts[k])[1] })
	m := regexp.MustCompile(`Changes by status: ([^\n]*)\.\n`).FindStringSubmatch(notes)
	if m == nil || m[1] != strings.Join(parts, ", ") {
		t.Errorf("status counts %q, the journal has %q:\n%s", m, parts, notes)
	}
	js, errOut, code := tend(t, "show", "-C", dir, "--format", "change-request", run.ID)
	if code != 0 {
		t.Fatalf("show --format change-request: exit %d\n%s", code, errOut)
	}
	var cr map[string]any
	if err := json.Unmarshal([]byte(js), &cr); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, js)
	}
	if cr["close_code"] != wantCode || !strings.Contains(cr["close_notes"].(string), "Changes by status: "+strings.Join(parts, ", ")+".") {
		t.Errorf("change request: close_code %v, close_notes %q", cr["close_code"], cr["close_notes"])
	}
	return notes
}

// shellWords splits a command line of plain and single-quoted words.
func shellWords(t *testing.T, s string) []string {
	t.Helper()
	b, err := exec.Command("sh", "-c", "set -- "+s+`; for a; do printf '%s\0' "$a"; done`).Output()
	if err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	words := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
	if len(words) < 2 || words[0] != "tend" {
		t.Fatalf("%q is not a tend command", s)
	}
	return words
}
