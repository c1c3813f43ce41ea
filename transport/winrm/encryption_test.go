package winrm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tendhq/tend/inventory"
	"github.com/tendhq/tend/transport"
	"github.com/tendhq/tend/transport/winrm/wsmantest"
)

// wireProxy relays TCP connections to a server and keeps what crossed in
// each direction; mutate, when set, may alter a direction's bytes (toServer
// says which) before they are relayed.
type wireProxy struct {
	ln     net.Listener
	target string
	mutate func(toServer bool, b []byte)

	mu           sync.Mutex
	sent, answer bytes.Buffer
	conns        []net.Conn
	wg           sync.WaitGroup
}

// dropAll closes every relayed connection, as a server closes idle ones.
func (p *wireProxy) dropAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func startProxy(t *testing.T, target string) *wireProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &wireProxy{ln: ln, target: target}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			p.wg.Add(2)
			go p.pipe(s, c, true)
			go p.pipe(c, s, false)
		}
	}()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

func (p *wireProxy) pipe(dst, src net.Conn, toServer bool) {
	defer p.wg.Done()
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			b := buf[:n]
			p.mu.Lock()
			if p.mutate != nil {
				p.mutate(toServer, b)
			}
			if toServer {
				p.sent.Write(b)
			} else {
				p.answer.Write(b)
			}
			p.mu.Unlock()
			if _, err := dst.Write(b); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *wireProxy) wire() (sent, answer string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent.String(), p.answer.String()
}

// via points h at the proxy.
func (p *wireProxy) via(h *inventory.Host) *inventory.Host {
	h.Address = "127.0.0.1"
	h.Port = p.ln.Addr().(*net.TCPAddr).Port
	return h
}

// encryptedHosts are the two ways tend encrypts: NTLM, and Kerberos (a
// ticket made from the service key, no KDC).
func encryptedHosts(t *testing.T, handler scriptHandler, opts wsmantest.Options) map[string]func() (*wsmantest.Server, *inventory.Host) {
	return map[string]func() (*wsmantest.Server, *inventory.Host){
		"NTLM": func() (*wsmantest.Server, *inventory.Host) {
			srv := startServer(t, handler, opts)
			return srv, hostFor(t, srv, AuthNTLM)
		},
		"Kerberos": func() (*wsmantest.Server, *inventory.Host) {
			return kerberosHost(t, handler, opts, false)
		},
		// As Windows answers: the AP-REP carries the server's subkey,
		// which keys the context.
		"KerberosAcceptorSubkey": func() (*wsmantest.Server, *inventory.Host) {
			return kerberosHost(t, handler, opts, true)
		},
	}
}

func kerberosHost(t *testing.T, handler scriptHandler, opts wsmantest.Options, subkey bool) (*wsmantest.Server, *inventory.Host) {
	const spn = "HTTP/win1.tend.test"
	kt := serviceKeytab(t, spn, "service-key")
	fakeKerberosLogin(t, kt)
	o := opts
	o.Auth, o.Keytab, o.KerberosAcceptorSubkey = []string{wsmantest.AuthKerberos}, kt, subkey
	srv := startServer(t, handler, o)
	h := hostFor(t, srv, AuthKerberos)
	h.WinRM.User, h.WinRM.Password, h.WinRM.KerberosHostname = "", "", "win1.tend.test"
	return srv, h
}

