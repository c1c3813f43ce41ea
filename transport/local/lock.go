package local

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tendhq/tend/transport"
)

var _ transport.Locker = (*Transport)(nil)

// lockPoll is how often a Lock that waits tries again.
const lockPoll = 100 * time.Millisecond

// lock is a held run lock.
type lock struct {
	t      *Transport
	f      *os.File
	holder string
	once   sync.Once
	err    error
}

// lockPath is t.LockPath or the default.
func (t *Transport) lockPath() (string, error) {
	if t.LockPath != "" {
		return t.LockPath, nil
	}
	for _, d := range transport.LockDirs() {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			return filepath.Join(d, transport.LockFileName), nil
		}
	}
	return "", fmt.Errorf("no lock directory (%s)", strings.Join(transport.LockDirs(), ", "))
}

// Lock implements transport.Locker with flock(2) on the lock file, which
// the kernel releases when tend dies. The file is opened read-only
// (created 0644 if missing), so users who cannot write it still contend
// on it; the holder record (LockInfo.MarshalText plus host_pid, tend's
// PID) goes next to it, replaced by rename.
func (t *Transport) Lock(ctx context.Context, info transport.LockInfo, wait time.Duration) (func() error, error) {
	fail := func(err error) error { return fmt.Errorf("local: lock: %w", err) }
	if t.closed.Load() {
		return nil, fail(errors.New("transport closed"))
	}
	if err := unavailable(); err != nil {
		return nil, fail(err)
	}
	path, err := t.lockPath()
	if err != nil {
		return nil, fail(err)
	}
	if f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644); err == nil {
		f.Chmod(0o644) // whatever the umask
		f.Close()
	}
	f, err := openLockFile(path)
	if err != nil {
		return nil, fail(err)
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fail(fmt.Errorf("%s is not a regular file", path))
	}
	deadline := time.Now().Add(wait)
	for {
		busy, err := tryLockFile(f)
		if err != nil {
			f.Close()
			return nil, fail(fmt.Errorf("flock %s: %w", path, err))
		}
		if !busy {
			break
		}
		left := time.Until(deadline)
		if left <= 0 {
			f.Close()
			return nil, fail(&transport.LockedError{Path: path, Holder: readHolder(path + transport.HolderSuffix)})
		}
		timer := time.NewTimer(min(left, lockPoll))
		select {
		case <-ctx.Done():
			timer.Stop()
			f.Close()
			return nil, fail(ctx.Err())
		case <-timer.C:
		}
	}
	l := &lock{t: t, f: f, holder: path + transport.HolderSuffix}
	writeHolder(l.holder, info)
	t.mu.Lock()
	if t.locks == nil {
		t.locks = map[*lock]bool{}
	}
	t.locks[l] = true
	t.mu.Unlock()
	return l.release, nil
}

// release removes the holder record, then unlocks: the record never
// names a run that no longer holds the lock.
func (l *lock) release() error {
	l.once.Do(func() {
		os.Remove(l.holder)
		l.err = l.f.Close() // releases the flock
		l.t.mu.Lock()
		delete(l.t.locks, l)
		l.t.mu.Unlock()
	})
	return l.err
}

// writeHolder records info at path: a temporary file renamed into place.
// It fails silently (another user's record in a sticky directory): the
// lock is what counts, and readHolder ignores a record whose process is
// gone.
func writeHolder(path string, info transport.LockInfo) {
	rec, _ := info.MarshalText()
	rec = fmt.Appendf(rec, "host_pid=%d\n", os.Getpid())
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return
	}
	_, err = f.Write(rec)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
}

// readHolder reads the holder record at path; zero when it is missing,
// unreadable, or left by a process that is gone.
func readHolder(path string) transport.LockInfo {
	b, err := os.ReadFile(path)
	if err != nil {
		return transport.LockInfo{}
	}
	var info transport.LockInfo
	if info.UnmarshalText(b) != nil {
		return transport.LockInfo{}
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "host_pid="); ok {
			pid, err := strconv.Atoi(v)
			if _, perr := os.Stat("/proc/self"); err == nil && perr == nil {
				if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil {
					return transport.LockInfo{}
				}
			}
		}
	}
	return info
}
