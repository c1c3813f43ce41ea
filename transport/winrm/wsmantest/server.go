package wsmantest

import (
	"bytes"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/tendhq/tend/transport/winrm/wsmancrypt"
)

// Authentication schemes a Server can offer (Options.Auth).
const (
	AuthBasic       = "basic"
	AuthNegotiate   = "negotiate" // NTLM in the Negotiate or NTLM HTTP scheme
	AuthKerberos    = "kerberos"  // Kerberos in the Negotiate or Kerberos HTTP scheme (Options.Keytab)
	AuthCertificate = "certificate"
)

// certificateAuthorization is the Authorization header a client sends to
// authenticate with its TLS client certificate (MS-WSMV 2.2.9.1.1).
const certificateAuthorization = "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual"

// Options configure a Server. The zero value is a plain HTTP server on
// 127.0.0.1 that accepts nobody.
type Options struct {
	// Addr is the address to listen on; default 127.0.0.1:0.
	Addr string
	// TLS, when set, serves HTTPS. For certificate authentication set
	// ClientAuth (tls.VerifyClientCertIfGiven) and ClientCAs.
	TLS *tls.Config
	// Users maps user names to passwords for Basic and NTLM. Names match
	// case-insensitively, without their domain (CORP\ops is ops).
	Users map[string]string
	// CertificateUsers maps the common names of client certificates the
	// TLS layer verified to the users they log in as.
	CertificateUsers map[string]string
	// Auth lists the schemes offered: AuthBasic, AuthNegotiate,
	// AuthCertificate, AuthKerberos. Empty means Basic and Negotiate.
	Auth []string
	// Keytab holds the service keys Kerberos tickets are checked with
	// (AuthKerberos), as a Windows host's computer account holds the keys
	// of its HTTP/ service principal.
	Keytab *keytab.Keytab
	// KerberosPrincipal, when set, is the one service principal (as in
	// "HTTP/win1.example.test") whose key tickets must be encrypted in;
	// empty accepts a ticket for any principal of Keytab.
	KerberosPrincipal string
	// Domain and Computer are the names the NTLM challenge gives; default
	// "TEND" and "WSMANTEST".
	Domain, Computer string
	// Executor runs commands; nil answers every command with exit status
	// 1 and a message on stderr.
	Executor Executor
	// MaxOperationTimeout caps the OperationTimeout clients ask for
	// (Windows' MaxTimeoutms, 60s by default).
	MaxOperationTimeout time.Duration
	// MaxEnvelopeSize is the largest request accepted, in bytes (Windows'
	// MaxEnvelopeSizekb: 500 KiB by default on Windows Server 2012 and
	// later).
	MaxEnvelopeSize int
	// MaxShells limits the shells open at once per user (Windows'
	// MaxShellsPerUser, 30 by default); zero means no limit.
	MaxShells int
	// Intercept, when set, sees every authenticated request first (its
	// Action, "" when the body does not parse) and may answer it itself by
	// returning true: tests use it for malformed answers, stalls and HTTP
	// errors.
	Intercept func(w http.ResponseWriter, r *http.Request, action string, body []byte) bool
	// AllowUnencrypted accepts SOAP bodies in clear text over plain HTTP,
	// as Windows does with AllowUnencrypted = true. The default, false, is
	// Windows' default: over HTTP every message must be encrypted with
	// the connection's NTLM or Kerberos security context (MS-WSMV
	// 2.2.9.1), and a body in clear text is refused with HTTP 400.
	AllowUnencrypted bool
	// KerberosAcceptorSubkey makes the AP-REP carry a subkey of the
	// server's, which then keys the context (as Windows' SSPI does);
	// without it the context key is the client's subkey or the ticket's
	// session key.
	KerberosAcceptorSubkey bool
	// ChunkAnswers seals answers longer than 16 KiB in 16 KiB parts
	// (multipart/x-multi-encrypted) instead of one part.
	ChunkAnswers bool
	// Logf, when set, receives a line per request.
	Logf func(format string, args ...any)
}

