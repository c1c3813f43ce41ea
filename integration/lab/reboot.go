package lab

import (
	"os/exec"
)

// watchReboot boots a host again when its init exits on its own: a
// `systemctl reboot` (or poweroff) inside the host ends its PID namespace,
// and a real machine would come back. Stop, Restart and Close hold l.mu
// and clear or replace h.cmd, so an exit they caused is not a reboot.
func (l *Lab) watchReboot(h *Host, cmd *exec.Cmd, exited <-chan struct{}) {
	select {
	case <-exited:
	case <-l.life.Done():
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || h.cmd != cmd {
		return
	}
	l.opts.Logf("lab: %s's init exited on its own: booting it again, as after a reboot", h.Name)
	if err := l.stopHost(h); err != nil {
		l.opts.Logf("lab: cleaning up %s after its exit: %v", h.Name, err)
	}
	if err := l.boot(l.life, h); err != nil {
		l.opts.Logf("lab: rebooting %s: %v", h.Name, err)
	}
}
