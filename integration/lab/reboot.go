package lab

import (
	"os/exec"
	"syscall"
)

// watchReboot boots a host again when its init reboots it: `systemctl
// reboot` inside the host ends its PID namespace with SIGHUP (the kernel's
// way of reporting a reboot of a namespace's init), and a real machine
// would come back. Any other end (SIGKILL from Stop, Close or CleanStale;
// SIGINT from a poweroff) leaves the host down. Stop, Restart and Close
// hold l.mu and clear or replace h.cmd, so an exit they caused is never
// taken for a reboot either.
func (l *Lab) watchReboot(h *Host, cmd *exec.Cmd, exited <-chan struct{}) {
	select {
	case <-exited:
	case <-l.life.Done():
		return
	}
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGHUP {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || h.cmd != cmd {
		return
	}
	l.opts.Logf("lab: %s rebooted itself: booting it again", h.Name)
	if err := l.stopHost(h); err != nil {
		l.opts.Logf("lab: cleaning up %s after its reboot: %v", h.Name, err)
	}
	if err := l.boot(l.life, h); err != nil {
		l.opts.Logf("lab: rebooting %s: %v", h.Name, err)
	}
}
