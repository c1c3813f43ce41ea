package wsmantest

import (
	"context"
	"errors"
	"io"
	"sync"
)

// Executor plays the process behind a Command: it reads p.Stdin (EOF once
// the client sends End), writes p.Stdout and p.Stderr and returns the exit
// code. ctx is cancelled when the client signals the command (terminate,
// ctrl_c, ctrl_break), deletes its shell, or the server closes;
// context.Cause(ctx) is then a *SignalCause or ErrShellDeleted or
// ErrServerClosed. An Executor that ignores ctx keeps the command running,
// as a Windows process that ignores Ctrl+C does.
type Executor func(ctx context.Context, p *Process) int

// Process is one command as its Executor sees it.
type Process struct {
	ShellID   string
	CommandID string
	// User is the authenticated user that created the shell.
	User string
	// Command and Arguments are the CommandLine elements, verbatim.
	Command   string
	Arguments []string
	// Options are the WINRS_* options of the Command request.
	Options map[string]string
	// ShellOptions are the options of the shell's Create request
	// (WINRS_CODEPAGE, WINRS_NOPROFILE, ...).
	ShellOptions map[string]string

	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// SignalCause is the context.Cause of an Executor's context cancelled by a
// Signal request.
type SignalCause struct {
	// Code is the signal's last path element: "terminate", "ctrl_c" or
	// "ctrl_break".
	Code string
}

func (s *SignalCause) Error() string { return "signal " + s.Code }

var (
	// ErrShellDeleted is the cause of a command's cancellation when its
	// shell is deleted.
	ErrShellDeleted = errors.New("wsmantest: shell deleted")
	// ErrServerClosed is the cause when the server closes.
	ErrServerClosed = errors.New("wsmantest: server closed")
)

// shell is one cmd shell resource.
type shell struct {
	id      string
	user    string
	options map[string]string

	mu       sync.Mutex
	commands map[string]*command
	deleted  bool
}

// closeStdin fails the process's reads and any Send in flight with cause.
func (c *command) closeStdin(cause error) {
	c.stdinR.CloseWithError(cause)
	c.stdin.CloseWithError(cause)
}

// command is one running (or finished, not yet collected) command.
type command struct {
	id     string
	shell  *shell
	rec    *CommandRecord
	cancel context.CancelCauseFunc

	stdin    *io.PipeWriter
	stdinR   *io.PipeReader
	stdinMu  sync.Mutex // one Send at a time, in order
	stdinEnd bool

	stdout *outStream
	stderr *outStream

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every change
	done     bool
	exitCode int
	finished chan struct{} // closed when the Executor has returned
}

// notify wakes every Receive waiting on c.
func (c *command) notify() {
	c.mu.Lock()
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

// wait returns a channel closed at the next change.
func (c *command) wait() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

// outLimit bounds what a stream buffers before the process's writes block,
// like the pipe buffer behind a Windows process.
const outLimit = 1 << 20

// outStream is a command's stdout or stderr: the Executor writes, Receive
// takes.
type outStream struct {
	c       *command
	ctx     context.Context
	mu      sync.Mutex
	buf     []byte
	drained chan struct{}
}

func newOutStream(c *command, ctx context.Context) *outStream {
	return &outStream{c: c, ctx: ctx, drained: make(chan struct{})}
}

func (o *outStream) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		o.mu.Lock()
		room := outLimit - len(o.buf)
		if room > 0 {
			k := min(room, len(p))
			o.buf = append(o.buf, p[:k]...)
			o.mu.Unlock()
			o.c.notify()
			n += k
			p = p[k:]
			continue
		}
		drained := o.drained
		o.mu.Unlock()
		select {
		case <-drained:
		case <-o.ctx.Done():
			return n, context.Cause(o.ctx)
		}
	}
	return n, nil
}

// take removes and returns up to max buffered bytes.
func (o *outStream) take(max int) []byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	k := min(max, len(o.buf))
	if k == 0 {
		return nil
	}
	out := append([]byte(nil), o.buf[:k]...)
	o.buf = o.buf[k:]
	close(o.drained)
	o.drained = make(chan struct{})
	return out
}

func (o *outStream) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.buf)
}

// CommandRecord is what the server remembers of a command, for tests.
type CommandRecord struct {
	ShellID   string
	ID        string
	Command   string
	Arguments []string
	Options   map[string]string
	// Signals are the signal codes received for it, in order.
	Signals []string
	// Done and ExitCode are set when the Executor has returned.
	Done     bool
	ExitCode int
	// StdinBytes counts the stdin bytes the client sent.
	StdinBytes int64
	// StdinEnd is set once a Send carried End="true".
	StdinEnd bool
}
