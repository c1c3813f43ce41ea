package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tendhq/tend/journal"
)

// readEvents reads an events file line by line, each line one event of
// the documented schema (ECSEvent: an unknown field is an error), with
// what every event must carry.
func readEvents(t *testing.T, path string) []ECSEvent {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) == 0 || b[len(b)-1] != '\n' {
		t.Fatalf("%s does not end with a line end", path)
	}
	var out []ECSEvent
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		var ev ECSEvent
		if err := dec.Decode(&ev); err != nil {
			t.Fatalf("%s:%d: not an event of the schema: %v\n%s", path, n, err, sc.Text())
		}
		if dec.More() {
			t.Fatalf("%s:%d: more than one JSON value on the line", path, n)
		}
		var raw map[string]any
		if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"@timestamp", "message", "ecs", "event", "user", "tend"} {
			if _, ok := raw[k]; !ok {
				t.Errorf("%s:%d: no %s", path, n, k)
			}
		}
		if _, err := time.Parse(time.RFC3339Nano, ev.Timestamp); err != nil {
			t.Errorf("%s:%d: @timestamp: %v", path, n, err)
		}
		if ev.ECS.Version != ECSVersion || ev.Event.Kind != "event" || ev.Event.Action == "" || ev.Event.Module != "tend" ||
			ev.Event.Dataset != "tend.events" || len(ev.Event.Category) == 0 || len(ev.Event.Type) == 0 ||
			ev.User.Name == "" || ev.Tend.RunID == "" || ev.Tend.Command == "" || ev.Message == "" {
			t.Errorf("%s:%d: a required field is missing:\n%s", path, n, sc.Text())
		}
		switch ev.Event.Outcome {
		case "", "success", "failure", "unknown":
		default:
			t.Errorf("%s:%d: event.outcome %q is not one of ECS's", path, n, ev.Event.Outcome)
		}
		out = append(out, ev)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestEventsFile: apply --events writes one self-contained ECS line per
