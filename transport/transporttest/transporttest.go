package transporttest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tendhq/tend/shell"
	"github.com/tendhq/tend/transport"
)

// Run runs the conformance suite against the transports open returns.
// open may be called several times (some subtests need a transport of
// their own); each transport it returns is closed by the suite, and open
// may register its own cleanup too, since Close is idempotent. Files are
// created only in a temporary directory made on the host with mktemp -d
// and removed at the end.
func Run(t *testing.T, open func(t *testing.T) transport.Transport) {
	t.Helper()
	tr := open(t)
	t.Cleanup(func() { tr.Close() })
	dir := remoteTempDir(t, tr)

	t.Run("ExitZero", func(t *testing.T) { testExitZero(t, tr) })
	t.Run("ExitNonZero", func(t *testing.T) { testExitNonZero(t, tr) })
	t.Run("StdoutStderrSeparate", func(t *testing.T) { testStdoutStderr(t, tr) })
	t.Run("Stdin", func(t *testing.T) { testStdin(t, tr) })
	t.Run("StdinLargeBinary", func(t *testing.T) { testStdinLargeBinary(t, tr) })
	t.Run("NoStdinIsEOF", func(t *testing.T) { testNoStdin(t, tr) })
	t.Run("StdinNotRead", func(t *testing.T) { testStdinNotRead(t, tr) })
	t.Run("LargeOutput", func(t *testing.T) { testLargeOutput(t, tr) })
	t.Run("Streamed", func(t *testing.T) { Streamed(t, tr) })
	t.Run("StreamedWriterFails", func(t *testing.T) { StreamedWriterFails(t, tr) })
	t.Run("LargeScript", func(t *testing.T) { testLargeScript(t, tr) })
	t.Run("ScriptBytes", func(t *testing.T) { testScriptBytes(t, tr) })
	t.Run("HostileArguments", func(t *testing.T) { testHostileArguments(t, tr) })
	t.Run("Cancel", func(t *testing.T) { testCancel(t, tr) })
	t.Run("CancelKillsChildren", func(t *testing.T) { testCancelKillsChildren(t, tr, dir) })
	t.Run("Deadline", func(t *testing.T) { testDeadline(t, tr) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, tr) })
	t.Run("SendFile", func(t *testing.T) { testSendFile(t, tr, dir) })
	t.Run("SendFileCancel", func(t *testing.T) { testSendFileCancel(t, tr, dir) })
	t.Run("Close", func(t *testing.T) { testClose(t, open) })
}

// timeout bounds every call the suite makes, so a hang fails the test
// instead of stalling it.
const timeout = 60 * time.Second

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return c
}

func run(t *testing.T, tr transport.Transport, script string, stdin io.Reader) *transport.Result {
	t.Helper()
	res, err := tr.Run(ctx(t), transport.Command{Script: script, Stdin: stdin})
	if err != nil {
		t.Fatalf("Run(%.60q): %v", script, err)
	}
	return res
}

// mustOK runs script and fails the test unless it exits 0.
func mustOK(t *testing.T, tr transport.Transport, script string, stdin io.Reader) []byte {
	t.Helper()
	res := run(t, tr, script, stdin)
	if res.ExitStatus != 0 {
		t.Fatalf("Run(%.60q): exit status %d, stderr %q", script, res.ExitStatus, res.Stderr)
	}
	return res.Stdout
}

func remoteTempDir(t *testing.T, tr transport.Transport) string {
	t.Helper()
	out := mustOK(t, tr, "mktemp -d", nil)
	dir := strings.TrimSpace(string(out))
	if !strings.HasPrefix(dir, "/") {
		t.Fatalf("mktemp -d printed %q", out)
	}
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if _, err := tr.Run(c, transport.Command{Script: "rm -rf " + shell.Quote(dir)}); err != nil {
			t.Logf("remove %s: %v", dir, err)
		}
	})
	return dir
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func testExitZero(t *testing.T, tr transport.Transport) {
	res := run(t, tr, "echo hello", nil)
	if res.ExitStatus != 0 || string(res.Stdout) != "hello\n" || len(res.Stderr) != 0 {
		t.Fatalf("echo hello: status %d, stdout %q, stderr %q", res.ExitStatus, res.Stdout, res.Stderr)
	}
	// The script's own exit status, with output kept.
	res = run(t, tr, "printf partial; exit 0", nil)
	if res.ExitStatus != 0 || string(res.Stdout) != "partial" {
		t.Fatalf("printf partial: status %d, stdout %q", res.ExitStatus, res.Stdout)
	}
}

