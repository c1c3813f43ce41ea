package winrm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/masterzen/winrm"

	"github.com/tendhq/tend/transport"
)

// Run runs cmd.Script with PowerShell on the host, streaming cmd.Stdin to
// it, in the host's one shell. See the package doc for how scripts of any
// size travel over stdin and what the script's environment is. Stderr
// comes back with PowerShell's CLIXML decoded to text.
func (t *Transport) Run(ctx context.Context, cmd transport.Command) (*transport.Result, error) {
	var stdout bytes.Buffer
	out := io.Writer(&stdout)
	if cmd.Stdout != nil {
		out = cmd.Stdout
	}
	status, stderr, err := t.exec(ctx, "run", cmd.Script, cmd.Stdin, out)
	if err != nil {
		return nil, err
	}
	res := &transport.Result{Stdout: stdout.Bytes(), Stderr: DecodeCLIXML(stderr), ExitStatus: status}
	if cmd.Stdout != nil {
		res.Stdout = nil
	}
	// Standard error is CLIXML, decoded whole: it is passed on at the end.
	if cmd.Stderr != nil {
		if len(res.Stderr) > 0 {
			if _, err := cmd.Stderr.Write(res.Stderr); err != nil {
				return nil, fmt.Errorf("winrm %s: run: %w", t.name, err)
			}
		}
		res.Stderr = nil
	}
	return res, nil
}

// errFinished ends a Run's stdin sender once the command is done.
var errFinished = errors.New("command finished")

// sendChunk is how many bytes of the stdin stream one Send carries: their
// base64 plus the envelope stays under MaxEnvelopeSize. (masterzen/winrm's
// own writer sends MaxEnvelopeSize-1000 raw bytes per Send, whose base64
// is a third larger than the envelope it announces.)
func (t *Transport) sendChunk() int {
	return (t.opts.MaxEnvelopeSize - 4096) / 4 * 3
}

// exec runs script with stdin, writing its stdout (after the bootstrap's
// marker) to stdout, and returns its exit status and raw stderr.
func (t *Transport) exec(ctx context.Context, op, script string, stdin io.Reader, stdout io.Writer) (int, []byte, error) {
	fail := func(err error) error { return fmt.Errorf("winrm %s: %s: %w", t.name, op, err) }
	if err := ctx.Err(); err != nil {
		return 0, nil, fail(err)
	}
	select {
	case <-t.done:
		return 0, nil, fail(errClosed)
	default:
	}
	if err := checkScript(script); err != nil {
		return 0, nil, fail(err)
	}
	select {
	case t.sem <- struct{}{}:
	case <-ctx.Done():
		return 0, nil, fail(ctx.Err())
	case <-t.done:
		return 0, nil, fail(errClosed)
	}
	release := func() { <-t.sem }

	// runCtx carries every request of this command: it ends with the
	// caller's context, with Close, or when the command is over.
	runCtx, cancelRun := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-t.done:
			cancelRun(errClosed)
		case <-runCtx.Done():
		}
	}()

	shellID, cmdID, err := t.start(runCtx)
	if err != nil {
		if runCtx.Err() != nil {
			if cause := context.Cause(runCtx); !errors.Is(err, cause) {
				err = fmt.Errorf("%w (%v)", cause, err)
			}
		}
		cancelRun(nil)
		release()
		return 0, nil, fail(err)
	}

	nonce := transport.NewNonce()
	out := &sink{w: stdout, marker: []byte("tend:" + nonce + ":run:")}
	var stderr bytes.Buffer
	sendCtx, cancelSend := context.WithCancelCause(runCtx)
	defer cancelSend(nil)
	sendDone := make(chan sendResult, 1)
	recvDone := make(chan recvResult, 1)
	go func() {
		sendDone <- t.sendStdin(sendCtx, shellID, cmdID, newFramer(nonce, script, stdin, t.sendChunk()))
	}()
	go func() { recvDone <- t.receive(runCtx, shellID, cmdID, out, &stderr) }()

	var refused error          // the server refused stdin after the script arrived
	var grace <-chan time.Time // how long the command then has to finish
	for {
		select {
		case res := <-sendDone:
			var f *FaultError
			switch {
			case res.err == nil || runCtx.Err() != nil:
				continue
			case errors.As(res.err, &f) && res.scriptSent:
				// The server refused more stdin: the process stopped
				// reading it, most likely because it is exiting. Give it
				// time to report its end, but not forever: a process that
				// still waits for stdin never would.
				refused = res.err
				grace = time.After(t.opts.OperationTimeout)
				continue
			}
			cancelRun(res.err)
			out.stop()
			t.abandon(shellID, cmdID, recvDone, release)
			return 0, nil, fail(fmt.Errorf("sending stdin: %w", res.err))

		case <-grace:
			cancelRun(refused)
			out.stop()
			t.abandon(shellID, cmdID, recvDone, release)
			return 0, nil, fail(fmt.Errorf("the server refused stdin and the command did not finish: %w", refused))

		case r := <-recvDone:
			// The sender may be blocked reading the caller's stdin, which
			// no context reaches: it is not waited for. Its next request
			// fails at once, its sendCtx being cancelled.
			cancelSend(errFinished)
			if r.err != nil {
				cause := context.Cause(runCtx)
				cancelRun(r.err)
				out.stop()
				t.abandon(shellID, cmdID, nil, release)
				if cause != nil {
					return 0, nil, fail(cause)
				}
				return 0, nil, fail(r.err)
			}
			cancelRun(errFinished)
			t.abandon(shellID, cmdID, nil, release)
			if !out.found {
				return 0, nil, fail(t.launchError(r.code, out.pending, stderr.Bytes()))
			}
			if r.code == exitTruncated && bytes.Contains(stderr.Bytes(), []byte(truncatedMsg)) {
				return 0, nil, fail(errors.New("the script did not arrive whole"))
			}
			return r.code, stderr.Bytes(), nil

		case <-runCtx.Done():
			cause := context.Cause(runCtx)
			out.stop()
			t.abandon(shellID, cmdID, recvDone, release)
			return 0, nil, fail(cause)
		}
	}
}