// Stats counts what a Server has seen.
type Stats struct {
	Requests        int // HTTP requests, authentication legs included
	Unauthorized    int // answered 401
	Kerberos        int // requests authenticated by a Kerberos AP-REQ
	ShellsCreated   int
	ShellsDeleted   int
	Commands        int
	Sends           int
	Receives        int
	ReceiveTimeouts int // Receives answered with w:TimedOut
	Signals         int
	Faults          int
	Encrypted       int // requests whose body was decrypted
	Refused         int // bodies refused: unencrypted, or failing to decrypt
}

// Request is one authenticated SOAP request, as received.
type Request struct {
	Action string
	User   string
	Body   []byte
}

// Signal is one Signal request the server received.
type Signal struct {
	ShellID, CommandID string
	// Code is "terminate", "ctrl_c" or "ctrl_break".
	Code string
}

// Server is a running WS-Management server.
type Server struct {
	// URL is the endpoint, e.g. http://127.0.0.1:41234/wsman.
	URL string
	// Addr is the listening address (host:port).
	Addr string

	opts   Options
	ln     net.Listener
	srv    *http.Server
	ctx    context.Context
	cancel context.CancelCauseFunc
	execs  sync.WaitGroup

	mu       sync.Mutex
	shells   map[string]*shell
	stats    Stats
	requests []Request
	commands []*CommandRecord
	signals  []Signal
	closed   bool
}

type connKey struct{}

// connState is what the server knows of one TCP connection: NTLM binds
// authentication to it.
type connState struct {
	mu        sync.Mutex
	challenge *ntlmChallenge
	user      string
	// sealer is the security context of the connection's NTLM or
	// Kerberos authentication, nil when it has none.
	sealer wsmancrypt.Sealer
}

// Start listens and serves until Close.
func Start(opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if len(opts.Auth) == 0 {
		opts.Auth = []string{AuthBasic, AuthNegotiate}
	}
	if opts.Domain == "" {
		opts.Domain = "TEND"
	}
	if opts.Computer == "" {
		opts.Computer = "WSMANTEST"
	}
	if opts.MaxOperationTimeout <= 0 {
		opts.MaxOperationTimeout = 60 * time.Second
	}
	if opts.MaxEnvelopeSize <= 0 {
		opts.MaxEnvelopeSize = 500 << 10
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, err
	}
	scheme := "http"
	if opts.TLS != nil {
		ln = tls.NewListener(ln, opts.TLS)
		scheme = "https"
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	s := &Server{
		URL:    scheme + "://" + ln.Addr().String() + "/wsman",
		Addr:   ln.Addr().String(),
		opts:   opts,
		ln:     ln,
		ctx:    ctx,
		cancel: cancel,
		shells: map[string]*shell{},
	}
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 30 * time.Second,
		ConnContext: func(ctx context.Context, _ net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, &connState{})
		},
		ErrorLog: nil,
	}
	go s.srv.Serve(ln)
	return s, nil
}

// StartT starts a server for a test and closes it when the test ends.
func StartT(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	s, err := Start(opts)
	if err != nil {
		t.Fatalf("wsmantest.Start: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// Close stops the server: open connections are closed and every running
// command's context is cancelled with ErrServerClosed. It waits for the
// Executors to return.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	shells := s.shells
	s.shells = map[string]*shell{}
	s.mu.Unlock()
	s.cancel(ErrServerClosed)
	for _, sh := range shells {
		sh.deleteAll(ErrServerClosed)
	}
	s.srv.Close()
	s.execs.Wait()
}

// Stats returns the counters so far.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Requests returns the SOAP requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Commands returns a copy of every command's record, in arrival order.
func (s *Server) Commands() []CommandRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]CommandRecord, len(s.commands))
	for i, c := range s.commands {
		out[i] = *c
		out[i].Arguments = append([]string(nil), c.Arguments...)
		out[i].Signals = append([]string(nil), c.Signals...)
	}
	return out
}

// Signals returns the Signal requests received so far.
func (s *Server) Signals() []Signal {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Signal(nil), s.signals...)
}

// OpenShells returns the number of shells not yet deleted.
func (s *Server) OpenShells() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.shells)
}

func (s *Server) logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf("wsmantest: "+format, args...)
	}
}

