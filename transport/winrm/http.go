package winrm

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	ntlmssp "github.com/Azure/go-ntlmssp"
	"github.com/masterzen/winrm/soap"
)

// Authentication methods (inventory winrm.auth).
const (
	AuthBasic       = "basic"
	AuthNTLM        = "ntlm"
	AuthCertificate = "certificate"
	AuthKerberos    = "kerberos"
)

// certificateAuthorization is the Authorization header that asks the
// server to authenticate the TLS client certificate (MS-WSMV 2.2.9.1.1).
const certificateAuthorization = "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual"

// maxResponse bounds a response body read into memory: Receive answers
// stay under MaxEnvelopeSize, faults are small.
const maxResponse = 16 << 20

// conn is the host's one HTTP client and endpoint: every request of the
// run goes through it, so connections (and NTLM's per-connection
// authentication) are reused. It plays the part masterzen/winrm's
// Transporter plays for its Client, whose default builds an HTTP
// transport per client and carries no context.
type conn struct {
	name     string // host name, for errors
	url      string
	auth     string
	user     string
	client   *http.Client
	timeout  time.Duration // per request, beyond which a request fails
	requests atomic.Int64
	krb      *kerberosAuth // Kerberos only
	hint     string        // what to check after a 401
}

// newConn builds the HTTP client for s.
func newConn(name string, s *settings, opts Options) *conn {
	dialer := &net.Dialer{Timeout: opts.ConnectTimeout, KeepAlive: 30 * time.Second}
	// Requests in flight at once: a Send and a Receive per command, the
	// releasing Signals, the shell's Create or Delete.
	conns := opts.MaxCommands*2 + 4
	newTransport := func() *http.Transport {
		return &http.Transport{
			// Proxies from the environment are not used: NTLM
			// authenticates the TCP connection, which a proxy would not
			// preserve.
			Proxy:                 nil,
			DialContext:           dialer.DialContext,
			TLSClientConfig:       s.tls,
			TLSHandshakeTimeout:   opts.ConnectTimeout,
			ResponseHeaderTimeout: opts.ResponseTimeout,
			MaxIdleConnsPerHost:   conns,
			IdleConnTimeout:       90 * time.Second,
			ForceAttemptHTTP2:     false,
		}
	}
	c := &conn{
		name:    name,
		url:     s.url,
		auth:    s.auth,
		user:    s.user,
		timeout: opts.ResponseTimeout + 30*time.Second,
		krb:     s.krb,
	}
	if s.krb != nil {
		c.user = s.krb.who
		c.hint = fmt.Sprintf("the ticket came from the %s; check that %s is the host's service principal (kerberos_service, kerberos_hostname), that its key matches the host's, that the clocks agree, and that the user may use WinRM", s.krb.source, s.spn)
	}
	failed := func(resp *http.Response) error { return c.httpError(resp, nil) }
	var rt http.RoundTripper
	switch {
	case s.encrypt && s.auth == AuthNTLM:
		rt = newSealedAuth(newTransport, conns, s.url, ntlmHandshake(s.user, s.password, failed))
	case s.encrypt && s.auth == AuthKerberos:
		rt = newSealedAuth(newTransport, conns, s.url, s.krb.handshake(failed))
	case s.auth == AuthBasic:
		rt = &basicAuth{rt: newTransport(), user: s.user, password: s.password}
	case s.auth == AuthNTLM:
		rt = newNTLMAuth(newTransport, conns, s.user, s.password)
	case s.auth == AuthCertificate:
		rt = certificateAuth{newTransport()}
	case s.auth == AuthKerberos:
		s.krb.rt = newTransport()
		rt = s.krb
	default:
		rt = newTransport()
	}
	c.client = &http.Client{Transport: rt}
	return c
}

func (c *conn) close() {
	c.client.CloseIdleConnections()
	if c.krb != nil {
		c.krb.close()
	}
}

// basicAuth adds HTTP Basic credentials to every request.
type basicAuth struct {
	rt             http.RoundTripper
	user, password string
}

func (b *basicAuth) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.SetBasicAuth(b.user, b.password)
	return b.rt.RoundTrip(r)
}

