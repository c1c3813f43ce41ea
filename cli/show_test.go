package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	east "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"

	"github.com/tendhq/tend/journal"
	"github.com/tendhq/tend/plan"
)

// mdDoc is what a Markdown document is made of, read from its CommonMark
// (and GitHub table) syntax tree: headings, tables and fenced code blocks.
type mdDoc struct {
	Headings []string // "## text"
	Tables   [][][]string
	Code     []mdCodeBlock
}

type mdCodeBlock struct{ Info, Text string }

// parseMarkdown parses src with goldmark and collects its structure.
func parseMarkdown(t *testing.T, src string) mdDoc {
	t.Helper()
	b := []byte(src)
	root := goldmark.New(goldmark.WithExtensions(extension.Table)).Parser().Parse(text.NewReader(b))
	var d mdDoc
	err := ast.Walk(root, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch n := n.(type) {
		case *ast.Heading:
			d.Headings = append(d.Headings, strings.Repeat("#", n.Level)+" "+inlineText(n, b))
			return ast.WalkSkipChildren, nil
		case *east.Table:
			var rows [][]string
			for r := n.FirstChild(); r != nil; r = r.NextSibling() {
				var row []string
				for c := r.FirstChild(); c != nil; c = c.NextSibling() {
					if _, ok := c.(*east.TableCell); !ok {
						t.Fatalf("table row holds a %T", c)
					}
					row = append(row, inlineText(c, b))
				}
				rows = append(rows, row)
			}
			d.Tables = append(d.Tables, rows)
			return ast.WalkSkipChildren, nil
		case *ast.FencedCodeBlock:
			var sb strings.Builder
			lines := n.Lines()
			for i := 0; i < lines.Len(); i++ {
				seg := lines.At(i)
				sb.Write(seg.Value(b))
			}
			d.Code = append(d.Code, mdCodeBlock{Info: string(n.Language(b)), Text: sb.String()})
		case *ast.CodeBlock:
			t.Errorf("an indented code block (unintended markup?): %q", n.Lines().Value(b))
		}
		return ast.WalkContinue, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// inlineText is the text a node's inlines render to, markup removed:
// backslash escapes undone outside code spans, and inside a table's code
// spans the escaped pipe (GitHub's table rule).
func inlineText(n ast.Node, src []byte) string {
	var sb strings.Builder
	_, inTable := n.(*east.TableCell)
	var walk func(n ast.Node, code bool)
	walk = func(n ast.Node, code bool) {
		for c := n.FirstChild(); c != nil; c = c.NextSibling() {
			switch c := c.(type) {
			case *ast.Text:
				v := c.Segment.Value(src)
				switch {
				case code && inTable:
					v = bytes.ReplaceAll(v, []byte(`\|`), []byte("|"))
				case !code:
					v = util.UnescapePunctuations(v)
				}
				sb.Write(v)
				if c.SoftLineBreak() || c.HardLineBreak() {
					sb.WriteByte(' ')
				}
			case *ast.String:
				sb.Write(c.Value)
			case *ast.CodeSpan:
				walk(c, true)
			default:
				walk(c, code)
			}
		}
	}
	walk(n, false)
	return sb.String()
}

func showPlanConfig(root string) string {
	return fmt.Sprintf(`
variable "token" {
  sensitive = true
  default   = "tok-123-canary"
}
file "motd" {
  path    = "%[1]s/motd"
  content = "hello\nworld | and `+"`ticks`"+`\n"
}
file "conf" {
  path    = "%[1]s/app.conf"
  content = "a=1\nb=3\nc=3\n"
  mode    = "0640"
}
file "secret" {
  path    = "%[1]s/token"
  content = var.token
}
exec "stamp" {
  command = "echo ${var.token} >/dev/null"
  creates = "%[1]s/stamp"
}
`, root)
}

// TestShowSavedPlan: tend show PLANFILE prints exactly what tend plan
// printed for that plan, --json exactly what plan --json printed, and
// --format markdown a change record whose structure (headings, table,
// diffs) a CommonMark parser reads back.
func TestShowSavedPlan(t *testing.T) {
	dir, root := t.TempDir(), t.TempDir()
	writeFiles(t, root, map[string]string{"app.conf": "a=1\nb=2\nc=3\n"})
	writeFiles(t, dir, map[string]string{"main.hcl": showPlanConfig(root)})
	planFile := filepath.Join(t.TempDir(), "p.plan")
	planOut, errOut, code := tend(t, "plan", "-C", dir, "-out", planFile)
	if code != 0 {
		t.Fatalf("plan: exit %d\n%s%s", code, planOut, errOut)
	}
	saved := "Saved the plan to " + planFile + "; apply exactly it with: tend apply " + planFile + "\n"
	if !strings.HasSuffix(planOut, saved) {
		t.Fatalf("plan output does not end with the saved line:\n%s", planOut)
	}
	planOut = strings.TrimSuffix(planOut, saved)
	for _, want := range []string{"+ file.motd", "~ file.conf", "-b=2", "+b=3", "content: (sensitive, 14 bytes)", "command = (sensitive)"} {
		if !strings.Contains(planOut, want) {
			t.Fatalf("the fixture's plan lacks %q (the test would prove little):\n%s", want, planOut)
		}
	}
	showOut, errOut, code := tend(t, "show", planFile)
	if code != 0 {
		t.Fatalf("show: exit %d\n%s%s", code, showOut, errOut)
	}
	if d := cmp.Diff(planOut, showOut); d != "" {
		t.Errorf("show differs from what plan printed (-plan +show):\n%s", d)
	}

	// The JSON document, byte for byte: plan --json of the same plan
	// (saved with it, so Created matches).
	jsonFile := filepath.Join(t.TempDir(), "j.plan")
	planJSON, errOut, code := tend(t, "plan", "-C", dir, "-json-document", "-out", jsonFile)
	if code != 0 {
		t.Fatalf("plan --json: exit %d\n%s", code, errOut)
	}
	showJSON, errOut, code := tend(t, "show", "-json", jsonFile)
	if code != 0 {
		t.Fatalf("show --json: exit %d\n%s", code, errOut)
	}
	if d := cmp.Diff(planJSON, showJSON); d != "" {
		t.Errorf("show --json differs from plan --json (-plan +show):\n%s", d)
	}
	if strings.Contains(showOut+showJSON, "canary") {
		t.Errorf("show printed the sensitive value")
	}

	mdOut, errOut, code := tend(t, "show", "--format", "markdown", planFile)
	if code != 0 {
		t.Fatalf("show --format markdown: exit %d\n%s", code, errOut)
	}
	doc := parseMarkdown(t, mdOut)
	wantHeadings := []string{
		"# Change record", "## Affected hosts and groups", "## Changes",
		"### localhost", "#### file.motd content", "#### file.conf content",
		"## Risk and impact", "## Implementation plan", "## Backout plan", "## Test plan",
	}
	if d := cmp.Diff(wantHeadings, doc.Headings); d != "" {
		t.Errorf("markdown headings (-want +got):\n%s\n%s", d, mdOut)
	}
	if !strings.Contains(mdOut, "\nPlan: 3 to add, 1 to change, 0 to remove on 1 of 1 hosts; 0 hosts unchanged.\n") {
		t.Errorf("markdown lacks the plan's summary:\n%s", mdOut)
	}
	if len(doc.Tables) != 1 {
		t.Fatalf("markdown has %d tables, want 1:\n%s", len(doc.Tables), mdOut)
	}
	var diffs []mdCodeBlock
	for _, c := range doc.Code {
		if c.Info == "diff" {
			diffs = append(diffs, c)
		}
	}
	doc.Code = diffs
	tab := doc.Tables[0]
	var addrs []string
	for _, row := range tab[1:] {
		if len(row) != 3 {
			t.Fatalf("table row %q has %d cells, want 3:\n%s", row, len(row), mdOut)
		}
		addrs = append(addrs, row[0]+" "+row[1])
	}
	wantRows := []string{"+ create file.motd", "~ update file.conf", "+ create file.secret", "+ create exec.stamp"}
	if d := cmp.Diff(tab[0], []string{"Action", "Resource", "Details"}); d != "" {
		t.Errorf("table header: %s", d)
	}
	if d := cmp.Diff(sortedCopy(wantRows), sortedCopy(addrs)); d != "" {
		t.Errorf("table rows (-want +got):\n%s\n%s", d, mdOut)
	}
	for _, row := range tab[1:] {
		switch row[1] {
		case "file.conf":
			if !strings.Contains(row[2], `mode: "0644" → "0640"`) {
				t.Errorf("file.conf details lack the mode change: %q", row[2])
			}
		case "file.secret":
			if !strings.Contains(row[2], "content: (sensitive, 14 bytes)") {
				t.Errorf("file.secret details: %q", row[2])
			}
		}
	}
	var jp struct {
		Hosts []struct {
			Changes []struct {
				Address     string `json:"address"`
				ContentDiff string `json:"content_diff"`
			} `json:"changes"`
		} `json:"hosts"`
	}
	if err := json.Unmarshal([]byte(planJSON), &jp); err != nil {
		t.Fatal(err)
	}
	var wantCode []mdCodeBlock
	for _, c := range jp.Hosts[0].Changes {
		if c.ContentDiff != "" {
			wantCode = append(wantCode, mdCodeBlock{"diff", c.ContentDiff})
		}
	}
	if d := cmp.Diff(wantCode, doc.Code); d != "" || len(wantCode) != 2 {
		t.Errorf("fenced diffs (-want +got):\n%s\n%s", d, mdOut)
	}
}

func sortedCopy(s []string) []string {
	c := append([]string{}, s...)
	for i := range c {
		for k := i + 1; k < len(c); k++ {
			if c[k] < c[i] {
				c[i], c[k] = c[k], c[i]
			}
		}
	}
	return c
}

// TestShowRun: tend show RUN-ID shows each host of a journaled run with
// its changes, their statuses and errors; --json is the journal's run;
// the markdown change record parses to a heading per host and a table of
// its changes.
func TestShowRun(t *testing.T) {
	dir, _ := rollbackFixture(t)
	if out, errOut, code := tend(t, "apply", "-C", dir, "-y"); code != 1 {
		t.Fatalf("apply: exit %d, want 1\n%s%s", code, out, errOut)
	}
	run := lastRun(t, dir)
	var e3 *journal.Entry
	for _, e := range run.Hosts[0].Changes {
		if e.Address == "file.three" {
			e3 = e
		}
	}
	if e3 == nil || e3.Error == "" {
		t.Fatalf("the fixture's run has no failed file.three: %+v", run.Hosts[0].Changes)
	}

	out, errOut, code := tend(t, "show", "-C", dir, run.ID[:len(run.ID)-2])
	if code != 0 {
		t.Fatalf("show: exit %d\n%s%s", code, out, errOut)
	}
	wantLines := []string{
		"Run " + run.ID + ": apply, " + run.Outcome,
		"localhost: " + run.Hosts[0].Outcome,
		"file.one reverted", "directory.two reverted", "file.three failed", "      ! " + strings.SplitN(e3.Error, "\n", 2)[0],
		"file.four skipped", "symlink.five skipped",
	}
	for _, w := range wantLines {
		if !strings.Contains(out, w) {
			t.Errorf("show lacks %q:\n%s", w, out)
		}
	}

	jsonOut, errOut, code := tend(t, "show", "-C", dir, "--json", run.ID)
	if code != 0 {
		t.Fatalf("show --json: exit %d\n%s", code, errOut)
	}
	var got journal.Run
	if err := json.Unmarshal([]byte(jsonOut), &got); err != nil {
		t.Fatalf("show --json is not one JSON document: %v\n%s", err, jsonOut)
	}
	if d := cmp.Diff(mustJSONString(t, run), mustJSONString(t, &got)); d != "" {
		t.Errorf("show --json differs from the journal (-journal +show):\n%s", d)
	}

	mdOut, errOut, code := tend(t, "show", "-C", dir, "--format", "markdown", run.ID)
	if code != 0 {
		t.Fatalf("show --format markdown: exit %d\n%s", code, errOut)
	}
	doc := parseMarkdown(t, mdOut)
	wantHeadings := []string{"# Run " + run.ID + ": apply, " + run.Outcome, "## localhost: " + run.Hosts[0].Outcome}
	if strings.Contains(e3.Error, "\n") {
		wantHeadings = append(wantHeadings, "### file.three error")
	}
	wantHeadings = append(wantHeadings, "## Close notes")
	if d := cmp.Diff(wantHeadings, doc.Headings); d != "" {
		t.Errorf("headings (-want +got):\n%s\n%s", d, mdOut)
	}
	if len(doc.Tables) != 1 {
		t.Fatalf("%d tables, want 1:\n%s", len(doc.Tables), mdOut)
	}
	got2 := map[string]string{}
	for _, row := range doc.Tables[0][1:] {
		if len(row) != 5 {
			t.Fatalf("row %q: %d cells, want 5", row, len(row))
		}
		got2[row[2]] = row[0]
		if row[2] == "file.three" && !strings.HasPrefix(row[4], strings.SplitN(e3.Error, "\n", 2)[0]) {
			t.Errorf("file.three's error cell %q, want %q", row[4], e3.Error)
		}
	}
	want2 := map[string]string{}
	for a, s := range statuses(run) {
		want2[a] = string(s)
	}
	if d := cmp.Diff(want2, got2); d != "" {
		t.Errorf("table statuses (-journal +markdown):\n%s\n%s", d, mdOut)
	}

	if _, errOut, code := tend(t, "show", "-C", dir, "nosuchrun"); code != 1 || !strings.Contains(errOut, `no run "nosuchrun"`) {
		t.Errorf("show of an unknown run: exit %d\n%s", code, errOut)
	}
}

func mustJSONString(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestMarkdownEscapes: text that is markup in Markdown (pipes, backticks,
// emphasis, a fence inside a diff) comes out as the same text.
func TestMarkdownEscapes(t *testing.T) {
	nasty := "a|b *c* _d_ `e` [f](g) <h> #i \\j"
	var sb strings.Builder
	fmt.Fprintf(&sb, "# %s\n\n| x | y |\n|---|---|\n| %s | %s |\n\n%s", mdText(nasty), mdCell(nasty), mdCodeCell("x|`y`"), mdFence("```\ninside\n```\n", "diff"))
	doc := parseMarkdown(t, sb.String())
	if d := cmp.Diff([]string{"# " + nasty}, doc.Headings); d != "" {
		t.Errorf("heading: %s", d)
	}
	if len(doc.Tables) != 1 || len(doc.Tables[0]) != 2 {
		t.Fatalf("tables: %q\n%s", doc.Tables, sb.String())
	}
	if d := cmp.Diff([]string{nasty, "x|`y`"}, doc.Tables[0][1]); d != "" {
		t.Errorf("cells: %s\n%s", d, sb.String())
	}
	if d := cmp.Diff([]mdCodeBlock{{"diff", "```\ninside\n```\n"}}, doc.Code); d != "" {
		t.Errorf("fence: %s", d)
	}
}

// TestPlanMarkdownHosts: a host that failed to plan gets a heading and
// its error in a code block; unchanged hosts are listed, not given
// headings.
func TestPlanMarkdownHosts(t *testing.T) {
	pl := &plan.Plan{Target: "all", Hosts: []*plan.HostPlan{
		{Name: "web1", Err: errors.New("probe: exit status 1:\nsh: 1: `bad`: not found")},
		{Name: "web2"},
		{Name: "web_3"},
	}}
	rec := testRecord(t, pl, t.TempDir())
	var sb strings.Builder
	rec.writeMarkdown(&sb)
	doc := parseMarkdown(t, sb.String())
	want := []string{"# Change record", "## Affected hosts and groups", "## Changes", "### web1 (failed)",
		"## Risk and impact", "## Implementation plan", "## Backout plan", "## Test plan"}
	if d := cmp.Diff(want, doc.Headings); d != "" {
		t.Errorf("headings: %s\n%s", d, sb.String())
	}
	if len(doc.Code) == 0 || doc.Code[0] != (mdCodeBlock{"text", "probe: exit status 1:\nsh: 1: `bad`: not found\n"}) {
		t.Errorf("code blocks: %q\n%s", doc.Code, sb.String())
	}
	if len(doc.Tables) != 0 {
		t.Errorf("tables for hosts without changes: %q", doc.Tables)
	}
	if !strings.Contains(sb.String(), "**Unchanged (2):** web2, web\\_3") {
		t.Errorf("unchanged hosts not listed:\n%s", sb.String())
	}
}