func (s *Server) count(f func(*Stats)) {
	s.mu.Lock()
	f(&s.stats)
	s.mu.Unlock()
}

// ServeHTTP answers one WS-Management request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.count(func(st *Stats) { st.Requests++ })
	if r.URL.Path != "/wsman" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	user, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	cs, _ := r.Context().Value(connKey{}).(*connState)
	if cs == nil {
		cs = &connState{}
	}
	if r.ContentLength == 0 {
		// An empty POST authenticates the connection, as clients that
		// encrypt do first.
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return
	}
	ct := r.Header.Get("Content-Type")
	encrypted := wsmancrypt.IsEncrypted(ct)
	if !encrypted && !strings.HasPrefix(strings.ToLower(ct), "application/soap+xml") {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusUnsupportedMediaType)
		return
	}
	limit := int64(s.opts.MaxEnvelopeSize)
	if encrypted {
		limit += limit/8 + 4096 // framing and signatures
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return
	}
	if !encrypted && r.TLS == nil && !s.opts.AllowUnencrypted {
		s.refuse(w, r, "the message is not encrypted, and this listener does not allow unencrypted messages over HTTP (AllowUnencrypted = false)")
		return
	}
	if encrypted {
		cs.mu.Lock()
		sealer := cs.sealer
		cs.mu.Unlock()
		if sealer == nil {
			s.refuse(w, r, "an encrypted message on a connection without an NTLM or Kerberos security context")
			return
		}
		plain, protocol, err := wsmancrypt.Decode(sealer, ct, body)
		if err != nil {
			cs.mu.Lock()
			cs.sealer, cs.user = nil, ""
			cs.mu.Unlock()
			s.refuse(w, r, "the encrypted message does not decrypt: "+err.Error())
			return
		}
		s.count(func(st *Stats) { st.Encrypted++ })
		body = plain
		sw := &sealedWriter{h: http.Header{}}
		defer sw.flush(w, sealer, protocol, s.opts.ChunkAnswers)
		w = sw
	}
	if len(body) > s.opts.MaxEnvelopeSize {
		io.Copy(io.Discard, r.Body)
		s.fault(w, "", faultEnvelopeSize(len(body), s.opts.MaxEnvelopeSize))
		return
	}
	var env envelope
	perr := xml.Unmarshal(body, &env)
	action := ""
	if perr == nil {
		action = strings.TrimSpace(env.Header.Action)
	}
	s.mu.Lock()
	s.requests = append(s.requests, Request{Action: action, User: user, Body: body})
	s.mu.Unlock()
	s.logf("%s %s (%d bytes)", user, shortAction(action), len(body))
	if s.opts.Intercept != nil && s.opts.Intercept(w, r, action, body) {
		return
	}
	if perr != nil {
		s.fault(w, "", faultSchema("The request is not well-formed XML: "+perr.Error()))
		return
	}
	h := &env.Header
	msgID := strings.TrimSpace(h.MessageID)
	if action == "" || msgID == "" {
		s.fault(w, msgID, faultSchema("The request has no wsa:Action or wsa:MessageID header."))
		return
	}
	if uri := strings.TrimSpace(h.ResourceURI); uri != ResourceCmd {
		s.fault(w, msgID, faultResource(uri))
		return
	}
	var (
		reply string
		f     *Fault
	)
	switch action {
	case ActionCreate:
		reply, f = s.create(user, &env)
	case ActionDelete:
		reply, f = s.delete(&env)
	case ActionCommand:
		reply, f = s.command(&env)
	case ActionSend:
		reply, f = s.send(&env)
	case ActionReceive:
		reply, f = s.receive(r.Context(), &env)
		if f == nil && reply == "" {
			return // the client went away
		}
	case ActionSignal:
		reply, f = s.signal(&env)
	default:
		f = faultAction(action)
	}
	if f != nil {
		s.fault(w, msgID, f)
		return
	}
	w.Header().Set("Content-Type", contentTypeXML)
	w.Header().Set("Content-Length", strconv.Itoa(len(reply)))
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, reply)
}

