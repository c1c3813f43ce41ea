//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package ssh

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive advisory lock on f, so that tend processes
// dialling in parallel append to known_hosts one at a time.
func lockFile(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			return err
		}
	}
}

func unlockFile(f *os.File) {
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