// start creates the command (and the shell, if there is none yet, or if
// the server has lost it: an idle shell expires after IdleTimeout).
func (t *Transport) start(ctx context.Context) (string, string, error) {
	cmdline := CommandLine(t.opts.PowerShell)
	for attempt := 0; ; attempt++ {
		shellID, err := t.shell(ctx)
		if err != nil {
			return "", "", err
		}
		resp, err := t.conn.post(ctx, "command", commandRequest(t.conn.url, shellID, cmdline, t.params))
		if err != nil {
			var f *FaultError
			if attempt == 0 && errors.As(err, &f) && f.unknownResource() {
				t.lostShell(shellID)
				continue
			}
			return "", "", fmt.Errorf("command: %w", err)
		}
		id, err := resp.commandID()
		if err != nil {
			return "", "", fmt.Errorf("command: %w", err)
		}
		t.commands.Add(1)
		return shellID, id, nil
	}
}

// abandon finishes a command in the background once its Run has returned
// (or is about to): it waits for the receiver if it still runs (runCtx
// has cancelled its request), then sends the terminate Signal that ends
// the process if it still runs and releases the command on the server
// (masterzen/winrm has no cancellation; this is it), and frees the
// command's slot. After Close, the shell's Delete does the terminating.
func (t *Transport) abandon(shellID, cmdID string, recvDone <-chan recvResult, release func()) {
	t.bgMu.Lock()
	if t.closing {
		t.bgMu.Unlock()
		go func() {
			if recvDone != nil {
				<-recvDone
			}
			release()
		}()
		return
	}
	t.bg.Add(1)
	t.bgMu.Unlock()
	go func() {
		defer t.bg.Done()
		defer release()
		if recvDone != nil {
			<-recvDone
		}
		select {
		case <-t.done:
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), t.opts.ResponseTimeout)
		defer cancel()
		go func() {
			select {
			case <-t.done:
				cancel()
			case <-ctx.Done():
			}
		}()
		t.signals.Add(1)
		_, err := t.conn.post(ctx, "signal", winrm.NewSignalRequest(t.conn.url, shellID, cmdID, t.params))
		var f *FaultError
		if err != nil && !(errors.As(err, &f) && f.unknownResource()) && ctx.Err() == nil {
			fmt.Fprintf(t.warn, "tend: winrm %s: could not release command %s: %v\n", t.name, cmdID, err)
		}
	}()
}

type recvResult struct {
	code int
	err  error
}