// refuse answers a request whose body cannot be taken: HTTP 400 with the
// reason, in clear text (there is no context to seal it with).
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, why string) {
	io.Copy(io.Discard, r.Body)
	s.count(func(st *Stats) { st.Refused++ })
	s.logf("refused: %s", why)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(why)))
	w.WriteHeader(http.StatusBadRequest)
	io.WriteString(w, why)
}

// sealedWriter holds an answer until it is sealed.
type sealedWriter struct {
	h    http.Header
	code int
	buf  bytes.Buffer
}

func (w *sealedWriter) Header() http.Header { return w.h }

func (w *sealedWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *sealedWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.buf.Write(b)
}

// flush seals the answer and sends it.
func (w *sealedWriter) flush(out http.ResponseWriter, sealer wsmancrypt.Sealer, protocol string, chunk bool) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	for k, v := range w.h {
		if k != "Content-Type" && k != "Content-Length" {
			out.Header()[k] = v
		}
	}
	if w.buf.Len() == 0 || !strings.HasPrefix(strings.ToLower(w.h.Get("Content-Type")), "application/soap+xml") {
		// What is not a SOAP message (an error page) goes in clear text.
		out.Header().Set("Content-Type", w.h.Get("Content-Type"))
		out.Header().Set("Content-Length", strconv.Itoa(w.buf.Len()))
		out.WriteHeader(w.code)
		out.Write(w.buf.Bytes())
		return
	}
	n := 0
	if chunk {
		n = wsmancrypt.ChunkSize
	}
	ct, data, err := wsmancrypt.Encode(sealer, protocol, w.buf.Bytes(), n)
	if err != nil {
		http.Error(out, err.Error(), http.StatusInternalServerError)
		return
	}
	out.Header().Set("Content-Type", ct)
	out.Header().Set("Content-Length", strconv.Itoa(len(data)))
	out.WriteHeader(w.code)
	out.Write(data)
}

func shortAction(a string) string {
	if i := strings.LastIndexByte(a, '/'); i >= 0 {
		return a[i+1:]
	}
	return a
}

func (s *Server) fault(w http.ResponseWriter, relatesTo string, f *Fault) {
	s.count(func(st *Stats) {
		st.Faults++
		if f.Subcode == FaultTimedOut.Subcode {
			st.ReceiveTimeouts++
		}
	})
	machine, _, _ := net.SplitHostPort(s.Addr)
	out := f.xml(relatesTo, machine)
	w.Header().Set("Content-Type", contentTypeXML)
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(http.StatusInternalServerError)
	io.WriteString(w, out)
}

func (s *Server) offers(scheme string) bool {
	for _, a := range s.opts.Auth {
		if a == scheme {
			return true
		}
	}
	return false
}

// authenticate checks the request's credentials. When it returns false it
// has answered the request (401, or the NTLM challenge).
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (string, bool) {
	cs, _ := r.Context().Value(connKey{}).(*connState)
	if cs == nil {
		cs = &connState{}
	}
	authz := r.Header.Get("Authorization")
	scheme, data, _ := strings.Cut(authz, " ")
	switch {
	case authz == "":
		cs.mu.Lock()
		user := cs.user
		cs.mu.Unlock()
		if user != "" {
			return user, true // NTLM authenticated this connection
		}
	case strings.EqualFold(scheme, "Basic") && s.offers(AuthBasic):
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(data))
		if err == nil {
			// RFC 7617 leaves the charset to the client: Go sends UTF-8,
			// python's requests Latin-1. Accept either.
			for _, creds := range []string{string(raw), latin1(raw)} {
				u, p, _ := strings.Cut(creds, ":")
				if user, ok := s.checkPassword(u, p); ok {
					return user, true
				}
			}
		}
		s.logf("basic authentication failed for %q", userOf(raw))
	case strings.EqualFold(scheme, "Negotiate") || strings.EqualFold(scheme, "NTLM") || strings.EqualFold(scheme, "Kerberos"):
		msg, err := base64.StdEncoding.DecodeString(strings.TrimSpace(data))
		isNTLM := err == nil && len(msg) >= 8 && string(msg[:8]) == ntlmSignature
		switch {
		case isNTLM && !strings.EqualFold(scheme, "Kerberos") && s.offers(AuthNegotiate):
			return s.ntlm(w, r, cs, scheme, strings.TrimSpace(data))
		case err == nil && !isNTLM && !strings.EqualFold(scheme, "NTLM") && s.offers(AuthKerberos):
			return s.kerberos(w, r, cs, scheme, msg)
		}
		s.logf("%s authorization refused: not a token of a scheme this server offers", scheme)
	case authz == certificateAuthorization && s.offers(AuthCertificate):
		if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
			cn := r.TLS.VerifiedChains[0][0].Subject.CommonName
			if user, ok := s.opts.CertificateUsers[cn]; ok {
				return user, true
			}
			s.logf("certificate %q maps to no user", cn)
		} else {
			s.logf("certificate authentication without a verified client certificate")
		}
	}
	s.unauthorized(w, r)
	return "", false
}

// latin1 decodes b as ISO 8859-1.
func latin1(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

func userOf(raw []byte) string {
	u, _, _ := strings.Cut(string(raw), ":")
	return u
}

// checkPassword looks user up (case-insensitively, without a domain) and
// compares passwords in constant time.
func (s *Server) checkPassword(user, password string) (string, bool) {
	name, ok := s.lookup(user)
	if !ok {
		return "", false
	}
	if subtle.ConstantTimeCompare([]byte(s.opts.Users[name]), []byte(password)) != 1 {
		return "", false
	}
	return name, true
}

func (s *Server) lookup(user string) (string, bool) {
	if i := strings.LastIndexByte(user, '\\'); i >= 0 {
		user = user[i+1:]
	}
	if i := strings.IndexByte(user, '@'); i >= 0 {
		user = user[:i]
	}
	for name := range s.opts.Users {
		if strings.EqualFold(name, user) {
			return name, true
		}
	}
	return "", false
}

func (s *Server) unauthorized(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	s.count(func(st *Stats) { st.Unauthorized++ })
	if s.offers(AuthNegotiate) || s.offers(AuthKerberos) {
		w.Header().Add("WWW-Authenticate", "Negotiate")
	}
	if s.offers(AuthKerberos) {
		w.Header().Add("WWW-Authenticate", "Kerberos")
	}
	if s.offers(AuthBasic) {
		w.Header().Add("WWW-Authenticate", `Basic realm="WSMAN"`)
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusUnauthorized)
}

// ntlm runs one leg of the NTLM handshake on the request's connection.
func (s *Server) ntlm(w http.ResponseWriter, r *http.Request, cs *connState, scheme, data string) (string, bool) {
	msg, err := base64.StdEncoding.DecodeString(data)
	if err != nil || len(msg) < 12 || string(msg[:8]) != ntlmSignature {
		s.logf("%s authorization is not NTLM", scheme)
		s.unauthorized(w, r)
		return "", false
	}
	switch msg[8] {
	case 1:
		st, challenge, err := newNTLMChallenge(msg, s.opts.Domain, s.opts.Computer, time.Now())
		if err != nil {
			s.logf("NTLM negotiate: %v", err)
			s.unauthorized(w, r)
			return "", false
		}
		cs.mu.Lock()
		cs.challenge = st
		cs.user = ""
		cs.mu.Unlock()
		io.Copy(io.Discard, r.Body)
		s.count(func(st *Stats) { st.Unauthorized++ })
		w.Header().Set("WWW-Authenticate", scheme+" "+base64.StdEncoding.EncodeToString(challenge))
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusUnauthorized)
		return "", false
	case 3:
		cs.mu.Lock()
		st := cs.challenge
		cs.challenge = nil
		cs.mu.Unlock()
		if st == nil {
			s.logf("NTLM authenticate without a challenge on this connection")
			s.unauthorized(w, r)
			return "", false
		}
		u, nt, err := parseNTLMAuthenticate(msg)
		if err == nil {
			name, ok := s.lookup(u.User)
			if !ok {
				err = fmt.Errorf("unknown user %q", u.User)
			} else if err = verifyNTLMv2(st, u, s.opts.Users[name], nt); err == nil {
				var sealer wsmancrypt.Sealer
				sealer, err = ntlmSession(msg, u, s.opts.Users[name], nt)
				if err == nil {
					cs.mu.Lock()
					cs.user = name
					cs.sealer = sealer
					cs.mu.Unlock()
					return name, true
				}
			}
		}
		s.logf("NTLM authenticate: %v", err)
	}
	s.unauthorized(w, r)
	return "", false
}

