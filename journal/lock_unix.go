//go:build unix

package journal

import (
	"errors"
	"os"
	"syscall"
)

// tryLock takes f's lock without waiting, exclusive or shared; flock(2)
// locks are released by the kernel when the holder dies.
func tryLock(f *os.File, exclusive bool) error {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	return syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
}

// unlock releases f's lock.
func unlock(f *os.File) { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }

// isLocked reports whether tryLock failed because another holder has
// the lock.
func isLocked(err error) bool { return errors.Is(err, syscall.EWOULDBLOCK) }
