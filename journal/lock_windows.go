//go:build windows

package journal

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// Windows byte-range locks are mandatory: a locked range cannot be read
// by anyone else. The lock covers one byte far past any journal's end,
// so readers still read the records while a writer holds the lock.
const lockOffsetLow, lockOffsetHigh = 0xFFFFFFFF, 0x7FFFFFFF

// tryLock takes f's lock without waiting, exclusive or shared, with
// LockFileEx; Windows releases it when the holder's handle closes or the
// process dies.
func tryLock(f *os.File, exclusive bool) error {
	flags := uint32(windows.LOCKFILE_FAIL_IMMEDIATELY)
	if exclusive {
		flags |= windows.LOCKFILE_EXCLUSIVE_LOCK
	}
	ol := &windows.Overlapped{Offset: lockOffsetLow, OffsetHigh: lockOffsetHigh}
	return windows.LockFileEx(windows.Handle(f.Fd()), flags, 0, 1, 0, ol)
}

// unlock releases f's lock.
func unlock(f *os.File) {
	ol := &windows.Overlapped{Offset: lockOffsetLow, OffsetHigh: lockOffsetHigh}
	_ = windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, ol)
}

// isLocked reports whether tryLock failed because another holder has
// the lock.
func isLocked(err error) bool { return errors.Is(err, windows.ERROR_LOCK_VIOLATION) }
