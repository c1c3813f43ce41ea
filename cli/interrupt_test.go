package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
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
    command    = "touch %[1]s/.started && sleep 1.5 && touch %[1]s/.slept"
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
			if !exists(filepath.Join(root, ".slept")) {
				t.Error("the command in flight was cut short")
			}
			after := snapshot(t, root)
			delete(after, ".started")
			delete(after, ".slept")
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
	out, code := applyInterrupted(t, dir, root, os.Interrupt, os.Interrupt)
	if code == 0 || !strings.Contains(out, "Stopping at once") {
		t.Fatalf("exit %d, want non-zero and the stop reported:\n%s", code, out)
	}
	// Stopped at once: the command in flight was killed, so it never
	// gets to its last step (after its sleep), however slow the machine.
	time.Sleep(2 * time.Second)
	if exists(filepath.Join(root, ".slept")) {
		t.Error("the second interrupt let the command in flight finish")
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

// TestInterruptAtPrompt: an interrupt while apply waits for its "yes"
// cancels it at once, changing nothing (the prompt does not keep
// waiting for a line).
func TestInterruptAtPrompt(t *testing.T) {
	dir, root := t.TempDir(), t.TempDir()
	writeFiles(t, root, map[string]string{"existing.txt": "original content\n"})
	writeFiles(t, dir, map[string]string{"main.hcl": interruptConfig(root)})
	before := snapshot(t, root)
	stdin, w := io.Pipe()
	defer w.Close()
	ch := make(chan os.Signal, 1)
	var out syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(context.Background(), []string{"apply", "-C", dir}, IO{Stdin: stdin, Stdout: &out, Stderr: &out, IsTerminal: true, Signals: ch})
	}()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), "Only 'yes' is accepted"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no prompt:\n%s", out.String())
		}
	}
	ch <- os.Interrupt
	select {
	case code := <-done:
		if code != 1 || !strings.Contains(out.String(), "Apply cancelled; nothing was changed.") {
			t.Errorf("exit %d:\n%s", code, out.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("apply still waits for an answer after the interrupt")
	}
	if d := cmp.Diff(before, snapshot(t, root)); d != "" {
		t.Errorf("the host changed (-before +after):\n%s", d)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