// ntlmAuth authenticates with NTLM through go-ntlmssp's Negotiator, which
// takes the credentials from a Basic Authorization header it never sends
// as such (refuseBasic makes sure of it).
//
// NTLM authenticates a TCP connection, and its handshake's three legs must
// use the same one. A shared http.Transport hands each leg whichever idle
// connection comes first, and with concurrent requests (a Receive and a
// Send per command, several commands) the last leg lands on another
// connection, which the server refuses. So the requests go through slots:
// http.Transports of one connection each, every one used by a single
// request at a time. A slot's connection stays authenticated; the
// Negotiator's first, anonymous attempt succeeds on it.
type ntlmAuth struct {
	all            []*http.Transport
	slots          chan *http.Transport
	user, password string
}

func newNTLMAuth(newTransport func() *http.Transport, n int, user, password string) *ntlmAuth {
	a := &ntlmAuth{slots: make(chan *http.Transport, n), user: user, password: password}
	for i := 0; i < n; i++ {
		tr := newTransport()
		tr.MaxConnsPerHost = 1
		tr.MaxIdleConnsPerHost = 1
		a.all = append(a.all, tr)
		a.slots <- tr
	}
	return a
}

func (n *ntlmAuth) RoundTrip(r *http.Request) (*http.Response, error) {
	var slot *http.Transport
	select {
	case slot = <-n.slots:
	case <-r.Context().Done():
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, r.Context().Err()
	}
	release := sync.OnceFunc(func() { n.slots <- slot })
	r = r.Clone(r.Context())
	r.SetBasicAuth(n.user, n.password)
	resp, err := ntlmssp.Negotiator{RoundTripper: refuseBasic{slot}}.RoundTrip(r)
	if err != nil {
		release()
		return nil, err
	}
	resp.Body = &releaseBody{ReadCloser: resp.Body, release: release}
	return resp, nil
}

// CloseIdleConnections closes the slots' idle connections (http.Client
// calls it).
func (n *ntlmAuth) CloseIdleConnections() {
	for _, tr := range n.all {
		tr.CloseIdleConnections()
	}
}

// releaseBody returns a slot when the response body is closed.
type releaseBody struct {
	io.ReadCloser
	release func()
}

func (b *releaseBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}

// errNoNTLM is returned instead of letting go-ntlmssp fall back to Basic
// authentication when a server does not offer Negotiate or NTLM: that
// would send the password to whoever answers.
var errNoNTLM = errors.New("the server does not offer NTLM (Negotiate) authentication; refusing to fall back to Basic, which would send the password")

// refuseBasic sits under the Negotiator and stops any request that still
// carries Basic credentials.
type refuseBasic struct{ rt http.RoundTripper }

func (g refuseBasic) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasPrefix(r.Header.Get("Authorization"), "Basic ") {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, errNoNTLM
	}
	return g.rt.RoundTrip(r)
}

// certificateAuth asks the server to log in with the TLS client
// certificate.
type certificateAuth struct{ rt http.RoundTripper }

func (c certificateAuth) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", certificateAuthorization)
	return c.rt.RoundTrip(r)
}

// HTTPError is an HTTP response that is neither a SOAP answer nor a SOAP
// fault: 401 (wrong credentials, or an authentication method the server
// does not allow), 404 (no WinRM listener at /wsman), 415, 503, a proxy's
// error page.
type HTTPError struct {
	StatusCode int
	Status     string
	// Offered lists the authentication schemes of a 401's
	// WWW-Authenticate headers.
	Offered []string
	// Body is the start of the response body, for the message.
	Body string
	auth string
	user string
	hint string
}

