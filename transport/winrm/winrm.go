package winrm

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/masterzen/winrm"

	"github.com/tendhq/tend/inventory"
	"github.com/tendhq/tend/transport"
)

var _ transport.Transport = (*Transport)(nil)

// Transport is one WinRM endpoint and one remote shell on it, shared by
// every Run of a tend run. It is safe for concurrent
// use; at most Options.MaxCommands commands run at once.
type Transport struct {
	name   string
	conn   *conn
	params *winrm.Parameters
	opts   Options
	warn   io.Writer

	sem chan struct{}

	shellMu sync.Mutex
	shellID string

	shells   atomic.Int64
	commands atomic.Int64
	signals  atomic.Int64

	// bg tracks the work a Run leaves behind when it returns: the
	// terminate Signal that releases its command on the server.
	bg      sync.WaitGroup
	bgMu    sync.Mutex
	closing bool // no more bg work once set

	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Stats counts what a Transport has done, for tests and benchmarks.
type Stats struct {
	// Shells is the number of shells created: one per Dial, plus one each
	// time the server lost the shell (it expired or was deleted).
	Shells int64
	// Commands is the number of Command requests: one per Run.
	Commands int64
	// Requests is the number of SOAP requests posted (authentication legs
	// not counted).
	Requests int64
	// Signals is the number of terminate signals sent: one per finished
	// or cancelled command, to release it on the server.
	Signals int64
}

// Stats returns the counters so far.
func (t *Transport) Stats() Stats {
	return Stats{
		Shells:   t.shells.Load(),
		Commands: t.commands.Load(),
		Requests: t.conn.requests.Load(),
		Signals:  t.signals.Load(),
	}
}

// settings are a host's resolved connection settings.
type settings struct {
	url            string
	auth           string
	user, password string
	tls            *tls.Config
	warnings       []string
	// encrypt: every message is sealed with the authentication's
	// security context (NTLM or Kerberos over plain HTTP).
	encrypt bool
	// Kerberos: the service principal, the keytab, and the client built
	// by Dial.
	spn, keytab string
	krb         *kerberosAuth
}

// resolve turns the inventory host into settings, refusing the unsafe
// combinations the inventory did not explicitly ask for.
func resolve(h *inventory.Host, opts Options) (*settings, error) {
	w := h.WinRM
	host := h.Address
	if host == "" {
		host = h.Name
	}
	if host == "" || strings.ContainsAny(host, "/@?#<>&\"' \t\r\n") {
		return nil, fmt.Errorf("invalid address %q", host)
	}
	port := h.Port
	if port == 0 {
		port = 5985
		if w.HTTPS {
			port = 5986
		}
	}
	scheme := "http"
	if w.HTTPS {
		scheme = "https"
	}
	u := &url.URL{Scheme: scheme, Host: net.JoinHostPort(strings.Trim(host, "[]"), strconv.Itoa(port)), Path: "/wsman"}
	s := &settings{url: u.String(), user: w.User, password: w.Password}
	if s.user == "" {
		s.user = h.User
	}
	if s.password == "" {
		s.password = h.Password
	}

	s.auth = strings.ToLower(w.Auth)
	switch s.auth {
	case "":
		s.auth = AuthNTLM
		if opts.ClientCertFile != "" {
			s.auth = AuthCertificate
		}
	case "negotiate":
		s.auth = AuthNTLM
	case "plaintext":
		s.auth = AuthBasic
	case "ssl", "cert":
		s.auth = AuthCertificate
	}
	switch s.auth {
	case AuthBasic, AuthNTLM:
		if s.user == "" {
			return nil, fmt.Errorf("auth = %q needs a user (winrm.user or the host's user)", s.auth)
		}
		switch {
		case w.HTTPS:
		case s.auth == AuthNTLM && !w.InsecureHTTP:
			s.encrypt = true
		case !w.InsecureHTTP:
			return nil, fmt.Errorf("refusing basic authentication over plain HTTP (%s): the password would cross the network readable by anyone on the path, and Basic cannot encrypt the messages; use auth = \"ntlm\" or \"kerberos\" (encrypted over HTTP), set https = true, or insecure_http = true in the host's winrm block to accept it", u.String())
		default:
			s.warnings = append(s.warnings, fmt.Sprintf("insecure_http = true: %s authentication and every script, file and secret travel unencrypted to %s (the listener must allow it: AllowUnencrypted)", s.auth, u.String()))
		}
	case AuthCertificate:
		if !w.HTTPS {
			return nil, errors.New("certificate authentication needs https = true")
		}
		if opts.ClientCertFile == "" || opts.ClientKeyFile == "" {
			return nil, errors.New("certificate authentication needs a client certificate and key (ClientCertFile, ClientKeyFile)")
		}
	case AuthKerberos:
		switch {
		case w.HTTPS:
		case !w.InsecureHTTP:
			s.encrypt = true
		default:
			s.warnings = append(s.warnings, fmt.Sprintf("insecure_http = true: kerberos authenticates, but every script, file and secret travels unencrypted to %s (the listener must allow it: AllowUnencrypted)", u.String()))
		}
		service := w.KerberosService
		if service == "" {
			service = "HTTP"
		}
		hostname := w.KerberosHostname
		if hostname == "" {
			hostname = strings.Trim(host, "[]")
		}
		if strings.ContainsAny(service+hostname, "/@ \t\r\n") {
			return nil, fmt.Errorf("invalid kerberos service principal %q", service+"/"+hostname)
		}
		s.spn = service + "/" + hostname
		s.keytab = w.Keytab
		if (s.password != "" || s.keytab != "") && s.user == "" {
			return nil, errors.New("kerberos authentication with a password or keytab needs a user (user@REALM)")
		}
	default:
		return nil, fmt.Errorf("unknown auth %q (basic, ntlm, kerberos, certificate)", w.Auth)
	}

	if w.HTTPS {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: w.ServerName}
		if w.CAFile != "" {
			pem, err := os.ReadFile(w.CAFile)
			if err != nil {
				return nil, fmt.Errorf("ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("ca_file %s: no PEM certificate in it", w.CAFile)
			}
			cfg.RootCAs = pool
		}
		switch {
		case w.CertThumbprint != "" && w.Insecure:
			return nil, errors.New("cert_thumbprint and insecure = true (Ansible's server_cert_validation=ignore) contradict each other: keep the pin and drop insecure")
		case w.CertThumbprint != "":
			pin, err := inventory.NormalizeThumbprint(w.CertThumbprint)
			if err != nil {
				return nil, fmt.Errorf("cert_thumbprint: %w", err)
			}
			// The pinned certificate is trusted as it is, whoever signed
			// it and whatever names it carries (a listener's self-signed
			// certificate): the chain and the name are not checked.
			cfg.InsecureSkipVerify = true
			cfg.VerifyConnection = func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 {
					return fmt.Errorf("%s sent no certificate, and cert_thumbprint pins %s", u.String(), pin)
				}
				got := sha256.Sum256(cs.PeerCertificates[0].Raw)
				if h := hex.EncodeToString(got[:]); h != pin {
					return &PinError{URL: u.String(), Got: h, Want: pin}
				}
				return nil
			}
		case w.Insecure:
			cfg.InsecureSkipVerify = true
			s.warnings = append(s.warnings, fmt.Sprintf("insecure = true: the TLS certificate of %s is not verified; anyone on the path can impersonate the host and capture the credentials (pin the certificate with cert_thumbprint instead)", u.String()))
		}
		if s.auth == AuthCertificate {
			pair, err := tls.LoadX509KeyPair(opts.ClientCertFile, opts.ClientKeyFile)
			if err != nil {
				return nil, fmt.Errorf("client certificate: %w", err)
			}
			cfg.Certificates = []tls.Certificate{pair}
			// Windows asks for the client certificate by renegotiating.
			cfg.Renegotiation = tls.RenegotiateOnceAsClient
		}
		s.tls = cfg
	} else if w.Insecure {
		s.warnings = append(s.warnings, "insecure = true has no effect without https")
	}
	return s, nil
}

