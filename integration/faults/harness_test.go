package faults

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/integration/lab"
	"github.com/tendhq/tend/journal"
)

// Statuses the run engine adds to the journal's.
const (
	statusUnknown    = journal.Unknown
	statusNotApplied = journal.NotApplied
)

// Sizes of the workload: newPerBatch new files of fileSize bytes in each
// batch's directory, so the batch takes a noticeable time on the host.
const (
	batches     = 3
	newPerBatch = 12
	fileSize    = 3 << 10
)

// Where the workload lives on each host.
const (
	srvDir  = "/srv/tendfault"
	etcDir  = "/etc/tendfault"
	gateDir = "/var/tmp/tendfault"
)

// --- the tend binary ---

var (
	buildOnce sync.Once
	tendBin   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if tendBin != "" {
		os.RemoveAll(filepath.Dir(tendBin))
	}
	os.Exit(code)
}

// binary builds ./cmd/tend once per test process.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		var dir string
		if dir, buildErr = os.MkdirTemp("", "tend-faults-"); buildErr != nil {
			return
		}
		tendBin = filepath.Join(dir, "tend")
		root, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			buildErr = fmt.Errorf("go env GOMOD: %v", err)
			return
		}
		cmd := exec.Command("go", "build", "-o", tendBin, "./cmd/tend")
		cmd.Dir = filepath.Dir(strings.TrimSpace(string(root)))
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/tend: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return tendBin
}

// --- running tend ---

// syncBuffer is a bytes.Buffer safe for a writer goroutine and readers.
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

// proc is a tend process (or a shell pipeline running tend) started by
// the test, in a process group of its own so that what it leaves behind
// can be killed at the end of the subtest.
type proc struct {
	t      *testing.T
	desc   string
	cmd    *exec.Cmd
	out    syncBuffer
	err    syncBuffer
	done   chan struct{}
	code   int
	signal syscall.Signal // the signal that ended it, if any
}

// startTend starts the tend binary with args.
func startTend(t *testing.T, args ...string) *proc {
	t.Helper()
	return startCmd(t, "tend "+strings.Join(args, " "), exec.Command(binary(t), args...))
}

// startShell starts sh -c script with $TEND naming the binary.
func startShell(t *testing.T, script string) *proc {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Env = append(os.Environ(), "TEND="+binary(t))
	return startCmd(t, "sh -c "+script, cmd)
}

func startCmd(t *testing.T, desc string, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{t: t, desc: desc, cmd: cmd, done: make(chan struct{})}
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = &p.out, &p.err
	cmd.Env = append(cmd.Environ(), "NO_COLOR=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", desc, err)
	}
	pgid := cmd.Process.Pid
	go func() {
		err := cmd.Wait()
		p.code = cmd.ProcessState.ExitCode()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			p.signal = ws.Signal()
		}
		_ = err
		close(p.done)
	}()
	t.Cleanup(func() {
		// Everything tend started (its ssh clients, a pipeline's head) is
		// in the group this test created for it.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
		}
	})
	return p
}

// running reports whether the process has not exited yet.
func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// send delivers sig to the tend process only (not its group), as kill(1)
// by an operator would.
func (p *proc) send(sig syscall.Signal) {
	p.t.Helper()
	if !p.running() {
		p.t.Logf("%s already exited before %v", p.desc, sig)
		return
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Logf("signal %v: %v", sig, err)
	}
}

// wait waits for the process to exit and returns its exit code (-1 when a
// signal ended it); it fails the test if it takes longer than d.
func (p *proc) wait(d time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		p.t.Errorf("%s still running after %s; killing it", p.desc, d)
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
	how := fmt.Sprintf("exit %d", p.code)
	if p.signal != 0 {
		how = "killed by signal " + p.signal.String()
	}
	p.t.Logf("%s → %s\n--- stdout\n%s--- stderr\n%s", p.desc, how, tail(p.out.String(), 60), tail(p.err.String(), 30))
	return p.code
}

