package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tendhq/tend/journal"
)

func targetConfig(root string) string {
	return fmt.Sprintf(`
directory "app" {
  path = "%[1]s/app"
}
file "conf" {
  path    = "${directory.app.path}/conf"
  content = "conf\n"
}
file "other" {
  path    = "%[1]s/other"
  content = "other\n"
}
file "site" {
  for_each = toset(["a", "b"])
  path     = "%[1]s/site-${each.key}"
  content  = "${each.key}\n"
}
exec "reload" {
  command      = "echo reloaded >> %[1]s/reloads"
  refresh_only = true
}
file "notifier" {
  path    = "%[1]s/notifier"
  content = "n\n"
  notify  = [exec.reload]
}
exec "stamp" {
  command = "echo ran >> %[1]s/stamp"
  creates = "%[1]s/stamp"
}
`, root)
}

// planned returns the addresses and actions a plan --json lists as
// changes (no-ops left out).
func planned(t *testing.T, out string) map[string]string {
	t.Helper()
	var p struct {
		Hosts []struct {
			Changes []struct {
				Address string `json:"address"`
				Action  string `json:"action"`
			} `json:"changes"`
		} `json:"hosts"`
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("plan --json: %v\n%s", err, out)
	}
	got := map[string]string{}
	for _, h := range p.Hosts {
		for _, c := range h.Changes {
			got[c.Address] = c.Action
		}
	}
	return got
}

