//go:build unix

package inventory

import (
	"errors"
	"os/exec"
	"syscall"
)

// isExecFormatError reports whether the kernel refused to execute a
// file because it is not a program (no #! line, not a binary).
func isExecFormatError(err error) bool { return errors.Is(err, syscall.ENOEXEC) }

// killProcessGroup runs cmd in its own process group and makes
// cancelling it kill the whole group, so a script's children (a sleep, a
// curl) die with it instead of holding its output open.
func killProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