// tail keeps the last n lines of s.
func tail(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) <= n {
		return s
	}
	return fmt.Sprintf("[... %d lines]\n", len(lines)-n) + strings.Join(lines[len(lines)-n:], "")
}

// runTend runs tend to completion.
func runTend(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	p := startTend(t, args...)
	code = p.wait(3 * time.Minute)
	return p.out.String(), p.err.String(), code
}

var runIDRE = regexp.MustCompile(`Applying \(run ([^)\s]+)\)`)

// runID is the run a tend apply announced, or else the newest run
// journaled in dir (each subtest has a directory of its own), or "".
func runID(t *testing.T, dir, stdout string) string {
	t.Helper()
	if m := runIDRE.FindStringSubmatch(stdout); m != nil {
		return m[1]
	}
	runs, err := journal.List(dir)
	if err != nil {
		t.Logf("journal.List: %v", err)
	}
	if len(runs) == 0 {
		return ""
	}
	return runs[len(runs)-1].ID
}

func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return os.Getenv("USER")
}

// --- polling the host ---

// waitFor polls cond every 2 ms until it holds, p exits, or d passes; it
// reports whether cond held.
func waitFor(p *proc, d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		if p != nil && !p.running() {
			return cond()
		}
		time.Sleep(2 * time.Millisecond)
	}
	return false
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// entries counts the names in dir.
func entries(dir string) int {
	f, err := os.Open(dir)
	if err != nil {
		return -1
	}
	defer f.Close()
	names, _ := f.Readdirnames(-1)
	return len(names)
}

// --- the workload ---

// fileSpec is one managed file: where, what the configuration declares,
// and its state before the run.
type fileSpec struct {
	name    string // resource name
	path    string
	batch   int
	content string
	// Declared attributes; "" leaves the host's (mode and owner are
	// then kept from the pre-run file).
	mode, owner, group string
	// pre is the file before the run (nil: absent); preContent its bytes.
	pre        *fstate
	preContent string
}

func (f *fileSpec) addr() string { return "file." + f.name }

// workload is the configuration every host gets, and how to lay down its
// pre-run state.
type workload struct {
	files []*fileSpec
	// fail ends the run with a failing exec after batch 3.
	fail bool
	// tag makes a second, conflicting configuration's contents differ.
	tag string
}

