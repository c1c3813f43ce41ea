package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tendhq/tend/probe"
)

// TestNotify: a notified exec runs once, after its notifiers, and only
// when one of them changed.
func TestNotify(t *testing.T) {
	dir, root := t.TempDir(), t.TempDir()
	log := filepath.Join(root, "log")
	writeFiles(t, dir, map[string]string{"main.hcl": fmt.Sprintf(`
variable "v" { default = "1" }
exec "reload" {
  command      = "ls %[1]s/a %[1]s/b >> %[2]s"
  refresh_only = true
}
file "a" {
  path    = "%[1]s/a"
  content = var.v
  notify  = [exec.reload]
}
file "b" {
  path    = "%[1]s/b"
  content = var.v
  notify  = [exec.reload]
}
`, root, log)})
	out, errOut, code := tend(t, "apply", "-C", dir, "-y")
	if code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	b, _ := os.ReadFile(log)
	if got := strings.Count(string(b), root+"/a"); got != 1 {
		t.Fatalf("reload ran %d times (log %q), want once, after both files", got, b)
	}
	if !strings.Contains(out, "~ exec.reload refreshed") {
		t.Errorf("output does not show the refresh:\n%s", out)
	}
	// Nothing changed: nothing runs.
	if out, _, code = tend(t, "apply", "-C", dir, "-y"); code != 0 || strings.Contains(out, "refreshed") {
		t.Fatalf("no-op apply ran the refresh (exit %d):\n%s", code, out)
	}
	// One notifier changes: the plan says so, and it runs once more.
	out, _, code = tend(t, "plan", "-C", dir, "-var", "v=2", "-detailed-exitcode")
	if code != 2 || !strings.Contains(out, "notified by file.a, file.b") {
		t.Errorf("plan does not show the notification (exit %d):\n%s", code, out)
	}
	if _, _, code = tend(t, "apply", "-C", dir, "-y", "-var", "v=2"); code != 0 {
		t.Fatal("second apply failed")
	}
	b, _ = os.ReadFile(log)
	if got := strings.Count(string(b), root+"/a"); got != 2 {
		t.Errorf("reload ran %d times in all, want 2", got)
	}
}

func TestFmt(t *testing.T) {
	dir := t.TempDir()
	ugly := "file \"a\" {\npath=\"/a\"\n    content =    \"x\"\n}\n"
	writeFiles(t, dir, map[string]string{"main.hcl": ugly})
	out, _, code := tend(t, "fmt", "-check", "-C", dir)
	if code != 1 || !strings.Contains(out, "main.hcl") {
		t.Fatalf("fmt -check: exit %d, out %q; want 1 naming main.hcl", code, out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "main.hcl")); string(b) != ugly {
		t.Fatal("fmt -check changed the file")
	}
	if _, _, code = tend(t, "fmt", "-C", dir); code != 0 {
		t.Fatalf("fmt: exit %d", code)
	}
	want := "file \"a\" {\n  path    = \"/a\"\n  content = \"x\"\n}\n"
	if b, _ := os.ReadFile(filepath.Join(dir, "main.hcl")); string(b) != want {
		t.Errorf("formatted:\n%s\nwant:\n%s", b, want)
	}
	if _, _, code = tend(t, "fmt", "-check", "-C", dir); code != 0 {
		t.Errorf("fmt -check after fmt: exit %d", code)
	}
}

func TestInventoryCommand(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"inventory.hcl": `
defaults {
  vars = { tier = "base" }
}
host "web1" {
  groups = ["web", "prod"]
  vars   = { tier = "front" }
}
host "web2" { groups = ["web"] }
host "db1"  { groups = ["db", "prod"] }
`})
	out, errOut, code := tend(t, "inventory", "-C", dir, "--target", "web:&prod")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.HasPrefix(out, "web1\tssh\tweb1\tgroups=all,prod,web tier=\"front\"\n") || strings.Count(out, "\n") != 1 {
		t.Errorf("inventory output:\n%s", out)
	}
	_, errOut, code = tend(t, "inventory", "-C", dir, "--target", "wbe")
	if code != 1 || !strings.Contains(errOut, "wbe") {
		t.Errorf("unknown name: exit %d, stderr %q", code, errOut)
	}
}