// echoHandler answers a script with its standard input.
func echoHandler(ctx context.Context, script string, stdin io.Reader, stdout, stderr io.Writer) int {
	if _, err := io.Copy(stdout, stdin); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

// TestEncryptedOnTheWire sends 1 MiB to a script's standard input and
// reads it back from its output through a listener configured as Windows
// is by default (plain HTTP, AllowUnencrypted false) that seals its long
// answers in 16 KiB parts: the bytes the script read and the bytes read
// back are the bytes sent, and no SOAP envelope crosses the wire in clear
// text in either direction.
func TestEncryptedOnTheWire(t *testing.T) {
	for name, start := range encryptedHosts(t, echoHandler, wsmantest.Options{ChunkAnswers: true}) {
		t.Run(name, func(t *testing.T) {
			srv, h := start()
			p := startProxy(t, srv.Addr)
			tr := dialT(t, p.via(h), Options{})
			ctx := context.Background()
			data := randomBytes(t, 1<<20)
			res, err := tr.Run(ctx, transport.Command{Script: "$input", Stdin: bytes.NewReader(data)})
			if err != nil || res.ExitStatus != 0 {
				t.Fatalf("Run: %v, %+v", err, res)
			}
			if sha256.Sum256(res.Stdout) != sha256.Sum256(data) {
				t.Fatalf("read back %d bytes, not the %d sent", len(res.Stdout), len(data))
			}
			tr.Close()
			st := srv.Stats()
			if st.Refused != 0 || st.Encrypted < 10 {
				t.Errorf("server: %d requests decrypted, %d refused", st.Encrypted, st.Refused)
			}
			sent, answer := p.wire()
			for dir, b := range map[string]string{"sent": sent, "answered": answer} {
				if strings.Contains(b, "schemas.microsoft.com/wbem/wsman") || strings.Contains(b, "Envelope") {
					t.Errorf("a SOAP envelope was %s in clear text", dir)
				}
				if !strings.Contains(b, "multipart/encrypted") && !strings.Contains(b, "multipart/x-multi-encrypted") {
					t.Errorf("nothing encrypted was %s", dir)
				}
			}
			if !strings.Contains(answer, "Content-Type: multipart/x-multi-encrypted;protocol=\"application/HTTP-SPNEGO-session-encrypted\"") {
				t.Error("no answer was sealed in 16 KiB parts")
			}
		})
	}
}

// TestTamperedMessage alters one byte of a sealed message on the wire, in
// each direction: the server refuses the request (HTTP 400 saying why),
// tend refuses the answer; neither acts on it.
func TestTamperedMessage(t *testing.T) {
	// flipSealed flips a byte of the first sealed part after the skip-th
	// one seen in the direction toServer.
	flipSealed := func(p *wireProxy, wantToServer bool, skip int) {
		seen := 0
		p.mutate = func(toServer bool, b []byte) {
			if toServer != wantToServer {
				return
			}
			const marker = "Content-Type: application/octet-stream\r\n"
			i := bytes.Index(b, []byte(marker))
			if i < 0 {
				return
			}
			seen++
			if seen != skip+1 {
				return
			}
			at := i + len(marker) + 4 + 70 // past the signature: in the sealed envelope
			if at < len(b) {
				b[at] ^= 0x20
			}
		}
	}
	for name, start := range encryptedHosts(t, shHandler, wsmantest.Options{}) {
		t.Run(name+"/Request", func(t *testing.T) {
			srv, h := start()
			p := startProxy(t, srv.Addr)
			flipSealed(p, true, 1) // the shell's creation passes, the command does not
			tr := dialT(t, p.via(h), Options{})
			_, err := tr.Run(context.Background(), transport.Command{Script: "echo hi"})
			var he *HTTPError
			if !errors.As(err, &he) || he.StatusCode != 400 || !strings.Contains(err.Error(), "does not decrypt") {
				t.Errorf("tampered request: %v, want HTTP 400 saying it does not decrypt", err)
			}
			if st := srv.Stats(); st.Refused != 1 || st.Commands != 0 {
				t.Errorf("server: %d refused, %d commands run", st.Refused, st.Commands)
			}
		})
		t.Run(name+"/Answer", func(t *testing.T) {
			srv, h := start()
			p := startProxy(t, srv.Addr)
			flipSealed(p, false, 0) // the answer to the shell's creation
			err := dialErr(t, p.via(h), Options{})
			if err == nil || !strings.Contains(err.Error(), "decrypting the answer") || !strings.Contains(err.Error(), "altered") {
				t.Errorf("tampered answer: %v, want an error saying it was altered", err)
			}
		})
	}
}

// TestEncryptedReconnect: the server closes the idle connections between
// two commands (its keep-alive timeout); tend authenticates the new ones
// and seals its messages in their new contexts.
func TestEncryptedReconnect(t *testing.T) {
	for name, start := range encryptedHosts(t, shHandler, wsmantest.Options{}) {
		t.Run(name, func(t *testing.T) {
			srv, h := start()
			p := startProxy(t, srv.Addr)
			tr := dialT(t, p.via(h), Options{})
			if out := mustOK(t, tr, "echo one", nil); string(out) != "one\n" {
				t.Fatalf("first: %q", out)
			}
			time.Sleep(100 * time.Millisecond) // the release Signal
			p.dropAll()
			if out := mustOK(t, tr, "echo two", nil); string(out) != "two\n" {
				t.Errorf("after the connections closed: %q", out)
			}
			if st := srv.Stats(); st.Refused != 0 {
				t.Errorf("server refused %d requests", st.Refused)
			}
		})
	}
}
