package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestLiveProgressTmux runs the real binary in a terminal (tmux) applying
// a change that takes 6 s, reads the screen every 200 ms, and demands a
// status line with the change's elapsed time within 3 s of the change
// starting on the host, then final lines whose host prefixes are aligned,
// with the status block gone.
func TestLiveProgressTmux(t *testing.T) {
	if os.Getenv("TEND_LAB") != "1" {
		t.Skip("end-to-end test: set TEND_LAB=1")
	}
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Fatalf("tmux is needed (integration/scripts/e2e-deps.sh installs it): %v", err)
	}
	bin := buildTend(t, t.TempDir())
	dir, root := t.TempDir(), t.TempDir()
	write(t, filepath.Join(dir, "main.hcl"), fmt.Sprintf(`
file "a" {
  path    = "%[1]s/${host.name}-a"
  content = "a\n"
}
exec "slow" {
  command    = "date +%%s.%%N > %[1]s/${host.name}.start; sleep ${host.name == "a" ? 6 : 1}; touch %[1]s/${host.name}-done"
  creates    = "%[1]s/${host.name}-done"
  depends_on = [file.a]
}
`, root))
	write(t, filepath.Join(dir, "inventory.hcl"), "host \"a\" {\n  transport = \"local\"\n}\nhost \"db-primary\" {\n  transport = \"local\"\n}\n")

	// A tmux server of the test's own, killed on every exit path.
	sock := fmt.Sprintf("tend-progress-%d", os.Getpid())
	tm := func(args ...string) (string, error) {
		out, err := exec.Command(tmux, append([]string{"-L", sock}, args...)...).CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() { _, _ = tm("kill-server") })
	script := fmt.Sprintf("%s apply -C %s -y --serial 1; echo TEND-EXIT=$?; sleep 120", bin, dir)
	if out, err := tm("new-session", "-d", "-x", "120", "-y", "50", "-s", "progress", "sh", "-c", script); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	status := regexp.MustCompile(`(?m)^  a:          … exec\.slow still running, (\d+)s \(change 2/2\)$`)
	var seen time.Time
	var seenText, screen string
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		out, err := tm("capture-pane", "-p", "-t", "progress", "-S", "-")
		if err != nil {
			t.Fatalf("tmux capture-pane: %v\n%s", err, out)
		}
		screen = out
		if seen.IsZero() && status.MatchString(out) {
			seen = time.Now()
			seenText = status.FindString(out)
		}
		if strings.Contains(out, "TEND-EXIT=") {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(screen, "TEND-EXIT=0") {
		t.Fatalf("apply did not end with exit 0:\n%s", screen)
	}
	b, err := os.ReadFile(filepath.Join(root, "a.start"))
	if err != nil {
		t.Fatalf("the slow change never started on the host: %v", err)
	}
	sec, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
	if err != nil {
		t.Fatal(err)
	}
	started := time.Unix(0, int64(sec*1e9))
	if seen.IsZero() {
		t.Fatalf("no status line with the elapsed time while the change ran; last screen:\n%s", screen)
	}
	if d := seen.Sub(started); d > 3*time.Second {
		t.Errorf("the status line showed %s after the change started, want at most 3s (%q)", d.Round(time.Millisecond), seenText)
	}
	t.Logf("status line %q seen %s after the change started", seenText, seen.Sub(started).Round(time.Millisecond))

	// The final lines: the block is gone, and every host's lines start at
	// the same column.
	if strings.Contains(screen, "still running") || strings.Contains(screen, "hosts done") {
		t.Errorf("the status block is left on the screen:\n%s", screen)
	}
	final := regexp.MustCompile(`(?m)^  (a:\s+|db-primary:\s+)\+ (file\.a|exec\.slow) created`)
	ms := final.FindAllStringSubmatch(screen, -1)
	if len(ms) != 4 {
		t.Fatalf("want 4 change lines, got %d:\n%s", len(ms), screen)
	}
	for _, m := range ms {
		if len(m[1]) != len("db-primary: ") {
			t.Errorf("prefix %q is not aligned to %d columns:\n%s", m[1], len("db-primary: "), screen)
		}
	}
	for _, h := range []string{"a", "db-primary"} {
		if _, err := os.Stat(filepath.Join(root, h+"-done")); err != nil {
			t.Errorf("host %s: the command did not complete: %v", h, err)
		}
	}
}
