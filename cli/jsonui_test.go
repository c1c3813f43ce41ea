package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// uiSchema compiles docs/tend-ui.schema.json.
func uiSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "docs", "tend-ui.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("docs/tend-ui.schema.json: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("tend-ui.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("tend-ui.schema.json")
	if err != nil {
		t.Fatalf("compiling the schema: %v", err)
	}
	return s
}

// jsonLines checks a command's --json output line by line against the
// schema: every line a message, the version first, the outcome last with
// the command's exit code. It returns the messages.
func jsonLines(t *testing.T, s *jsonschema.Schema, args []string, out string, code int) []map[string]any {
	t.Helper()
	if !strings.HasSuffix(out, "\n") {
		t.Errorf("%v: output does not end with a line end:\n%s", args, out)
	}
	var msgs []map[string]any
	for i, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(line))
		if err != nil {
			t.Errorf("%v: line %d is not JSON: %v\n%s", args, i+1, err, line)
			continue
		}
		if err := s.Validate(v); err != nil {
			t.Errorf("%v: line %d does not match the schema: %#v\n%s", args, i+1, err, line)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("%v: line %d: %v", args, i+1, err)
			continue
		}
		msgs = append(msgs, m)
	}
	if len(msgs) < 2 {
		t.Fatalf("%v: %d messages, want at least version and outcome:\n%s", args, len(msgs), out)
	}
	if msgs[0]["type"] != "version" || msgs[0]["ui"] != UIVersion {
		t.Errorf("%v: first message %v, want the version", args, msgs[0])
	}
	last := msgs[len(msgs)-1]
	if last["type"] != "outcome" || last["exit_code"] != float64(code) {
		t.Errorf("%v: last message %v, want the outcome with exit code %d", args, last, code)
	}
	for _, m := range msgs[1 : len(msgs)-1] {
		if m["type"] == "version" || m["type"] == "outcome" {
			t.Errorf("%v: %v in the middle of the stream", args, m["type"])
		}
	}
	return msgs
}

func types(msgs []map[string]any) map[string]int {
	out := map[string]int{}
	for _, m := range msgs {
		out[m["type"].(string)]++
	}
	return out
}

