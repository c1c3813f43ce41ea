package report

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/journal"
	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/redact"
	"github.com/tendhq/tend/report/reporttest"
	"github.com/tendhq/tend/resources"
)

func content(s string, sensitive bool) *resources.Content {
	sum := sha256.Sum256([]byte(s))
	return &resources.Content{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(s)), Data: []byte(s), Known: true, Sensitive: sensitive}
}

// embedded decodes the report data the page carries.
func embedded(t *testing.T, page []byte) *Report {
	t.Helper()
	m := regexp.MustCompile(`(?s)<script type="application/json" id="report-data">(.*?)</script>`).FindSubmatch(page)
	if m == nil {
		t.Fatalf("no report data in the page")
	}
	var r Report
	if err := json.Unmarshal(m[1], &r); err != nil {
		t.Fatalf("report data: %v", err)
	}
	return &r
}

const (
	hostileHost = `web1"><script>alert("host")</script>`
	hostileAddr = `file.x'><img src=x onerror=alert(1)>`
	hostileText = "</script><script>alert('content')</script>\n<!-- x -->\n"
)

// TestHostileValuesEscaped: host names, addresses and file content that
// hold markup are in the page as data, exactly, never as markup.
func TestHostileValuesEscaped(t *testing.T) {
	ch := &plan.Change{Address: hostileAddr, Type: "file", Action: plan.Update, Changed: []string{"mode", plan.ContentChange},
		Before: &resources.State{Present: true, Attrs: map[string]cty.Value{"mode": cty.StringVal("0644")}, Content: content("old\n", false)},
		After:  &resources.State{Present: true, Attrs: map[string]cty.Value{"mode": cty.StringVal(`<b>0600</b>`)}, Content: content(hostileText, false)},
		Notes:  []string{`<i>note</i>`}}
	pl := &plan.Plan{Target: `web"<x>`, Hosts: []*plan.HostPlan{
		{Name: hostileHost, Groups: []string{`<g>`}, Changes: []*plan.Change{ch}},
		{Name: "web2", Err: errors.New(`probe failed: <script>alert("err")</script>`)},
	}}
	page, err := FromPlan(pl, false, Meta{Command: `tend plan <cmd>`, User: `<u>`, Version: "1.0", Time: time.Now()}).HTML()
	if err != nil {
		t.Fatal(err)
	}
	s := string(page)
	for _, bad := range []string{"<script>alert", "<img", "<b>0600", "<i>note", "<!-- x", "<g>", "<u>", "<cmd>", `web"<x>`} {
		if strings.Contains(s, bad) {
			t.Errorf("the page holds %q unescaped", bad)
		}
	}
	if n := strings.Count(strings.ToLower(s), "<script"); n != 2 {
		t.Errorf("the page has %d script elements, want 2 (the data and the code)", n)
	}
	r := embedded(t, page)
	if r.Hosts[0].Name != hostileHost || r.Changes[r.Hosts[0].Changes[0]].Address != hostileAddr {
		t.Errorf("hostile names not kept exactly: %q %q", r.Hosts[0].Name, r.Changes[0].Address)
	}
	if len(r.Diffs) != 1 || !strings.Contains(r.Diffs[0], "+</script><script>alert('content')</script>") {
		t.Errorf("diffs = %q, want the hostile content's diff, exactly", r.Diffs)
	}
	if r.Hosts[1].Status != StatusFailed || r.Hosts[1].Error != `probe failed: <script>alert("err")</script>` {
		t.Errorf("failed host = %+v", r.Hosts[1])
	}
}

// TestSensitiveNeverInPage: sensitive attributes and content, and a
// secret quoted in an error, appear nowhere in the page, in any form.
func TestSensitiveNeverInPage(t *testing.T) {
	const attrSecret, contentSecret, errSecret = "attr-s3cret-value", "content-s3cret-value", "err-s3cret\"value"
	redact.Add(errSecret)
	create := &plan.Change{Address: "file.key", Type: "file", Action: plan.Create,
		Before: &resources.State{},
		After: &resources.State{Present: true, Attrs: map[string]cty.Value{"password": cty.StringVal(attrSecret).Mark(resources.Sensitive)},
			Content: content("key = "+contentSecret+"\n", true)}}
	update := &plan.Change{Address: "file.env", Type: "file", Action: plan.Update, Changed: []string{"password", plan.ContentChange},
		Before: &resources.State{Present: true, Attrs: map[string]cty.Value{"password": cty.StringVal("old-password")}, Content: content("A=old\n", false)},
		After: &resources.State{Present: true, Attrs: map[string]cty.Value{"password": cty.StringVal(attrSecret).Mark(resources.Sensitive)},
			Content: content("A="+contentSecret+"\n", true)}}
	pl := &plan.Plan{Hosts: []*plan.HostPlan{
		{Name: "a", Changes: []*plan.Change{create, update}},
		{Name: "b", Err: errors.New("connect: password " + errSecret + " refused")},
	}}
	page, err := FromPlan(pl, true, Meta{}).HTML()
	if err != nil {
		t.Fatal(err)
	}
	run := &journal.Run{ID: "r1", Command: "apply", Outcome: "failed", Hosts: []*journal.Host{{Name: "a", Outcome: "failed", Error: "x " + errSecret,
		Changes: []*journal.Entry{{Address: "file.key", Action: plan.Update, Status: journal.Failed, Error: "stderr: " + errSecret,
			Before: &resources.State{Present: true, Attrs: map[string]cty.Value{}},
			After:  &resources.State{Present: true, Attrs: map[string]cty.Value{}, Redacted: []string{"password"}, Content: &resources.Content{SHA256: "hmac-sha256:00", Size: 9, Sensitive: true}}}}}}}
	runPage, err := FromRun(run, Meta{}).HTML()
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]string{"plan": string(page), "run": string(runPage)} {
		for _, secret := range []string{attrSecret, contentSecret, "err-s3cret", `err-s3cret\"value`, `err-s3cret\u0022value`} {
			if strings.Contains(p, secret) {
				t.Errorf("%s page holds the secret %q", name, secret)
			}
		}
		if !strings.Contains(p, "(sensitive") {
			t.Errorf("%s page does not say (sensitive)", name)
		}
	}
	r := embedded(t, page)
	want := []string{"password = (sensitive)", "content: (sensitive, 27 bytes)"}
	if diff := cmp.Diff(want, r.Changes[0].Lines); diff != "" {
		t.Errorf("created change lines (-want +got):\n%s", diff)
	}
	if r.Changes[1].Diff != 0 || len(r.Diffs) != 0 {
		t.Errorf("a diff of sensitive content is in the page: %q", r.Diffs)
	}
}

