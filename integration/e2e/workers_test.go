package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/backend"
	"github.com/tendhq/tend/backend/pgtest"
	"github.com/tendhq/tend/integration/lab"
	"github.com/tendhq/tend/journal"
)

// workersConfig writes each host's name, then runs a step that records
// in /srv/w/log, under an flock it only tries (a second holder at once
// writes OVERLAP), which process holds the host's tend lock (the pid of
// the host-side lock's holder record) at its start and end. A host
// with /srv/w/hold waits in that step until the file goes.
const workersConfig = `
directory "w" {
  path = "/srv/w"
}
file "conf" {
  path    = "${directory.w.path}/app.conf"
  content = "host = ${host.name}\n"
}
exec "work" {
  command    = <<-EOT
    pid=$(sed -n 's/^pid=//p' /run/lock/tend.lock.holder)
    exec 9>>/srv/w/log.lock
    if ! flock -n 9; then echo "OVERLAP $pid" >> /srv/w/log; exit 1; fi
    echo "begin $pid" >> /srv/w/log
    while [ -e /srv/hold ]; do sleep 0.1; done
    echo "end $pid" >> /srv/w/log
    touch /srv/w/done
  EOT
  creates    = "/srv/w/done"
  depends_on = [file.conf]
}
`

// worker is a tend worker process.
type worker struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func startWorkers(t *testing.T, bin, url string, n int) []*worker {
	t.Helper()
	var ws []*worker
	for i := range n {
		logPath := filepath.Join(t.TempDir(), fmt.Sprintf("worker%d.log", i))
		f, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "worker", "--backend", url, "--concurrency", "3", "--job-timeout", "10s", "--rescue-after", "12s", "--poll", "200ms")
		cmd.Stdout, cmd.Stderr = f, f
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		f.Close()
		w := &worker{cmd: cmd, log: logPath, done: make(chan struct{})}
		go func() { _ = cmd.Wait(); close(w.done) }()
		ws = append(ws, w)
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-w.done:
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				<-w.done
			}
			t.Logf("worker pid %d:\n%s", cmd.Process.Pid, read(t, logPath))
		})
	}
	return ws
}

var workRunRE = regexp.MustCompile(`Applying \(run ([^)\s]+)\)`)

// TestWorkersKilled: 4 tend worker processes apply a distributed run of
// 20 hosts; one is killed with SIGKILL while it is in the middle of a
// host. Every host converges, its step run to its end exactly once; the
// killed worker's host is finished by another worker after the queue
// rescues its job, and its journal shows both workers and what the first
// one made; no host ever ran the step under two workers at once.
func TestWorkersKilled(t *testing.T) {
	lab.Required(t)
	pg := pgtest.Start(t)
	url := pg.URL()
	if out, errOut, code := tend(t, "backend", "migrate", "--backend", url); code != 0 {
		t.Fatalf("backend migrate: exit %d\n%s%s", code, out, errOut)
	}
	l := lab.StartT(t, lab.Options{Hosts: 20, Name: "workers"})
	dir := t.TempDir()
	if err := l.WriteInventory(filepath.Join(dir, "inventory.hcl")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "main.hcl"), workersConfig)
	slow := l.Host(7)
	write(t, filepath.Join(slow.Root, "srv/hold"), "")
	bin := buildTend(t, t.TempDir())
	ws := startWorkers(t, bin, url, 4)
	pids := map[int]*worker{}
	for _, w := range ws {
		pids[w.cmd.Process.Pid] = w
	}

	type result struct {
		out  string
		code int
	}
	applied := make(chan result, 1)
	go func() {
		out, _, code := tend(t, "apply", "-C", dir, "-y", "--distributed", "--backend", url)
		applied <- result{out, code}
	}()

	// The slow host's step has begun under some worker: that one dies.
	slowLog := filepath.Join(slow.Root, "srv/w/log")
	var victim int
	deadline := time.Now().Add(3 * time.Minute)
	for victim == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the slow host's step never began")
		}
		b, _ := os.ReadFile(slowLog)
		if m := regexp.MustCompile(`begin (\d+)`).FindSubmatch(b); m != nil {
			victim, _ = strconv.Atoi(string(m[1]))
		}
		time.Sleep(100 * time.Millisecond)
	}
	w := pids[victim]
	if w == nil {
		t.Fatalf("the slow host's step runs under pid %d, none of the workers %v", victim, pids)
	}
	if err := w.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-w.done
	killed := time.Now()
	t.Logf("killed worker pid %d in the middle of %s", victim, slow.Name)
	if err := os.Remove(filepath.Join(slow.Root, "srv/hold")); err != nil {
		t.Fatal(err)
	}

	var res result
	select {
	case res = <-applied:
	case <-time.After(5 * time.Minute):
		t.Fatal("the distributed apply did not end within 5 minutes of the kill")
	}
	if res.code != 0 || !strings.Contains(res.out, "Apply complete:") || !strings.Contains(res.out, "on 20 hosts.") {
		t.Fatalf("apply --distributed: exit %d, want success on 20 hosts", res.code)
	}
	m := workRunRE.FindStringSubmatch(res.out)
	if m == nil {
		t.Fatal("no run id in the apply's output")
	}
	runID := m[1]

	// The hosts' bytes: every host converged, its step run to its end
	// once; only the slow host began twice (the killed worker's start).
	for _, h := range l.Hosts {
		if got, want := read(t, filepath.Join(h.Root, "srv/w/app.conf")), "host = "+h.Name+"\n"; got != want {
			t.Errorf("%s: app.conf = %q, want %q", h.Name, got, want)
		}
		if !exists(filepath.Join(h.Root, "srv/w/done")) {
			t.Errorf("%s: the step never finished", h.Name)
		}
		log := read(t, filepath.Join(h.Root, "srv/w/log"))
		lines := strings.Split(strings.TrimSpace(log), "\n")
		if strings.Contains(log, "OVERLAP") {
			t.Errorf("%s: two workers ran the step at once:\n%s", h.Name, log)
		}
		begins, ends := strings.Count(log, "begin "), strings.Count(log, "end ")
		switch {
		case h.Name == slow.Name:
			want := []string{fmt.Sprintf("begin %d", victim)}
			if len(lines) != 3 || lines[0] != want[0] || !strings.HasPrefix(lines[1], "begin ") || lines[1] == lines[0] ||
				strings.Replace(lines[1], "begin", "end", 1) != lines[2] {
				t.Errorf("%s: log\n%s\nwant the killed worker's begin, then another worker's begin and end", h.Name, log)
			}
		case begins != 1 || ends != 1 || len(lines) != 2:
			t.Errorf("%s: log\n%s\nwant one begin and one end", h.Name, log)
		}
	}

	// One run record; the slow host's journal names both workers and
	// keeps what the killed one made before it died.
	out, _, code := tend(t, "runs", "--backend", url, "--json")
	if code != 0 || strings.Count(out, `"type":"journaled_run"`) != 1 {
		t.Errorf("runs: exit %d, want one run\n%s", code, out)
	}
	b, err := backend.Connect(t.Context(), url, true)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	run, err := b.Read(runID)
	if err != nil {
		t.Fatal(err)
	}
	if run.Outcome != "success" || len(run.Hosts) != 20 {
		t.Errorf("run %s: outcome %s, %d hosts", runID, run.Outcome, len(run.Hosts))
	}
	for _, h := range run.Hosts {
		if h.Outcome != "success" {
			t.Errorf("%s: outcome %s (%s)", h.Name, h.Outcome, h.Error)
		}
		if h.Name != slow.Name {
			continue
		}
		if len(h.Workers) != 2 || !strings.HasSuffix(h.Workers[0], fmt.Sprintf(" pid %d", victim)) || h.Workers[1] == h.Workers[0] {
			t.Errorf("%s: workers %q, want the killed pid %d then another", h.Name, h.Workers, victim)
		}
		for _, e := range h.Changes {
			t.Logf("%s: %s %s started %s finished %s", h.Name, e.Address, e.Status, e.Started.Format(time.RFC3339Nano), e.Finished.Format(time.RFC3339Nano))
			if e.Status != journal.Applied {
				t.Errorf("%s: %s is %s, want applied", h.Name, e.Address, e.Status)
			}
			if e.Address != "exec.work" && !e.Finished.Before(killed) {
				t.Errorf("%s: %s finished at %s, after the kill: the killed worker's change is not the journal's", h.Name, e.Address, e.Finished)
			}
		}
	}
}