func (s *Server) shell(h *header) (*shell, *Fault) {
	id := h.selector("ShellId")
	s.mu.Lock()
	sh := s.shells[id]
	s.mu.Unlock()
	if sh == nil {
		return nil, faultUnknownShell(id)
	}
	return sh, nil
}

func (sh *shell) command(id string) *command {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.commands[strings.TrimSpace(id)]
}

func (s *Server) create(user string, env *envelope) (string, *Fault) {
	b := env.Body.Shell
	if b == nil {
		return "", faultSchema("The Create request has no rsp:Shell body.")
	}
	s.mu.Lock()
	if s.opts.MaxShells > 0 {
		n := 0
		for _, sh := range s.shells {
			if sh.user == user {
				n++
			}
		}
		if n >= s.opts.MaxShells {
			s.mu.Unlock()
			return "", faultTooManyShells(s.opts.MaxShells)
		}
	}
	sh := &shell{id: newGUID(), user: user, options: env.Header.options(), commands: map[string]*command{}}
	s.shells[sh.id] = sh
	s.stats.ShellsCreated++
	s.mu.Unlock()

	in := strings.TrimSpace(b.InputStreams)
	out := strings.Join(strings.Fields(b.OutputStreams), " ")
	body := `<x:ResourceCreated><a:Address>` + esc(s.URL) + `</a:Address><a:ReferenceParameters><w:ResourceURI>` + ResourceCmd +
		`</w:ResourceURI><w:SelectorSet><w:Selector Name="ShellId">` + sh.id + `</w:Selector></w:SelectorSet></a:ReferenceParameters></x:ResourceCreated>` +
		`<rsp:Shell xmlns:rsp="` + NSShell + `"><rsp:ShellId>` + sh.id + `</rsp:ShellId><rsp:ResourceUri>` + ResourceCmd +
		`</rsp:ResourceUri><rsp:Owner>` + esc(user) + `</rsp:Owner><rsp:ClientIP>127.0.0.1</rsp:ClientIP><rsp:IdleTimeOut>PT7200.000S</rsp:IdleTimeOut>` +
		`<rsp:InputStreams>` + esc(in) + `</rsp:InputStreams><rsp:OutputStreams>` + esc(out) + `</rsp:OutputStreams>` +
		`<rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime><rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity></rsp:Shell>`
	return response("http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse", env.Header.MessageID, body), nil
}

func (s *Server) delete(env *envelope) (string, *Fault) {
	sh, f := s.shell(&env.Header)
	if f != nil {
		return "", f
	}
	s.mu.Lock()
	delete(s.shells, sh.id)
	s.stats.ShellsDeleted++
	s.mu.Unlock()
	sh.deleteAll(ErrShellDeleted)
	return response("http://schemas.xmlsoap.org/ws/2004/09/transfer/DeleteResponse", env.Header.MessageID, ""), nil
}

// deleteAll cancels every command of sh and forgets them.
func (sh *shell) deleteAll(cause error) {
	sh.mu.Lock()
	cmds := sh.commands
	sh.commands = map[string]*command{}
	sh.deleted = true
	sh.mu.Unlock()
	for _, c := range cmds {
		c.cancel(cause)
		c.closeStdin(cause)
	}
}

// errProcessExited fails the Sends of a command whose process has ended.
var errProcessExited = errors.New("process exited")