// TestDrift: exit codes 0/2/1 consistent with plan -detailed-exitcode, and
// JUnit with one case per host × resource and a failure per drift.
func TestDrift(t *testing.T) {
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
	if _, _, code := tend(t, "apply", "-C", dir, "-y"); code != 0 {
		t.Fatal("apply failed")
	}
	for _, f := range []string{"text", "json", "junit"} {
		if out, _, code := tend(t, "drift", "-C", dir, "--format", f); code != 0 {
			t.Errorf("%s: no drift: exit %d\n%s", f, code, out)
		}
	}
	os.WriteFile(filepath.Join(root, "b"), []byte("changed\n"), 0o644)
	out, _, code := tend(t, "drift", "-C", dir, "--format", "junit")
	if code != 2 {
		t.Errorf("junit with drift: exit %d, want 2", code)
	}
	for _, want := range []string{`<testsuites name="tend drift" tests="2" failures="1" errors="0">`,
		`<testcase name="file.a" classname="localhost"></testcase>`,
		`<failure message="drift: file.b (differs: content)" type="update">`} {
		if !strings.Contains(out, want) {
			t.Errorf("junit lacks %s:\n%s", want, out)
		}
	}
	out, _, code = tend(t, "drift", "-C", dir, "--format", "json")
	var drifted []string
	var sum driftCounts
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m struct {
			Type   string
			Change struct{ Address string }
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("json: %v: %s", err, line)
		}
		switch m.Type {
		case "planned_change":
			drifted = append(drifted, m.Change.Address)
		case "drift_summary":
			_ = json.Unmarshal([]byte(line), &sum)
		}
	}
	if code != 2 || sum.Drifted != 1 || len(drifted) != 1 || drifted[0] != "file.b" {
		t.Errorf("json: exit %d, %+v, %v", code, sum, drifted)
	}
	if _, _, pc := tend(t, "plan", "-C", dir, "-detailed-exitcode"); pc != code {
		t.Errorf("plan -detailed-exitcode = %d, drift = %d", pc, code)
	}
	// An unreachable host is an error, and an error wins over drift.
	writeFiles(t, dir, map[string]string{"inventory.hcl": "host \"localhost\" {\n  transport = \"local\"\n}\nhost \"gone\" {\n  address = \"127.0.0.1\"\n  port = 1\n}\n"})
	out, _, code = tend(t, "drift", "-C", dir, "--format", "junit")
	if code != 1 || !strings.Contains(out, `<error message=`) {
		t.Errorf("unreachable: exit %d\n%s", code, out)
	}
}