// receive polls the command's output until it is done. A Receive that
// ends with w:TimedOut is the long poll expiring with nothing to say (the
// command runs on): it is simply sent again.
func (t *Transport) receive(ctx context.Context, shellID, cmdID string, stdout io.Writer, stderr *bytes.Buffer) recvResult {
	for {
		resp, err := t.conn.post(ctx, "receive", winrm.NewGetOutputRequest(t.conn.url, shellID, cmdID, "stdout stderr", t.params))
		if err != nil {
			var f *FaultError
			if errors.As(err, &f) && f.TimedOut() && ctx.Err() == nil {
				continue
			}
			return recvResult{err: fmt.Errorf("receive: %w", err)}
		}
		o, err := resp.receiveOutput(cmdID)
		if err != nil {
			return recvResult{err: fmt.Errorf("receive: %w", err)}
		}
		if len(o.stdout) > 0 {
			if _, err := stdout.Write(o.stdout); err != nil {
				return recvResult{err: err}
			}
		}
		stderr.Write(o.stderr)
		if o.done {
			return recvResult{code: o.exitCode}
		}
	}
}

type sendResult struct {
	err error
	// scriptSent is set once the script's frame has been delivered whole:
	// only then can a refused Send mean the script stopped reading.
	scriptSent bool
}

// sendStdin streams the framed script and stdin with Send requests, the
// last one carrying End="true" (masterzen/winrm's WriteClose sends
// nothing at all: it marks the writer closed before writing).
func (t *Transport) sendStdin(ctx context.Context, shellID, cmdID string, fr *framer) sendResult {
	chunk := t.sendChunk()
	prelude := len(fr.pending)
	sent := 0
	for {
		buf := make([]byte, chunk)
		n := 0
		eof := false
		for n < len(buf) {
			m, err := fr.Read(buf[n:])
			n += m
			if err == io.EOF {
				eof = true
				break
			}
			if len(fr.pending) == 0 && !fr.nonBlocking() {
				break
			}
		}
		last := eof || (fr.done && len(fr.pending) == 0)
		if n == 0 && !last {
			continue
		}
		msg := winrm.NewSendInputRequest(t.conn.url, shellID, cmdID, buf[:n], last, t.params)
		if _, err := t.conn.post(ctx, "send", msg); err != nil {
			if ctx.Err() != nil {
				err = context.Cause(ctx)
			}
			return sendResult{err: err, scriptSent: sent >= prelude}
		}
		sent += n
		if last {
			return sendResult{scriptSent: true}
		}
	}
}

// launchError explains a command whose bootstrap never printed its
// marker: powershell.exe missing, blocked by policy, or killed.
func (t *Transport) launchError(status int, stdout, stderr []byte) error {
	msg := strings.TrimSpace(string(DecodeCLIXML(stderr)))
	if o := strings.TrimSpace(string(stdout)); o != "" {
		msg = strings.TrimSpace(o + "\n" + msg)
	}
	if len(msg) > 2000 {
		msg = msg[:2000] + "..."
	}
	msg = strings.ReplaceAll(strings.ReplaceAll(msg, "\r\n", "\n"), "\n", "; ")
	if msg == "" {
		msg = "no output"
	}
	return fmt.Errorf("%s did not start tend's bootstrap (exit status %d): %s", t.opts.PowerShell, status, msg)
}

// sink passes on what the script writes after the bootstrap's marker;
// what comes before it is kept in pending for launchError. Once stopped
// (the Run returned early) it drops everything.
type sink struct {
	mu      sync.Mutex
	w       io.Writer
	marker  []byte
	found   bool
	pending []byte
	stopped bool
}

// maxPending bounds what is kept before the marker.
const maxPending = 64 << 10

func (s *sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return len(p), nil
	}
	if s.found {
		return s.w.Write(p)
	}
	s.pending = append(s.pending, p...)
	i := bytes.Index(s.pending, s.marker)
	if i < 0 {
		if len(s.pending) > maxPending {
			keep := len(s.marker) - 1
			s.pending = append(s.pending[:0:0], s.pending[len(s.pending)-keep:]...)
		}
		return len(p), nil
	}
	s.found = true
	rest := s.pending[i+len(s.marker):]
	s.pending = s.pending[:i]
	if len(rest) > 0 {
		if _, err := s.w.Write(rest); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (s *sink) stop() {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
}

// nonBlocking reports whether reading more of the stream cannot block: no
// caller stdin left, or one held in memory.
func (f *framer) nonBlocking() bool {
	if f.done || f.stdin == nil {
		return true
	}
	_, ok := f.stdin.(interface{ Len() int })
	return ok
}