func (s *Server) command(env *envelope) (string, *Fault) {
	sh, f := s.shell(&env.Header)
	if f != nil {
		return "", f
	}
	cl := env.Body.CommandLine
	if cl == nil || strings.TrimSpace(cl.Command) == "" {
		return "", faultSchema("The Command request has no rsp:CommandLine/rsp:Command.")
	}
	ctx, cancel := context.WithCancelCause(s.ctx)
	pr, pw := io.Pipe()
	c := &command{
		id:       newGUID(),
		shell:    sh,
		cancel:   cancel,
		stdin:    pw,
		stdinR:   pr,
		changed:  make(chan struct{}),
		finished: make(chan struct{}),
	}
	c.stdout = newOutStream(c, ctx)
	c.stderr = newOutStream(c, ctx)
	c.rec = &CommandRecord{
		ShellID:   sh.id,
		ID:        c.id,
		Command:   cl.Command,
		Arguments: append([]string(nil), cl.Arguments...),
		Options:   env.Header.options(),
	}
	p := &Process{
		ShellID:      sh.id,
		CommandID:    c.id,
		User:         sh.user,
		Command:      cl.Command,
		Arguments:    c.rec.Arguments,
		Options:      c.rec.Options,
		ShellOptions: sh.options,
		Stdin:        pr,
		Stdout:       c.stdout,
		Stderr:       c.stderr,
	}
	sh.mu.Lock()
	if sh.deleted {
		sh.mu.Unlock()
		cancel(ErrShellDeleted)
		return "", faultUnknownShell(sh.id)
	}
	sh.commands[c.id] = c
	sh.mu.Unlock()
	s.mu.Lock()
	s.commands = append(s.commands, c.rec)
	s.stats.Commands++
	s.mu.Unlock()

	exec := s.opts.Executor
	if exec == nil {
		exec = func(ctx context.Context, p *Process) int {
			fmt.Fprintf(p.Stderr, "wsmantest: no executor for %q\r\n", p.Command)
			return 1
		}
	}
	s.execs.Add(1)
	go func() {
		defer s.execs.Done()
		code := exec(ctx, p)
		pr.CloseWithError(errProcessExited)
		s.mu.Lock()
		c.rec.Done = true
		c.rec.ExitCode = code
		s.mu.Unlock()
		c.mu.Lock()
		c.done = true
		c.exitCode = code
		c.mu.Unlock()
		close(c.finished)
		c.notify()
	}()
	body := `<rsp:CommandResponse><rsp:CommandId>` + c.id + `</rsp:CommandId></rsp:CommandResponse>`
	return response("http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandResponse", env.Header.MessageID, body), nil
}

func (s *Server) send(env *envelope) (string, *Fault) {
	sh, f := s.shell(&env.Header)
	if f != nil {
		return "", f
	}
	b := env.Body.Send
	if b == nil || len(b.Streams) == 0 {
		return "", faultSchema("The Send request has no rsp:Send/rsp:Stream.")
	}
	s.count(func(st *Stats) { st.Sends++ })
	for _, st := range b.Streams {
		if st.Name != "stdin" {
			return "", faultSchema("Send to the unknown stream " + st.Name + ".")
		}
		c := sh.command(st.CommandID)
		if c == nil {
			return "", faultUnknownCommand()
		}
		data, err := base64.StdEncoding.DecodeString(strings.TrimSpace(st.Data))
		if err != nil {
			return "", faultSchema("The stream data is not base64: " + err.Error())
		}
		end := parseBool(st.End)
		c.stdinMu.Lock()
		if c.stdinEnd {
			c.stdinMu.Unlock()
			return "", faultClosedPipe()
		}
		s.mu.Lock()
		c.rec.StdinBytes += int64(len(data))
		s.mu.Unlock()
		if len(data) > 0 {
			if _, err := c.stdin.Write(data); err != nil {
				c.stdinMu.Unlock()
				return "", faultClosedPipe()
			}
		}
		if end {
			c.stdinEnd = true
			c.stdin.Close()
			s.mu.Lock()
			c.rec.StdinEnd = true
			s.mu.Unlock()
		}
		c.stdinMu.Unlock()
	}
	return response("http://schemas.microsoft.com/wbem/wsman/1/windows/shell/SendResponse", env.Header.MessageID, `<rsp:SendResponse/>`), nil
}