// event, every one carrying the journaled run's ID, the user and (for a
// host's event) the host; the change events are the journal's changes;
// a secret a failing command prints is redacted; plan's events carry an
// ID of their own; the file is appended to.
func TestEventsFile(t *testing.T) {
	dir, root := t.TempDir(), t.TempDir()
	writeFiles(t, dir, map[string]string{"inventory.hcl": twoHostInventory, "main.hcl": fmt.Sprintf(`
variable "token" {
  sensitive = true
  default   = "tok-987-canary"
}
file "one" {
  path    = "%[1]s/one"
  content = "1\n"
}
exec "leak" {
  command    = "echo token=${var.token} >&2; exit 3"
  creates    = "%[1]s/never"
  depends_on = [file.one]
}
`, root)})
	events := filepath.Join(t.TempDir(), "tend.ndjson")
	if out, errOut, code := tend(t, "plan", "-C", dir, "--events", events); code != 1 {
		t.Fatalf("plan: exit %d\n%s%s", code, out, errOut)
	}
	planEvents := readEvents(t, events)
	if out, errOut, code := tend(t, "apply", "-C", dir, "-y", "--events", events); code != 1 {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	b, _ := os.ReadFile(events)
	if strings.Contains(string(b), "tok-987-canary") {
		t.Fatalf("the events file holds the secret:\n%s", b)
	}
	all := readEvents(t, events)
	if len(all) <= len(planEvents) {
		t.Fatalf("apply appended no events")
	}
	applyEvents := all[len(planEvents):]
	run := lastRun(t, dir)

	planID := planEvents[0].Tend.RunID
	for _, ev := range planEvents {
		if ev.Tend.RunID != planID || ev.Tend.Command != "plan" {
			t.Errorf("plan event of run %s, command %s", ev.Tend.RunID, ev.Tend.Command)
		}
	}
	if planID == run.ID {
		t.Errorf("plan's events carry the apply's run ID")
	}
	if last := planEvents[len(planEvents)-1]; last.Event.Action != "run_finished" || last.Event.Outcome != "failure" || *last.Tend.ExitCode != 1 {
		t.Errorf("plan's last event: %+v", last)
	}

	// Every event of the apply is of its journaled run; the change
	// outcomes are the journal's.
	type change struct{ host, address, what string }
	var got []change
	var leak *ECSEvent
	for i, ev := range applyEvents {
		if ev.Tend.RunID != run.ID || ev.Tend.Command != "apply" || ev.User.Name != run.User {
			t.Errorf("event %d: run %s, command %s, user %s; want run %s by %s", i, ev.Tend.RunID, ev.Tend.Command, ev.User.Name, run.ID, run.User)
		}
		if ev.Event.Sequence != int64(i+1) {
			t.Errorf("event %d: sequence %d", i, ev.Event.Sequence)
		}
		switch ev.Event.Action {
		case "change_applied", "change_failed", "reverted", "change_skipped":
			if ev.Host == nil {
				t.Fatalf("a change event without host.name: %+v", ev)
			}
			got = append(got, change{ev.Host.Name, ev.Tend.Address, ev.Event.Action})
			if ev.Event.Action == "change_failed" && ev.Tend.Address == "exec.leak" {
				leak = &applyEvents[i]
			}
		}
	}
	var want []change
	statusEvent := map[journal.Status][]string{
		journal.Reverted: {"change_applied", "reverted"}, journal.Failed: {"change_failed"},
		journal.Applied: {"change_applied"}, journal.Skipped: {"change_skipped"},
	}
	for _, h := range run.Hosts {
		for _, e := range h.Changes {
			for _, what := range statusEvent[e.Status] {
				want = append(want, change{h.Name, e.Address, what})
			}
		}
	}
	sortChanges := func(c []change) {
		for i := range c {
			for k := i + 1; k < len(c); k++ {
				if fmt.Sprint(c[k]) < fmt.Sprint(c[i]) {
					c[i], c[k] = c[k], c[i]
				}
			}
		}
	}
	sortChanges(got)
	sortChanges(want)
	if d := cmp.Diff(want, got, cmp.AllowUnexported(change{})); d != "" || len(want) < 3 {
		t.Errorf("change events (-journal +events):\n%s", d)
	}
	if leak == nil || leak.Event.Outcome != "failure" || leak.Error == nil || !strings.Contains(leak.Tend.Stderr, "token=") {
		t.Fatalf("no failure event for exec.leak with its stderr: %+v", leak)
	}
	var hosts []string
	for _, ev := range applyEvents {
		if ev.Event.Action == "host_outcome" {
			hosts = append(hosts, ev.Host.Name+" "+ev.Tend.Outcome+" "+ev.Event.Outcome)
		}
	}
	var wantHosts []string
	for _, h := range run.Hosts {
		o := "failure"
		if h.Outcome == "success" {
			o = "success"
		}
		wantHosts = append(wantHosts, h.Name+" "+h.Outcome+" "+o)
	}
	if d := cmp.Diff(sortedCopy(wantHosts), sortedCopy(hosts)); d != "" {
		t.Errorf("host outcomes (-journal +events):\n%s", d)
	}
}

// TestEventsFileUnopenable: an events file that cannot be opened stops
// the command before any host is contacted.
func TestEventsFileUnopenable(t *testing.T) {
	dir, root := t.TempDir(), t.TempDir()
	writeFiles(t, dir, map[string]string{"main.hcl": fmt.Sprintf("file \"x\" {\n  path = %q\n  content = \"x\"\n}\n", root+"/x")})
	_, errOut, code := tend(t, "apply", "-C", dir, "-y", "--events", filepath.Join(dir, "no", "dir", "ev"))
	if code != 1 || !strings.Contains(errOut, "--events") {
		t.Errorf("exit %d\n%s", code, errOut)
	}
	if _, err := os.Stat(root + "/x"); err == nil {
		t.Errorf("the apply ran")
	}
}

// TestEventsDocumented: every field an event can carry is in the table of
// docs/events.md, and the example lines there decode as events.
func TestEventsDocumented(t *testing.T) {
	b, err := os.ReadFile("../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	var fields []string
	var walk func(typ reflect.Type, prefix string)
	walk = func(typ reflect.Type, prefix string) {
		for typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				walk(ft, prefix+name+".")
				continue
			}
			fields = append(fields, prefix+name)
		}
	}
	walk(reflect.TypeOf(ECSEvent{}), "")
	for _, f := range fields {
		if !strings.Contains(doc, "`"+f+"`") {
			t.Errorf("docs/events.md does not document %s", f)
		}
	}
	m := regexp.MustCompile("(?s)```json\n(.*?)```").FindStringSubmatch(doc)
	if m == nil {
		t.Fatal("docs/events.md has no example")
	}
	for _, line := range strings.Split(strings.TrimSpace(m[1]), "\n") {
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		var ev ECSEvent
		if err := dec.Decode(&ev); err != nil {
			t.Errorf("the example %s is not an event: %v", line, err)
		}
	}
}

// TestEventsRollback: tend rollback --events writes the rollback run's
// events under its own journaled ID, a reverted event per change it
// reverts.
func TestEventsRollback(t *testing.T) {
	dir, root := t.TempDir(), t.TempDir()
	writeFiles(t, dir, map[string]string{"main.hcl": fmt.Sprintf(`
file "a" {
  path    = "%[1]s/a"
  content = "a\n"
}
file "b" {
  path    = "%[1]s/b"
  content = "b\n"
}
`, root)})
	if out, errOut, code := tend(t, "apply", "-C", dir, "-y"); code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	applied := lastRun(t, dir)
	events := filepath.Join(t.TempDir(), "ev.ndjson")
	if out, errOut, code := tend(t, "rollback", "-C", dir, "-y", "--events", events, applied.ID); code != 0 {
		t.Fatalf("rollback: exit %d\n%s%s", code, out, errOut)
	}
	rb := lastRun(t, dir)
	if rb.ID == applied.ID || rb.Command != "rollback" {
		t.Fatalf("no rollback run journaled: %+v", rb)
	}
	var reverted []string
	for _, ev := range readEvents(t, events) {
		if ev.Tend.RunID != rb.ID || ev.Tend.Command != "rollback" {
			t.Errorf("event %s of run %s (%s), want %s", ev.Event.Action, ev.Tend.RunID, ev.Tend.Command, rb.ID)
		}
		if ev.Event.Action == "reverted" {
			reverted = append(reverted, ev.Host.Name+" "+ev.Tend.Address)
		}
	}
	if d := cmp.Diff([]string{"localhost file.a", "localhost file.b"}, sortedCopy(reverted)); d != "" {
		t.Errorf("reverted events (-want +got):\n%s", d)
	}
}
