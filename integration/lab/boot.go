package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// bootScript boots one lab host. It is started in a session of its own
// (setsid). Stage "outer" runs in the machine's namespaces: it moves itself
// into the host's own cgroup (so each host's systemd manages its own cgroup
// tree, not one shared by every host) and execs unshare. Stage "inner" is
// PID 1 of the new PID namespace and does DESIGN.md's recipe: make /
// rprivate, bind the root onto itself, proc, /sys and /dev, tmpfs on /run
// and /tmp, pivot_root, drop the old root, container=other, exec systemd.
// Additions to the recipe, all confined to the host's mount namespace:
// /proc/sys and /sys are read-only (systemd then skips units that would
// change the machine's kernel state), a cgroup2 hierarchy rooted at the
// host's own cgroup (cgroup namespace), a private devpts and /dev/shm, and
// /dev/console bound to a pseudo-terminal whose output goes to a log file.
const bootScript = `#!/bin/sh
# Boots one tend lab host (written by integration/lab, boot.go).
set -eu
if [ "$1" = outer ]; then
	# outer CGROUP ROOT CONSOLE
	echo $$ > "$2/cgroup.procs"
	exec unshare --pid --mount --uts --ipc --cgroup --fork --kill-child \
		/bin/sh "$0" inner "$3" "$4"
fi
# inner ROOT CONSOLE
root=$2 console=$3
mount --make-rprivate /
mount --bind "$root" "$root"
mount -t proc proc "$root/proc"
mount --bind "$root/proc/sys" "$root/proc/sys"
mount -o remount,bind,ro "$root/proc/sys"
mount --rbind /sys "$root/sys"
mount -o remount,bind,ro "$root/sys"
mount -t cgroup2 cgroup2 "$root/sys/fs/cgroup"
mount --rbind /dev "$root/dev"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$root/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts "$root/dev/pts"
mount --bind "$root/dev/pts/ptmx" "$root/dev/ptmx"
mount --bind "$console" "$root/dev/console"
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs "$root/run"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$root/tmp"
cd "$root"
pivot_root . .
umount -l .
cd /
exec /usr/bin/env -i container=other TEND_LAB_ID="$TEND_LAB_ID" TEND_LAB_HOST="$TEND_LAB_HOST" \
	SYSTEMD_COLORS=0 PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	/lib/systemd/systemd --system --show-status=yes
`

// spawner starts processes from one goroutine locked to its OS thread.
// Hosts are started with Pdeathsig, which fires when the *thread* that
// forked them exits; Go retires threads only when a goroutine exits while
// locked, so a dedicated locked thread that lives as long as the lab makes
// "kill the hosts when the test process dies" precise, and never early.
type spawner struct {
	mu     sync.Mutex
	closed bool
	reqs   chan spawnReq
}

type spawnReq struct {
	cmd *exec.Cmd
	err chan error
}

func newSpawner() *spawner {
	s := &spawner{reqs: make(chan spawnReq)}
	go func() {
		runtime.LockOSThread()
		// Exit while locked: the thread is retired with the lab, and any
		// host still alive (there should be none) is killed with it.
		for r := range s.reqs {
			r.err <- r.cmd.Start()
		}
	}()
	return s
}

func (s *spawner) start(cmd *exec.Cmd) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("lab is closed")
	}
	ch := make(chan error, 1)
	s.reqs <- spawnReq{cmd, ch}
	return <-ch
}

func (s *spawner) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.reqs)
	}
}

// boot starts host h on its overlay and waits until its sshd answers.
func (l *Lab) boot(ctx context.Context, h *Host) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(l.life, cancel)()
	err := l.bootSteps(ctx, h)
	if err == nil {
		go l.watchReboot(h, h.cmd, h.exited)
	}
	if err != nil {
		if ctx.Err() == nil { // a real failure, not a cancellation: explain it
			err = fmt.Errorf("%w\n%s", err, h.diagnostics())
		}
		err = fmt.Errorf("boot %s (%s): %w", h.Name, h.Address, err)
		_ = l.stopHost(h)
	}
	return err
}

