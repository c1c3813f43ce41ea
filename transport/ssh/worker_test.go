package ssh

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tendhq/tend/transport"
	"github.com/tendhq/tend/transport/transporttest"
)

// The worker tests: the conformance suite without workers, then what
// workers add (bounded sessions, reuse, isolation of stdin, output and
// cancellation between the scripts of one worker, a dying worker), then
// the worker program itself, run locally with each shell found.

func TestConformanceSessionPerRun(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	s := serverFor(t, c, sshdConfig{})
	opts := c.options()
	opts.SessionPerRun = true
	transporttest.Run(t, func(t *testing.T) transport.Transport { return c.dial(t, c.host(s), opts) })
}

func TestWorkersBoundedAndReused(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	s := serverFor(t, c, sshdConfig{})
	tr := c.dial(t, c.host(s), c.options())
	const n = 12
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := transport.Output(context.Background(), tr, transport.Command{Script: "sleep 0.3; echo " + strconv.Itoa(i)})
			if err == nil && string(out) != strconv.Itoa(i)+"\n" {
				err = fmt.Errorf("run %d: %q", i, out)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := tr.Stats()
	if max := int64(defaultMaxSessions / 2); st.WorkerSessions < 1 || st.WorkerSessions > max || st.Sessions != st.WorkerSessions {
		t.Fatalf("%d concurrent Runs: %+v, want 1 to %d worker sessions and no other", n, st, max)
	}
	for i := 0; i < 5; i++ {
		runOK(t, tr, "true")
	}
	if got := tr.Stats(); got.Sessions != st.Sessions || got.Scripts != n+5 {
		t.Errorf("sequential Runs opened sessions: before %+v, after %+v", st, got)
	}
}

func TestWorkerStdinAndOutputIsolated(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	s := serverFor(t, c, sshdConfig{})
	tr := c.dial(t, c.host(s), c.options())
	ctx := context.Background()
	run := func(script string, stdin io.Reader) *transport.Result {
		t.Helper()
		res, err := tr.Run(ctx, transport.Command{Script: script, Stdin: stdin})
		if err != nil {
			t.Fatalf("Run(%q): %v", script, err)
		}
		return res
	}
	// A script reading part of its stdin leaves nothing for the next one.
	if res := run("head -c 2", strings.NewReader("abcdef")); string(res.Stdout) != "ab" {
		t.Fatalf("head -c 2: %q", res.Stdout)
	}
	if res := run("cat; echo end", nil); string(res.Stdout) != "end\n" {
		t.Fatalf("cat after a partly read stdin: %q", res.Stdout)
	}
	// Stdin that looks like a frame header is data.
	if res := run("cat", strings.NewReader("0123456789abcdef 5 0\nhello")); string(res.Stdout) != "0123456789abcdef 5 0\nhello" {
		t.Fatalf("frame-like stdin: %q", res.Stdout)
	}
	// A process the script leaves behind cannot write into a later
	// script's output.
	res := run("(sleep 0.5; echo late; echo late >&2) >/dev/null 2>&1 </dev/null & (sleep 0.5; echo late2; echo late2 >&2) & echo now", nil)
	if string(res.Stdout) != "now\n" {
		t.Fatalf("stdout %q", res.Stdout)
	}
	time.Sleep(time.Second)
	res = run("echo next", nil)
	if string(res.Stdout) != "next\n" || len(res.Stderr) != 0 {
		t.Fatalf("the next script's output: stdout %q stderr %q", res.Stdout, res.Stderr)
	}
	// A script's exit does not end the worker; its variables do not leak.
	run("_w_d=/nonexistent; x=1; exit 3", nil)
	if res := run(`echo "${x-unset} $$"; cd /; pwd`, nil); !strings.HasPrefix(string(res.Stdout), "unset ") {
		t.Fatalf("state leaked between scripts: %q", res.Stdout)
	}
	if res := run("pwd", nil); string(res.Stdout) == "/\n" {
		t.Errorf("a script's cd changed the next script's directory")
	}
	// A signal's status, as with a session of its own.
	if res := run("kill -TERM $$", nil); res.ExitStatus != 143 {
		t.Errorf("killed by TERM: status %d, want 143", res.ExitStatus)
	}
	if st := tr.Stats(); st.Sessions != 1 {
		t.Errorf("%+v, want every script on one worker", st)
	}
}

// TestOneShot: a OneShot Run takes a session of its own while no worker
// is open (a plan's probe costs the host no worker), and goes through
// the worker once one is.
func TestOneShot(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	s := serverFor(t, c, sshdConfig{})
	tr := c.dial(t, c.host(s), c.options())
	ctx := context.Background()
	oneShot := func(want Stats) {
		t.Helper()
		res, err := tr.Run(ctx, transport.Command{Script: "cat; echo out; echo err >&2; exit 3", Stdin: strings.NewReader("in\n"), OneShot: true})
		if err != nil {
			t.Fatal(err)
		}
		if string(res.Stdout) != "in\nout\n" || string(res.Stderr) != "err\n" || res.ExitStatus != 3 {
			t.Errorf("OneShot: %q %q %d", res.Stdout, res.Stderr, res.ExitStatus)
		}
		if st := tr.Stats(); st != want {
			t.Errorf("%+v, want %+v", st, want)
		}
	}
	oneShot(Stats{Connections: 1, Sessions: 1, Scripts: 1})
	oneShot(Stats{Connections: 1, Sessions: 2, Scripts: 2})
	runOK(t, tr, "true")
	oneShot(Stats{Connections: 1, Sessions: 3, WorkerSessions: 1, Scripts: 4})
}

// noLen is a reader that does not say how long it is.
type noLen struct{ r io.Reader }

func (n noLen) Read(p []byte) (int, error) { return n.r.Read(p) }

func TestWorkerStdinLimits(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	s := serverFor(t, c, sshdConfig{})
	tr := c.dial(t, c.host(s), c.options())
	runOK(t, tr, "true")
	before := tr.Stats()
	// Streamed stdin (no length) and stdin over the limit each take a
	// session of their own; both arrive whole.
	for name, in := range map[string]io.Reader{
		"streamed":       noLen{strings.NewReader("streamed data")},
		"over the limit": bytes.NewReader(bytes.Repeat([]byte("x"), maxWorkerStdin+1)),
	} {
		res, err := tr.Run(context.Background(), transport.Command{Script: "wc -c | tr -d ' '", Stdin: in})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := "13\n"
		if name == "over the limit" {
			want = strconv.Itoa(maxWorkerStdin+1) + "\n"
		}
		if string(res.Stdout) != want {
			t.Errorf("%s: %q, want %q", name, res.Stdout, want)
		}
	}
	// At the limit, through the worker.
	res, err := tr.Run(context.Background(), transport.Command{Script: "wc -c | tr -d ' '", Stdin: bytes.NewReader(bytes.Repeat([]byte("y"), maxWorkerStdin))})
	if err != nil || string(res.Stdout) != strconv.Itoa(maxWorkerStdin)+"\n" {
		t.Fatalf("stdin at the limit: %v %+v", err, res)
	}
	after := tr.Stats()
	if after.Sessions-before.Sessions != 2 || after.WorkerSessions != before.WorkerSessions {
		t.Errorf("before %+v, after %+v: want exactly 2 more sessions, no more workers", before, after)
	}
}

func TestWorkerCancelKillsOnlyItsScript(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	s := serverFor(t, c, sshdConfig{})
	tr := c.dial(t, c.host(s), c.options())
	dir := strings.TrimSpace(runOK(t, tr, "mktemp -d"))
	defer runOK(t, tr, "rm -rf "+dir)

	// A neighbour on another worker, started first and still running
	// when the other script is cancelled.
	neighbour := make(chan string, 1)
	go func() {
		out, err := transport.Output(context.Background(), tr, transport.Command{Script: "sleep 2; echo neighbour"})
		if err != nil {
			neighbour <- err.Error()
			return
		}
		neighbour <- string(out)
	}()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for i := 0; i < 100; i++ {
			if res, err := tr.Run(context.Background(), transport.Command{Script: "test -s " + dir + "/pid"}); err == nil && res.ExitStatus == 0 {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		cancel()
	}()
	start := time.Now()
	_, err := tr.Run(ctx, transport.Command{Script: "sleep 41 & echo $! > " + dir + "/pid; wait"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Run: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("cancel took %s", d)
	}
	if got := <-neighbour; got != "neighbour\n" {
		t.Errorf("the neighbouring script: %q", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for runOK(t, tr, "kill -0 $(cat "+dir+"/pid) 2>/dev/null && echo alive || echo gone") != "gone\n" {
		if time.Now().After(deadline) {
			t.Fatal("the cancelled script's child still runs")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The cancelled script's worker is back in the pool: more Runs, even
	// concurrent ones, open no new worker.
	st := tr.Stats()
	var wg sync.WaitGroup
	for i := 0; i < int(st.WorkerSessions); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runOK(t, tr, "sleep 0.2")
		}()
	}
	wg.Wait()
	if got := tr.Stats(); got.WorkerSessions != st.WorkerSessions {
		t.Errorf("workers: %d before, %d after; the cancelled one was not reused", st.WorkerSessions, got.WorkerSessions)
	}
}

func TestWorkerDiesMidRun(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	s := serverFor(t, c, sshdConfig{})
	tr := c.dial(t, c.host(s), c.options())
	runOK(t, tr, "true")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	// The script kills the worker shell that runs it.
	_, err := tr.Run(ctx, transport.Command{Script: "kill -KILL $PPID; sleep 3"})
	if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "worker session") {
		t.Fatalf("Run whose worker died: %v, want a worker error", err)
	}
	t.Logf("after %s: %v", time.Since(start).Round(time.Millisecond), err)
	// The next Run gets a new worker.
	if got := runOK(t, tr, "echo again"); got != "again\n" {
		t.Fatalf("after the worker died: %q", got)
	}
	if st := tr.Stats(); st.WorkerSessions != 2 {
		t.Errorf("%+v, want a second worker", st)
	}
}

func TestBecomeWorkerOnce(t *testing.T) {
	t.Parallel()
	c, s := startBecomeServer(t)
	tr := c.dial(t, becomeHost(c, s, sudoUser, sudoPassword), c.options())
	for i := 0; i < 3; i++ {
		res, err := tr.Run(context.Background(), transport.Command{Script: "id -u; cat", Stdin: strings.NewReader("in" + strconv.Itoa(i))})
		if err != nil || string(res.Stdout) != "0\nin"+strconv.Itoa(i) || len(res.Stderr) != 0 {
			t.Fatalf("run %d under sudo: %+v %v", i, res, err)
		}
	}
	// sudo ran once: one session, whose sudo started the worker.
	if st := tr.Stats(); st.Sessions != 1 || st.WorkerSessions != 1 {
		t.Errorf("%+v, want one session", st)
	}
}

// workerFrame is one script for runWorkerLocally.
type workerFrame struct {
	script string
	stdin  []byte
}

type workerAnswer struct {
	status       int
	stdout, errs string
}

// runWorkerLocally runs the worker program under shell, the way sshd would
// (through the bootstrap), with PATH set to path, feeds it frames and
// parses its answers. Its stdin stays open until the answers are in, as a
// controller's does: a worker whose stdin ends stops.
func runWorkerLocally(t *testing.T, shell, path string, frames []workerFrame) (greeting string, answers []workerAnswer) {
	t.Helper()
	l, err := newLaunch(workerProgram, nil)
	if err != nil {
		t.Fatal(err)
	}
	in := append([]byte(nil), l.prelude...)
	for i, f := range frames {
		in = fmt.Appendf(in, "%016x %d %d\n", i, len(f.script), len(f.stdin))
		in = append(append(in, f.script...), f.stdin...)
	}
	cmd := exec.Command(shell, "-c", l.command)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Env = []string{"PATH=" + path, "HOME=" + t.TempDir(), "TMPDIR=" + t.TempDir()}
	var errb syncBuffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		io.Copy(io.Discard, stdout)
		cmd.Wait()
	}()
	go stdin.Write(in)
	out := bufio.NewReader(stdout)
	var pending []byte
	for !bytes.HasSuffix(pending, []byte(l.marker)) {
		b, err := out.ReadByte()
		if err != nil {
			t.Fatalf("no marker in %q: %v (stderr %s)", pending, err, errb.String())
		}
		pending = append(pending, b)
	}
	r := out
	if _, err := r.ReadString(':'); err != nil {
		t.Fatal(err)
	}
	greeting, _ = r.ReadString('\n')
	greeting = strings.TrimSuffix(greeting, "\n")
	for i := range frames {
		pid, err := r.ReadString('\n')
		if err != nil {
			if i == 0 && greeting != "tend-worker ok" {
				return greeting, nil
			}
			t.Fatalf("frame %d: no pid line: %v (stderr %s)", i, err, errb.String())
		}
		if !strings.HasPrefix(pid, fmt.Sprintf("%016x pid ", i)) {
			t.Fatalf("frame %d: %q", i, pid)
		}
		line, _ := r.ReadString('\n')
		var a workerAnswer
		id := fmt.Sprintf("%016x", i)
		if _, err := fmt.Sscanf(line, id+" exit %d\n", &a.status); err != nil {
			t.Fatalf("frame %d: answer %q: %v", i, line, err)
		}
		o, err := readUntil(r, "\x1e"+id+"-o\x1e")
		if err != nil {
			t.Fatalf("frame %d: stdout: %v", i, err)
		}
		e, err := readUntil(r, "\x1e"+id+"-e\x1e\n")
		if err != nil {
			t.Fatalf("frame %d: stderr: %v", i, err)
		}
		a.stdout, a.errs = string(o), string(e)
		answers = append(answers, a)
	}
	stdin.Close()
	if rest, _ := io.ReadAll(r); len(rest) > 0 {
		t.Errorf("trailing output %q", rest)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("%s: %v: %s", shell, err, errb.String())
	}
	return greeting, answers
}

// toolDir is a PATH directory with the named commands only, linked to the
// machine's, plus extra shell scripts.
func toolDir(t *testing.T, names []string, extra map[string]string) string {
	dir := t.TempDir()
	for _, n := range names {
		p, err := exec.LookPath(n)
		if err != nil {
			t.Skipf("%s not found", n)
		}
		if err := os.Symlink(p, filepath.Join(dir, n)); err != nil {
			t.Fatal(err)
		}
	}
	for n, script := range extra {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestWorkerProgramLocally(t *testing.T) {
	tools := []string{"mktemp", "rm", "dd", "head", "wc", "setsid", "cat", "tr", "grep", "mkfifo"}
	realDD, err := exec.LookPath("dd")
	if err != nil {
		t.Skip("no dd")
	}
	big := strings.Repeat("x=$((x+1)) # 'quoted' \"text\" $(not run) \\ backslash\n", 6000) + "echo \"$x\"; cat\n"
	binary := make([]byte, 300<<10)
	for i := range binary {
		binary[i] = byte(i * 7)
	}
	frames := []workerFrame{
		{"echo hi; echo err >&2; exit 3", nil},
		{"cat", []byte("\x00binary\xff\n\nrest")},
		{"", []byte("ignored")},
		{"cat; echo end", nil},
		{big, []byte("after")},
		{"cat", binary},
		{"printf x", nil},
		{"read a; echo \"[$a]\"", []byte("0123456789abcdef 3 0\nabc")},
		{"echo \"$# ${_w_d-unset}\"", nil},
		// Output with the trailers' separator in it.
		{"printf '\\036x-o\\036\\036'; printf 'e\\036' >&2", nil},
	}
	want := []workerAnswer{
		{3, "hi\n", "err\n"},
		{0, "\x00binary\xff\n\nrest", ""},
		{0, "", ""},
		{0, "end\n", ""},
		{0, "6000\nafter", ""},
		{0, string(binary), ""},
		{0, "x", ""},
		{0, "[0123456789abcdef 3 0]\n", ""},
		{0, "0 unset\n", ""},
		{0, "\x1ex-o\x1e\x1e", "e\x1e"},
	}
	// A script's stdin (a file's content, a sudo password) and output do
	// not stay in the worker's directory once it has ended: the next
	// script finds them nowhere.
	frames = append(frames,
		workerFrame{"cat >/dev/null; echo tend-secret-out''put", []byte("tend-secret-input")},
		workerFrame{"grep -rlE 'tend-secret-(in|out)put' /dev/shm/tend-worker.* \"${TMPDIR:-/tmp}\"/tend-worker.* /tmp/tend-worker.* 2>/dev/null; echo checked", nil})
	want = append(want, workerAnswer{0, "tend-secret-output\n", ""}, workerAnswer{0, "checked\n", ""})
	// Past the worker's clean-up of old files (every 16 scripts).
	for i := 0; i < 20; i++ {
		frames = append(frames, workerFrame{"echo " + strconv.Itoa(i), nil})
		want = append(want, workerAnswer{0, strconv.Itoa(i) + "\n", ""})
	}
	paths := map[string]string{
		"fullblock dd": toolDir(t, tools, nil),
		// dd without iflag=fullblock (older busybox): the byte-counting
		// loop.
		"plain dd": toolDir(t, tools[:2], map[string]string{
			"dd": "#!/bin/sh\ncase \"$*\" in *fullblock*) echo 'dd: invalid input flag' >&2; exit 1;; esac\nexec " + realDD + " \"$@\"\n",
		}),
	}
	for _, n := range tools[3:] {
		os.Symlink(mustLook(t, n), filepath.Join(paths["plain dd"], n))
	}
	for _, sh := range []string{"/bin/sh", "bash", "busybox"} {
		shell, err := exec.LookPath(sh)
		if err != nil {
			continue
		}
		if sh == "busybox" {
			// busybox sh through a link named sh.
			link := filepath.Join(t.TempDir(), "sh")
			os.Symlink(shell, link)
			shell = link
		}
		for name, path := range paths {
			t.Run(sh+"/"+name, func(t *testing.T) {
				greeting, got := runWorkerLocally(t, shell, path, frames)
				if greeting != "tend-worker ok" {
					t.Fatalf("greeting %q", greeting)
				}
				for i := range want {
					if i >= len(got) {
						t.Fatalf("%d answers, want %d", len(got), len(want))
					}
					if got[i] != want[i] {
						t.Errorf("frame %d: got %+.80v, want %+.80v", i, got[i], want[i])
					}
				}
			})
		}
	}
	t.Run("no setsid", func(t *testing.T) {
		greeting, got := runWorkerLocally(t, "/bin/sh", toolDir(t, []string{"mktemp", "rm", "dd", "head"}, nil), frames[:1])
		if greeting != "tend-worker unsupported no setsid command" || len(got) != 0 {
			t.Errorf("greeting %q, %d answers", greeting, len(got))
		}
	})
}

func mustLook(t *testing.T, name string) string {
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not found", name)
	}
	return p
}
