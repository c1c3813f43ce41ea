package faults

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/integration/lab"
	"github.com/tendhq/tend/journal"
)

// stallFor is how long the session-stall scenario freezes the host's sshd
// session processes: a minute, as a link or a host can really hang.
const stallFor = 60 * time.Second

// applyTimeout bounds one apply of the workload, faults included.
const applyTimeout = 2 * time.Minute

// suite is one lab shared by the subtests of a test function.
type suite struct {
	l     *lab.Lab
	plain *workload // applies cleanly
	fails *workload // fails after batch 3, so the run rolls back
}

func newSuite(t *testing.T, name string, hosts int) *suite {
	lab.Required(t)
	binary(t)
	return &suite{
		l:     lab.StartT(t, lab.Options{Hosts: hosts, Name: name}),
		plain: newWorkload("", false),
		fails: newWorkload("", true),
	}
}

// apply lays down the pre-run state and starts `tend apply -y` of w.
func (s *suite) apply(t *testing.T, w *workload, flags ...string) (*proc, string) {
	t.Helper()
	w.reset(t, s.l)
	dir := w.writeConfig(t, s.l)
	return startTend(t, append([]string{"apply", "-C", dir, "-y"}, flags...)...), dir
}

// A point is a moment of the run at which the test injects a fault; its
// wait blocks until the run reaches it and reports whether it did.
type point struct {
	name string
	wait func(t *testing.T, s *suite, p *proc) bool
}

var (
	// before: the run is planned and journaled, no change made yet.
	before = point{"before", func(t *testing.T, s *suite, p *proc) bool {
		return waitFor(p, applyTimeout, func() bool { return strings.Contains(p.out.String(), "Applying (run") })
	}}
	// inside: batch 2 has begun on host 1 (something new in its
	// directory, a file or a staging directory).
	inside = point{"inside batch", func(t *testing.T, s *suite, p *proc) bool {
		return waitFor(p, applyTimeout, func() bool { return s.batchStarted(1, 2) })
	}}
	// between: batch 1 is done on host 1 and gate1 sleeps.
	between = point{"between batches", func(t *testing.T, s *suite, p *proc) bool {
		return waitFor(p, applyTimeout, func() bool { return s.gate(1, "gate1") })
	}}
	// reverting: the failing exec ran and the automatic rollback has
	// restored something of batch 3 on host 1.
	reverting = point{"during rollback", func(t *testing.T, s *suite, p *proc) bool {
		return waitFor(p, applyTimeout, func() bool { return s.gate(1, "boom") }) &&
			waitFor(p, applyTimeout, func() bool { return s.batchReverting(1, 3) })
	}}
)

// batchStarted reports whether batch b has begun on host i: its directory
// holds more than its pre-existing files.
func (s *suite) batchStarted(i, b int) bool {
	return entries(filepath.Join(s.l.Host(i).Root, fmt.Sprintf("%s/b%d", srvDir, b))) > s.plain.preCount(b)
}

// batchReverting reports whether a rollback has begun undoing batch b on
// host i: a new file is gone, or a rewritten file has its old content.
func (s *suite) batchReverting(i, b int) bool {
	h := s.l.Host(i)
	if entries(filepath.Join(h.Root, fmt.Sprintf("%s/b%d", srvDir, b))) < s.plain.preCount(b)+newPerBatch {
		return true
	}
	for _, f := range s.plain.files {
		if f.batch == b && f.pre != nil {
			if st, err := readState(h, f.path); err == nil && st.sha == f.pre.sha {
				return true
			}
		}
	}
	return false
}

func (s *suite) gate(i int, name string) bool {
	return exists(filepath.Join(s.l.Host(i).Root, gateDir, name))
}

// preCount is how many pre-existing files batch b's directory holds.
func (w *workload) preCount(b int) int {
	n := 0
	for _, f := range w.files {
		if f.batch == b && f.pre != nil && strings.HasPrefix(f.path, srvDir) {
			n++
		}
	}
	return n
}

// reach waits for pt and fails the subtest (without stopping it) if the run
// never got there.
func reach(t *testing.T, s *suite, p *proc, pt point) bool {
	t.Helper()
	start := time.Now()
	if !pt.wait(t, s, p) {
		t.Errorf("the run never reached the point %q (tend running: %v); the fault was injected late", pt.name, p.running())
		return false
	}
	t.Logf("reached %q after %s", pt.name, time.Since(start).Round(time.Millisecond))
	return true
}

// afterFault is the common end of a scenario: tend has exited; the
// invariant holds, the hosts stay still, and tend rollback restores
// every byte.
func (s *suite) afterFault(t *testing.T, w *workload, dir, id string) {
	t.Helper()
	snaps := w.consistent(t, s.l, dir, id)
	time.Sleep(time.Second)
	w.still(t, s.l, snaps)
	w.rollback(t, s.l, dir, id, snaps)
}

func TestFaults(t *testing.T) {
	s := newSuite(t, "fault", 2)

	// Control: without a fault the run applies everything and rollback
	// restores it; every other scenario's failures are the fault's.
	t.Run("no fault", func(t *testing.T) {
		p, dir := s.apply(t, s.plain)
		if code := p.wait(applyTimeout); code != 0 {
			t.Errorf("apply: exit %d, want 0", code)
		}
		id := runID(t, dir, p.out.String())
		s.plain.consistent(t, s.l, dir, id)
		s.plain.atState(t, s.l, true, "after a clean apply")
		if run := readRun(t, dir, id); run != nil && run.Outcome != "success" {
			t.Errorf("journal: outcome %q, want success", run.Outcome)
		}
		s.plain.rollback(t, s.l, dir, id, s.snapshots(t, s.plain))
	})

	// Not a fault: rewriting a set-gid file whose mode the configuration
	// leaves alone must keep the mode, as the workload's invariant assumes.
	t.Run("set-id bits kept", func(t *testing.T) {
		h := s.l.Host(1)
		p := filepath.Join(h.Root, etcDir, "setgid.conf")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("old\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, 4321, 4321); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, goMode(0o2751)); err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		if err := s.l.WriteInventory(filepath.Join(dir, "inventory.hcl"), lab.InventoryHosts(1)); err != nil {
			t.Fatal(err)
		}
		cfg := fmt.Sprintf("file \"setgid\" {\n  path    = %q\n  content = \"new\\n\"\n}\n", etcDir+"/setgid.conf")
		if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, code := runTend(t, "apply", "-C", dir, "-y"); code != 0 {
			t.Errorf("apply: exit %d", code)
		}
		st, err := readState(h, etcDir+"/setgid.conf")
		if err != nil || st.mode != 0o2751 || st.uid != 4321 || st.sha != sha("new\n") {
			t.Errorf("rewritten set-gid file: %s (%v), want its new content with mode 2751 owner 4321:4321 kept", st, err)
		}
	})

	t.Run("failure rolls back", func(t *testing.T) {
		p, dir := s.apply(t, s.fails)
		if code := p.wait(applyTimeout); code != 1 {
			t.Errorf("apply: exit %d, want 1", code)
		}
		id := runID(t, dir, p.out.String())
		s.fails.consistent(t, s.l, dir, id)
		s.fails.atState(t, s.l, false, "after the run's own rollback")
	})

	for _, pt := range []point{before, inside, between, reverting} {
		t.Run("SIGKILL "+pt.name, func(t *testing.T) {
			w := s.plain
			if pt.name == reverting.name {
				w = s.fails
			}
			p, dir := s.apply(t, w)
			reach(t, s, p, pt)
			p.send(syscall.SIGKILL)
			p.wait(30 * time.Second)
			s.afterFault(t, w, dir, runID(t, dir, p.out.String()))
		})
	}

	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		for _, pt := range []point{before, inside, between} {
			t.Run(sigName(sig)+" "+pt.name, func(t *testing.T) {
				p, dir := s.apply(t, s.plain)
				reach(t, s, p, pt)
				p.send(sig)
				code := p.wait(applyTimeout)
				out := p.out.String() + p.err.String()
				if code == 0 {
					t.Errorf("apply interrupted by %s: exit 0, want non-zero", sigName(sig))
				}
				if !strings.Contains(out, "Interrupt received") {
					t.Errorf("apply did not say \"Interrupt received\" after %s", sigName(sig))
				}
				id := runID(t, dir, p.out.String())
				s.plain.consistent(t, s.l, dir, id)
				s.plain.atState(t, s.l, false, "after the interrupted run's rollback")
				if run := readRun(t, dir, id); run != nil && run.Outcome != "rolled_back" && run.Outcome != "failed" {
					t.Errorf("journal: outcome %q after an interrupt and its rollback, want rolled_back", run.Outcome)
				}
			})
		}
		t.Run(sigName(sig)+" twice, the second during rollback", func(t *testing.T) {
			p, dir := s.apply(t, s.plain)
			reach(t, s, p, between)
			p.send(sig)
			rolling := waitFor(p, applyTimeout, func() bool { return s.batchReverting(1, 1) })
			if !rolling {
				t.Errorf("after the first %s the rollback never restored anything of batch 1 on %s", sigName(sig), s.l.Host(1).Name)
			}
			second := time.Now()
			p.send(sig)
			p.wait(applyTimeout)
			if d := time.Since(second); rolling && d > 5*time.Second {
				t.Errorf("tend took %s to stop after the second %s, want at once", d.Round(time.Millisecond), sigName(sig))
			}
			id := runID(t, dir, p.out.String())
			out := p.out.String() + p.err.String()
			for _, cmd := range []string{"tend rollback " + id, "tend resume " + id} {
				if id == "" || !strings.Contains(out, cmd) {
					t.Errorf("after the second %s tend did not print %q", sigName(sig), cmd)
				}
			}
			s.afterFault(t, s.plain, dir, id)
		})
	}

	// A closed stdout must not stop the run: neither at once (head -1
	// exits after the first line) nor during the rollback after the
	// failing exec (the reader goes away once boom ran).
	boom := filepath.Join(s.l.Host(1).Root, gateDir, "boom")
	for _, c := range []struct{ name, reader string }{
		{"SIGPIPE at once", "head -1"},
		{"SIGPIPE during rollback", `{ head -1; while [ ! -e '` + boom + `' ]; do n=$(dd bs=4k count=1 status=none | wc -c); [ "$n" -gt 0 ] || break; done; } >/dev/null`},
	} {
		t.Run(c.name, func(t *testing.T) {
			s.fails.reset(t, s.l)
			dir := s.fails.writeConfig(t, s.l)
			p := startShell(t, `"$TEND" apply -C '`+dir+`' -y | `+c.reader)
			p.wait(applyTimeout)
			id := runID(t, dir, "")
			if id == "" {
				t.Errorf("no run was journaled: tend stopped when its stdout closed, before applying anything")
			} else if run := readRun(t, dir, id); run != nil && (run.Outcome == "running" || run.Outcome == "interrupted" || run.Outcome == "") {
				t.Errorf("journal: outcome %q with stdout closed, want the run finished (tend must complete its rollback)", run.Outcome)
			}
			if id != "" && c.name == "SIGPIPE during rollback" && !s.gate(1, "boom") {
				t.Errorf("the run never reached the failing exec")
			}
			s.afterFault(t, s.fails, dir, id)
		})
	}

	t.Run("host killed mid-apply", func(t *testing.T) {
		p, dir := s.apply(t, s.plain)
		if waitFor(p, applyTimeout, func() bool { return s.batchStarted(2, 2) }) {
			if err := s.l.Stop(2); err != nil {
				t.Fatal(err)
			}
		} else {
			t.Errorf("batch 2 never started on %s", s.l.Host(2).Name)
		}
		if code := p.wait(applyTimeout); code == 0 {
			t.Errorf("apply: exit 0 with a host killed, want 1")
		}
		if err := s.l.Restart(2); err != nil {
			t.Fatal(err)
		}
		id := runID(t, dir, p.out.String())
		s.afterFault(t, s.plain, dir, id)
	})

	t.Run("sshd killed and restarted", func(t *testing.T) {
		p, dir := s.apply(t, s.plain)
		if reach(t, s, p, inside) {
			// Every sshd of the host (listener and sessions) by PID, then
			// a fresh listener 0.3 s later.
			if _, err := s.l.Exec(1, `for p in $(pidof sshd); do kill -KILL "$p"; done; sleep 0.3; systemctl restart ssh`); err != nil {
				t.Fatal(err)
			}
		}
		p.wait(applyTimeout)
		id := runID(t, dir, p.out.String())
		s.reconnected(t, dir, id, 1)
		s.afterFault(t, s.plain, dir, id)
	})

	t.Run("session stalled", func(t *testing.T) {
		p, dir := s.apply(t, s.plain)
		if reach(t, s, p, inside) {
			pids, err := s.l.Exec(1, `ps -eo pid=,args= | awk '$2 == "sshd:" && $3 ~ /^root/ {print $1}'`)
			if err != nil || strings.TrimSpace(pids) == "" {
				t.Fatalf("no sshd session on %s: %v", s.l.Host(1).Name, err)
			}
			list := strings.Join(strings.Fields(pids), " ")
			cont := func() { _, _ = s.l.Exec(1, "kill -CONT "+list) }
			t.Cleanup(cont)
			if _, err := s.l.Exec(1, "kill -STOP "+list); err != nil {
				t.Fatal(err)
			}
			time.Sleep(stallFor)
			cont()
		}
		p.wait(applyTimeout)
		id := runID(t, dir, p.out.String())
		s.reconnected(t, dir, id, 1)
		s.afterFault(t, s.plain, dir, id)
	})

	for _, wait := range []bool{false, true} {
		name := "two concurrent applies"
		if wait {
			name += " with --lock-timeout"
		}
		t.Run(name, func(t *testing.T) { s.concurrent(t, wait) })
	}

	t.Run("journal directory full", func(t *testing.T) {
		s.plain.reset(t, s.l)
		dir := s.plain.writeConfig(t, s.l)
		runs := journal.Dir(dir)
		if err := os.MkdirAll(runs, 0o700); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64m,mode=0700", "tend-faults", runs).CombinedOutput(); err != nil {
			t.Fatalf("mount tmpfs: %v\n%s", err, out)
		}
		t.Cleanup(func() { _ = exec.Command("umount", "-l", runs).Run() })
		p := startTend(t, "apply", "-C", dir, "-y")
		filler := filepath.Join(runs, "filler")
		if reach(t, s, p, between) {
			fill(t, filler)
		}
		if code := p.wait(applyTimeout); code == 0 {
			t.Errorf("apply: exit 0 though its journal could not be written, want 1")
		}
		id := runID(t, dir, p.out.String())
		// What the host did must be in what was journaled before the
		// disk filled: nothing changed without an entry.
		snaps := s.plain.consistent(t, s.l, dir, id)
		if err := os.Remove(filler); err != nil {
			t.Fatal(err)
		}
		s.plain.rollback(t, s.l, dir, id, snaps)
	})

	t.Run("tend runs shows a killed run as interrupted", func(t *testing.T) {
		p, dir := s.apply(t, s.plain)
		reach(t, s, p, between)
		p.send(syscall.SIGKILL)
		p.wait(30 * time.Second)
		id := runID(t, dir, p.out.String())
		if id == "" {
			t.Fatal("no run was journaled")
		}
		out, _, code := runTend(t, "runs", "-C", dir)
		line := ""
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, id) {
				line = l
			}
		}
		if code != 0 || !strings.Contains(line, "interrupted") || strings.Contains(line, "running") {
			t.Errorf("tend runs (exit %d) lists the killed run as %q, want it interrupted", code, line)
		}
		if run := readRun(t, dir, id); run != nil && run.Outcome != "interrupted" {
			t.Errorf("journal.Read: outcome %q for the killed run, want interrupted", run.Outcome)
		}
		s.afterFault(t, s.plain, dir, id)
	})

	t.Run("tend resume completes a killed run", func(t *testing.T) {
		p, dir := s.apply(t, s.plain)
		reach(t, s, p, inside)
		p.send(syscall.SIGKILL)
		p.wait(30 * time.Second)
		id := runID(t, dir, p.out.String())
		if id == "" {
			t.Fatal("no run was journaled")
		}
		s.plain.consistent(t, s.l, dir, id)
		if _, _, code := runTend(t, "resume", id, "-C", dir, "-y"); code != 0 {
			t.Errorf("tend resume %s: exit %d, want 0", id, code)
		}
		s.plain.atState(t, s.l, true, "after tend resume "+id)
		run := readRun(t, dir, id)
		for _, h := range s.l.Hosts {
			es, _ := hostEntries(run, h.Name)
			n := 0
			for _, f := range s.plain.files {
				if e := es[f.addr()]; e == nil || e.Status != journal.Applied {
					n++
				}
			}
			if n > 0 {
				t.Errorf("journal of %s on %s after resume: %d file changes not applied", id, h.Name, n)
			}
		}
		if run != nil && run.Outcome != "success" {
			t.Errorf("journal: outcome %q after resume, want success", run.Outcome)
		}
	})
}

