package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/integration/lab"
)

// readmeCommands returns the command lines of the fenced blocks of a
// README section (from its "## " heading to the next).
func readmeCommands(t *testing.T, readme, section string) []string {
	t.Helper()
	var cmds []string
	in, fenced := false, false
	sc := bufio.NewScanner(strings.NewReader(readme))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "```"):
			fenced = !fenced
		case fenced:
			if in && strings.TrimSpace(line) != "" && !strings.HasPrefix(strings.TrimSpace(line), "#") {
				cmds = append(cmds, strings.TrimSpace(line))
			}
		case strings.HasPrefix(line, "## "):
			in = strings.TrimPrefix(line, "## ") == section
		}
	}
	if len(cmds) == 0 {
		t.Fatalf("README has no commands under %q", section)
	}
	return cmds
}

// exitComment is the exit code a quickstart line's comment announces:
// "# exit 2: ...".
var exitComment = regexp.MustCompile(`#\s*exit (\d+)`)

// TestReadmeFreshClone: in a fresh clone, the README's install and
// quickstart commands work as written (each line run by sh, its exit code
// as its comment says), CI runs the README's test command, and go vet is
// clean. The test command itself (test-all.sh) is what runs this test, so
// it is checked to exist and parse, not run here.
func TestReadmeFreshClone(t *testing.T) {
	lab.Required(t) // the project's one gate for slow tests; needs no lab host
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Fatalf("git rev-parse: %v", err)
	}
	clone := filepath.Join(t.TempDir(), "tend")
	if out, err := exec.Command("git", "clone", "-q", strings.TrimSpace(string(top)), clone).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	// A fresh HOME for the quickstart; Go's caches and settings stay where
	// they are (they would otherwise move under HOME and be fetched again).
	home := t.TempDir()
	names := []string{"GOCACHE", "GOMODCACHE", "GOPATH", "GOENV"}
	goEnv, err := exec.Command("go", append([]string{"env"}, names...)...).Output()
	if err != nil {
		t.Fatalf("go env: %v", err)
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	env = append(env, "HOME="+home)
	for i, name := range names {
		env = append(env, name+"="+strings.Split(string(goEnv), "\n")[i])
	}
	sh := func(cmd string) (string, int) {
		t.Helper()
		c := exec.Command("sh", "-c", cmd)
		c.Dir, c.Env = clone, env
		out, err := c.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		t.Logf("$ %s → exit %d\n%s", cmd, code, out)
		return string(out), code
	}
	readme, err := os.ReadFile(filepath.Join(clone, "README.md"))
	if err != nil {
		t.Fatal(err)
	}

	// Install.
	install := readmeCommands(t, string(readme), "Install")
	gobin := filepath.Join(home, "bin")
	env = append(env, "GOBIN="+gobin)
	for i, kv := range env {
		if strings.HasPrefix(kv, "PATH=") {
			env[i] = "PATH=" + gobin + string(os.PathListSeparator) + strings.TrimPrefix(kv, "PATH=")
		}
	}
	for _, cmd := range install {
		if _, code := sh(cmd); code != 0 {
			t.Fatalf("%s: exit %d", cmd, code)
		}
	}
	if out, code := sh(filepath.Join(gobin, "tend") + " version"); code != 0 || !strings.Contains(out, "tend") {
		t.Errorf("the installed tend does not run: exit %d", code)
	}

	// Quickstart, line by line, with the installed tend on PATH; RUN-ID
	// is the newest run (the one that put the hand edit back).
	qs := readmeCommands(t, string(readme), "Quickstart (no root, no network)")
	if !strings.HasPrefix(qs[0], "tend apply -C examples/quickstart -y") {
		t.Fatalf("the quickstart's first command is %q", qs[0])
	}
	index := filepath.Join(home, "tend-quickstart/site/index.html")
	var applied string
	for _, cmd := range qs {
		want := 0
		if m := exitComment.FindStringSubmatch(cmd); m != nil {
			want, _ = strconv.Atoi(m[1])
		}
		if strings.Contains(cmd, "RUN-ID") {
			runs, _ := filepath.Glob(filepath.Join(clone, "examples/quickstart/.tend/runs/*.journal"))
			if len(runs) == 0 {
				t.Fatal("no journaled run for the rollback line")
			}
			// IDs start with the second a run started: the journal
			// written last is the newest.
			newest, at := "", time.Time{}
			for _, r := range runs {
				if fi, err := os.Stat(r); err == nil && fi.ModTime().After(at) {
					newest, at = r, fi.ModTime()
				}
			}
			id := strings.TrimSuffix(filepath.Base(newest), ".journal")
			cmd = strings.Replace(cmd, "RUN-ID", id, 1)
		}
		out, code := sh(cmd)
		if code != want {
			t.Fatalf("%s: exit %d, want %d", cmd, code, want)
		}
		switch {
		case strings.Contains(cmd, "apply") && applied == "":
			b, err := os.ReadFile(index)
			if err != nil {
				t.Fatalf("the first apply did not create %s: %v", index, err)
			}
			applied = string(b)
		case want == 2 && !strings.Contains(out, "~ file.index") || want == 2 && strings.Count(out, " will be ") != 1:
			t.Errorf("the plan after the hand edit is not a diff of index.html alone:\n%s", out)
		case strings.Contains(cmd, "rollback"):
			if b, _ := os.ReadFile(index); string(b) != applied+"edit\n" {
				t.Errorf("rollback of the restoring run left index.html = %q, want the hand edit back", b)
			}
		}
	}

	// The test command: CI runs exactly it, and it parses.
	tests := readmeCommands(t, string(readme), "Tests")
	if tests[0] != "sudo bash integration/scripts/test-all.sh" {
		t.Fatalf("the README's test command is %q", tests[0])
	}
	ci, err := os.ReadFile(filepath.Join(clone, ".ci/run"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ci), "\nexec "+strings.TrimPrefix(tests[0], "sudo ")+"\n") {
		t.Errorf(".ci/run does not run the README's test command:\n%s", ci)
	}
	if _, code := sh("bash -n integration/scripts/test-all.sh"); code != 0 {
		t.Errorf("test-all.sh does not parse")
	}
	script, _ := os.ReadFile(filepath.Join(clone, "integration/scripts/test-all.sh"))
	for _, step := range []string{"go vet ./...", "TEND_LAB=1 go test", "-fuzz '^FuzzQuote$'", "--- SKIP"} {
		if !strings.Contains(string(script), step) {
			t.Errorf("test-all.sh lacks %q", step)
		}
	}

	// go vet is clean in the fresh clone.
	if out, code := sh("go vet ./..."); code != 0 || strings.TrimSpace(out) != "" {
		t.Errorf("go vet ./...: exit %d\n%s", code, out)
	}
}