// TestWriteReplacesAtomically: the report replaces the file by a rename
// (a reader holding the old file keeps it whole), leaves no temporary
// file, and a directory that does not exist is an error.
func TestWriteReplacesAtomically(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "report.html")
	if err := os.WriteFile(path, []byte("old report"), 0o600); err != nil {
		t.Fatal(err)
	}
	old, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	before, _ := old.Stat()
	r := FromPlan(&plan.Plan{Hosts: []*plan.HostPlan{{Name: "a"}}}, false, Meta{})
	if err := r.Write(path); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if os.SameFile(before, after) {
		t.Errorf("the report was written into the old file, not renamed over it")
	}
	b := make([]byte, 64)
	n, _ := old.ReadAt(b, 0)
	if string(b[:n]) != "old report" {
		t.Errorf("the old file changed under its reader: %q", b[:n])
	}
	if after.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", after.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("the directory holds %d files, want the report alone", len(entries))
	}
	if err := r.Write(filepath.Join(dir, "missing", "r.html")); err == nil {
		t.Errorf("writing into a missing directory succeeded")
	}
}

// TestRunReport: a run's hosts are counted by outcome, its changes carry
// their statuses and errors, and attributes it kept by name only show as
// (sensitive).
func TestRunReport(t *testing.T) {
	entry := func(addr string, st journal.Status, errText string) *journal.Entry {
		return &journal.Entry{Address: addr, Type: "file", Action: plan.Update, Status: st, Error: errText,
			Before: &resources.State{Present: true, Attrs: map[string]cty.Value{"mode": cty.StringVal("0644")}},
			After:  &resources.State{Present: true, Attrs: map[string]cty.Value{"mode": cty.StringVal("0600")}, Redacted: []string{"token"}}}
	}
	run := &journal.Run{ID: "20260101T000000Z-abcdef", Command: "apply", Outcome: "partial", User: "ops", Hosts: []*journal.Host{
		{Name: "a", Outcome: "success", Changes: []*journal.Entry{entry("file.x", journal.Applied, "")}},
		{Name: "b", Outcome: "rolled_back", Error: "boom", Changes: []*journal.Entry{entry("file.x", journal.Reverted, ""), entry("file.y", journal.Failed, "boom")}},
		{Name: "c", Outcome: "unreachable", Error: "dial tcp: refused"},
		{Name: "d", Outcome: "success", Changes: []*journal.Entry{entry("file.x", journal.Applied, "")}},
		{Name: "e", Outcome: "some_new_outcome"},
	}}
	r := FromRun(run, Meta{})
	got := map[string]int{}
	for _, s := range r.Statuses {
		if s.Count > 0 {
			got[s.ID] = s.Count
		}
	}
	if diff := cmp.Diff(map[string]int{"success": 2, "rolled_back": 1, "unreachable": 1, "other": 1}, got); diff != "" {
		t.Errorf("status counts (-want +got):\n%s", diff)
	}
	if len(r.Changes) != 3 {
		t.Errorf("%d distinct changes, want 3 (a's and d's are one)", len(r.Changes))
	}
	c := r.Changes[r.Hosts[1].Changes[1]]
	want := Change{Address: "file.y", Action: "update", Symbol: "~", Status: "failed", Error: "boom",
		Lines: []string{`mode: "0644" → "0600"`, "token: (sensitive)"}}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("failed change (-want +got):\n%s", diff)
	}
}

// TestLargeFleetSize: a report of 1,000 hosts × 30 resources stays under
// 10 MB, storing each distinct change and diff once.
func TestLargeFleetSize(t *testing.T) {
	pl := reporttest.Fleet(1000, 30)
	r := FromPlan(pl, false, Meta{Command: "tend plan"})
	page, err := r.HTML()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("1000 hosts × 30 resources: %d bytes, %d distinct changes, %d distinct diffs", len(page), len(r.Changes), len(r.Diffs))
	if len(page) >= 10<<20 {
		t.Errorf("the report is %d bytes, want under 10 MB", len(page))
	}
	if len(r.Changes) >= 30000/2 {
		t.Errorf("%d distinct changes of 30,000: identical changes are not shared", len(r.Changes))
	}
	c := pl.Count()
	got := map[string]int{}
	for _, s := range r.Statuses {
		got[s.ID] = s.Count
	}
	want := map[string]int{StatusChanges: c.HostsChanged, StatusInSync: c.HostsUnchanged, StatusFailed: 10, StatusUnreachable: 10}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("status counts (-want +got):\n%s", diff)
	}
}
