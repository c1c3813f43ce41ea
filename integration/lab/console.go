package lab

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"syscall"
	"unsafe"
)

// console is the pseudo-terminal a host gets as /dev/console. systemd
// prints its status lines only to a terminal, so a plain file would stay
// empty; what is written to the terminal is copied to the host's log file.
type console struct {
	slavePath string
	master    *os.File
	slave     *os.File // held open so the master never reads EIO between writers
	done      chan struct{}
}

// openConsole allocates a pseudo-terminal in the machine's devpts and
// starts copying its output to logPath.
func openConsole(logPath string) (*console, error) {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/ptmx: %w", err)
	}
	fail := func(err error) (*console, error) {
		master.Close()
		return nil, err
	}
	var n uint32
	if err := ioctl(master, syscall.TIOCGPTN, unsafe.Pointer(&n)); err != nil {
		return fail(fmt.Errorf("TIOCGPTN: %w", err))
	}
	var unlock int32
	if err := ioctl(master, syscall.TIOCSPTLCK, unsafe.Pointer(&unlock)); err != nil {
		return fail(fmt.Errorf("TIOCSPTLCK: %w", err))
	}
	c := &console{slavePath: fmt.Sprintf("/dev/pts/%d", n), master: master, done: make(chan struct{})}
	c.slave, err = os.OpenFile(c.slavePath, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return fail(fmt.Errorf("open %s: %w", c.slavePath, err))
	}
	// No output processing: the log gets "\n", not "\r\n".
	var tio syscall.Termios
	if err := ioctl(c.slave, syscall.TCGETS, unsafe.Pointer(&tio)); err == nil {
		tio.Oflag &^= syscall.OPOST
		tio.Lflag &^= syscall.ECHO
		_ = ioctl(c.slave, syscall.TCSETS, unsafe.Pointer(&tio))
	}
	// A wide terminal: systemd shortens status lines to the width.
	ws := [4]uint16{50, 240, 0, 0} // rows, columns, x and y pixels
	_ = ioctl(c.slave, syscall.TIOCSWINSZ, unsafe.Pointer(&ws))
	log, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		c.slave.Close()
		return fail(err)
	}
	go func() {
		defer close(c.done)
		defer log.Close()
		_, _ = io.Copy(crlfWriter{log}, master)
	}()
	return c, nil
}

// close stops copying and releases the terminal; the host must be dead.
func (c *console) close() {
	if c == nil {
		return
	}
	c.slave.Close()
	c.master.Close() // the master is in Go's poller: Close ends the copy
	<-c.done
}

func ioctl(f *os.File, req uintptr, arg unsafe.Pointer) error {
	conn, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var errno syscall.Errno
	if err := conn.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, req, uintptr(arg))
	}); err != nil {
		return err
	}
	if errno != 0 {
		return errno
	}
	return nil
}

// crlfWriter drops carriage returns, which terminal output is full of.
type crlfWriter struct{ w io.Writer }

func (c crlfWriter) Write(p []byte) (int, error) {
	if _, err := c.w.Write(bytes.ReplaceAll(p, []byte("\r"), nil)); err != nil {
		return 0, err
	}
	return len(p), nil
}
