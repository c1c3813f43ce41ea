package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tendhq/tend/journal"
)

// tend runs the command line in-process, as a non-terminal.
func tend(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Run(context.Background(), args, IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb})
	return out.String(), errb.String(), code
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// snapshot records every path under root: type, mode and content or link
// target, so tests can demand a tree is byte-for-byte what it was.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out[rel] = "link " + target
		case info.IsDir():
			out[rel] = fmt.Sprintf("dir %o", info.Mode().Perm())
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[rel] = fmt.Sprintf("file %o %q", info.Mode().Perm(), b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// lastRun reads the newest journaled run of a configuration directory.
func lastRun(t *testing.T, dir string) *journal.Run {
	t.Helper()
	runs, err := journal.List(dir)
	if err != nil || len(runs) == 0 {
		t.Fatalf("no journaled run in %s: %v", dir, err)
	}
	return runs[len(runs)-1]
}

func statuses(r *journal.Run) map[string]journal.Status {
	out := map[string]journal.Status{}
	for _, h := range r.Hosts {
		for _, e := range h.Changes {
			out[e.Address] = e.Status
		}
	}
	return out
}

// TestQuickstart follows the README: apply creates the files, a second
// plan has nothing to do, a hand edit shows as a diff of that file only
// (exit 2), apply restores it.
func TestQuickstart(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	dir := "../examples/quickstart"
	t.Cleanup(func() { os.RemoveAll(filepath.Join(dir, ".tend")) })

	out, errOut, code := tend(t, "apply", "-C", dir, "-y")
	if code != 0 {
		t.Fatalf("first apply: exit %d\n%s\n%s", code, out, errOut)
	}
	index := filepath.Join(home, "tend-quickstart/site/index.html")
	want, err := os.ReadFile(index)
	if err != nil {
		t.Fatalf("apply did not create index.html: %v", err)
	}
	if !strings.Contains(string(want), "Hello from") {
		t.Errorf("index.html = %q, want the rendered template", want)
	}
	if target, err := os.Readlink(filepath.Join(home, "tend-quickstart/current")); err != nil || target != filepath.Join(home, "tend-quickstart/site") {
		t.Errorf("current -> %q (%v)", target, err)
	}

	out, errOut, code = tend(t, "plan", "-C", dir, "-detailed-exitcode")
	if code != 0 || !strings.Contains(out, "No changes.") {
		t.Fatalf("second plan: exit %d, want 0 and \"No changes.\"\n%s\n%s", code, out, errOut)
	}

	if err := os.WriteFile(index, append(want, "edited by hand\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, code = tend(t, "plan", "-C", dir, "-detailed-exitcode")
	if code != 2 {
		t.Fatalf("plan after hand edit: exit %d, want 2\n%s", code, out)
	}
	if !strings.Contains(out, "~ file.index") || !strings.Contains(out, "-edited by hand") {
		t.Errorf("plan does not show the diff of file.index:\n%s", out)
	}
	if n := strings.Count(out, " will be "); n != 1 {
		t.Errorf("plan shows %d changes, want only file.index:\n%s", n, out)
	}

	if out, errOut, code = tend(t, "apply", "-C", dir, "-y"); code != 0 {
		t.Fatalf("restoring apply: exit %d\n%s\n%s", code, out, errOut)
	}
	if got, _ := os.ReadFile(index); !bytes.Equal(got, want) {
		t.Errorf("index.html after apply = %q, want %q", got, want)
	}
	if _, _, code = tend(t, "plan", "-C", dir, "-detailed-exitcode"); code != 0 {
		t.Errorf("plan after restore: exit %d, want 0", code)
	}
}

// TestApplyRefusesWithoutTerminal: no TTY and no -y means no changes.
func TestApplyRefusesWithoutTerminal(t *testing.T) {
	dir, root := t.TempDir(), t.TempDir()
	writeFiles(t, dir, map[string]string{"main.hcl": fmt.Sprintf("file \"a\" {\n  path = %q\n  content = \"a\"\n}\n", root+"/a")})
	_, errOut, code := tend(t, "apply", "-C", dir)
	if code != 1 || !strings.Contains(errOut, "pass -y") {
		t.Fatalf("exit %d, stderr %q; want 1 and a message naming -y", code, errOut)
	}
	if _, err := os.Stat(root + "/a"); !os.IsNotExist(err) {
		t.Errorf("the file was created without confirmation")
	}
}

var posRE = regexp.MustCompile(`on (\S+):(\d+):(\d+):`)

// TestBadInput: every kind of bad input gets a diagnostic naming
// file:line:column, exit 1, and nothing is applied.
func TestBadInput(t *testing.T) {
	cases := map[string]struct {
		files   map[string]string
		summary string
		pos     string // file:line:column of the diagnostic
	}{
		"syntax error": {
			files:   map[string]string{"main.hcl": "file \"a\" {\n  path = \"ROOT/a\"\n  content = \"x\n}\n"},
			summary: "Invalid multi-line string",
			pos:     "main.hcl:3:15",
		},
		"unknown resource type": {
			files:   map[string]string{"main.hcl": "fiel \"a\" {\n  path = \"ROOT/a\"\n}\n"},
			summary: "Unsupported block type",
			pos:     "main.hcl:1:1",
		},
		"unknown attribute": {
			files:   map[string]string{"main.hcl": "file \"a\" {\n  path = \"ROOT/a\"\n  contnet = \"x\"\n}\n"},
			summary: "Unsupported argument",
			pos:     "main.hcl:3:3",
		},
		"mistyped attribute": {
			files:   map[string]string{"main.hcl": "file \"a\" {\n  path = \"ROOT/a\"\n  content = [\"x\"]\n}\n"},
			summary: "Incorrect attribute value type",
			pos:     "main.hcl:3:13",
		},
		"invalid attribute value": {
			files:   map[string]string{"main.hcl": "file \"a\" {\n  path = \"ROOT/a\"\n  mode = \"rw-r--r--\"\n}\n"},
			summary: "Invalid value for mode",
			pos:     "main.hcl:3:10",
		},
		"undefined variable": {
			files:   map[string]string{"main.hcl": "file \"a\" {\n  path = \"ROOT/a\"\n  content = var.missing\n}\n"},
			summary: "Reference to undeclared variable",
			pos:     "main.hcl:3:13",
		},
		"reference to a missing resource": {
			files:   map[string]string{"main.hcl": "file \"a\" {\n  path = \"ROOT/a\"\n  content = file.nope.path\n}\n"},
			summary: "Reference to undeclared resource",
			pos:     "main.hcl:3:13",
		},
		"depends_on a missing resource": {
			files:   map[string]string{"main.hcl": "file \"a\" {\n  path = \"ROOT/a\"\n  depends_on = [directory.nope]\n}\n"},
			summary: "Reference to undeclared resource",
			pos:     "main.hcl:3:17",
		},
		"dependency cycle": {
			files: map[string]string{"main.hcl": "file \"a\" {\n  path = \"ROOT/a\"\n  content = file.b.path\n}\n" +
				"file \"b\" {\n  path = \"ROOT/b\"\n  depends_on = [file.a]\n}\n"},
			summary: "Dependency cycle",
			pos:     "main.hcl:1:1",
		},
		"two resources manage the same path": {
			files: map[string]string{"main.hcl": "file \"a\" {\n  path = \"ROOT/same\"\n}\n",
				"other.hcl": "role \"r\" {\n  hosts = \"all\"\n  directory \"b\" {\n    path = \"ROOT/same/\"\n  }\n}\n"},
			summary: "Two resources manage the same thing",
			pos:     "other.hcl:3:3",
		},
		"hosts pattern naming an unknown group": {
			files: map[string]string{"main.hcl": "role \"web\" {\n  hosts = \"wbe\"\n  file \"a\" {\n    path = \"ROOT/a\"\n  }\n}\n",
				"inventory.hcl": "host \"localhost\" {\n  transport = \"local\"\n  groups = [\"web\"]\n}\n"},
			summary: "Invalid hosts pattern",
			pos:     "main.hcl:2:11",
		},
		"relative path": {
			files:   map[string]string{"main.hcl": "file \"a\" {\n  path = \"relative/a\"\n}\n"},
			summary: "Invalid value for path",
			pos:     "main.hcl:2:10",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			dir, root := t.TempDir(), t.TempDir()
			// A valid resource beside the bad input: it would be applied if
			// the error stopped only the bad part, so "nothing applied"
			// means something.
			files := map[string]string{"zz_valid.hcl": "file \"valid\" {\n  path    = \"ROOT/valid\"\n  content = \"applied\"\n}\n"}
			for k, v := range tc.files {
				files[k] = strings.ReplaceAll(v, "ROOT", root)
			}
			files["zz_valid.hcl"] = strings.ReplaceAll(files["zz_valid.hcl"], "ROOT", root)
			writeFiles(t, dir, files)
			for _, cmd := range [][]string{{"validate"}, {"plan"}, {"apply", "-y"}} {
				out, errOut, code := tend(t, append(cmd, "-C", dir)...)
				if code != 1 {
					t.Errorf("%s: exit %d, want 1\n%s%s", cmd[0], code, out, errOut)
				}
				if !strings.Contains(errOut, tc.summary) {
					t.Errorf("%s: stderr lacks %q:\n%s", cmd[0], tc.summary, errOut)
				}
				m := posRE.FindStringSubmatch(errOut)
				if m == nil {
					t.Fatalf("%s: no file:line:column in:\n%s", cmd[0], errOut)
				}
				if got := filepath.Base(m[1]) + ":" + m[2] + ":" + m[3]; got != tc.pos {
					t.Errorf("%s: diagnostic at %s, want %s\n%s", cmd[0], got, tc.pos, errOut)
				}
			}
			entries, _ := os.ReadDir(root)
			if len(entries) != 0 {
				t.Errorf("something was applied: %v", entries)
			}
		})
	}
}

// rollbackConfig declares five changes on one host; the third (a file
// whose parent is a regular file) fails.
func rollbackConfig(root string) string {
	return fmt.Sprintf(`
file "one" {
  path    = "%[1]s/existing.txt"
  content = "new content\n"
  mode    = "0600"
}
directory "two" {
  path = "%[1]s/newdir"
}
file "three" {
  path       = "%[1]s/blocker/child"
  content    = "cannot be written"
  depends_on = [directory.two, file.one]
}
file "four" {
  path       = "%[1]s/newdir/four"
  content    = "four"
  depends_on = [file.three]
}
symlink "five" {
  path       = "%[1]s/link"
  target     = "elsewhere"
  depends_on = [file.four]
}
`, root)
}

func rollbackFixture(t *testing.T) (dir, root string) {
	dir, root = t.TempDir(), t.TempDir()
	writeFiles(t, root, map[string]string{"existing.txt": "original content\n", "blocker": "a regular file\n"})
	if err := os.Chmod(filepath.Join(root, "existing.txt"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("original-target", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{"main.hcl": rollbackConfig(root)})
	return dir, root
}

// TestRollbackOnFailure: the third of five changes fails; the host is left
// byte-for-byte as before, and the journal records applied → reverted.
func TestRollbackOnFailure(t *testing.T) {
	dir, root := rollbackFixture(t)
	before := snapshot(t, root)
	out, errOut, code := tend(t, "apply", "-C", dir, "-y")
	if code != 1 {
		t.Fatalf("apply: exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	if diff := cmp.Diff(before, snapshot(t, root)); diff != "" {
		t.Errorf("host not restored after rollback (-before +after):\n%s\n%s", diff, out)
	}
	if !strings.Contains(out, "! file.three: create "+root+"/blocker/child: parent "+root+"/blocker is not a directory") || !strings.Contains(out, "rolled back 2 changes") {
		t.Errorf("output does not report the failure and the rollback:\n%s", out)
	}
	want := map[string]journal.Status{
		"file.one": journal.Reverted, "directory.two": journal.Reverted, "file.three": journal.Failed,
		"file.four": journal.Skipped, "symlink.five": journal.Skipped,
	}
	if diff := cmp.Diff(want, statuses(lastRun(t, dir))); diff != "" {
		t.Errorf("journal statuses (-want +got):\n%s", diff)
	}
}

// TestRollbackJournalSequence: the journal records each change as applied
// before the failure and as reverted after the rollback. The failing third
// change is a command that copies the journal as it is on disk at that
// moment, then fails.
func TestRollbackJournalSequence(t *testing.T) {
	dir, root, snap := t.TempDir(), t.TempDir(), t.TempDir()
	writeFiles(t, root, map[string]string{"existing.txt": "original content\n"})
	if err := os.Chmod(filepath.Join(root, "existing.txt"), 0o640); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{"main.hcl": fmt.Sprintf(`
file "one" {
  path    = "%[1]s/existing.txt"
  content = "new content\n"
  mode    = "0600"
}
directory "two" {
  path = "%[1]s/newdir"
}
exec "three" {
  command    = "cp %[2]s/.tend/runs/*.journal %[3]s/during.journal && exit 1"
  creates    = "%[3]s/never"
  depends_on = [directory.two, file.one]
}
file "four" {
  path       = "%[1]s/newdir/four"
  content    = "four"
  depends_on = [exec.three]
}
symlink "five" {
  path       = "%[1]s/link"
  target     = "elsewhere"
  depends_on = [file.four]
}
`, root, dir, snap)})
	before := snapshot(t, root)
	out, errOut, code := tend(t, "apply", "-C", dir, "-y")
	if code != 1 {
		t.Fatalf("apply: exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	if diff := cmp.Diff(before, snapshot(t, root)); diff != "" {
		t.Errorf("host not restored after rollback (-before +after):\n%s", diff)
	}
	during, err := journal.ReadFile(filepath.Join(snap, "during.journal"))
	if err != nil {
		t.Fatalf("the journal was not on disk while the third change ran: %v\n%s%s", err, out, errOut)
	}
	want := map[string]journal.Status{
		"file.one": journal.Applied, "directory.two": journal.Applied, "exec.three": journal.Applying,
		"file.four": journal.Pending, "symlink.five": journal.Pending,
	}
	if diff := cmp.Diff(want, statuses(during)); diff != "" {
		t.Errorf("journal while the third change ran (-want +got):\n%s", diff)
	}
	// The pre-state of the first change is journaled with it.
	for _, h := range during.Hosts {
		for _, e := range h.Changes {
			if e.Address == "file.one" && (e.Before == nil || !e.Before.Present || e.Before.Str("mode") != "0640") {
				t.Errorf("file.one's pre-state is not journaled: %+v", e.Before)
			}
		}
	}
	want = map[string]journal.Status{
		"file.one": journal.Reverted, "directory.two": journal.Reverted, "exec.three": journal.Failed,
		"file.four": journal.Skipped, "symlink.five": journal.Skipped,
	}
	if diff := cmp.Diff(want, statuses(lastRun(t, dir))); diff != "" {
		t.Errorf("journal after the rollback (-want +got):\n%s", diff)
	}
}

// TestStopOnFailure: with --on-failure stop the first two changes stay
// applied and the output says so.
func TestStopOnFailure(t *testing.T) {
	dir, root := rollbackFixture(t)
	out, errOut, code := tend(t, "apply", "-C", dir, "-y", "--on-failure", "stop")
	if code != 1 {
		t.Fatalf("apply: exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "existing.txt")); string(b) != "new content\n" {
		t.Errorf("existing.txt = %q, want the applied content", b)
	}
	if fi, err := os.Stat(filepath.Join(root, "newdir")); err != nil || !fi.IsDir() {
		t.Errorf("newdir was not kept: %v", err)
	}
	if !strings.Contains(out, "2 changes applied before the failure stay applied") {
		t.Errorf("output does not say the applied changes stay:\n%s", out)
	}
	want := map[string]journal.Status{
		"file.one": journal.Applied, "directory.two": journal.Applied, "file.three": journal.Failed,
		"file.four": journal.Skipped, "symlink.five": journal.Skipped,
	}
	if diff := cmp.Diff(want, statuses(lastRun(t, dir))); diff != "" {
		t.Errorf("journal statuses (-want +got):\n%s", diff)
	}
}

// TestSavedPlan: a saved plan is refused as stale after a hand edit and
// changes nothing; without the edit it applies exactly the planned changes.
func TestSavedPlan(t *testing.T) {
	dir, root := t.TempDir(), t.TempDir()
	writeFiles(t, root, map[string]string{"managed": "old\n", "other": "old\n"})
	writeFiles(t, dir, map[string]string{"main.hcl": fmt.Sprintf(`
file "managed" {
  path    = "%[1]s/managed"
  content = "new\n"
}
file "other" {
  path = "%[1]s/other"
  content = "new\n"
}
`, root)})
	planFile := filepath.Join(t.TempDir(), "p")
	if out, errOut, code := tend(t, "plan", "-C", dir, "-out", planFile); code != 0 {
		t.Fatalf("plan: exit %d\n%s%s", code, out, errOut)
	}
	if err := os.WriteFile(filepath.Join(root, "managed"), []byte("edited by hand\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, root)
	out, errOut, code := tend(t, "apply", planFile)
	if code != 1 || !strings.Contains(errOut, "stale") || !strings.Contains(errOut, "file.managed changed on the host") {
		t.Fatalf("stale apply: exit %d, want 1 and a stale message naming file.managed\n%s%s", code, out, errOut)
	}
	if diff := cmp.Diff(before, snapshot(t, root)); diff != "" {
		t.Errorf("a stale plan changed the host:\n%s", diff)
	}

	// A fresh plan, no edit: exactly the planned changes.
	if _, _, code := tend(t, "plan", "-C", dir, "-out", planFile); code != 0 {
		t.Fatal("second plan failed")
	}
	if out, errOut, code := tend(t, "apply", planFile); code != 0 {
		t.Fatalf("apply of a fresh plan: exit %d\n%s%s", code, out, errOut)
	}
	want := map[string]string{".": before["."], "managed": "file 644 \"new\\n\"", "other": "file 644 \"new\\n\""}
	if diff := cmp.Diff(want, snapshot(t, root)); diff != "" {
		t.Errorf("after applying the saved plan (-want +got):\n%s", diff)
	}
}

// TestSecretNeverShown: a secret used in file content appears in no plan
// output, JSON, saved plan or journal.
func TestSecretNeverShown(t *testing.T) {
	const secret = "hunter2-TOP-SECRET-value"
	t.Setenv("TEND_TEST_SECRET", secret)
	t.Setenv("TEND_VAR_db_password", secret+"-var")
	dir, root := t.TempDir(), t.TempDir()
	writeFiles(t, root, map[string]string{"app.conf": "password = old\n"})
	writeFiles(t, dir, map[string]string{"main.hcl": fmt.Sprintf(`
variable "db_password" {
  sensitive = true
}
file "conf" {
  path    = "%[1]s/app.conf"
  content = "password = ${secret("env:TEND_TEST_SECRET")}\n"
  mode    = "0600"
}
file "other" {
  path    = "%[1]s/other.conf"
  content = "db = ${var.db_password}\n"
}
`, root)})
	planFile := filepath.Join(dir, "saved.plan")
	var all strings.Builder
	for _, args := range [][]string{
		{"plan", "-C", dir},
		{"plan", "-C", dir, "-json"},
		{"plan", "-C", dir, "-out", planFile},
		{"apply", planFile, "-json"},
	} {
		out, errOut, code := tend(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
		}
		all.WriteString(out + errOut)
	}
	if !strings.Contains(all.String(), "(sensitive") {
		t.Errorf("the plan does not mark the content as sensitive:\n%s", all.String())
	}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			all.WriteString(string(b))
			if !bytes.Contains(b, []byte("{")) {
				t.Logf("%s is not JSON", p)
			}
		}
		return nil
	})
	if strings.Contains(all.String(), secret) {
		t.Errorf("the secret appears in output, saved plan or journal")
	}
	if got, _ := os.ReadFile(filepath.Join(root, "other.conf")); string(got) != "db = "+secret+"-var\n" {
		t.Errorf("other.conf = %q: the sensitive variable was not written to the host", got)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "app.conf")); string(got) != "password = "+secret+"\n" {
		t.Errorf("app.conf = %q: the secret was not written to the host", got)
	}
	var saved map[string]any
	b, _ := os.ReadFile(planFile)
	if err := json.Unmarshal(b, &saved); err != nil {
		t.Errorf("saved plan is not JSON: %v", err)
	}
}

// TestRollbackCommand: tend rollback RUN-ID after a successful apply
// restores every file of the run to its pre-run state, showing the plan
// first.
func TestRollbackCommand(t *testing.T) {
	dir, root := t.TempDir(), t.TempDir()
	writeFiles(t, root, map[string]string{"a": "original a\n", "old/keep": "kept\n"})
	if err := os.Symlink("t1", filepath.Join(root, "l")); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{"main.hcl": fmt.Sprintf(`
file "a" {
  path    = "%[1]s/a"
  content = "changed a\n"
  mode    = "0600"
}
file "b" {
  path    = "%[1]s/sub/b"
  content = "new b\n"
}
directory "sub" {
  path = "%[1]s/sub"
}
directory "old" {
  path  = "%[1]s/old"
  state = "absent"
}
symlink "l" {
  path   = "%[1]s/l"
  target = "t2"
}
`, root)})
	before := snapshot(t, root)
	if out, errOut, code := tend(t, "apply", "-C", dir, "-y"); code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	if diff := cmp.Diff(before, snapshot(t, root)); diff == "" {
		t.Fatal("apply changed nothing")
	}
	run := lastRun(t, dir)
	out, errOut, code := tend(t, "rollback", run.ID, "-C", dir)
	if code != 1 || !strings.Contains(out, "↶ file.a") || !strings.Contains(errOut, "pass -y") {
		t.Fatalf("rollback without -y: exit %d, want 1, the plan and a refusal\n%s%s", code, out, errOut)
	}
	out, errOut, code = tend(t, "rollback", run.ID, "-C", dir, "-y")
	if code != 0 {
		t.Fatalf("rollback: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "↶ directory.sub will be removed") {
		t.Errorf("rollback plan not shown:\n%s", out)
	}
	if diff := cmp.Diff(before, snapshot(t, root)); diff != "" {
		t.Errorf("rollback did not restore the pre-run state (-before +after):\n%s", diff)
	}
	// The run is marked reverted: a second rollback has nothing to do.
	out, _, code = tend(t, "rollback", run.ID, "-C", dir, "-y")
	if code != 0 || !strings.Contains(out, "no applied changes left") {
		t.Errorf("second rollback: exit %d\n%s", code, out)
	}
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

var _ = sum
