package winrm

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tendhq/tend/transport"
	"github.com/tendhq/tend/transport/transporttest"
	"github.com/tendhq/tend/transport/winrm/wsmantest"
)

// These tests carry over the parts of transport/transporttest that do not
// depend on the remote language: exit statuses, separate streams, stdin
// streamed and closed, large scripts, stdin and output, cancellation,
// deadlines, concurrency and Close. The scripts are sh because the test
// server runs them with sh behind the fake bootstrap; what is tested is
// the transport and the protocol, over real HTTP, with NTLM.

func run(t *testing.T, tr transport.Transport, script string, stdin io.Reader) *transport.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := tr.Run(ctx, transport.Command{Script: script, Stdin: stdin})
	if err != nil {
		t.Fatalf("Run(%.60q): %v", script, err)
	}
	return res
}

func mustOK(t *testing.T, tr transport.Transport, script string, stdin io.Reader) []byte {
	t.Helper()
	res := run(t, tr, script, stdin)
	if res.ExitStatus != 0 {
		t.Fatalf("Run(%.60q): exit status %d, stderr %q", script, res.ExitStatus, res.Stderr)
	}
	return res.Stdout
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 256 && i < n; i++ {
		b[i] = byte(i)
	}
	return b
}

type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'y'
	}
	return len(p), nil
}