func testExitNonZero(t *testing.T, tr transport.Transport) {
	for _, status := range []int{1, 3, 42, 127, 255} {
		res, err := tr.Run(ctx(t), transport.Command{Script: fmt.Sprintf("echo before; echo oops >&2; exit %d", status)})
		if err != nil {
			t.Fatalf("exit %d: Run returned an error, want ExitStatus: %v", status, err)
		}
		if res.ExitStatus != status || string(res.Stdout) != "before\n" || string(res.Stderr) != "oops\n" {
			t.Errorf("exit %d: status %d, stdout %q, stderr %q", status, res.ExitStatus, res.Stdout, res.Stderr)
		}
	}
	res := run(t, tr, "false", nil)
	if res.ExitStatus != 1 {
		t.Errorf("false: status %d, want 1", res.ExitStatus)
	}
	res = run(t, tr, "no-such-command-tend-test", nil)
	if res.ExitStatus != 127 {
		t.Errorf("missing command: status %d, want 127", res.ExitStatus)
	}
	// transport.Output turns it into an *ExitError with the host's words.
	_, err := transport.Output(ctx(t), tr, transport.Command{Script: "echo bad >&2; exit 2"})
	var exitErr *transport.ExitError
	if !errors.As(err, &exitErr) || exitErr.Status != 2 || string(exitErr.Stderr) != "bad\n" {
		t.Errorf("Output: %v, want *ExitError with status 2", err)
	}
}

func testStdoutStderr(t *testing.T, tr transport.Transport) {
	script := "i=0; while [ $i -lt 200 ]; do echo out$i; echo err$i >&2; i=$((i+1)); done"
	res := run(t, tr, script, nil)
	var wantOut, wantErr strings.Builder
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&wantOut, "out%d\n", i)
		fmt.Fprintf(&wantErr, "err%d\n", i)
	}
	if string(res.Stdout) != wantOut.String() {
		t.Errorf("stdout mixed up: %.200q", res.Stdout)
	}
	if string(res.Stderr) != wantErr.String() {
		t.Errorf("stderr mixed up: %.200q", res.Stderr)
	}
}

func testStdin(t *testing.T, tr transport.Transport) {
	out := mustOK(t, tr, "cat", strings.NewReader("line one\nline two\nno newline"))
	if string(out) != "line one\nline two\nno newline" {
		t.Errorf("cat: %q", out)
	}
	// Reading stdin in pieces from the script itself.
	out = mustOK(t, tr, "read a; read b; echo \"[$b][$a]\"; cat", strings.NewReader("1\n2\nrest"))
	if string(out) != "[2][1]\nrest" {
		t.Errorf("read; read; cat: %q", out)
	}
}

func testStdinLargeBinary(t *testing.T, tr transport.Transport) {
	data := randomBytes(t, 5<<20)
	// Every byte value, NUL and CR and bytes that are not UTF-8 included.
	for i := 0; i < 256; i++ {
		data[i] = byte(i)
	}
	out := mustOK(t, tr, "cat", bytes.NewReader(data))
	if !bytes.Equal(out, data) {
		t.Fatalf("cat of %d binary bytes returned %d bytes, different", len(data), len(out))
	}
	out = mustOK(t, tr, "wc -c | tr -d ' '", bytes.NewReader(data))
	if strings.TrimSpace(string(out)) != strconv.Itoa(len(data)) {
		t.Fatalf("wc -c = %q, want %d", out, len(data))
	}
}

func testNoStdin(t *testing.T, tr transport.Transport) {
	// Without Command.Stdin the script sees an empty, closed stdin: cat
	// ends at once instead of waiting.
	out := mustOK(t, tr, "cat; echo end", nil)
	if string(out) != "end\n" {
		t.Errorf("cat with no stdin: %q", out)
	}
	out = mustOK(t, tr, "cat; echo end", strings.NewReader(""))
	if string(out) != "end\n" {
		t.Errorf("cat with empty stdin: %q", out)
	}
}

