// Package transport defines how tend reaches a host: run a script with
// stdin, close; optional capabilities (FileSender, Dialer) are interfaces
// of their own. Implementations live in subpackages (local, ssh, winrm)
// and all pass the shared conformance suite in transporttest.
package transport

import (
	"context"
	"fmt"
	"io"
)

// Command is one script run on a host. On POSIX hosts Script is POSIX sh,
// read by /bin/sh from a file, a pipe or a variable it evals, at the
// transport's choice (the script must not care, nor rely on $0). A script
// may carry secrets, so a transport never puts it on a command line
// (/proc/PID/cmdline is readable by every user) and removes or empties
// any file holding it once it has run. Stdin, when set, is streamed to
// the script's standard input and closed at EOF.
type Command struct {
	Script string
	Stdin  io.Reader
	// OneShot says the script is likely the only one this run sends the
	// host (a plan's probe): a transport that keeps a shell open to run a
	// run's scripts in (SSH's worker) runs this one without opening it,
	// unless it is open already. Transports without one ignore it.
	OneShot bool
	// Stdout and Stderr, when set, receive the script's standard output
	// and standard error as the host sends them, and Result's field is
	// left nil: a caller shows a long command's lines as they come, and
	// holds none of it. A stream a transport can only read whole (WinRM's
	// standard error, PowerShell's CLIXML decoded at the end) is written
	// there when the script ends. A failing writer ends the run with its
	// error.
	Stdout io.Writer
	Stderr io.Writer
}

// Result is what a finished script left behind. A non-zero ExitStatus is not
// an error of the transport: Run returns it here with a nil error.
type Result struct {
	Stdout     []byte
	Stderr     []byte
	ExitStatus int
}

// Transport is one open connection to a host, shared by every probe and
// change of a run. Implementations are safe for concurrent use.
type Transport interface {
	// Run runs cmd to completion. It returns an error only when the script
	// could not be run or its result could not be collected (connection lost,
	// context cancelled); the script's own failure is Result.ExitStatus.
	Run(ctx context.Context, cmd Command) (*Result, error)
	// Close ends the connection. It is safe to call more than once.
	Close() error
}

// ExitError describes a script that ran but failed; helpers such as Output
// return it so callers can show the host's own words.
type ExitError struct {
	Status int
	Stderr []byte
}

func (e *ExitError) Error() string {
	msg := string(e.Stderr)
	if len(msg) > 2000 {
		msg = msg[:2000] + "..."
	}
	if msg == "" {
		return fmt.Sprintf("exit status %d", e.Status)
	}
	return fmt.Sprintf("exit status %d: %s", e.Status, trimNewline(msg))
}

func trimNewline(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}

// Output runs cmd and returns its standard output, or an *ExitError when
// the script exited non-zero.
func Output(ctx context.Context, t Transport, cmd Command) ([]byte, error) {
	res, err := t.Run(ctx, cmd)
	if err != nil {
		return nil, err
	}
	if res.ExitStatus != 0 {
		return res.Stdout, &ExitError{Status: res.ExitStatus, Stderr: res.Stderr}
	}
	return res.Stdout, nil
}
