//go:build unix

package backend

import (
	"errors"
	"syscall"
)

// processGone tells whether no process with this pid exists on this
// machine (signal 0 answers ESRCH).
func processGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