func files(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	for k := range snapshot(t, root) {
		if k != "." {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// TestResourceTargeting: --resource plans and applies only the named
// resources and instances, with what they depend on and notify; a saved
// plan keeps its targeting; an unknown address is refused with a
// suggestion.
func TestResourceTargeting(t *testing.T) {
	dir, root := t.TempDir(), t.TempDir()
	writeFiles(t, dir, map[string]string{"main.hcl": targetConfig(root)})

	cases := map[string]struct {
		args []string
		want map[string]string
	}{
		"a resource and its dependency": {[]string{"--resource", "file.conf"},
			map[string]string{"directory.app": "create", "file.conf": "create"}},
		"one instance": {[]string{"--resource", `file.site["b"]`},
			map[string]string{`file.site["b"]`: "create"}},
		"every instance": {[]string{"--resource", "file.site"},
			map[string]string{`file.site["a"]`: "create", `file.site["b"]`: "create"}},
		"what it notifies comes along": {[]string{"--resource", "file.notifier"},
			map[string]string{"file.notifier": "create", "exec.reload": "refresh"}},
		"repeated": {[]string{"--resource", "file.other", "-resource", "exec.stamp"},
			map[string]string{"file.other": "create", "exec.stamp": "create"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			out, errOut, code := tend(t, append([]string{"plan", "-C", dir, "--json-document"}, tc.args...)...)
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, errOut)
			}
			var p struct {
				Hosts []struct {
					Changes []struct{ Address, Action string } `json:"changes"`
				} `json:"hosts"`
			}
			if err := json.Unmarshal([]byte(out), &p); err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, c := range p.Hosts[0].Changes {
				got[c.Address] = c.Action
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("planned (-want +got):\n%s", d)
			}
		})
	}

	// Applied: the host holds exactly the targeted resources, and the
	// notified command ran.
	if out, errOut, code := tend(t, "apply", "-C", dir, "-y", "--resource", "file.conf", "--resource", "file.notifier"); code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	if d := cmp.Diff([]string{"app", "app/conf", "notifier", "reloads"}, files(t, root)); d != "" {
		t.Errorf("files after a targeted apply (-want +got):\n%s", d)
	}

	// A saved plan applies with its targeting, and is not stale for the
	// resources it left out.
	planFile := filepath.Join(t.TempDir(), "p")
	if out, errOut, code := tend(t, "plan", "-C", dir, "--resource", `file.site["a"]`, "-out", planFile); code != 0 {
		t.Fatalf("plan -out: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := tend(t, "apply", planFile, "--resource", "file.other"); code == 0 || !strings.Contains(errOut, "do not give them again") {
		t.Errorf("apply of a saved plan with --resource again: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := tend(t, "apply", planFile); code != 0 {
		t.Fatalf("apply of a targeted saved plan: exit %d\n%s%s", code, out, errOut)
	}
	if d := cmp.Diff([]string{"app", "app/conf", "notifier", "reloads", "site-a"}, files(t, root)); d != "" {
		t.Errorf("files after the saved plan (-want +got):\n%s", d)
	}

	for _, tc := range []struct{ args, want string }{
		{"--resource file.cnof", "--resource file.cnof: no resource file.cnof is declared in " + dir + "; did you mean file.conf?"},
		{"--replace exec.stmap", "--replace exec.stmap: no resource exec.stmap is declared in " + dir + "; did you mean exec.stamp?"},
		{"--resource nothing.like_it", "--resource nothing.like_it: no resource nothing.like_it is declared in " + dir + "\n"},
		{"--resource file.site[a", `--resource file.site[a: not a resource address (TYPE.NAME or TYPE.NAME["key"])`},
		{"--target file.conf", `--target "file.conf": `},
	} {
		before := snapshot(t, root)
		for _, cmd := range []string{"plan", "apply"} {
			out, errOut, code := tend(t, append([]string{cmd, "-C", dir, "-y"}, strings.Fields(tc.args)...)...)
			if cmd == "plan" {
				out, errOut, code = tend(t, append([]string{cmd, "-C", dir}, strings.Fields(tc.args)...)...)
			}
			if code != 1 || !strings.Contains(errOut, tc.want) {
				t.Errorf("%s %s: exit %d, want 1 and %q\n%s%s", cmd, tc.args, code, tc.want, out, errOut)
			}
		}
		if d := cmp.Diff(before, snapshot(t, root)); d != "" {
			t.Errorf("%s changed the host:\n%s", tc.args, d)
		}
	}
	_, errOut, _ := tend(t, "plan", "-C", dir, "--target", "file.conf")
	if !strings.Contains(errOut, "--target selects hosts; to plan one resource use --resource file.conf") {
		t.Errorf("--target with a resource address gives no hint:\n%s", errOut)
	}
}

// TestReplace: --replace plans a resource that matches as replaced, and
// apply makes it again: a command runs again, a file is written anew
// (a new inode, the same bytes) with its old copy kept for rollback.
func TestReplace(t *testing.T) {
	dir, root := t.TempDir(), t.TempDir()
	writeFiles(t, dir, map[string]string{"main.hcl": targetConfig(root)})
	if out, errOut, code := tend(t, "apply", "-C", dir, "-y"); code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	out, _, code := tend(t, "plan", "-C", dir, "-detailed-exitcode")
	if code != 0 {
		t.Fatalf("the applied configuration still has changes: exit %d\n%s", code, out)
	}
	out, errOut, code := tend(t, "plan", "-C", dir, "--json-document", "--replace", "exec.stamp", "--replace", "file.conf")
	if code != 0 {
		t.Fatalf("plan --replace: exit %d\n%s", code, errOut)
	}
	got := planned(t, out)
	for a, act := range got {
		if act == "no-op" {
			delete(got, a)
		}
	}
	if d := cmp.Diff(map[string]string{"exec.stamp": "replace", "file.conf": "replace"}, got); d != "" {
		t.Errorf("planned (-want +got):\n%s", d)
	}
	human, _, _ := tend(t, "plan", "-C", dir, "--replace", "file.conf")
	if !strings.Contains(human, "-/+ file.conf will be replaced") || !strings.Contains(human, "replaced as asked (--replace)") {
		t.Errorf("the human plan does not show the replace:\n%s", human)
	}

	conf := filepath.Join(root, "app", "conf")
	ino := inode(t, conf)
	if out, errOut, code := tend(t, "apply", "-C", dir, "-y", "--replace", "exec.stamp", "--replace", "file.conf"); code != 0 {
		t.Fatalf("apply --replace: exit %d\n%s%s", code, out, errOut)
	}
	if got := mustRead(t, filepath.Join(root, "stamp")); got != "ran\nran\n" {
		t.Errorf("stamp = %q: the replaced command did not run again", got)
	}
	if got := mustRead(t, conf); got != "conf\n" {
		t.Errorf("conf = %q", got)
	}
	if inode(t, conf) == ino {
		t.Error("the replaced file was not written again (same inode)")
	}
	run := lastRun(t, dir)
	st := statuses(run)
	if st["file.conf"] != journal.Applied || st["exec.stamp"] != journal.Applied || len(st) != 2 {
		t.Errorf("journal: %v", st)
	}
	var backup string
	for _, e := range run.Hosts[0].Changes {
		if e.Address == "file.conf" {
			backup = e.Undo["backup"]
		}
	}
	if backup == "" || mustRead(t, backup) != "conf\n" {
		t.Errorf("no backup of the replaced file (undo %q)", backup)
	}
	// Nothing left to do afterwards.
	if out, _, code := tend(t, "plan", "-C", dir, "-detailed-exitcode"); code != 0 {
		t.Errorf("after the replace: exit %d\n%s", code, out)
	}
}

// TestFlagHints: flags of Terraform and Ansible habits get tend's own.
func TestFlagHints(t *testing.T) {
	cases := map[string]struct {
		args []string
		want string
	}{
		"-auto-approve":         {[]string{"apply", "-auto-approve"}, "unknown flag: --auto-approve; did you mean -y (--yes)?"},
		"rollback auto-approve": {[]string{"rollback", "RUN", "--auto-approve"}, "did you mean -y (--yes)?"},
		"--check":               {[]string{"apply", "--check"}, "unknown flag: --check; to see what would change without changing anything, use tend plan"},
		"--limit":               {[]string{"plan", "--limit", "web"}, "unknown flag: --limit; tend selects hosts with --target PATTERN (-t)"},
		"-l":                    {[]string{"apply", "-l", "web"}, "unknown shorthand flag: 'l' in -l; tend selects hosts with --target PATTERN (-t)"},
		"other unknown flag":    {[]string{"plan", "--frobnicate"}, "Error: unknown flag: --frobnicate\n"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			out, errOut, code := tend(t, tc.args...)
			if code != 1 || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, want 1 and %q\n%s%s", code, tc.want, out, errOut)
			}
		})
	}
}

// TestResumeKeepsTargeting: resuming a run limited with --resource
// finishes it for those resources only.
func TestResumeKeepsTargeting(t *testing.T) {
	dir, root := rollbackFixture(t)
	out, errOut, code := tend(t, "apply", "-C", dir, "-y", "--on-failure", "stop", "--resource", "file.three")
	if code != 1 {
		t.Fatalf("apply: exit %d, want 1\n%s%s", code, out, errOut)
	}
	run := lastRun(t, dir)
	if d := cmp.Diff([]string{"file.three"}, run.Resources); d != "" {
		t.Errorf("journaled resources: %s", d)
	}
	if err := os.Remove(filepath.Join(root, "blocker")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "blocker"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := tend(t, "resume", run.ID, "-C", dir, "-y"); code != 0 {
		t.Fatalf("resume: exit %d\n%s%s", code, out, errOut)
	}
	if got := mustRead(t, filepath.Join(root, "blocker", "child")); got != "cannot be written" {
		t.Errorf("file.three = %q", got)
	}
	if _, err := os.Stat(filepath.Join(root, "newdir", "four")); !os.IsNotExist(err) {
		t.Errorf("resume applied file.four, which the run did not target: %v", err)
	}
	if target, _ := os.Readlink(filepath.Join(root, "link")); target != "original-target" {
		t.Errorf("resume applied symlink.five: link → %q", target)
	}
}

// TestReplaceAfterLockWait: a replace planned while another run holds
// the host is still made after waiting for the lock, though the host,
// read again, matches.
func TestReplaceAfterLockWait(t *testing.T) {
	root := t.TempDir()
	dirA, dirB := t.TempDir(), t.TempDir()
	writeFiles(t, dirA, map[string]string{"main.hcl": lockConfig(root, "A")})
	writeFiles(t, dirB, map[string]string{"main.hcl": fmt.Sprintf(`
exec "again" {
  command = "echo ran >> %[1]s/count"
  creates = "%[1]s/count"
}
`, root)})
	writeFiles(t, root, map[string]string{"count": "ran\n"})
	a := make(chan string, 1)
	go func() {
		var out strings.Builder
		code := Run(context.Background(), []string{"apply", "-C", dirA, "-y"}, IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out})
		a <- fmt.Sprintf("exit %d\n%s", code, out.String())
	}()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(root, ".holding-A")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first run never started holding the host:\n%s", <-a)
		}
	}
	out, errOut, code := tend(t, "apply", "-C", dirB, "-y", "--replace", "exec.again", "--lock-timeout", "20s")
	if outA := <-a; !strings.HasPrefix(outA, "exit 0") {
		t.Fatalf("first apply:\n%s", outA)
	}
	if code != 0 {
		t.Fatalf("apply --replace: exit %d\n%s%s", code, out, errOut)
	}
	if got := mustRead(t, filepath.Join(root, "count")); got != "ran\nran\n" {
		t.Errorf("count = %q: the replace was dropped after waiting for the lock\n%s", got, out)
	}
}
