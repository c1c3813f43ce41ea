package transport

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// rwc is one end of a byte stream without deadlines (like an SSH channel).
type rwc struct {
	io.Reader
	io.Writer
	close func() error
}

func (c rwc) Close() error { return c.close() }

func pair() (net.Conn, io.Writer, io.Reader, func()) {
	inR, inW := io.Pipe()   // test → conn
	outR, outW := io.Pipe() // conn → test
	c := WithDeadlines(rwc{inR, outW, func() error { inR.Close(); outW.Close(); return nil }}, nil, nil)
	return c, inW, outR, func() { inW.Close(); outR.Close() }
}

// TestDeadlines: a read blocked on a stream without deadlines returns at
// its deadline, and the bytes that arrive later are not lost; a deadline
// set in the past interrupts a blocked read at once (how drivers cancel);
// a write blocked past its deadline fails and closes the connection.
func TestDeadlines(t *testing.T) {
	c, in, out, done := pair()
	defer done()
	buf := make([]byte, 10)
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := c.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past its deadline: %v", err)
	}
	c.SetReadDeadline(time.Time{})
	go in.Write([]byte("hello"))
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("read after a timeout = %q, %v", buf[:n], err)
	}
	errc := make(chan error, 1)
	go func() { _, err := c.Read(buf); errc <- err }()
	time.Sleep(20 * time.Millisecond)
	c.SetDeadline(time.Now().Add(-time.Second))
	select {
	case err := <-errc:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("interrupted read: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a deadline in the past did not interrupt a blocked read")
	}
	c.SetDeadline(time.Time{})
	// Nobody reads out: the write blocks until its deadline.
	c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := c.Write([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("blocked write: %v", err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after a timed-out write: %v", err)
	}
	_ = out
}

// TestDeadlinesPassThrough: without deadlines, bytes flow both ways and
// Close ends a blocked read.
func TestDeadlinesPassThrough(t *testing.T) {
	c, in, out, done := pair()
	defer done()
	go func() { in.Write([]byte("ping")) }()
	buf := make([]byte, 2)
	n, _ := c.Read(buf)
	m, _ := c.Read(buf[n:])
	if string(buf[:n+m]) != "pi" {
		t.Fatalf("read %q", buf[:n+m])
	}
	n, _ = c.Read(buf)
	if string(buf[:n]) != "ng" {
		t.Fatalf("rest %q", buf[:n])
	}
	go func() { c.Write([]byte("pong")) }()
	b := make([]byte, 4)
	if _, err := io.ReadFull(out, b); err != nil || string(b) != "pong" {
		t.Fatalf("wrote %q, %v", b, err)
	}
	errc := make(chan error, 1)
	go func() { _, err := c.Read(buf); errc <- err }()
	time.Sleep(20 * time.Millisecond)
	c.Close()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("read after Close succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end a blocked read")
	}
}