func sigName(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return sig.String()
}

// snapshots reads every host's managed paths.
func (s *suite) snapshots(t *testing.T, w *workload) map[string]map[string]fstate {
	m := map[string]map[string]fstate{}
	for _, h := range s.l.Hosts {
		m[h.Name] = w.snapshot(t, h)
	}
	return m
}

// reconnected checks that host i's run did not give up on its connection:
// the host ended applied (or, if the engine chose to, rolled back), never
// with changes it could not revert for want of a connection.
func (s *suite) reconnected(t *testing.T, dir, id string, i int) {
	t.Helper()
	run := readRun(t, dir, id)
	if run == nil {
		return
	}
	name := s.l.Host(i).Name
	for _, h := range run.Hosts {
		if h.Name != name {
			continue
		}
		if h.Outcome != "success" && h.Outcome != "rolled_back" {
			t.Errorf("%s: host outcome %q (%s), want success after reconnecting (or rolled_back)", name, h.Outcome, h.Error)
		}
		for _, e := range h.Changes {
			if e.Status == journal.RevertFailed {
				t.Errorf("%s: %s revert_failed (%s): tend gave up on the connection", name, e.Address, e.Error)
				break
			}
		}
	}
}

// fill writes to path until its file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	// What a page holds: fill the last partial page too.
	for {
		if _, err := f.Write(buf[:512]); err != nil {
			break
		}
	}
	t.Logf("journal file system full")
}