// TestJSONEveryCommand runs every command with --json (successes,
// configuration errors, a failing run, a rollout with a pause) and checks
// each line of its output against docs/tend-ui.schema.json.
func TestJSONEveryCommand(t *testing.T) {
	s := uiSchema(t)
	dir, root, bad := t.TempDir(), t.TempDir(), t.TempDir()
	writeFiles(t, dir, map[string]string{"main.hcl": fmt.Sprintf(`
file "a" {
  path    = "%[1]s/${host.name}-a"
  content = "a\n"
}
exec "mark" {
  command = "touch %[1]s/${host.name}-mark"
  creates = "%[1]s/${host.name}-mark"
}
`, root)})
	writeFiles(t, bad, map[string]string{"main.hcl": "file \"x\" {\n  path = 3\n  bogus = true\n}\n"})
	rollout := t.TempDir()
	writeFiles(t, rollout, map[string]string{
		"main.hcl": fmt.Sprintf("file \"r\" {\n  path    = \"%s/${host.name}-r\"\n  content = \"r\\n\"\n}\n", root),
		"inventory.hcl": "host \"h1\" {\n  transport = \"local\"\n}\nhost \"h2\" {\n  transport = \"local\"\n}\n" +
			"host \"h3\" {\n  transport = \"local\"\n}\n",
	})
	failing := t.TempDir()
	writeFiles(t, failing, map[string]string{"main.hcl": fmt.Sprintf(`
file "first" {
  path    = "%[1]s/f-first"
  content = "1\n"
}
exec "fails" {
  command    = "echo broken >&2; exit 3"
  creates    = "%[1]s/f-never"
  depends_on = [file.first]
}
`, root)})
	unformatted := t.TempDir()
	writeFiles(t, unformatted, map[string]string{"u.hcl": "file \"u\" {\npath=\"/x\"\n}\n"})
	broken := t.TempDir()
	writeFiles(t, broken, map[string]string{"b.hcl": "file \"b\" {\n  path = \n"})
	unreachable := t.TempDir()
	writeFiles(t, unreachable, map[string]string{"inventory.hcl": "host \"gone\" {\n  address = \"127.0.0.1\"\n  port    = 1\n}\n"})
	planFile := filepath.Join(t.TempDir(), "saved.plan")

	type step struct {
		args []string
		code int
		// want are message types that must appear.
		want []string
	}
	steps := []step{
		{[]string{"version", "--json"}, 0, nil},
		{[]string{"validate", "-C", dir, "--json"}, 0, []string{"validated"}},
		{[]string{"validate", "-C", bad, "--json"}, 1, []string{"diagnostic"}},
		{[]string{"validate", "-C", dir, "--json", "--bogus-flag"}, 1, []string{"diagnostic"}},
		{[]string{"fmt", "-C", dir, "--check", "--json"}, 0, []string{"formatted_file"}},
		{[]string{"fmt", "-C", unformatted, "--check", "--json"}, 1, []string{"formatted_file"}},
		{[]string{"fmt", "-C", broken, "--json"}, 1, []string{"diagnostic"}},
		{[]string{"inventory", "-C", rollout, "--json"}, 0, []string{"inventory_host"}},
		{[]string{"facts", "-C", unreachable, "--json"}, 1, []string{"host_facts"}},
		{[]string{"inventory", "-C", rollout, "--target", "nothing", "--json"}, 1, []string{"diagnostic"}},
		{[]string{"facts", "-C", dir, "--json"}, 0, []string{"host_facts"}},
		{[]string{"plan", "-C", dir, "--json"}, 0, []string{"planned_host", "planned_change", "change_summary"}},
		{[]string{"plan", "-C", dir, "--json", "--out", planFile}, 0, []string{"plan_saved"}},
		{[]string{"plan", "-C", bad, "--json"}, 1, []string{"diagnostic"}},
		{[]string{"apply", "-C", dir, "--json"}, 1, []string{"planned_change", "diagnostic"}},
		{[]string{"apply", planFile, "--json"}, 0, []string{"run", "run_started", "change_started", "change_applied", "host_outcome", "run_finished"}},
		{[]string{"apply", "-C", dir, "-y", "--json"}, 0, []string{"change_summary"}},
		{[]string{"apply", "-C", bad, "-y", "--json"}, 1, []string{"diagnostic"}},
		{[]string{"apply", "-C", failing, "-y", "--json", "--on-failure", "stop"}, 1, []string{"change_failed", "host_outcome"}},
		{[]string{"apply", "-C", rollout, "-y", "--json", "--serial", "1", "--pause", "10ms"}, 0, []string{"batches_planned", "batch_started", "pausing", "batch_finished"}},
		{[]string{"drift", "-C", dir, "--json"}, 0, []string{"drift_summary"}},
		{[]string{"drift", "-C", dir, "--format", "json"}, 0, []string{"drift_summary"}},
		{[]string{"drift", "-C", bad, "--format", "json"}, 1, []string{"diagnostic"}},
		{[]string{"runs", "-C", dir, "--json"}, 0, []string{"journaled_run"}},
		{[]string{"runs", "prune", "-C", dir, "--keep", "0", "--dry-run", "--json"}, 0, []string{"pruned_run"}},
		{[]string{"runs", "prune", "-C", dir, "--json"}, 1, []string{"diagnostic"}},
		{[]string{"locks", "-C", dir, "--json"}, 1, []string{"diagnostic"}},
		{[]string{"backend", "migrate", "-C", dir, "--json"}, 1, []string{"diagnostic"}},
		{[]string{"run", "-C", rollout, "--json", "all", "--", "echo hi"}, 0, []string{"run", "command_result", "command_summary"}},
		{[]string{"run", "-C", unreachable, "--json", "all", "--", "true"}, 1, []string{"command_result", "command_summary"}},
		{[]string{"run", "-C", rollout, "--json", "all"}, 2, []string{"diagnostic"}},
		{[]string{"patch", "-C", dir, "--reboot", "sometimes", "--json"}, 1, []string{"diagnostic"}},
	}
	for _, st := range steps {
		out, errOut, code := tend(t, st.args...)
		if code != st.code {
			t.Errorf("%v: exit %d, want %d\n%s%s", st.args, code, st.code, out, errOut)
		}
		got := types(jsonLines(t, s, st.args, out, code))
		for _, w := range st.want {
			if got[w] == 0 {
				t.Errorf("%v: no %s message:\n%s", st.args, w, out)
			}
		}
	}

	// The failed run is resumed once its command can succeed, then rolled
	// back; the rollout's run is rolled back too.
	failedID := lastRun(t, failing).ID
	writeFiles(t, failing, map[string]string{"main.hcl": fmt.Sprintf(`
file "first" {
  path    = "%[1]s/f-first"
  content = "1\n"
}
exec "fails" {
  command    = "touch %[1]s/f-never"
  creates    = "%[1]s/f-never"
  depends_on = [file.first]
}
`, root)})
	for _, st := range []step{
		{[]string{"resume", "-C", failing, failedID, "-y", "--json"}, 0, []string{"planned_change", "run", "change_applied"}},
		{[]string{"resume", "-C", failing, failedID, "-y", "--json"}, 0, []string{"planned_host"}},
		{[]string{"rollback", "-C", failing, failedID, "--json"}, 1, []string{"planned_revert", "revert_summary", "diagnostic"}},
		{[]string{"rollback", "-C", failing, failedID, "-y", "--json"}, 0, []string{"planned_revert", "run", "reverted"}},
		{[]string{"rollback", "-C", failing, "no-such-run", "-y", "--json"}, 1, []string{"diagnostic"}},
	} {
		out, errOut, code := tend(t, st.args...)
		if code != st.code {
			t.Errorf("%v: exit %d, want %d\n%s%s", st.args, code, st.code, out, errOut)
		}
		got := types(jsonLines(t, s, st.args, out, code))
		for _, w := range st.want {
			if got[w] == 0 {
				t.Errorf("%v: no %s message:\n%s", st.args, w, out)
			}
		}
	}
}