// endless is a reader that never runs dry.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'y'
	}
	return len(p), nil
}

func testStdinNotRead(t *testing.T, tr transport.Transport) {
	// A script that ignores its stdin finishes without draining it.
	start := time.Now()
	out := mustOK(t, tr, "echo ignored", endless{})
	if string(out) != "ignored\n" {
		t.Errorf("stdout %q", out)
	}
	// A script that reads a little and exits.
	out = mustOK(t, tr, "head -c 5", endless{})
	if string(out) != "yyyyy" {
		t.Errorf("head -c 5: %q", out)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("took %s", d)
	}
}

func testLargeOutput(t *testing.T, tr transport.Transport) {
	res := run(t, tr, "i=0; while [ $i -lt 4 ]; do dd if=/dev/zero bs=1048576 count=1 2>/dev/null; i=$((i+1)); done; echo done >&2", nil)
	if res.ExitStatus != 0 || len(res.Stdout) != 4<<20 || string(res.Stderr) != "done\n" {
		t.Fatalf("4 MiB of stdout: status %d, %d bytes, stderr %q", res.ExitStatus, len(res.Stdout), res.Stderr)
	}
}

func largeScript(size int) (script string, lines int) {
	var b strings.Builder
	b.WriteString("n=0\n")
	for b.Len() < size {
		fmt.Fprintf(&b, "n=$((n+1)) # line %d: padding so the script is large, 'quotes' \"and\" $(not run) `nor this`\n", lines)
		lines++
	}
	b.WriteString("echo \"$n\"\n")
	return b.String(), lines
}

func testLargeScript(t *testing.T, tr transport.Transport) {
	script, lines := largeScript(400 << 10)
	out := mustOK(t, tr, script, nil)
	if strings.TrimSpace(string(out)) != strconv.Itoa(lines) {
		t.Fatalf("%d-byte script counted %q lines, want %d", len(script), out, lines)
	}
	// A large script and stdin together: the stdin must start exactly
	// after the script, whatever way the transport carries it.
	data := randomBytes(t, 1<<20)
	script, lines = largeScript(300 << 10)
	out = mustOK(t, tr, script+"cat\n", bytes.NewReader(data))
	want := append([]byte(strconv.Itoa(lines)+"\n"), data...)
	if !bytes.Equal(out, want) {
		t.Fatalf("large script + 1 MiB stdin: got %d bytes, want %d (prefix %.40q)", len(out), len(want), out)
	}
}

func testScriptBytes(t *testing.T, tr transport.Transport) {
	cases := map[string]struct{ script, want string }{
		"no trailing newline":   {"printf 'a\\nb'", "a\nb"},
		"trailing newlines":     {"echo x\n\n\n\n", "x\n"},
		"CRLF data":             {"printf '%s' 'a\r\nb'", "a\r\nb"},
		"not UTF-8":             {"printf '%s' '\xff\xfe\x80'", "\xff\xfe\x80"},
		"UTF-8":                 {"printf '%s' 'héllo wörld ✓'", "héllo wörld ✓"},
		"heredoc":               {"cat <<'EOF'\nliteral $x `y`\nEOF", "literal $x `y`\n"},
		"function and exit":     {"f() { echo in-f; return 3; }\nf; echo \"rc=$?\"", "in-f\nrc=3\n"},
		"set -e":                {"set -e\necho one\nfalse\necho two", "one\n"},
		"$0 and args":           {"echo \"$#\"", "0\n"},
		"empty":                 {"", ""},
		"comment only":          {"# nothing", ""},
		"stdin is not a script": {"read x || true; echo \"[$x]\"", "[]\n"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			res := run(t, tr, c.script, nil)
			if string(res.Stdout) != c.want {
				t.Errorf("stdout %q, want %q (stderr %q, status %d)", res.Stdout, c.want, res.Stderr, res.ExitStatus)
			}
		})
	}
	res := run(t, tr, "set -e\nfalse\necho unreachable", nil)
	if res.ExitStatus == 0 {
		t.Errorf("set -e; false: status 0")
	}
}