// concurrent runs two applies of conflicting configurations on the same
// hosts: the second starts while the first is changing host 1.
func (s *suite) concurrent(t *testing.T, wait bool) {
	a, b := s.plain, newWorkload(" (second configuration)", false)
	a.reset(t, s.l)
	dirA, dirB := a.writeConfig(t, s.l), b.writeConfig(t, s.l)
	pa := startTend(t, "apply", "-C", dirA, "-y")
	if !waitFor(pa, applyTimeout, func() bool { return s.batchStarted(1, 1) }) {
		t.Fatalf("the first apply never started changing %s", s.l.Host(1).Name)
	}
	flags := []string{"apply", "-C", dirB, "-y"}
	if wait {
		flags = append(flags, "--lock-timeout", "2m")
	}
	pb := startTend(t, flags...)
	codeB := pb.wait(2 * applyTimeout)
	aRunning := pa.running()
	codeA := pa.wait(applyTimeout)
	idA := runID(t, dirA, pa.out.String())
	idB := runID(t, dirB, pb.out.String())
	if codeA != 0 {
		t.Errorf("the first apply: exit %d, want 0 (it held the hosts)", codeA)
	}
	if !wait {
		if codeB == 0 {
			t.Errorf("the second apply: exit 0, want 1 (the hosts are locked)")
		}
		if !aRunning {
			t.Errorf("the second apply did not fail at once: it ended after the first")
		}
		out := pb.out.String() + pb.err.String()
		want := "locked by run " + idA
		if idA == "" || !strings.Contains(out, want) || !strings.Contains(out, currentUser()) {
			t.Errorf("the second apply does not say the hosts are %q by %s", want, currentUser())
		}
		if run := readRun(t, dirB, idB); run != nil {
			for _, h := range run.Hosts {
				for _, e := range h.Changes {
					if e.Status == journal.Applied {
						t.Errorf("the locked-out apply journaled %s on %s as applied", e.Address, h.Name)
						break
					}
				}
			}
		}
		a.consistent(t, s.l, dirA, idA)
		a.atState(t, s.l, true, "after the first apply, the second locked out")
		return
	}
	if codeB != 0 {
		t.Errorf("the second apply with --lock-timeout: exit %d, want 0 (it waits, then applies)", codeB)
	}
	b.atState(t, s.l, true, "after the second apply waited for the first")
	// Its pre-run state is the first configuration's: rolling it back
	// must give exactly that.
	if idB == "" {
		t.Fatal("the second apply journaled no run")
	}
	if _, _, code := runTend(t, "rollback", idB, "-C", dirB, "-y"); code != 0 {
		t.Errorf("tend rollback %s: exit %d, want 0", idB, code)
	}
	a.atState(t, s.l, true, "after rolling back the second apply")
}