// TestJSONConfigErrorOnStdout: a configuration error under --json is a
// diagnostic message on stdout, with its position, and nothing on stderr.
func TestJSONConfigErrorOnStdout(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"main.hcl": "file \"x\" {\n  path = \"/tmp/x\"\n  bogus = true\n}\n"})
	out, errOut, code := tend(t, "plan", "-C", dir, "--json")
	if code != 1 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var d struct {
		Diagnostic uiDiagnostic
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, `"type":"diagnostic"`) {
			if err := json.Unmarshal([]byte(line), &d); err != nil {
				t.Fatal(err)
			}
		}
	}
	if d.Diagnostic.Severity != "error" || d.Diagnostic.Range == nil || d.Diagnostic.Range.Start.Line != 3 ||
		d.Diagnostic.Snippet == nil || !strings.Contains(d.Diagnostic.Snippet.Code, "bogus") {
		t.Errorf("diagnostic %+v\n%s", d.Diagnostic, out)
	}
}

// TestJSONRolloutHasNoHumanLines: a rollout's batches and pauses are
// messages, never the human lines.
func TestJSONRolloutHasNoHumanLines(t *testing.T) {
	dir, root := t.TempDir(), t.TempDir()
	writeFiles(t, dir, map[string]string{
		"main.hcl":      fmt.Sprintf("file \"r\" {\n  path    = \"%s/${host.name}\"\n  content = \"r\\n\"\n}\nrollout {\n  serial = [1]\n  pause = \"10ms\"\n}\n", root),
		"inventory.hcl": "host \"h1\" {\n  transport = \"local\"\n}\nhost \"h2\" {\n  transport = \"local\"\n}\n",
	})
	out, errOut, code := tend(t, "apply", "-C", dir, "-y", "--json")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, human := range []string{"Pausing", "Batch 1", "Applying", "Apply complete"} {
		if strings.Contains(out, human) {
			t.Errorf("%q in the JSON stream:\n%s", human, out)
		}
	}
	if !bytes.Contains([]byte(out), []byte(`"type":"pausing"`)) {
		t.Errorf("no pausing message:\n%s", out)
	}
}

// TestPlanJSONDocument: --json-document keeps the plan as one document.
func TestPlanJSONDocument(t *testing.T) {
	dir, root := t.TempDir(), t.TempDir()
	writeFiles(t, dir, map[string]string{"main.hcl": fmt.Sprintf("file \"a\" {\n  path    = \"%s/a\"\n  content = \"a\\n\"\n}\n", root)})
	out, _, code := tend(t, "plan", "-C", dir, "--json-document")
	var doc struct {
		FormatVersion string `json:"format_version"`
		Hosts         []struct{ Changes []struct{ Address string } }
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 0 || doc.FormatVersion != "1.0" ||
		len(doc.Hosts) != 1 || len(doc.Hosts[0].Changes) != 1 || doc.Hosts[0].Changes[0].Address != "file.a" {
		t.Errorf("exit %d, %v, %+v\n%s", code, err, doc, out)
	}
	if _, _, code := tend(t, "plan", "-C", dir, "--json", "--json-document"); code != 1 {
		t.Errorf("--json with --json-document: exit %d, want 1", code)
	}
}

// TestJSONAsksNoQuestion: on a terminal too, --json never prompts: without
// -y it refuses with a diagnostic and changes nothing.
func TestJSONAsksNoQuestion(t *testing.T) {
	dir, root := t.TempDir(), t.TempDir()
	writeFiles(t, dir, map[string]string{"main.hcl": fmt.Sprintf("file \"a\" {\n  path    = \"%s/a\"\n  content = \"a\\n\"\n}\n", root)})
	var out, errb bytes.Buffer
	code := Run(context.Background(), []string{"apply", "-C", dir, "--json"}, IO{Stdin: strings.NewReader("yes\n"), Stdout: &out, Stderr: &errb, IsTerminal: true})
	if code != 1 || strings.Contains(out.String(), "Only 'yes'") || !strings.Contains(out.String(), "--json asks no question") {
		t.Errorf("exit %d\n%s%s", code, &out, &errb)
	}
	if _, err := os.Stat(filepath.Join(root, "a")); err == nil {
		t.Error("the file was created")
	}
	jsonLines(t, uiSchema(t), []string{"apply"}, out.String(), code)
}

// TestJSONDocExamples: every message docs/json.md shows (in a json block
// or inline) is valid against the schema.
func TestJSONDocExamples(t *testing.T) {
	s := uiSchema(t)
	b, err := os.ReadFile(filepath.Join("..", "docs", "json.md"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range regexp.MustCompile(`(?m)^\s*`+"`?"+`(\{"type":.*\})`+"`?"+`\.?$`).FindAllStringSubmatch(string(b), -1) {
		n++
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(m[1]))
		if err != nil {
			t.Errorf("not JSON: %v\n%s", err, m[1])
			continue
		}
		if err := s.Validate(v); err != nil {
			t.Errorf("does not match the schema: %#v\n%s", err, m[1])
		}
	}
	if n < 10 {
		t.Errorf("found %d examples in docs/json.md, want at least 10", n)
	}
}