// Hostile holds values that break naive quoting; every transport must
// carry them through shell.Quote unchanged.
var Hostile = []string{
	"",
	" ",
	"two words",
	"'",
	"''",
	`"`,
	`'"'"'`,
	"it's",
	`back\slash`,
	`\`,
	`\\n`,
	"$HOME",
	"${HOME}",
	"$(id)",
	"`id`",
	"a;b",
	"a|b",
	"a&b",
	"a&&b||c",
	"<in >out 2>&1",
	"*",
	"?",
	"[a-z]",
	"{a,b}",
	"~",
	"~root",
	"-n",
	"-e",
	"--",
	"-",
	"#comment",
	"a#b",
	"!",
	"!!",
	"line1\nline2",
	"\n",
	"trailing newline\n",
	"\r\n",
	"tab\there",
	"\x01\x02\x1b[31m",
	"\xff\xfe",
	"\xc3\x28",
	"héllo ✓",
	"%s%d%n",
	"a=b",
	"IFS=x",
	strings.Repeat("long'arg ", 500),
}

func testHostileArguments(t *testing.T, tr transport.Transport) {
	// One run with every value as an argument, printed NUL-separated.
	script := "for a in " + shell.Join(Hostile...) + "; do printf '%s\\0' \"$a\"; done"
	out := mustOK(t, tr, script, nil)
	got := strings.Split(string(out), "\x00")
	if len(got) != len(Hostile)+1 || got[len(got)-1] != "" {
		t.Fatalf("got %d values, want %d: %q", len(got)-1, len(Hostile), out)
	}
	for i, want := range Hostile {
		if got[i] != want {
			t.Errorf("value %d: got %q, want %q", i, got[i], want)
		}
	}
	// And each one as a word of its own command line, the way resources
	// use Quote: printf %s WORD, one command per value.
	var b strings.Builder
	for _, v := range Hostile {
		b.WriteString("printf %s " + shell.Quote(v) + "\nprintf '\\000'\n")
	}
	out = mustOK(t, tr, b.String(), nil)
	got = strings.Split(string(out), "\x00")
	if len(got) != len(Hostile)+1 {
		t.Fatalf("got %d values, want %d: %q", len(got)-1, len(Hostile), out)
	}
	for i, want := range Hostile {
		if got[i] != want {
			t.Errorf("printf %%s %s: got %q, want %q", shell.Quote(want), got[i], want)
		}
	}
}

func testCancel(t *testing.T, tr transport.Transport) {
	c, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	res, err := tr.Run(c, transport.Command{Script: "sleep 30"})
	d := time.Since(start)
	if err == nil {
		t.Fatalf("cancelled sleep 30: no error (status %d)", res.ExitStatus)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled sleep 30: %v, want an error wrapping context.Canceled", err)
	}
	if d > 5*time.Second {
		t.Errorf("cancelled sleep 30 returned after %s", d)
	}
	// Already cancelled before the call.
	if _, err := tr.Run(c, transport.Command{Script: "echo no"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Run with a cancelled context: %v", err)
	}
	// The transport is still usable.
	if out := mustOK(t, tr, "echo alive", nil); string(out) != "alive\n" {
		t.Errorf("after cancel: %q", out)
	}
}

func testCancelKillsChildren(t *testing.T, tr transport.Transport, dir string) {
	// The script's children die with it: a background sleep whose pid we
	// know, and the shell waiting on it.
	pidFile := dir + "/cancel.pid"
	c, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		// Cancel once the pid file exists.
		for i := 0; i < 100; i++ {
			res, err := tr.Run(context.Background(), transport.Command{Script: "test -s " + shell.Quote(pidFile)})
			if err == nil && res.ExitStatus == 0 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		cancel()
	}()
	_, err := tr.Run(c, transport.Command{Script: "sleep 37 & echo $! > " + shell.Quote(pidFile) + "; wait"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v, want context.Canceled", err)
	}
	check := "pid=$(cat " + shell.Quote(pidFile) + ") && kill -0 \"$pid\" 2>/dev/null"
	deadline := time.Now().Add(10 * time.Second)
	for {
		res := run(t, tr, check, nil)
		if res.ExitStatus != 0 {
			return // gone
		}
		if time.Now().After(deadline) {
			t.Fatalf("the script's child (sleep 37) still runs 10s after cancellation")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func testDeadline(t *testing.T, tr transport.Transport) {
	c, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := tr.Run(c, transport.Command{Script: "sleep 30", Stdin: endless{}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("sleep 30 past its deadline: %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("returned after %s", d)
	}
}

func testConcurrent(t *testing.T, tr transport.Transport) {
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			in := strings.Repeat(strconv.Itoa(i), 1000)
			res, err := tr.Run(ctx(t), transport.Command{
				Script: fmt.Sprintf("sleep 0.2 2>/dev/null || sleep 1; echo %d; cat", i),
				Stdin:  strings.NewReader(in),
			})
			switch {
			case err != nil:
				errs <- fmt.Errorf("run %d: %w", i, err)
			case res.ExitStatus != 0 || string(res.Stdout) != fmt.Sprintf("%d\n%s", i, in):
				errs <- fmt.Errorf("run %d: status %d, stdout %.40q, stderr %q", i, res.ExitStatus, res.Stdout, res.Stderr)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// remoteMode returns the permission bits of p in octal, e.g. "640".
func remoteMode(t *testing.T, tr transport.Transport, p string) string {
	t.Helper()
	q := shell.Quote(p)
	out := mustOK(t, tr, "stat -c %a "+q+" 2>/dev/null || stat -f %Lp "+q, nil)
	return strings.TrimSpace(string(out))
}

// sender returns tr's FileSender, skipping the test when it has none.
func sender(t *testing.T, tr transport.Transport) transport.FileSender {
	t.Helper()
	fs, ok := tr.(transport.FileSender)
	if !ok {
		t.Skip("the transport is not a FileSender: content streams on a script's stdin")
	}
	return fs
}

// staged lists the entries of dir whose name starts with prefix.
func staged(t *testing.T, tr transport.Transport, dir, prefix string) string {
	t.Helper()
	return string(mustOK(t, tr, "cd "+shell.Quote(dir)+" && for f in "+shell.Quote(prefix)+"*; do [ -e \"$f\" ] && printf '%s\\n' \"$f\"; done; true", nil))
}

// stage stages a file with s, skipping the test when the host takes no
// files this way.
func stage(t *testing.T, s transport.FileSender, dir, prefix string) (string, func()) {
	t.Helper()
	p, cleanup, err := s.StageFile(ctx(t), dir, prefix)
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skipf("the host takes no files this way: %v", err)
	}
	if err != nil {
		t.Fatalf("StageFile: %v", err)
	}
	return p, cleanup
}

func testSendFile(t *testing.T, tr transport.Transport, dir string) {
	s := sender(t, tr)
	dir += "/send it's $(here)"
	mustOK(t, tr, "mkdir "+shell.Quote(dir), nil)
	const prefix = ".tend.test-"
	p, cleanup := stage(t, s, dir, prefix)
	if !strings.HasPrefix(path.Base(path.Dir(p)), prefix) {
		t.Errorf("staged at %s, want a directory named %s...", p, prefix)
	}
	if got := remoteMode(t, tr, p); got != "600" {
		t.Errorf("staged file mode %s, want 600", got)
	}
	if got := remoteMode(t, tr, path.Dir(p)); got != "700" {
		t.Errorf("staging directory mode %s, want 700", got)
	}
	data := randomBytes(t, 3<<20)
	if err := s.SendFile(ctx(t), p, bytes.NewReader(data)); err != nil {
		t.Fatalf("SendFile: %v", err)
	}
	out := mustOK(t, tr, "cat "+shell.Quote(p), nil)
	if !bytes.Equal(out, data) {
		t.Errorf("sent %d bytes, read back %d different", len(data), len(out))
	}
	cleanup()
	mustOK(t, tr, "! [ -e "+shell.Quote(p)+" ] && ! [ -e "+shell.Quote(path.Dir(p))+" ]", nil)

	// Empty content; cleanup after the file was moved away.
	p, cleanup = stage(t, s, dir, prefix)
	if err := s.SendFile(ctx(t), p, strings.NewReader("")); err != nil {
		t.Fatalf("SendFile empty: %v", err)
	}
	mustOK(t, tr, "[ ! -s "+shell.Quote(p)+" ] && mv -- "+shell.Quote(p)+" "+shell.Quote(dir+"/moved"), nil)
	cleanup()
	if got := staged(t, tr, dir, prefix); got != "" {
		t.Errorf("left behind: %q", got)
	}
}

func testSendFileCancel(t *testing.T, tr transport.Transport, dir string) {
	s := sender(t, tr)
	const prefix = ".tend.cancel-"
	p, cleanup := stage(t, s, dir, prefix)
	c, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := s.SendFile(c, p, endless{})
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("SendFile of an endless stream past its deadline: %v, want context.DeadlineExceeded", err)
	}
	cleanup()
	if got := staged(t, tr, dir, prefix); got != "" {
		t.Errorf("left behind: %q", got)
	}
}

func testClose(t *testing.T, open func(t *testing.T) transport.Transport) {
	tr := open(t)
	mustOK(t, tr, "true", nil)
	if err := tr.Close(); err != nil {
		t.Errorf("first Close: %v", err)
	}
	if err := tr.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := tr.Run(ctx(t), transport.Command{Script: "true"}); err == nil {
		t.Errorf("Run after Close: no error")
	}
	// Closing while Runs are in flight ends them with errors, not hangs.
	tr = open(t)
	mustOK(t, tr, "true", nil)
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = tr.Run(ctx(t), transport.Command{Script: "sleep 1"})
		}()
	}
	time.Sleep(200 * time.Millisecond)
	done := make(chan struct{})
	go func() {
		tr.Close()
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Close with Runs in flight: still waiting after 20s")
	}
}

// Streamed checks Command.Stdout and Command.Stderr: the script's first
// line reaches Stdout while the script still runs. The script waits for
// a line of input, which is sent only once its first line has arrived: a
// transport that handed the output over when the script ended would never
// get there, and the deadline fails the test. Result's fields are nil.
func Streamed(t *testing.T, tr transport.Transport) {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	inR, inW := io.Pipe()
	defer inW.Close()
	stdout := &watched{want: "first\n", seen: make(chan struct{})}
	var stderr safeBuffer
	go func() {
		select {
		case <-stdout.seen:
			_, _ = io.WriteString(inW, "go\n")
			inW.Close()
		case <-c.Done():
			// A transport may wait for its copy of stdin to end.
			inW.CloseWithError(c.Err())
		}
	}()
	res, err := tr.Run(c, transport.Command{
		Script: "echo first; echo err1 >&2; read x; echo \"second $x\"; printf 'no newline'; echo err2 >&2; exit 3",
		Stdin:  inR, Stdout: stdout, Stderr: &stderr,
	})
	if err != nil {
		select {
		case <-stdout.seen:
		default:
			t.Fatalf("the first line never came before the script ended (stdout so far %q): %v", stdout.String(), err)
		}
		t.Fatal(err)
	}
	if res.ExitStatus != 3 || res.Stdout != nil || res.Stderr != nil {
		t.Errorf("result: status %d, stdout %q, stderr %q; want 3 and both nil (streamed)", res.ExitStatus, res.Stdout, res.Stderr)
	}
	if got, want := stdout.String(), "first\nsecond go\nno newline"; got != want {
		t.Errorf("streamed stdout %q, want %q", got, want)
	}
	if got, want := stderr.String(), "err1\nerr2\n"; got != want {
		t.Errorf("streamed stderr %q, want %q", got, want)
	}
}

// watched is a buffer that closes seen once it holds want.
type watched struct {
	safeBuffer
	want string
	seen chan struct{}
	once sync.Once
}

func (w *watched) Write(p []byte) (int, error) {
	n, err := w.safeBuffer.Write(p)
	if strings.Contains(w.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return n, err
}

// safeBuffer is a bytes.Buffer for concurrent use.
type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *safeBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *safeBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// errWriter is the error failingWriter returns.
var errWriter = errors.New("the reader went away")

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errWriter }

// StreamedWriterFails checks that a Stdout writer that fails ends the run
// with its error, without waiting for the script to end.
func StreamedWriterFails(t *testing.T, tr transport.Transport) {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := tr.Run(c, transport.Command{Script: "echo one; sleep 60; echo two", Stdout: failingWriter{}, Stderr: io.Discard})
	if !errors.Is(err, errWriter) {
		t.Fatalf("Run = %v, want the writer's error (before the script's 60 s sleep ends)", err)
	}
}