// PinError is a listener whose certificate is not the one cert_thumbprint
// pins.
type PinError struct {
	URL       string
	Got, Want string // SHA-256 thumbprints, hex
}

func (e *PinError) Error() string {
	return fmt.Sprintf("%s: the listener's certificate has the SHA-256 thumbprint %s, not the pinned cert_thumbprint %s: refusing it (another host, or the certificate was replaced: check it on the host, then update cert_thumbprint)", e.URL, e.Got, e.Want)
}

// Dial connects to h's WinRM endpoint, authenticates and opens the shell
// every later command runs in, so that a wrong password, an untrusted
// certificate or an unreachable host is reported here. Errors name the
// host ("winrm win1: ..."); HTTPS certificates are verified unless the
// inventory says insecure = true, which is printed as a warning on
// Options.Stderr each time.
func Dial(ctx context.Context, h *inventory.Host, opts Options) (*Transport, error) {
	name := h.Name
	if name == "" {
		name = h.Address
	}
	fail := func(err error) error { return fmt.Errorf("winrm %s: %w", name, err) }
	if h.Become {
		// Ansible's runas; tend's scripts run as the login user.
		method := h.BecomeMethod
		if method == "" {
			method = "sudo"
		}
		return nil, fail(fmt.Errorf("ansible_become (ansible_become_method = %s) is not supported over WinRM: scripts run as the WinRM login user; log in as the account that should run them, or set ansible_become=false for this host", method))
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fail(err)
	}
	s, err := resolve(h, opts)
	if err != nil {
		return nil, fail(err)
	}
	for _, w := range s.warnings {
		fmt.Fprintf(opts.Stderr, "tend: warning: winrm %s: %s\n", name, w)
	}
	if s.auth == AuthKerberos {
		kctx, cancel := context.WithTimeout(ctx, opts.ConnectTimeout+opts.ResponseTimeout)
		s.krb, err = newKerberosAuth(kctx, s, opts)
		cancel()
		if err != nil {
			if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
				err = fmt.Errorf("%w (%v)", ctx.Err(), err)
			}
			return nil, fail(err)
		}
	}
	t := &Transport{
		name:   name,
		conn:   newConn(name, s, opts),
		params: newParameters(opts),
		opts:   opts,
		warn:   opts.Stderr,
		sem:    make(chan struct{}, opts.MaxCommands),
		done:   make(chan struct{}),
	}
	cctx, cancel := context.WithTimeout(ctx, opts.ConnectTimeout+opts.ResponseTimeout)
	defer cancel()
	if _, err := t.shell(cctx); err != nil {
		t.conn.close()
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return nil, fail(err)
	}
	return t, nil
}