func newWorkload(tag string, fail bool) *workload {
	w := &workload{fail: fail, tag: tag}
	filler := strings.Repeat("0123456789abcdef", fileSize/16)
	for b := 1; b <= batches; b++ {
		dir := fmt.Sprintf("%s/b%d", srvDir, b)
		// Pre-existing files the run rewrites: one set-uid file getting a
		// plain mode, one owned by nobody getting root's, one alone in
		// its directory (not staged) keeping its mode and numeric owner
		// because the configuration does not declare them. (A set-gid
		// mode kept that way is checked on its own, in "set-id bits
		// kept": tend loses it today, and that is no fault's doing.)
		w.files = append(w.files,
			&fileSpec{name: fmt.Sprintf("b%d_old_suid", b), path: dir + "/old-suid", batch: b,
				mode: "0644", owner: "root", group: "root",
				pre: &fstate{exists: true, mode: 0o4755}, preContent: fmt.Sprintf("old set-uid file of batch %d\n", b)},
			&fileSpec{name: fmt.Sprintf("b%d_old_nobody", b), path: dir + "/old-nobody", batch: b,
				mode: "0640", owner: "root", group: "root",
				pre: &fstate{exists: true, mode: 0o600, uid: 65534, gid: 65534}, preContent: fmt.Sprintf("old file of nobody, batch %d\n", b)},
			&fileSpec{name: fmt.Sprintf("b%d_old_alone", b), path: fmt.Sprintf("%s/b%d/alone.conf", etcDir, b), batch: b,
				pre: &fstate{exists: true, mode: 0o751, uid: 4321, gid: 4321}, preContent: fmt.Sprintf("old lone file of batch %d\n", b)},
		)
		for i := 0; i < newPerBatch; i++ {
			w.files = append(w.files, &fileSpec{name: fmt.Sprintf("b%d_new_%03d", b, i), path: fmt.Sprintf("%s/new-%03d.conf", dir, i), batch: b,
				mode: "0644", owner: "root", group: "root"})
		}
	}
	for _, f := range w.files {
		var sb strings.Builder
		fmt.Fprintf(&sb, "# %s %s%s\n", f.path, f.name, tag)
		if strings.Contains(f.name, "_new_") {
			for i := 0; i < len(filler); i += 64 {
				fmt.Fprintf(&sb, "%s %s\n", f.name, filler[i:i+64])
			}
		}
		f.content = sb.String()
		if f.pre != nil {
			f.pre.sha = sha(f.preContent)
		}
	}
	return w
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// dirs are the managed directories (they exist before the run and hold
// only managed files).
func (w *workload) dirs() []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range w.files {
		if d := filepath.Dir(f.path); !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// config is the HCL of the workload.
func (w *workload) config() string {
	var sb strings.Builder
	deps := map[int][]string{}
	for _, f := range w.files {
		deps[f.batch] = append(deps[f.batch], f.addr())
	}
	for _, f := range w.files {
		fmt.Fprintf(&sb, "file %q {\n  path    = %q\n  content = %q\n", f.name, f.path, f.content)
		for _, a := range [][2]string{{"mode", f.mode}, {"owner", f.owner}, {"group", f.group}} {
			if a[1] != "" {
				fmt.Fprintf(&sb, "  %s = %q\n", a[0], a[1])
			}
		}
		if f.batch > 1 {
			fmt.Fprintf(&sb, "  depends_on = [exec.gate%d]\n", f.batch-1)
		}
		sb.WriteString("}\n")
	}
	for g := 1; g < batches; g++ {
		fmt.Fprintf(&sb, "exec \"gate%d\" {\n  command    = \"touch %s/gate%d && sleep 1\"\n  creates    = \"%s/gate%d\"\n  depends_on = [%s]\n}\n",
			g, gateDir, g, gateDir, g, strings.Join(deps[g], ", "))
	}
	if w.fail {
		fmt.Fprintf(&sb, "exec \"boom\" {\n  command    = \"touch %s/boom; echo boom >&2; exit 3\"\n  creates    = \"%s/never\"\n  depends_on = [%s]\n}\n",
			gateDir, gateDir, strings.Join(deps[batches], ", "))
	}
	return sb.String()
}

// writeConfig writes the workload and the lab's inventory to a new
// configuration directory.
func (w *workload) writeConfig(t *testing.T, l *lab.Lab) string {
	t.Helper()
	dir := t.TempDir()
	if err := l.WriteInventory(filepath.Join(dir, "inventory.hcl")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(w.config()), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// reset lays down the pre-run state on every host: the managed
// directories with only the pre-existing files, and no gate markers.
func (w *workload) reset(t *testing.T, l *lab.Lab) {
	t.Helper()
	for _, h := range l.Hosts {
		for _, d := range []string{srvDir, etcDir, gateDir} {
			if err := os.RemoveAll(filepath.Join(h.Root, d)); err != nil {
				t.Fatal(err)
			}
		}
		for _, d := range w.dirs() {
			if err := os.MkdirAll(filepath.Join(h.Root, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.MkdirAll(filepath.Join(h.Root, gateDir), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range w.files {
			if f.pre == nil {
				continue
			}
			p := filepath.Join(h.Root, f.path)
			if err := os.WriteFile(p, []byte(f.preContent), 0o600); err != nil {
				t.Fatal(err)
			}
			// chown before chmod: chown clears set-id bits.
			if err := os.Chown(p, int(f.pre.uid), int(f.pre.gid)); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, goMode(f.pre.mode)); err != nil {
				t.Fatal(err)
			}
		}
		if got := w.snapshot(t, h); !w.allAt(got, false) {
			t.Fatalf("%s: the pre-run state could not be laid down", h.Name)
		}
	}
}

// goMode converts permission and set-id bits to os.FileMode.
func goMode(m uint32) os.FileMode {
	fm := os.FileMode(m & 0o777)
	if m&syscall.S_ISUID != 0 {
		fm |= os.ModeSetuid
	}
	if m&syscall.S_ISGID != 0 {
		fm |= os.ModeSetgid
	}
	if m&syscall.S_ISVTX != 0 {
		fm |= os.ModeSticky
	}
	return fm
}

// --- host state ---

// fstate is one path's state on a host.
type fstate struct {
	exists   bool
	regular  bool
	sha      string
	mode     uint32 // permission and set-id bits
	uid, gid uint32
}

func (s fstate) String() string {
	if !s.exists {
		return "absent"
	}
	kind := ""
	if !s.regular {
		kind = "not a regular file, "
	}
	return fmt.Sprintf("%ssha256 %.12s mode %04o owner %d:%d", kind, s.sha, s.mode, s.uid, s.gid)
}

func (s fstate) equal(o fstate) bool {
	if !s.exists || !o.exists {
		return s.exists == o.exists
	}
	return s == o
}

// readState reads path on host h directly from its root file system.
func readState(h *lab.Host, path string) (fstate, error) {
	p := filepath.Join(h.Root, path)
	fi, err := os.Lstat(p)
	if os.IsNotExist(err) {
		return fstate{}, nil
	}
	if err != nil {
		return fstate{}, err
	}
	st := fi.Sys().(*syscall.Stat_t)
	s := fstate{exists: true, regular: fi.Mode().IsRegular(), mode: st.Mode & 0o7777, uid: st.Uid, gid: st.Gid}
	if s.regular {
		b, err := os.ReadFile(p)
		if err != nil {
			return fstate{}, err
		}
		s.sha = sha(string(b))
	}
	return s, nil
}

// preState is f's state before the run.
func (f *fileSpec) preState() fstate {
	if f.pre == nil {
		return fstate{}
	}
	s := *f.pre
	s.regular = true
	return s
}

// newState is the state the configuration declares for f.
func (f *fileSpec) newState() fstate {
	s := fstate{exists: true, regular: true, sha: sha(f.content), mode: 0o644}
	if f.pre != nil {
		s.mode, s.uid, s.gid = f.pre.mode, f.pre.uid, f.pre.gid
	}
	if f.mode != "" {
		var m uint32
		fmt.Sscanf(f.mode, "%o", &m)
		s.mode = m
	}
	// Only root is declared by name.
	if f.owner == "root" {
		s.uid = 0
	}
	if f.group == "root" {
		s.gid = 0
	}
	return s
}

// snapshot reads every managed path of the workload on h.
func (w *workload) snapshot(t *testing.T, h *lab.Host) map[string]fstate {
	t.Helper()
	m := make(map[string]fstate, len(w.files))
	for _, f := range w.files {
		s, err := readState(h, f.path)
		if err != nil {
			t.Errorf("%s: reading %s: %v", h.Name, f.path, err)
		}
		m[f.path] = s
	}
	return m
}

// allAt reports whether every path of snap is at its new (or pre-run)
// state.
func (w *workload) allAt(snap map[string]fstate, isNew bool) bool {
	for _, f := range w.files {
		want := f.preState()
		if isNew {
			want = f.newState()
		}
		if !snap[f.path].equal(want) {
			return false
		}
	}
	return true
}

// where classifies a path's state.
type where int

const (
	atOther where = iota
	atPre
	atNew
)

func (w where) String() string {
	return [...]string{"neither pre-run nor new state", "pre-run state", "new state"}[w]
}

func (f *fileSpec) classify(s fstate) where {
	switch {
	case s.equal(f.newState()):
		return atNew
	case s.equal(f.preState()):
		return atPre
	}
	return atOther
}

// --- the invariant ---

// hostEntries maps each file address of host h in run to its entry.
func hostEntries(run *journal.Run, host string) (map[string]*journal.Entry, bool) {
	if run == nil {
		return nil, false
	}
	for _, h := range run.Hosts {
		if h.Name == host {
			m := map[string]*journal.Entry{}
			for _, e := range h.Changes {
				m[e.Address] = e
			}
			return m, true
		}
	}
	return nil, false
}

// readRun reads run id from dir's journal; "" or an error report nil.
func readRun(t *testing.T, dir, id string) *journal.Run {
	t.Helper()
	if id == "" {
		return nil
	}
	run, err := journal.Read(dir, id)
	if err != nil {
		t.Errorf("journal.Read(%s): %v", id, err)
		return nil
	}
	return run
}

// consistent checks the invariant once tend has exited: every managed path
// on every host is at its pre-run or its new state, and run's journal
// (id "" when tend never started one) says which. It returns the hosts'
// states, for checkRollback and stillness checks.
func (w *workload) consistent(t *testing.T, l *lab.Lab, dir, id string) map[string]map[string]fstate {
	t.Helper()
	run := readRun(t, dir, id)
	if run != nil && (run.Outcome == "running" || run.Outcome == "") {
		t.Errorf("journal: run %s has outcome %q after tend exited; want a final outcome or \"interrupted\"", id, run.Outcome)
	}
	snaps := map[string]map[string]fstate{}
	for _, h := range l.Hosts {
		snap := w.snapshot(t, h)
		snaps[h.Name] = snap
		es, hostJournaled := hostEntries(run, h.Name)
		var bad []string
		report := func(format string, args ...any) {
			if len(bad) < 8 {
				bad = append(bad, fmt.Sprintf(format, args...))
			} else if len(bad) == 8 {
				bad = append(bad, "...")
			}
		}
		counts := map[string]int{}
		for _, f := range w.files {
			s := snap[f.path]
			at := f.classify(s)
			var e *journal.Entry
			if es != nil {
				e = es[f.addr()]
			}
			status := journal.Status("no entry")
			if e != nil {
				status = e.Status
			}
			counts[fmt.Sprintf("%s/%s", status, shortWhere(at))]++
			if at == atOther {
				report("%s is %s: %s (pre-run %s, new %s), journal %s", f.path, at, s, f.preState(), f.newState(), status)
				continue
			}
			switch {
			case e == nil:
				if at == atNew {
					why := "run " + id + " has no entry for it"
					if id == "" {
						why = "no run was journaled"
					} else if !hostJournaled {
						why = "run " + id + " has no record of this host"
					}
					report("%s was changed on the host without a journal entry (%s)", f.path, why)
				}
			case e.Status == journal.Applied || e.Status == journal.RevertFailed || e.Status == journal.NotReverted:
				if at != atNew {
					report("%s: the journal says %s but the path is at its %s", f.path, e.Status, at)
				}
			case e.Status == journal.Pending || e.Status == journal.Skipped || e.Status == journal.Failed ||
				e.Status == journal.Reverted || e.Status == statusNotApplied:
				if at != atPre {
					report("%s: the journal says %s but the path is at its %s", f.path, e.Status, at)
				}
			case e.Status == statusUnknown:
			default:
				// applying, reverting: in flight, yet tend is gone.
				report("%s: the journal leaves it %q after tend exited (want unknown, or what was done); path at its %s", f.path, e.Status, at)
			}
		}
		t.Logf("%s: journal status/host state counts: %v", h.Name, counts)
		if len(bad) > 0 {
			t.Errorf("invariant broken on %s after run %s:\n  %s", h.Name, id, strings.Join(bad, "\n  "))
		}
	}
	return snaps
}

func shortWhere(w where) string { return [...]string{"other", "pre", "new"}[w] }

// still checks that no host changed since snaps: nothing of the run goes
// on after tend has gone.
func (w *workload) still(t *testing.T, l *lab.Lab, snaps map[string]map[string]fstate) {
	t.Helper()
	for _, h := range l.Hosts {
		now := w.snapshot(t, h)
		var moved []string
		for _, f := range w.files {
			if !now[f.path].equal(snaps[h.Name][f.path]) {
				moved = append(moved, f.path)
			}
		}
		if len(moved) > 0 {
			sort.Strings(moved)
			t.Errorf("%s kept changing after tend exited: %d paths, e.g. %s", h.Name, len(moved), moved[0])
		}
	}
}

// atState checks that every managed path on every host is at its new (or
// pre-run) state and that the managed directories hold nothing else.
func (w *workload) atState(t *testing.T, l *lab.Lab, isNew bool, context string) {
	t.Helper()
	want := "pre-run"
	if isNew {
		want = "new"
	}
	managed := map[string]bool{}
	for _, f := range w.files {
		managed[f.path] = true
	}
	for _, h := range l.Hosts {
		snap := w.snapshot(t, h)
		var bad []string
		n := 0
		for _, f := range w.files {
			target := f.preState()
			if isNew {
				target = f.newState()
			}
			if s := snap[f.path]; !s.equal(target) {
				n++
				if len(bad) < 6 {
					bad = append(bad, fmt.Sprintf("%s: %s (its %s), want %s", f.path, s, f.classify(s), target))
				}
			}
		}
		for _, d := range w.dirs() {
			names, _ := os.ReadDir(filepath.Join(h.Root, d))
			for _, de := range names {
				if p := d + "/" + de.Name(); !managed[p] {
					n++
					bad = append(bad, "left behind: "+p)
				}
			}
		}
		if n > 0 {
			t.Errorf("%s: %s: %d paths not at their %s state:\n  %s", h.Name, context, n, want, strings.Join(bad, "\n  "))
		}
	}
}

// rollback runs `tend rollback id -y` and checks that it restores every
// path to its pre-run state, exits 0, and marks reverted only the entries
// whose path it had to restore (before: the hosts' states before it).
func (w *workload) rollback(t *testing.T, l *lab.Lab, dir, id string, before map[string]map[string]fstate) {
	t.Helper()
	if id == "" {
		w.atState(t, l, false, "no run was journaled")
		return
	}
	prior := map[string]journal.Status{}
	if run, err := journal.Read(dir, id); err == nil {
		for _, h := range run.Hosts {
			for _, e := range h.Changes {
				prior[h.Name+" "+e.Address] = e.Status
			}
		}
	}
	_, _, code := runTend(t, "rollback", id, "-C", dir, "-y")
	if code != 0 {
		t.Errorf("tend rollback %s: exit %d, want 0", id, code)
	}
	w.atState(t, l, false, "after tend rollback "+id)
	run := readRun(t, dir, id)
	for _, h := range l.Hosts {
		es, _ := hostEntries(run, h.Name)
		var bad []string
		for _, f := range w.files {
			e := es[f.addr()]
			if e == nil || len(bad) > 6 {
				continue
			}
			wasNew := before != nil && f.classify(before[h.Name][f.path]) == atNew
			switch {
			case e.Status == journal.Applied || e.Status == statusUnknown || e.Status == journal.Applying ||
				e.Status == journal.Reverting || e.Status == journal.RevertFailed:
				bad = append(bad, fmt.Sprintf("%s is still %s after rollback", f.addr(), e.Status))
			case e.Status == journal.Reverted && prior[h.Name+" "+f.addr()] != journal.Reverted && before != nil && !wasNew:
				bad = append(bad, fmt.Sprintf("%s marked reverted by the rollback, but the path was at its %s", f.addr(), f.classify(before[h.Name][f.path])))
			case e.Status != journal.Reverted && wasNew:
				bad = append(bad, fmt.Sprintf("%s was restored but is marked %s", f.addr(), e.Status))
			}
		}
		if len(bad) > 0 {
			t.Errorf("journal of %s on %s after rollback:\n  %s", id, h.Name, strings.Join(bad, "\n  "))
		}
	}
}
