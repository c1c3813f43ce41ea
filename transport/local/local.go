// Package local is the transport for the machine tend runs on: scripts run
// under /bin/sh as the invoking user, files are read and written directly.
//
// A script never appears on a command line or in a file: /bin/sh reads it
// from a pipe it inherits as file descriptor 3 (`/bin/sh /dev/fd/3`), so
// what it carries (a secret in an exec's command) is not in
// /proc/PID/cmdline, which every user of the machine can read, nor left
// on disk when tend is killed. The script's first line closes descriptor
// 3, so the commands it runs do not inherit the pipe.
//
// A script never outlives tend: each runs in a process group of its own,
// which a guard process (one per tend process, see guard) kills when tend
// dies, however it dies. The host's run lock (Lock) is an flock(2) on the
// lock file every transport uses, which the kernel releases when tend
// dies.
package local

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tendhq/tend/transport"
)

// scriptFD is the descriptor the script's pipe has in the shell
// (ExtraFiles start at 3).
const scriptFD = 3

// scriptHead starts every script: the shell has opened /dev/fd/3 again as
// its script, so the inherited descriptor only leaks the script to the
// commands it runs.
const scriptHead = "exec 3<&-\n"

// Transport runs on the local machine.
type Transport struct {
	// LockPath is the run lock's file (see Lock); empty means tend.lock
	// in the first of transport.LockDirs that exists, the file the SSH
	// transport locks on the same machine.
	LockPath string

	closed atomic.Bool
	mu     sync.Mutex
	locks  map[*lock]bool // held, released by Close
}

var _ transport.Transport = (*Transport)(nil)

// New returns the local transport.
func New() *Transport { return &Transport{} }

// Run implements transport.Transport.
func (t *Transport) Run(ctx context.Context, c transport.Command) (*transport.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if t.closed.Load() {
		return nil, errors.New("local: transport closed")
	}
	if err := unavailable(); err != nil {
		return nil, fmt.Errorf("local: %w", err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("local: %w", err)
	}
	defer pr.Close()
	defer pw.Close()
	cmd := exec.CommandContext(ctx, "/bin/sh", fmt.Sprintf("/dev/fd/%d", scriptFD))
	cmd.ExtraFiles = []*os.File{pr}
	// The script's children share its process group, so cancelling ends
	// all of them, not just the shell.
	ownProcessGroup(cmd)
	killGroupOnCancel(cmd)
	cmd.WaitDelay = 2 * time.Second
	if c.Stdin != nil {
		cmd.Stdin = c.Stdin
	}
	var stdout, stderr bytes.Buffer
	outTo, errTo := &streamed{w: &stdout}, &streamed{w: &stderr}
	if c.Stdout != nil {
		outTo.w = c.Stdout
	}
	if c.Stderr != nil {
		errTo.w = c.Stderr
	}
	cmd.Stdout, cmd.Stderr = outTo, errTo
	g, err := guard()
	if err != nil {
		return nil, fmt.Errorf("local: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("local: %w", err)
	}
	g.watch(cmd.Process.Pid)
	// A caller's writer that fails stops the script (its output would
	// have nowhere to go) and is the run's error.
	pgid := cmd.Process.Pid
	outTo.onFail(func() { killGroup(pgid) })
	errTo.onFail(func() { killGroup(pgid) })
	// Only the shell keeps the read end: when it exits without reading
	// the whole script, the write fails instead of blocking.
	pr.Close()
	go func() {
		io.WriteString(pw, scriptHead+c.Script)
		pw.Close()
	}()
	err = cmd.Wait()
	g.unwatch(cmd.Process.Pid)
	if ctx.Err() != nil {
		return nil, fmt.Errorf("local: %w", ctx.Err())
	}
	if err := cmp.Or(outTo.failed(), errTo.failed()); err != nil {
		return nil, fmt.Errorf("local: %w", err)
	}
	res := &transport.Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	if c.Stdout != nil {
		res.Stdout = nil
	}
	if c.Stderr != nil {
		res.Stderr = nil
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.ExitStatus = ee.ExitCode()
		if res.ExitStatus < 0 {
			return nil, fmt.Errorf("local: %w", err)
		}
	default:
		return nil, fmt.Errorf("local: %w", err)
	}
	return res, nil
}

// streamed passes a script's output to w. Once w fails it kills the
// script and drops the rest: the pipe is still drained, so the script
// never blocks writing to it.
type streamed struct {
	w    io.Writer
	kill func()
	mu   sync.Mutex
	err  error
}

func (s *streamed) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return len(p), nil
	}
	if _, err := s.w.Write(p); err != nil {
		s.err = err
		if s.kill != nil {
			s.kill()
		}
	}
	return len(p), nil
}

// onFail sets what a failed write does (the script starts before it is
// known, and may write at once).
func (s *streamed) onFail(kill func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kill = kill
	if s.err != nil {
		kill()
	}
}

func (s *streamed) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close implements transport.Transport: later calls fail, and the locks
// it holds are released.
func (t *Transport) Close() error {
	t.closed.Store(true)
	t.mu.Lock()
	held := make([]*lock, 0, len(t.locks))
	for l := range t.locks {
		held = append(held, l)
	}
	t.mu.Unlock()
	for _, l := range held {
		l.release()
	}
	return nil
}
