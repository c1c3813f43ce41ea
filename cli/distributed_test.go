package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startWorker runs tend worker in-process until the test ends.
func startWorker(t *testing.T, url string) *syncBuffer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan int)
	go func() {
		done <- Run(ctx, []string{"worker", "--backend", url, "--poll", "200ms", "--concurrency", "2"}, IO{Stdin: strings.NewReader(""), Stdout: out, Stderr: out})
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("worker: exit %d\n%s", code, out)
		}
	})
	return out
}

// TestDistributedApply: apply --distributed queues the host's job in the
// backend, a worker applies it, and the starting command follows the
// run to its end, printing the summary a local run prints; the run is
// one record in the backend, its host applied by the worker.
func TestDistributedApply(t *testing.T) {
	_, url := pgBackend(t)
	root := t.TempDir()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"main.hcl": fmt.Sprintf(`
file "a" {
  path    = "%[1]s/a"
  content = "distributed a\n"
}
`, root)})
	if _, errOut, code := tend(t, "apply", "-C", dir, "-y", "--distributed"); code == 0 || !strings.Contains(errOut, "needs a postgres backend") {
		t.Fatalf("--distributed with files: exit %d, want a refusal\n%s", code, errOut)
	}
	w := startWorker(t, url)
	out, errOut, code := tend(t, "apply", "-C", dir, "-y", "--distributed", "--backend", url)
	if code != 0 || !strings.Contains(out, "Apply complete: 1 change on 1 host.") {
		t.Fatalf("apply --distributed: exit %d\n%s%s\nworker:\n%s", code, out, errOut, w)
	}
	if got := readBytes(t, filepath.Join(root, "a")); got != "distributed a\n" {
		t.Fatalf("a = %q", got)
	}
	if !strings.Contains(w.String(), "localhost: success") {
		t.Errorf("the worker did not report the host:\n%s", w)
	}
	out, _, code = tend(t, "runs", "--backend", url, "--json")
	if code != 0 || strings.Count(out, `"type":"journaled_run"`) != 1 || !strings.Contains(out, `"outcome":"success"`) {
		t.Errorf("runs: exit %d, want one successful run\n%s", code, out)
	}

	// --detach returns the run id; the worker finishes it.
	writeFiles(t, dir, map[string]string{"main.hcl": fmt.Sprintf(`
file "a" {
  path    = "%[1]s/a"
  content = "detached a\n"
}
`, root)})
	out, errOut, code = tend(t, "apply", "-C", dir, "-y", "--distributed", "--detach", "--backend", url)
	if code != 0 || !strings.Contains(out, "Queued run ") {
		t.Fatalf("apply --distributed --detach: exit %d\n%s%s", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	id := lines[len(lines)-1]
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _, _ = tend(t, "show", id, "--backend", url)
		if strings.Contains(out, "success") || time.Now().After(deadline) {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if got := readBytes(t, filepath.Join(root, "a")); got != "detached a\n" {
		t.Fatalf("after the detached run: a = %q\nshow:\n%s\nworker:\n%s", got, out, w)
	}
}
