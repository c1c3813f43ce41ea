//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package ssh

import (
	"os/exec"
	"syscall"
)

// nil0 is signal 0: a probe for whether a process exists.
var nil0 = syscall.Signal(0)

func setpgid(c *exec.Cmd) { c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }
