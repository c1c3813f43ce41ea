package transport

import (
	"context"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// Dialer is implemented by transports that can open byte streams from
// the host: a TCP connection or Unix socket opened on the host (an SSH
// direct-tcpip or direct-streamlocal channel), or the standard input and
// output of a script run on it (for a relay running as another user).
// Database resources reach their servers this way. Every connection it
// returns supports deadlines (see WithDeadlines).
type Dialer interface {
	// DialContext connects from the host to addr: network "tcp" with
	// "host:port", or "unix" with a socket path.
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
	// Pipe runs script on the host as Run would (with become) and returns
	// a connection whose writes are the script's standard input and whose
	// reads are its standard output. Closing it closes the input and, if
	// the script has not ended, stops it. stderr, when not nil, receives
	// what the script prints on its standard error (once it has ended).
	Pipe(ctx context.Context, script string, stderr func([]byte)) (net.Conn, error)
}

// WithDeadlines makes a connection without deadline support (an SSH
// channel) honour SetDeadline, SetReadDeadline and SetWriteDeadline, so
// timeouts and cancellation by database drivers really interrupt a
// blocked read or write. A read that times out is not lost: it keeps
// running and its bytes are returned by the next Read. A write that
// times out closes the connection (part of it may have been sent, so the
// stream is no longer usable).
func WithDeadlines(c io.ReadWriteCloser, local, remote net.Addr) net.Conn {
	return &deadlineConn{c: c, local: local, remote: remote, rd: newDeadline(), wd: newDeadline(), closed: make(chan struct{})}
}

type deadlineConn struct {
	c             io.ReadWriteCloser
	local, remote net.Addr
	rd, wd        *deadline

	rmu     sync.Mutex
	pending chan readResult // the read under way, if any
	left    []byte          // bytes read but not yet returned

	wmu sync.Mutex

	closeOnce sync.Once
	closed    chan struct{}
}

type readResult struct {
	b   []byte
	err error
}

func (d *deadlineConn) Read(p []byte) (int, error) {
	d.rmu.Lock()
	defer d.rmu.Unlock()
	if len(d.left) > 0 {
		n := copy(p, d.left)
		d.left = d.left[n:]
		return n, nil
	}
	if len(p) == 0 {
		return 0, nil
	}
	select {
	case <-d.closed:
		return 0, net.ErrClosed
	default:
	}
	if d.pending == nil {
		ch := make(chan readResult, 1)
		buf := make([]byte, max(len(p), 32<<10))
		go func() {
			n, err := d.c.Read(buf)
			ch <- readResult{buf[:n], err}
		}()
		d.pending = ch
	}
	select {
	case r := <-d.pending:
		d.pending = nil
		n := copy(p, r.b)
		d.left = r.b[n:]
		if len(d.left) > 0 {
			return n, nil
		}
		return n, r.err
	case <-d.rd.wait():
		return 0, os.ErrDeadlineExceeded
	case <-d.closed:
		return 0, net.ErrClosed
	}
}

func (d *deadlineConn) Write(p []byte) (int, error) {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	if isClosed(d.closed) {
		return 0, net.ErrClosed
	}
	if isClosed(d.wd.wait()) {
		return 0, os.ErrDeadlineExceeded
	}
	type result struct {
		n   int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		n, err := d.c.Write(p)
		ch <- result{n, err}
	}()
	select {
	case r := <-ch:
		return r.n, r.err
	case <-d.wd.wait():
		d.Close()
		return 0, os.ErrDeadlineExceeded
	case <-d.closed:
		return 0, net.ErrClosed
	}
}

func (d *deadlineConn) Close() error {
	err := net.ErrClosed
	d.closeOnce.Do(func() {
		close(d.closed)
		err = d.c.Close()
	})
	return err
}

func (d *deadlineConn) LocalAddr() net.Addr  { return d.local }
func (d *deadlineConn) RemoteAddr() net.Addr { return d.remote }

func (d *deadlineConn) SetDeadline(t time.Time) error {
	d.rd.set(t)
	d.wd.set(t)
	return nil
}

func (d *deadlineConn) SetReadDeadline(t time.Time) error  { d.rd.set(t); return nil }
func (d *deadlineConn) SetWriteDeadline(t time.Time) error { d.wd.set(t); return nil }

// deadline is a settable point in time whose channel closes when it
// passes (as net.Pipe's deadlines do).
type deadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	cancel chan struct{} // closed when the deadline passes
}

func newDeadline() *deadline { return &deadline{cancel: make(chan struct{})} }

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel // the timer fired: wait until it closed cancel
	}
	d.timer = nil
	closed := isClosed(d.cancel)
	if t.IsZero() {
		if closed {
			d.cancel = make(chan struct{})
		}
		return
	}
	if dur := time.Until(t); dur > 0 {
		if closed {
			d.cancel = make(chan struct{})
		}
		c := d.cancel
		d.timer = time.AfterFunc(dur, func() { close(c) })
		return
	}
	if !closed {
		close(d.cancel)
	}
}

func (d *deadline) wait() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
