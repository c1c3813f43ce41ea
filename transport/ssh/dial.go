package ssh

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/tendhq/tend/transport"
)

var _ transport.Dialer = (*Transport)(nil)

// DialContext implements transport.Dialer: it opens a TCP connection
// ("tcp", "host:port", a direct-tcpip channel) or a Unix socket ("unix",
// path, direct-streamlocal@openssh.com; the socket is opened by sshd as
// the login user, without become) from the host. The connection honours
// deadlines (transport.WithDeadlines).
func (t *Transport) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6", "unix":
	default:
		return nil, fmt.Errorf("ssh %s: dial %s %s: unsupported network", t.name, network, addr)
	}
	c, err := t.client.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("ssh %s: dial %s %s from the host: %w", t.name, network, addr, t.connErr(err))
	}
	return transport.WithDeadlines(c, c.LocalAddr(), c.RemoteAddr()), nil
}

// Pipe implements transport.Dialer: script runs as Run runs it (through
// sudo with become), its standard input and output carrying the
// connection's bytes. A script that ends makes reads fail with its exit
// status and standard error.
func (t *Transport) Pipe(ctx context.Context, script string, stderr func([]byte)) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	// The connection outlives the dial's context: Close ends it.
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		status, errb, err := t.run(runCtx, "pipe", script, inR, outW)
		inR.Close()
		if stderr != nil && len(errb) > 0 {
			stderr(errb)
		}
		switch {
		case err != nil:
			outW.CloseWithError(err)
		case status != 0:
			msg := strings.TrimSpace(string(errb))
			if msg == "" {
				msg = "no error output"
			}
			outW.CloseWithError(fmt.Errorf("ssh %s: relay exited with status %d: %s", t.name, status, msg))
		default:
			outW.Close()
		}
	}()
	p := &pipeConn{r: outR, w: inW, done: done, cancel: cancel}
	addr := pipeAddr(t.name)
	return transport.WithDeadlines(p, addr, addr), nil
}

type pipeConn struct {
	r      *io.PipeReader
	w      *io.PipeWriter
	done   chan struct{}
	cancel context.CancelFunc
}

func (p *pipeConn) Read(b []byte) (int, error)  { return p.r.Read(b) }
func (p *pipeConn) Write(b []byte) (int, error) { return p.w.Write(b) }

// Close closes the script's input, which ends a relay; one that does not
// end within 10 seconds is stopped (its process group killed).
func (p *pipeConn) Close() error {
	p.w.Close()
	go func() { _, _ = io.Copy(io.Discard, p.r) }()
	go func() {
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
		}
		p.cancel()
	}()
	return nil
}

type pipeAddr string

func (a pipeAddr) Network() string { return "pipe" }
func (a pipeAddr) String() string  { return string(a) }