// errClosed is returned by operations on a closed Transport.
var errClosed = fmt.Errorf("transport closed: %w", net.ErrClosed)

// shell returns the shell's id, creating the shell first if there is
// none.
func (t *Transport) shell(ctx context.Context) (string, error) {
	t.shellMu.Lock()
	defer t.shellMu.Unlock()
	if t.shellID != "" {
		return t.shellID, nil
	}
	select {
	case <-t.done:
		return "", errClosed
	default:
	}
	resp, err := t.conn.post(ctx, "create shell", winrm.NewOpenShellRequest(t.conn.url, t.params))
	if err != nil {
		return "", fmt.Errorf("create shell: %w", err)
	}
	id, err := resp.shellID()
	if err != nil {
		return "", fmt.Errorf("create shell: %w", err)
	}
	t.shells.Add(1)
	t.shellID = id
	return id, nil
}

// lostShell forgets shell id after the server said it does not know it,
// so that the next command creates a new one.
func (t *Transport) lostShell(id string) {
	t.shellMu.Lock()
	if t.shellID == id {
		t.shellID = ""
	}
	t.shellMu.Unlock()
}

// Close ends the commands still running, deletes the shell and closes the
// connections. It is safe to call more than once; later calls return nil.
func (t *Transport) Close() error {
	first := false
	t.closeOnce.Do(func() {
		first = true
		close(t.done)
		t.bgMu.Lock()
		t.closing = true
		t.bgMu.Unlock()
		waited := make(chan struct{})
		go func() { t.bg.Wait(); close(waited) }()
		select {
		case <-waited:
		case <-time.After(t.opts.ResponseTimeout):
		}
		t.shellMu.Lock()
		id := t.shellID
		t.shellID = ""
		t.shellMu.Unlock()
		if id != "" {
			ctx, cancel := context.WithTimeout(context.Background(), t.opts.ConnectTimeout+t.opts.ResponseTimeout)
			_, err := t.conn.post(ctx, "delete shell", winrm.NewDeleteShellRequest(t.conn.url, id, t.params))
			cancel()
			var f *FaultError
			if err != nil && !(errors.As(err, &f) && f.unknownResource()) {
				t.closeErr = fmt.Errorf("winrm %s: delete shell: %w", t.name, err)
			}
		}
		t.conn.close()
	})
	if !first {
		return nil
	}
	return t.closeErr
}