func (s *Server) receive(ctx context.Context, env *envelope) (string, *Fault) {
	sh, f := s.shell(&env.Header)
	if f != nil {
		return "", f
	}
	b := env.Body.Receive
	if b == nil {
		return "", faultSchema("The Receive request has no rsp:Receive body.")
	}
	c := sh.command(b.DesiredStream.CommandID)
	if c == nil {
		return "", faultUnknownCommand()
	}
	s.count(func(st *Stats) { st.Receives++ })
	timeout := s.opts.MaxOperationTimeout
	if d, err := parseDuration(env.Header.OperationTimeout); err == nil && d > 0 && d < timeout {
		timeout = d
	}
	envelopeSize := 153600
	if n, err := strconv.Atoi(strings.TrimSpace(env.Header.MaxEnvelopeSize)); err == nil && n > 0 {
		envelopeSize = n
	}
	budget := max((envelopeSize-4096)*3/4, 1024)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	id := c.id
	for {
		changed := c.wait()
		c.mu.Lock()
		done, code := c.done, c.exitCode
		c.mu.Unlock()
		out := c.stdout.take(budget)
		errOut := c.stderr.take(budget - len(out))
		final := done && c.stdout.len() == 0 && c.stderr.len() == 0
		if len(out) > 0 || len(errOut) > 0 || final {
			var body strings.Builder
			body.WriteString(`<rsp:ReceiveResponse>`)
			if len(out) > 0 {
				body.WriteString(`<rsp:Stream Name="stdout" CommandId="` + id + `">` + base64.StdEncoding.EncodeToString(out) + `</rsp:Stream>`)
			}
			if len(errOut) > 0 {
				body.WriteString(`<rsp:Stream Name="stderr" CommandId="` + id + `">` + base64.StdEncoding.EncodeToString(errOut) + `</rsp:Stream>`)
			}
			if final {
				body.WriteString(`<rsp:Stream Name="stdout" CommandId="` + id + `" End="true"></rsp:Stream>`)
				body.WriteString(`<rsp:Stream Name="stderr" CommandId="` + id + `" End="true"></rsp:Stream>`)
				body.WriteString(`<rsp:CommandState CommandId="` + id + `" State="` + stateDone + `"><rsp:ExitCode>` + strconv.Itoa(code) + `</rsp:ExitCode></rsp:CommandState>`)
			} else {
				body.WriteString(`<rsp:CommandState CommandId="` + id + `" State="` + stateRunning + `"/>`)
			}
			body.WriteString(`</rsp:ReceiveResponse>`)
			return response("http://schemas.microsoft.com/wbem/wsman/1/windows/shell/ReceiveResponse", env.Header.MessageID, body.String()), nil
		}
		select {
		case <-changed:
		case <-timer.C:
			ft := FaultTimedOut
			return "", &ft
		case <-ctx.Done():
			return "", nil
		case <-s.ctx.Done():
			return "", nil
		}
	}
}

func (s *Server) signal(env *envelope) (string, *Fault) {
	sh, f := s.shell(&env.Header)
	if f != nil {
		return "", f
	}
	b := env.Body.Signal
	if b == nil {
		return "", faultSchema("The Signal request has no rsp:Signal body.")
	}
	code := strings.TrimSpace(b.Code)
	name := strings.TrimPrefix(code, signalPrefix)
	switch {
	case name == code, name != "terminate" && name != "ctrl_c" && name != "ctrl_break":
		return "", faultSchema("Unknown signal code " + code + ".")
	}
	c := sh.command(b.CommandID)
	if c == nil {
		return "", faultUnknownCommand()
	}
	s.mu.Lock()
	s.stats.Signals++
	s.signals = append(s.signals, Signal{ShellID: sh.id, CommandID: c.id, Code: name})
	c.rec.Signals = append(c.rec.Signals, name)
	s.mu.Unlock()
	c.cancel(&SignalCause{Code: name})
	if name == "terminate" {
		// The command is gone: its process is ended and its resources
		// released, whatever output it had left.
		sh.mu.Lock()
		delete(sh.commands, c.id)
		sh.mu.Unlock()
		c.closeStdin(&SignalCause{Code: name})
	}
	return response("http://schemas.microsoft.com/wbem/wsman/1/windows/shell/SignalResponse", env.Header.MessageID, `<rsp:SignalResponse/>`), nil
}
