package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tendhq/tend/journal"
)

// interruptConfig: two file changes, a command that takes a while
// (touching a marker when it starts), then two more file changes.
func interruptConfig(root string) string {
	return fmt.Sprintf(`
role "all" {
  hosts = "all"
  file "one" {
    path    = "%[1]s/existing.txt"
    content = "new content\n"
  }
  file "two" {
    path    = "%[1]s/two.txt"
    content = "two\n"
  }
  exec "slow" {
    command    = "touch %[1]s/.started && sleep 1.5"
    creates    = "%[1]s/.never"
    depends_on = [file.one, file.two]
  }
  file "three" {
    path       = "%[1]s/three.txt"
    content    = "three\n"
    depends_on = [exec.slow]
  }
}
`, root)
}

// applyInterrupted runs tend apply in process, sending sigs (one per
// element, the first once the slow command started, the next ones
// 100 ms apart).
func applyInterrupted(t *testing.T, dir, root string, sigs ...os.Signal) (string, int) {
	t.Helper()
	ch := make(chan os.Signal, 4)
	go func() {
		for !exists(filepath.Join(root, ".started")) {
			time.Sleep(20 * time.Millisecond)
		}
		for _, s := range sigs {
			ch <- s
			time.Sleep(100 * time.Millisecond)
		}
	}()
	var out bytes.Buffer
	code := Run(context.Background(), []string{"apply", "-C", dir, "-y"}, IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out, Signals: ch})
	return out.String(), code
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// TestInterruptRollsBack: the first interrupt lets the command in flight
// finish, starts nothing more, and reverts what the run made, on a
// context the interrupt did not cancel: the host is byte for byte as
// before.
func TestInterruptRollsBack(t *testing.T) {
	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			dir, root := t.TempDir(), t.TempDir()
			writeFiles(t, root, map[string]string{"existing.txt": "original content\n"})
			writeFiles(t, dir, map[string]string{"main.hcl": interruptConfig(root)})
			before := snapshot(t, root)
			out, code := applyInterrupted(t, dir, root, sig)
			if code != 1 || !strings.Contains(out, "Interrupt received") {
				t.Fatalf("exit %d, want 1 and the interrupt reported:\n%s", code, out)
			}
			after := snapshot(t, root)
			delete(after, ".started")
			if d := cmp.Diff(before, after); d != "" {
				t.Errorf("host not restored (-before +after):\n%s\n%s", d, out)
			}
			if !strings.Contains(out, "exec.slow created") {
				t.Errorf("the command in flight did not finish:\n%s", out)
			}
			run := lastRun(t, dir)
			want := map[string]journal.Status{"file.one": journal.Reverted, "file.two": journal.Reverted,
				"exec.slow": journal.NotReverted, "file.three": journal.Skipped}
			if d := cmp.Diff(want, statuses(run)); d != "" {
				t.Errorf("journal (-want +got):\n%s", d)
			}
			if run.Outcome != "interrupted" && run.Outcome != "rolled_back" {
				t.Errorf("run outcome %q, want interrupted", run.Outcome)
			}
		})
	}
}

// TestSecondInterruptStops: a second interrupt stops at once and says how
// to roll back or resume; tend rollback then restores the host.
func TestSecondInterruptStops(t *testing.T) {
	dir, root := t.TempDir(), t.TempDir()
	writeFiles(t, root, map[string]string{"existing.txt": "original content\n"})
	writeFiles(t, dir, map[string]string{"main.hcl": interruptConfig(root)})
	before := snapshot(t, root)
	start := time.Now()
	out, code := applyInterrupted(t, dir, root, os.Interrupt, os.Interrupt)
	if code == 0 || !strings.Contains(out, "Stopping at once") {
		t.Fatalf("exit %d, want non-zero and the stop reported:\n%s", code, out)
	}
	if time.Since(start) > 1400*time.Millisecond {
		t.Errorf("the second interrupt did not stop at once (%s)", time.Since(start))
	}
	run := lastRun(t, dir)
	if !strings.Contains(out, "tend rollback "+run.ID) || !strings.Contains(out, "tend resume "+run.ID) {
		t.Errorf("the commands to finish are not printed:\n%s", out)
	}
	if out, errOut, code := tend(t, "rollback", run.ID, "-C", dir, "-y"); code != 0 {
		t.Fatalf("rollback: exit %d\n%s%s", code, out, errOut)
	}
	after := snapshot(t, root)
	delete(after, ".started")
	if d := cmp.Diff(before, after); d != "" {
		t.Errorf("host not restored by tend rollback (-before +after):\n%s", d)
	}
}