func TestRun(t *testing.T) {
	srv := startServer(t, shHandler, wsmantest.Options{})
	tr := dialT(t, hostFor(t, srv, AuthNTLM), Options{})

	t.Run("ExitStatus", func(t *testing.T) {
		for _, status := range []int{0, 1, 3, 42, 127, 255} {
			res := run(t, tr, fmt.Sprintf("echo before; echo oops >&2; exit %d", status), nil)
			if res.ExitStatus != status || string(res.Stdout) != "before\n" || string(res.Stderr) != "oops\n" {
				t.Errorf("exit %d: status %d, stdout %q, stderr %q", status, res.ExitStatus, res.Stdout, res.Stderr)
			}
		}
		_, err := transport.Output(context.Background(), tr, transport.Command{Script: "echo bad >&2; exit 2"})
		var exitErr *transport.ExitError
		if !errors.As(err, &exitErr) || exitErr.Status != 2 {
			t.Errorf("Output: %v, want *ExitError with status 2", err)
		}
	})
	t.Run("StdoutStderrSeparate", func(t *testing.T) {
		res := run(t, tr, "i=0; while [ $i -lt 200 ]; do echo out$i; echo err$i >&2; i=$((i+1)); done", nil)
		var wantOut, wantErr strings.Builder
		for i := 0; i < 200; i++ {
			fmt.Fprintf(&wantOut, "out%d\n", i)
			fmt.Fprintf(&wantErr, "err%d\n", i)
		}
		if string(res.Stdout) != wantOut.String() || string(res.Stderr) != wantErr.String() {
			t.Errorf("streams mixed up: %.100q / %.100q", res.Stdout, res.Stderr)
		}
	})
	t.Run("Streamed", func(t *testing.T) { transporttest.Streamed(t, tr) })
	t.Run("StreamedWriterFails", func(t *testing.T) { transporttest.StreamedWriterFails(t, tr) })
	t.Run("Stdin", func(t *testing.T) {
		if out := mustOK(t, tr, "cat", strings.NewReader("line one\nline two\nno newline")); string(out) != "line one\nline two\nno newline" {
			t.Errorf("cat: %q", out)
		}
		if out := mustOK(t, tr, "read a; read b; echo \"[$b][$a]\"; cat", strings.NewReader("1\n2\nrest")); string(out) != "[2][1]\nrest" {
			t.Errorf("read; read; cat: %q", out)
		}
	})
	t.Run("StdinLargeBinary", func(t *testing.T) {
		data := randomBytes(t, 5<<20)
		if out := mustOK(t, tr, "cat", bytes.NewReader(data)); !bytes.Equal(out, data) {
			t.Fatalf("cat of %d binary bytes returned %d bytes, different", len(data), len(out))
		}
		// A reader that is not in memory (no Len): sent as it comes.
		if out := mustOK(t, tr, "wc -c | tr -d ' '", io.MultiReader(bytes.NewReader(data[:1<<20]), bytes.NewReader(data[1<<20:]))); strings.TrimSpace(string(out)) != strconv.Itoa(len(data)) {
			t.Fatalf("wc -c = %q", out)
		}
	})
	t.Run("NoStdinIsEOF", func(t *testing.T) {
		if out := mustOK(t, tr, "cat; echo end", nil); string(out) != "end\n" {
			t.Errorf("no stdin: %q", out)
		}
		if out := mustOK(t, tr, "cat; echo end", strings.NewReader("")); string(out) != "end\n" {
			t.Errorf("empty stdin: %q", out)
		}
	})
	t.Run("StdinNotRead", func(t *testing.T) {
		start := time.Now()
		if out := mustOK(t, tr, "echo ignored", endless{}); string(out) != "ignored\n" {
			t.Errorf("stdout %q", out)
		}
		if out := mustOK(t, tr, "head -c 5", endless{}); string(out) != "yyyyy" {
			t.Errorf("head -c 5: %q", out)
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("took %s", d)
		}
	})
	t.Run("LargeOutput", func(t *testing.T) {
		res := run(t, tr, "head -c 4194304 /dev/zero; echo done >&2", nil)
		if res.ExitStatus != 0 || len(res.Stdout) != 4<<20 || string(res.Stderr) != "done\n" {
			t.Fatalf("4 MiB of stdout: status %d, %d bytes, stderr %q", res.ExitStatus, len(res.Stdout), res.Stderr)
		}
	})
	t.Run("LargeScriptAndStdin", func(t *testing.T) {
		// 1 MB of script: far past any command line (8191 characters).
		var b strings.Builder
		b.WriteString("n=0\n")
		lines := 0
		for b.Len() < 1<<20 {
			fmt.Fprintf(&b, "n=$((n+1)) # line %d: 'quotes' \"and\" $(not run) `nor this` é ✓\n", lines)
			lines++
		}
		b.WriteString("echo \"$n\"\ncat\n")
		data := randomBytes(t, 1<<20)
		out := mustOK(t, tr, b.String(), bytes.NewReader(data))
		want := append([]byte(strconv.Itoa(lines)+"\n"), data...)
		if !bytes.Equal(out, want) {
			t.Fatalf("1 MB script + 1 MB stdin: got %d bytes, want %d (prefix %.40q)", len(out), len(want), out)
		}
	})
	t.Run("ScriptBytes", func(t *testing.T) {
		for name, c := range map[string]struct{ script, want string }{
			"UTF-8":             {"printf '%s' 'héllo wörld ✓'", "héllo wörld ✓"},
			"binary output":     {"printf '\\377\\376\\200'", "\xff\xfe\x80"},
			"CRLF":              {"printf 'a\\r\\nb'", "a\r\nb"},
			"empty":             {"", ""},
			"marker look-alike": {"printf 'tend:0000:run:'", "tend:0000:run:"},
		} {
			if res := run(t, tr, c.script, nil); string(res.Stdout) != c.want {
				t.Errorf("%s: stdout %q, want %q (stderr %q)", name, res.Stdout, c.want, res.Stderr)
			}
		}
		for _, bad := range []string{"echo \xff", "echo a\x00b"} {
			if _, err := tr.Run(context.Background(), transport.Command{Script: bad}); err == nil {
				t.Errorf("Run(%q): no error for a script PowerShell cannot take", bad)
			}
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		const n = 20
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				in := strings.Repeat(strconv.Itoa(i), 1000)
				res, err := tr.Run(context.Background(), transport.Command{
					Script: fmt.Sprintf("sleep 0.2; echo %d; cat", i),
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
	})

	// One shell for everything; one Command per Run.
	st := srv.Stats()
	if st.ShellsCreated != 1 {
		t.Errorf("server created %d shells, want 1", st.ShellsCreated)
	}
	if ts := tr.Stats(); ts.Shells != 1 || int(ts.Commands) != st.Commands {
		t.Errorf("transport stats %+v, server saw %d commands", ts, st.Commands)
	}
}

func TestOneRoundTripPerRun(t *testing.T) {
	srv := startServer(t, shHandler, wsmantest.Options{})
	tr := dialT(t, hostFor(t, srv, AuthNTLM), Options{})
	before := srv.Stats()
	mustOK(t, tr, "echo hi", nil)
	after := srv.Stats()
	// Command, one Send (script, empty stdin and End together), Receive
	// until Done; the releasing Signal follows in the background.
	if d := after.Commands - before.Commands; d != 1 {
		t.Errorf("%d Command requests for one Run", d)
	}
	if d := after.Sends - before.Sends; d != 1 {
		t.Errorf("%d Send requests for one Run without stdin, want 1", d)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(srv.Signals()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if sig := srv.Signals(); len(sig) != 1 || sig[0].Code != "terminate" {
		t.Errorf("signals %+v, want one terminate releasing the command", sig)
	}
	tr.Close()
	if srv.OpenShells() != 0 {
		t.Errorf("Close left %d shells open", srv.OpenShells())
	}
}

func TestLongPoll(t *testing.T) {
	srv := startServer(t, shHandler, wsmantest.Options{})
	tr := dialT(t, hostFor(t, srv, AuthNTLM), Options{OperationTimeout: time.Second, ResponseTimeout: 3 * time.Second})
	start := time.Now()
	// Quiet for longer than two long polls, then output.
	out := mustOK(t, tr, "sleep 2.5; echo done", nil)
	if string(out) != "done\n" {
		t.Errorf("stdout %q", out)
	}
	if st := srv.Stats(); st.ReceiveTimeouts < 2 {
		t.Errorf("%d Receives timed out, want at least 2 (the command outlived them)", st.ReceiveTimeouts)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s", d)
	}
}

func TestCancel(t *testing.T) {
	srv := startServer(t, shHandler, wsmantest.Options{})
	tr := dialT(t, hostFor(t, srv, AuthNTLM), Options{})
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")

	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for i := 0; i < 100; i++ {
			if b, err := os.ReadFile(pidFile); err == nil && len(b) > 0 {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		cancel()
	}()
	start := time.Now()
	_, err := tr.Run(ctx, transport.Command{Script: "sleep 37 & echo $! > " + pidFile + "; wait"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("cancelled Run returned after %s", d)
	}
	// The server receives the terminate Signal for that command and its
	// process group dies.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var terminated bool
		for _, s := range srv.Signals() {
			terminated = terminated || s.Code == "terminate"
		}
		pid, _ := os.ReadFile(pidFile)
		gone := shFails("kill -0 " + strings.TrimSpace(string(pid)))
		if terminated && gone {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after cancel: terminate signal seen %v, child gone %v", terminated, gone)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmds := srv.Commands()
	if last := cmds[len(cmds)-1]; len(last.Signals) == 0 || last.Signals[0] != "terminate" {
		t.Errorf("the cancelled command got signals %v", last.Signals)
	}
	// Already cancelled; then the transport is still usable.
	if _, err := tr.Run(ctx, transport.Command{Script: "echo no"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Run with a cancelled context: %v", err)
	}
	if out := mustOK(t, tr, "echo alive", nil); string(out) != "alive\n" {
		t.Errorf("after cancel: %q", out)
	}

	// A deadline, with stdin still flowing.
	dctx, dcancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer dcancel()
	start = time.Now()
	if _, err := tr.Run(dctx, transport.Command{Script: "sleep 30", Stdin: endless{}}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("sleep 30 past its deadline: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("returned after %s", d)
	}
}

// shFails reports whether sh -c script fails (here: the process is gone).
func shFails(script string) bool {
	res := shHandler(context.Background(), script, strings.NewReader(""), io.Discard, io.Discard)
	return res != 0
}

func TestClose(t *testing.T) {
	srv := startServer(t, shHandler, wsmantest.Options{})
	h := hostFor(t, srv, AuthNTLM)
	tr := dialT(t, h, Options{})
	mustOK(t, tr, "true", nil)
	if err := tr.Close(); err != nil {
		t.Errorf("first Close: %v", err)
	}
	if err := tr.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := tr.Run(context.Background(), transport.Command{Script: "true"}); err == nil {
		t.Error("Run after Close: no error")
	}

	tr = dialT(t, h, Options{})
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr.Run(context.Background(), transport.Command{Script: "sleep 20"})
		}()
	}
	time.Sleep(500 * time.Millisecond)
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
	if n := srv.OpenShells(); n != 0 {
		t.Errorf("%d shells left open", n)
	}
}

func TestLostShellIsRecreated(t *testing.T) {
	srv := startServer(t, shHandler, wsmantest.Options{})
	tr := dialT(t, hostFor(t, srv, AuthNTLM), Options{})
	mustOK(t, tr, "true", nil)
	// The server forgets the shell (IdleTimeout, a WinRM restart).
	srv.Close()
	time.Sleep(100 * time.Millisecond) // for the client to see its idle connections closed
	srv2 := startServer(t, shHandler, wsmantest.Options{Addr: srv.Addr})
	if out := mustOK(t, tr, "echo again", nil); string(out) != "again\n" {
		t.Errorf("after the shell was lost: %q", out)
	}
	if st := tr.Stats(); st.Shells != 2 {
		t.Errorf("shells created %d, want 2", st.Shells)
	}
	if st := srv2.Stats(); st.ShellsCreated != 1 {
		t.Errorf("new server: %d shells", st.ShellsCreated)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestStdinThatBlocks(t *testing.T) {
	// A caller's stdin that never delivers (a pipe nobody writes) must not
	// hold up a script that does not read it.
	srv := startServer(t, shHandler, wsmantest.Options{})
	tr := dialT(t, hostFor(t, srv, AuthNTLM), Options{})
	pr, pw := io.Pipe()
	defer pw.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if out := mustOK(t, tr, "echo done", pr); string(out) != "done\n" {
			t.Errorf("stdout %q", out)
		}
	}()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("Run waits for a stdin the script never reads")
	}
}
