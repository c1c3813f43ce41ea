//go:build linux

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

	// --json: the messages of a local run, checked against the schema.
	writeFiles(t, dir, map[string]string{"main.hcl": fmt.Sprintf(`
file "a" {
  path    = "%[1]s/a"
  content = "json a\n"
}
`, root)})
	args := []string{"apply", "-C", dir, "-y", "--distributed", "--json", "--backend", url}
	out, _, code = tend(t, args...)
	kinds := map[string]bool{}
	for _, m := range jsonLines(t, uiSchema(t), args, out, code) {
		kinds[fmt.Sprint(m["type"])] = true
		if m["type"] == "outcome" && m["result"] != "success" {
			t.Errorf("apply --distributed --json: outcome %v", m)
		}
	}
	for _, k := range []string{"planned_change", "run", "change_applied", "host_outcome", "outcome"} {
		if !kinds[k] {
			t.Errorf("apply --distributed --json: no %s message\n%s", k, out)
		}
	}
	if got := readBytes(t, filepath.Join(root, "a")); code != 0 || got != "json a\n" {
		t.Fatalf("apply --distributed --json: exit %d, a = %q", code, got)
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

// TestDistributedBatches: a rollout's batches hold across workers (a
// batch's jobs are queued once the one before has ended: no host of a
// batch starts before every host of the previous one ended), and its
// max-fail percentage is counted over the run's hosts, whichever worker
// applied them: a failure beyond it leaves the later batches not
// started, and the run failed.
func TestDistributedBatches(t *testing.T) {
	_, url := pgBackend(t)
	root := t.TempDir()
	dir := t.TempDir()
	order := filepath.Join(root, "order")
	writeFiles(t, dir, map[string]string{
		"main.hcl": fmt.Sprintf(`
exec "step" {
  command = "echo start ${host.name} >> %[1]s; sleep 0.3; echo end ${host.name} >> %[1]s; test ${host.name} != h3"
  creates = "%[2]s/${host.name}-never"
}
`, order, root),
		"inventory.hcl": "host \"h1\" {\n  transport = \"local\"\n}\nhost \"h2\" {\n  transport = \"local\"\n}\nhost \"h3\" {\n  transport = \"local\"\n}\nhost \"h4\" {\n  transport = \"local\"\n}\n",
	})
	w1, w2 := startWorker(t, url), startWorker(t, url)
	out, errOut, code := tend(t, "apply", "-C", dir, "-y", "--distributed", "--backend", url, "--serial", "1", "--max-fail-percent", "20", "--on-failure", "stop")
	if code == 0 || !strings.Contains(out, "Rollout stopped: 1 of 4 hosts failed") || !strings.Contains(out, "Not started: h4.") {
		t.Fatalf("apply --distributed --serial 1: exit %d, want a rollout stopped after h3\n%s%s\nworkers:\n%s\n%s", code, out, errOut, w1, w2)
	}
	if got, want := readBytes(t, order), "start h1\nend h1\nstart h2\nend h2\nstart h3\nend h3\n"; got != want {
		t.Errorf("the hosts ran\n%s\nwant one batch after the other:\n%s", got, want)
	}
	out, _, code = tend(t, "runs", "--backend", url, "--json")
	if code != 0 || strings.Count(out, `"type":"journaled_run"`) != 1 || !strings.Contains(out, `"outcome":"failed"`) {
		t.Errorf("runs: exit %d, want one failed run\n%s", code, out)
	}
}

// TestWorkerExits: a worker without a backend cannot work (exit 1); one
// given --idle-exit stops once it had nothing to do for that long (exit
// 0), as a worker launched for one run does.
func TestWorkerExits(t *testing.T) {
	t.Setenv("TEND_BACKEND", "")
	if _, errOut, code := tend(t, "worker"); code != 1 || !strings.Contains(errOut, "needs a postgres backend") {
		t.Errorf("worker without a backend: exit %d\n%s", code, errOut)
	}
	_, url := pgBackend(t)
	start := time.Now()
	out, errOut, code := tend(t, "worker", "--backend", url, "--idle-exit", "500ms")
	t.Logf("worker ran %s", time.Since(start))
	if code != 0 || !strings.Contains(out, "No job for 500ms (--idle-exit)") {
		t.Errorf("worker --idle-exit: exit %d after %s\n%s%s", code, time.Since(start), out, errOut)
	}
}