func (e *HTTPError) Error() string {
	if e.StatusCode == http.StatusUnauthorized {
		msg := fmt.Sprintf("HTTP %s: authentication as %q with %s refused", e.Status, e.user, e.auth)
		if len(e.Offered) > 0 {
			msg += " (the server offers " + strings.Join(e.Offered, ", ") + ")"
		} else {
			msg += " (the server offers no authentication scheme)"
		}
		if e.hint != "" {
			return msg + ": " + e.hint
		}
		return msg + ": check the user, the password and the listener's enabled authentication methods"
	}
	msg := "HTTP " + e.Status
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// messageIDRE finds the MessageID masterzen/winrm's builders put in a
// request, to check the response's RelatesTo.
var messageIDRE = regexp.MustCompile(`<a:MessageID>([^<]+)</a:MessageID>`)

// post sends one SOAP request and returns the response envelope. A SOAP
// fault is a *FaultError, any other failed HTTP exchange an *HTTPError;
// an answer to another request (RelatesTo) or a body that is not SOAP is
// an error too, never an empty success (masterzen/winrm's own Post
// returns the body of an HTTP 500 as if it were an answer).
func (c *conn) post(ctx context.Context, op string, msg *soap.SoapMessage) (*response, error) {
	body := msg.String()
	wantID := ""
	if m := messageIDRE.FindStringSubmatch(body); m != nil {
		wantID = m[1]
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
	c.requests.Add(1)
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, c.netError(ctx, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, c.netError(ctx, fmt.Errorf("reading the response: %w", err))
	}
	if len(data) > maxResponse {
		return nil, fmt.Errorf("response larger than %d bytes", maxResponse)
	}
	soapType := strings.HasPrefix(strings.ToLower(resp.Header.Get("Content-Type")), "application/soap+xml")
	if resp.StatusCode != http.StatusOK {
		if soapType && len(data) > 0 {
			if f, perr := parseFault(data); perr == nil && f != nil {
				f.Op = op
				f.HTTPStatus = resp.StatusCode
				return nil, f
			}
		}
		return nil, c.httpError(resp, data)
	}
	if !soapType {
		return nil, fmt.Errorf("HTTP 200 with content type %q, not a SOAP answer", resp.Header.Get("Content-Type"))
	}
	r, err := parseResponse(data)
	if err != nil {
		return nil, err
	}
	if r.fault != nil {
		r.fault.Op = op
		r.fault.HTTPStatus = resp.StatusCode
		return nil, r.fault
	}
	if wantID != "" && r.relatesTo == "" {
		return nil, errors.New("the answer has no RelatesTo header: it cannot be matched to the request")
	}
	if wantID != "" && !strings.EqualFold(r.relatesTo, wantID) {
		return nil, fmt.Errorf("the answer relates to %q, not to this request (%s)", r.relatesTo, wantID)
	}
	return r, nil
}

func (c *conn) httpError(resp *http.Response, data []byte) error {
	e := &HTTPError{StatusCode: resp.StatusCode, Status: resp.Status, auth: c.auth, user: c.user, hint: c.hint}
	if c.krb != nil && resp.StatusCode == http.StatusUnauthorized {
		if ke, ok := serverKRBError(resp.Header); ok {
			e.hint = explainKRBError(ke, c.krb.spn)
		}
	}
	if e.Status == "" {
		e.Status = fmt.Sprint(resp.StatusCode)
	}
	for _, v := range resp.Header.Values("WWW-Authenticate") {
		scheme, _, _ := strings.Cut(strings.TrimSpace(v), " ")
		if scheme != "" {
			e.Offered = append(e.Offered, scheme)
		}
	}
	e.Body = printable(data, 200)
	return e
}

// printable returns the start of b with control characters replaced, for
// an error message.
func printable(b []byte, n int) string {
	s := strings.TrimSpace(string(b))
	cut := len(s) > n
	if cut {
		s = s[:n]
	}
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if cut {
		s += "..."
	}
	return s
}

// netError explains a failed HTTP exchange, wrapping the context's error
// when the caller cancelled.
func (c *conn) netError(ctx context.Context, err error) error {
	if errors.Is(err, errNoNTLM) {
		return errNoNTLM
	}
	var pe *PinError
	if errors.As(err, &pe) {
		return pe
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", c.url, context.Cause(ctx))
	}
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) {
		return fmt.Errorf("%s: the server's TLS certificate is not trusted (%v): set ca_file to the CA that signed it, or server_name if it names another host", c.url, certErr.Err)
	}
	return fmt.Errorf("%s: %w", c.url, err)
}
