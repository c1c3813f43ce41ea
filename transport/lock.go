package transport

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrConnLost is wrapped by the errors of operations that failed because
// the connection to the host dropped (the host rebooted, the network went
// away, a keepalive went unanswered): a caller may dial again and go on.
// It is not wrapped when the caller closed the transport itself.
var ErrConnLost = errors.New("connection lost")

// LockFileName is the host's lock file, in the first of LockDirs that
// exists; the holder record (LockInfo.MarshalText) is the file of the same
// name plus HolderSuffix next to it. Every transport and every user (root
// or not) locks the same file, so all runs on a host contend on one lock.
const (
	LockFileName = "tend.lock"
	HolderSuffix = ".holder"
)

// LockDirs are the directories the lock file may live in, in order of
// preference: /run/lock is a tmpfs (the lock does not survive a reboot,
// nor does any run), /var/lock its older name, /tmp the last resort.
func LockDirs() []string { return []string{"/run/lock", "/var/lock", "/tmp"} }

// LockInfo identifies the run holding a host. It is recorded on the host
// next to the lock (see Locker) for the runs that find the host taken.
type LockInfo struct {
	// RunID names the run, User the person who started it, Controller the
	// hostname of the machine tend runs on, Command what was run ("tend
	// apply").
	RunID, User, Controller, Command string
	// PID is tend's process ID on the controller.
	PID int
	// Started is when the run began.
	Started time.Time
}

// Locker is implemented by transports that can hold the host's run lock:
// an exclusive lock on the host itself, held until release is called, the
// transport is closed, or the process holding it dies (the host's kernel
// releases it: no timeouts, no stale-lock guessing).
//
// Lock waits up to wait for a lock another run holds (0: fail at once);
// then it returns a *LockedError naming the holder. The run engine calls
// it once per host and run, before the first change; two runs on one host
// never overlap, whichever controllers they come from.
type Locker interface {
	Lock(ctx context.Context, info LockInfo, wait time.Duration) (release func() error, err error)
}

// LockedError is Lock's error when another run holds the host (after
// waiting `wait`; 0 = fail at once).
type LockedError struct {
	// Holder is the run holding the lock, as it recorded itself; zero when
	// that record could not be read.
	Holder LockInfo
	// Path is the lock file on the host.
	Path string
}

func (e *LockedError) Error() string {
	h := e.Holder
	if h.RunID == "" {
		return fmt.Sprintf("host is locked by another run (which one is unknown: no holder record next to %s)", e.Path)
	}
	var who []string
	if h.User != "" {
		w := "user " + h.User
		if h.Controller != "" {
			w += " on " + h.Controller
		}
		who = append(who, w)
	} else if h.Controller != "" {
		who = append(who, "on "+h.Controller)
	}
	if h.PID > 0 {
		who = append(who, "pid "+strconv.Itoa(h.PID))
	}
	if !h.Started.IsZero() {
		who = append(who, "since "+h.Started.UTC().Format("2006-01-02 15:04:05 MST"))
	}
	msg := "host is locked by run " + h.RunID
	if len(who) > 0 {
		msg += " (" + strings.Join(who, ", ") + ")"
	}
	if h.Command != "" {
		msg += ": " + h.Command
	}
	return msg
}

// The holder record's keys, one "key=value" line each; values never hold
// a line break (MarshalText turns them into spaces).
const (
	holderRun        = "run"
	holderUser       = "user"
	holderController = "controller"
	holderPID        = "pid"
	holderStarted    = "started"
	holderCommand    = "command"
)

// MarshalText is the holder record a Locker writes next to its lock file:
// "key=value" lines (run, user, controller, pid, started in RFC 3339,
// command), meant for people reading the file as much as for Lock.
func (i LockInfo) MarshalText() ([]byte, error) {
	clean := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r == '\n' || r == '\r' || r == 0 {
				return ' '
			}
			return r
		}, s)
	}
	var b bytes.Buffer
	line := func(k, v string) { fmt.Fprintf(&b, "%s=%s\n", k, clean(v)) }
	line(holderRun, i.RunID)
	line(holderUser, i.User)
	line(holderController, i.Controller)
	line(holderPID, strconv.Itoa(i.PID))
	if !i.Started.IsZero() {
		line(holderStarted, i.Started.UTC().Format(time.RFC3339))
	}
	line(holderCommand, i.Command)
	return b.Bytes(), nil
}

// UnmarshalText reads a holder record. Unknown keys are skipped, so the
// record may grow; a record without a run ID is an error.
func (i *LockInfo) UnmarshalText(text []byte) error {
	var out LockInfo
	sc := bufio.NewScanner(bytes.NewReader(text))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		switch k {
		case holderRun:
			out.RunID = v
		case holderUser:
			out.User = v
		case holderController:
			out.Controller = v
		case holderPID:
			out.PID, _ = strconv.Atoi(v)
		case holderStarted:
			out.Started, _ = time.Parse(time.RFC3339, v)
		case holderCommand:
			out.Command = v
		}
	}
	if out.RunID == "" {
		return errors.New("lock holder record without a run ID")
	}
	*i = out
	return nil
}