func TestFactsCommand(t *testing.T) {
	out, errOut, code := tend(t, "facts", "-C", t.TempDir())
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got map[string]struct {
		Facts struct {
			Kernel string `json:"kernel"`
			CPUs   int    `json:"cpus"`
			OS     struct{ Family string }
		}
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if f := got["localhost"].Facts; f.Kernel != "linux" || f.CPUs < 1 || f.OS.Family == "" {
		t.Errorf("facts: %+v", f)
	}
}

// TestBadRolloutInput: an empty pattern result and a serial of 0 are
// clear errors, and nothing is applied.
func TestBadRolloutInput(t *testing.T) {
	dir, root := t.TempDir(), t.TempDir()
	writeFiles(t, dir, map[string]string{"main.hcl": fmt.Sprintf("file \"a\" {\n  path = %q\n  content = \"a\"\n}\n", root+"/a")})
	for name, args := range map[string][]string{
		"empty pattern": {"apply", "-C", dir, "-y", "--target", "nomatch*"},
		"serial 0":      {"apply", "-C", dir, "-y", "--serial", "0"},
		"serial 0%":     {"apply", "-C", dir, "-y", "--serial", "1,0%"},
	} {
		_, errOut, code := tend(t, args...)
		if code != 1 || errOut == "" {
			t.Errorf("%s: exit %d, stderr %q", name, code, errOut)
		}
	}
	writeFiles(t, dir, map[string]string{"rollout.hcl": "rollout {\n  serial = 0\n}\n"})
	if _, errOut, code := tend(t, "apply", "-C", dir, "-y"); code != 1 || !strings.Contains(errOut, "rollout.hcl:2:12") {
		t.Errorf("serial = 0 in the rollout block: exit %d\n%s", code, errOut)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("something was applied")
	}
}

// TestBadInventoryInput: a malformed INI or YAML inventory and a dynamic
// inventory that fails or prints invalid JSON are clear errors, and
// nothing is applied.
func TestBadInventoryInput(t *testing.T) {
	dir, root := t.TempDir(), t.TempDir()
	writeFiles(t, dir, map[string]string{"main.hcl": fmt.Sprintf("file \"a\" {\n  path = %q\n  content = \"a\"\n}\n", root+"/a")})
	inv := t.TempDir()
	writeFiles(t, inv, map[string]string{
		"bad.ini":  "[web\nweb1\n",
		"bad.yml":  "all:\n  hosts:\n    web1: {ansible_host: [unclosed\n",
		"fails.sh": "#!/bin/sh\necho 'inventory backend down' >&2\nexit 3\n",
		"json.sh":  "#!/bin/sh\necho '{not json'\n",
	})
	os.Chmod(filepath.Join(inv, "fails.sh"), 0o755)
	os.Chmod(filepath.Join(inv, "json.sh"), 0o755)
	for _, f := range []string{"bad.ini", "bad.yml", "fails.sh", "json.sh"} {
		_, errOut, code := tend(t, "apply", "-C", dir, "-y", "-i", filepath.Join(inv, f))
		if code != 1 || !strings.Contains(errOut, f) {
			t.Errorf("%s: exit %d, want 1 and an error naming the file:\n%s", f, code, errOut)
		}
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("something was applied")
	}
}

// TestFactSelectors: os:FAMILY needs cached facts, and says how to get
// them; tend facts (and plan) cache them in .tend/facts; the selectors
// then pick hosts by what each host runs.
func TestFactSelectors(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"inventory.hcl": "host \"one\" {\n  transport = \"local\"\n}\nhost \"two\" {\n  transport = \"local\"\n}\n"})
	_, errOut, code := tend(t, "inventory", "-C", dir, "--target", "os:debian")
	if code != 1 || !strings.Contains(errOut, "host pattern os:debian needs facts that are not cached for one, two; gather them first (tend facts)") {
		t.Fatalf("without facts: exit %d, want 1 and how to gather them:\n%s", code, errOut)
	}
	if _, _, code := tend(t, "facts", "-C", dir); code != 0 {
		t.Fatalf("facts: exit %d", code)
	}
	var f probe.Facts
	if err := json.Unmarshal([]byte(mustRead(t, filepath.Join(dir, ".tend/facts/one.json"))), &f); err != nil || f.Kernel != "linux" {
		t.Fatalf("cached facts of one: %+v %v", f, err)
	}
	family := f.OS.Family
	out, _, code := tend(t, "inventory", "-C", dir, "--target", "os:"+family)
	if code != 0 || !strings.Contains(out, "one") || !strings.Contains(out, "two") {
		t.Errorf("os:%s: exit %d, want both hosts", family, code)
	}
	// Pretend two runs another family: only one is left.
	other := f
	other.OS.Family, other.OS.Name = "tendtest", "tendtest"
	b, _ := json.Marshal(other)
	writeFiles(t, dir, map[string]string{".tend/facts/two.json": string(b)})
	out, _, code = tend(t, "inventory", "-C", dir, "--target", "os:"+family)
	if code != 0 || !strings.Contains(out, "one") || strings.Contains(out, "two") {
		t.Errorf("os:%s after two changed: exit %d, want one only", family, code)
	}
	out, _, code = tend(t, "inventory", "-C", dir, "--target", "all:!os:tendtest")
	if code != 0 || !strings.Contains(out, "one") || strings.Contains(out, "two") {
		t.Errorf("all:!os:tendtest: exit %d, want one only", code)
	}
	// A plan refreshes the cache: two is back to what it runs.
	writeFiles(t, dir, map[string]string{"main.hcl": "file \"x\" {\n  path = \"" + filepath.Join(dir, "x") + "\"\n  content = \"x\"\n}\n"})
	if _, _, code := tend(t, "plan", "-C", dir); code != 0 {
		t.Fatalf("plan: exit %d", code)
	}
	out, _, code = tend(t, "inventory", "-C", dir, "--target", "os:"+family)
	if code != 0 || !strings.Contains(out, "one") || !strings.Contains(out, "two") {
		t.Errorf("os:%s after a plan: exit %d, want both hosts", family, code)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestFmtDiffRecursiveStdin(t *testing.T) {
	dir := t.TempDir()
	ugly := "file \"a\" {\npath=\"/a\"\n}\n"
	want := "file \"a\" {\n  path = \"/a\"\n}\n"
	writeFiles(t, dir, map[string]string{
		"main.hcl":         ugly,
		"sub/more.hcl":     ugly,
		".tend/hidden.hcl": ugly,
	})

	// --diff --check: the diff of each file, nothing written.
	out, _, code := tend(t, "fmt", "--check", "--diff", "--recursive", dir)
	if code != 1 {
		t.Fatalf("fmt --check --diff: exit %d, want 1\n%s", code, out)
	}
	for _, w := range []string{"--- old/" + filepath.Join(dir, "main.hcl"), "+++ new/" + filepath.Join(dir, "sub/more.hcl"), "-path=\"/a\"", "+  path = \"/a\""} {
		if !strings.Contains(out, w) {
			t.Errorf("fmt --diff output lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "hidden.hcl") {
		t.Errorf("fmt --recursive went into .tend:\n%s", out)
	}
	for _, f := range []string{"main.hcl", "sub/more.hcl"} {
		if b, _ := os.ReadFile(filepath.Join(dir, f)); string(b) != ugly {
			t.Fatalf("fmt --check --diff changed %s", f)
		}
	}

	// Without --recursive a directory's subdirectories are left alone.
	if _, _, code := tend(t, "fmt", dir); code != 0 {
		t.Fatalf("fmt DIR: exit %d", code)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "sub/more.hcl")); string(b) != ugly {
		t.Error("fmt without --recursive formatted a subdirectory")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "main.hcl")); string(b) != want {
		t.Errorf("fmt DIR: main.hcl is\n%s", b)
	}
	if _, _, code := tend(t, "fmt", "--recursive", dir); code != 0 {
		t.Fatalf("fmt --recursive: exit %d", code)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "sub/more.hcl")); string(b) != want {
		t.Errorf("fmt --recursive: sub/more.hcl is\n%s", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, ".tend/hidden.hcl")); string(b) != ugly {
		t.Error("fmt --recursive formatted a file under .tend")
	}

	// Standard input to standard output.
	var stdout, stderr bytes.Buffer
	code = Run(context.Background(), []string{"fmt", "-"}, IO{Stdin: strings.NewReader(ugly), Stdout: &stdout, Stderr: &stderr})
	if code != 0 || stdout.String() != want {
		t.Errorf("fmt -: exit %d, out %q, err %q; want %q", code, stdout.String(), stderr.String(), want)
	}
	stdout.Reset()
	code = Run(context.Background(), []string{"fmt", "--check", "-"}, IO{Stdin: strings.NewReader(ugly), Stdout: &stdout, Stderr: &stderr})
	if code != 1 || stdout.Len() != 0 {
		t.Errorf("fmt --check -: exit %d, out %q; want 1 and nothing", code, stdout.String())
	}
	// A syntax error on stdin is reported with its position.
	stderr.Reset()
	code = Run(context.Background(), []string{"fmt", "-"}, IO{Stdin: strings.NewReader("file \"a\" {\n  path = \n"), Stdout: &stdout, Stderr: &stderr})
	if code != 1 || !strings.Contains(stderr.String(), "<stdin>:") {
		t.Errorf("fmt - with a syntax error: exit %d, stderr %q", code, stderr.String())
	}
}