func (l *Lab) bootSteps(ctx context.Context, h *Host) error {
	began := time.Now()
	if err := removeCgroup(h.cgroup, 5*time.Second); err != nil {
		return err
	}
	if err := os.MkdirAll(h.cgroup, 0o755); err != nil {
		return fmt.Errorf("create cgroup for %s: %w", h.Name, err)
	}
	logPath := h.ConsoleLog()
	_ = os.Rename(logPath, logPath+".prev")
	if err := os.WriteFile(logPath, nil, 0o644); err != nil {
		return err
	}
	console, err := openConsole(logPath)
	if err != nil {
		return fmt.Errorf("console for %s: %w", h.Name, err)
	}
	h.console = console
	bootLog, err := os.OpenFile(filepath.Join(h.dir, "boot.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer bootLog.Close()
	fmt.Fprintf(bootLog, "--- boot %s at %s\n", h.Name, time.Now().Format(time.RFC3339Nano))

	cmd := exec.Command("/bin/sh", filepath.Join(l.dir, "boot.sh"), "outer", h.cgroup, h.Root, console.slavePath)
	cmd.Env = []string{
		"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
		envLabID + "=" + l.id,
		"TEND_LAB_HOST=" + h.Name,
	}
	cmd.Stdout, cmd.Stderr = bootLog, bootLog
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
	if err := l.spawner.start(cmd); err != nil {
		return fmt.Errorf("start %s: %w", h.Name, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	h.cmd, h.exited = cmd, exited

	l.opts.Logf("lab: %s spawned after %v", h.Name, time.Since(began).Round(time.Millisecond))
	// The namespace's init is unshare's only child.
	deadline := time.Now().Add(l.opts.BootTimeout)
	for h.PID == 0 {
		for _, c := range childrenOf(cmd.Process.Pid) {
			if isNamespaceInit(c) {
				if st, err := procStartTime(c); err == nil {
					l.stateMu.Lock()
					h.PID, h.start = c, st
					l.stateMu.Unlock()
				}
			}
		}
		if h.PID != 0 {
			break
		}
		select {
		case <-exited:
			return errors.New("boot script exited before the namespace started")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("timed out waiting for the namespace's init process")
		}
	}
	if err := l.saveState(); err != nil {
		return err
	}

	for {
		if err := sshBanner(h.Address); err == nil {
			l.opts.Logf("lab: %s (%s, pid %d) answers after %v", h.Name, h.Address, h.PID, time.Since(began).Round(time.Millisecond))
			return nil
		}
		select {
		case <-exited:
			return errors.New("the host's init exited during boot")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sshd did not answer on %s:22 within %v", h.Address, l.opts.BootTimeout)
		}
	}
}

// sshBanner connects to addr:22 and reads the SSH identification line.
func sshBanner(addr string) error {
	conn, err := net.DialTimeout("tcp", net.JoinHostPort(addr, "22"), 500*time.Millisecond)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "SSH-2.0-") {
		return fmt.Errorf("unexpected banner %q", line)
	}
	return nil
}

// stopHost kills h's namespace init (and so every process in the host),
// waits for its boot process to exit and its address to stop answering,
// and removes its cgroup. The overlay stays mounted for a later boot.
func (l *Lab) stopHost(h *Host) error {
	var errs []error
	if h.cmd != nil {
		errs = append(errs, l.killHost(h)...)
	}
	if err := removeCgroup(h.cgroup, 5*time.Second); err != nil {
		errs = append(errs, err)
	}
	h.console.close()
	h.console = nil
	l.stateMu.Lock()
	h.cmd, h.exited, h.PID, h.start = nil, nil, 0, 0
	l.stateMu.Unlock()
	if err := l.saveState(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// killHost kills a started host's processes and waits for them to go.
func (l *Lab) killHost(h *Host) []error {
	var errs []error
	if h.PID > 0 {
		if err := killAndWait(h.PID, h.start, 10*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	// The boot script runs in a process group of its own (Setsid): this
	// also gets a host stopped before its init was known, and the unshare.
	select {
	case <-h.exited: // reaped: the group may be gone and its ID reusable
	default:
		_ = syscall.Kill(-h.cmd.Process.Pid, syscall.SIGKILL)
	}
	select {
	case <-h.exited:
	case <-time.After(10 * time.Second):
		// unshare should follow its child; make sure it does.
		_ = h.cmd.Process.Kill()
		select {
		case <-h.exited:
		case <-time.After(5 * time.Second):
			errs = append(errs, fmt.Errorf("boot process %d of %s did not exit", h.cmd.Process.Pid, h.Name))
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(h.Address, "22"), 200*time.Millisecond)
		if err != nil {
			break
		}
		conn.Close()
		if time.Now().After(deadline) {
			errs = append(errs, fmt.Errorf("%s:22 still answers after %s was stopped", h.Address, h.Name))
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errs
}

// diagnostics gathers what explains a failed boot: the boot script's
// output, the console, and (if the host still runs) systemd's view.
func (h *Host) diagnostics() string {
	var b strings.Builder
	b.WriteString(tail(filepath.Join(h.dir, "boot.log"), 10))
	b.WriteString("\n")
	b.WriteString(tail(h.ConsoleLog(), 30))
	if h.PID > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		out, err := nsenter(ctx, h.PID, "systemctl --no-pager --failed; journalctl --no-pager -b -n 30 -u ssh.service")
		fmt.Fprintf(&b, "\n--- systemctl --failed; journalctl -u ssh (%v) ---\n%s", err, out)
	}
	if l := portListeners(h.octet); len(l) > 0 {
		fmt.Fprintf(&b, "\n--- port 22 users ---\n%s", strings.Join(l, "\n"))
	}
	return b.String()
}

// nsenter runs a shell command inside the namespaces of pid, with a clean
// environment, returning stdout; stderr is folded into the error.
func nsenter(ctx context.Context, pid int, command string) (string, error) {
	cmd := exec.CommandContext(ctx, "nsenter", "--target", fmt.Sprint(pid), "--all", "--root", "--wd",
		"/bin/sh", "-c", command)
	cmd.Env = []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/root", "USER=root", "LOGNAME=root", "LANG=C.UTF-8", "TERM=dumb",
	}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}
