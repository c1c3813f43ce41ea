//go:build unix

package local

import (
	"os"
	"os/exec"
	"syscall"
)

// unavailable says why the local transport cannot run here: nil on Unix.
func unavailable() error { return nil }

// ownProcessGroup starts cmd in a process group of its own.
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// killGroupOnCancel makes cancelling cmd kill its whole process group.
func killGroupOnCancel(cmd *exec.Cmd) {
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}

// killGroup kills the process group led by pid.
func killGroup(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }

// openLockFile opens the lock file for flock(2): read-only, refusing a
// symlink, and O_NONBLOCK so that a FIFO planted in its place does not
// hang tend.
func openLockFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
}

// tryLockFile takes f's exclusive flock(2) without waiting; busy reports
// that another process holds it (or a signal interrupted the call).
func tryLockFile(f *os.File) (busy bool, err error) {
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if err == syscall.EWOULDBLOCK || err == syscall.EINTR {
		return true, nil
	}
	return false, err
}
