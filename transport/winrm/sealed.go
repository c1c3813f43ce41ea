package winrm

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf16"

	ntlmssp "github.com/Azure/go-ntlmssp"

	"github.com/tendhq/tend/transport/winrm/wsmancrypt"
)

// WinRM message encryption over plain HTTP (MS-WSMV 2.2.9.1), what a
// Windows listener requires there unless AllowUnencrypted is set. Each
// connection is authenticated once, with an empty POST carrying the NTLM
// or Kerberos handshake, as Windows clients and pywinrm do; every SOAP
// message on it is then sealed with that authentication's security
// context (NTLM session security, or Kerberos Wrap tokens) and framed as
// multipart/encrypted, and so is every answer. A connection is used by one
// request at a time (sealedAuth's slots), so the sequence numbers of each
// direction follow the order of the messages.

// sealedSlot is one connection and its security context.
type sealedSlot struct {
	tr     *http.Transport
	sealer wsmancrypt.Sealer // nil until the connection is authenticated
}

// handshake authenticates the connection of rt with empty POSTs to url
// and returns its security context.
type handshake func(ctx context.Context, rt http.RoundTripper, url string) (wsmancrypt.Sealer, error)

// sealedAuth encrypts every request and decrypts every answer.
type sealedAuth struct {
	url       string
	all       []*sealedSlot
	slots     chan *sealedSlot
	handshake handshake
}

func newSealedAuth(newTransport func() *http.Transport, n int, url string, hs handshake) *sealedAuth {
	a := &sealedAuth{url: url, slots: make(chan *sealedSlot, n), handshake: hs}
	for i := 0; i < n; i++ {
		tr := newTransport()
		tr.MaxConnsPerHost = 1
		tr.MaxIdleConnsPerHost = 1
		s := &sealedSlot{tr: tr}
		a.all = append(a.all, s)
		a.slots <- s
	}
	return a
}

// CloseIdleConnections closes the slots' idle connections (http.Client
// calls it).
func (a *sealedAuth) CloseIdleConnections() {
	for _, s := range a.all {
		s.tr.CloseIdleConnections()
	}
}

// ErrUnencryptedAnswer is returned when a server answers an encrypted
// request with a SOAP answer in clear text.
var ErrUnencryptedAnswer = errors.New("the server answered an encrypted request in clear text: refusing an answer that anyone on the path could have written")

func (a *sealedAuth) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		b, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	var s *sealedSlot
	select {
	case s = <-a.slots:
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	defer func() { a.slots <- s }()
	for attempt := 0; ; attempt++ {
		fresh := false
		if s.sealer == nil {
			sealer, err := a.handshake(r.Context(), s.tr, a.url)
			if err != nil {
				s.tr.CloseIdleConnections()
				return nil, err
			}
			s.sealer, fresh = sealer, true
		}
		resp, err := a.exchange(r, s, body)
		if err != nil {
			// The sequence numbers are out of step with the server's, or
			// the connection is gone: authenticate afresh next time.
			s.sealer = nil
			s.tr.CloseIdleConnections()
			return nil, err
		}
		if resp.StatusCode == http.StatusUnauthorized && !fresh && attempt == 0 {
			// The server no longer knows the connection (it closed an idle
			// one and this request opened another): authenticate it again.
			s.sealer = nil
			continue
		}
		return resp, nil
	}
}

// exchange seals body, sends it on the slot's connection and unseals the
// answer.
func (a *sealedAuth) exchange(r *http.Request, s *sealedSlot, body []byte) (*http.Response, error) {
	ct, data, err := wsmancrypt.Encode(s.sealer, wsmancrypt.ProtocolSPNEGO, body, 0)
	if err != nil {
		return nil, fmt.Errorf("encrypting the message: %w", err)
	}
	req := r.Clone(r.Context())
	req.Body = io.NopCloser(bytes.NewReader(data))
	req.ContentLength = int64(len(data))
	// Replayable, so that the HTTP transport may resend it on a new
	// connection when the server closed an idle one; a new connection is
	// not authenticated, and its 401 makes RoundTrip authenticate it and
	// seal the message again.
	sealed := data
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(sealed)), nil }
	req.Header.Set("Content-Type", ct)
	req.Header.Del("Authorization")
	resp, err := s.tr.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	data, err = io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("reading the response: %w", err)
	}
	rct := resp.Header.Get("Content-Type")
	switch {
	case wsmancrypt.IsEncrypted(rct):
		plain, _, err := wsmancrypt.Decode(s.sealer, rct, data)
		if err != nil {
			return nil, fmt.Errorf("decrypting the answer: %w", err)
		}
		data = plain
		resp.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
	case resp.StatusCode == http.StatusOK && len(data) > 0 && strings.HasPrefix(strings.ToLower(rct), "application/soap+xml"):
		return nil, ErrUnencryptedAnswer
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	resp.ContentLength = int64(len(data))
	resp.Header.Set("Content-Length", strconv.Itoa(len(data)))
	return resp, nil
}

// authPost sends one empty POST with an Authorization header, as the legs
// of a handshake are sent.
func authPost(ctx context.Context, rt http.RoundTripper, url, authz string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, http.NoBody)
	if err != nil {
		return nil, err
	}
	req.ContentLength = 0
	req.Header.Set("Authorization", authz)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return resp, nil
}

// ntlmHandshake authenticates a connection with NTLMv2 asking for
// sealing, signing and a key exchange, and returns its session security.
// go-ntlmssp builds the NEGOTIATE and AUTHENTICATE messages; tend adds the
// flags that ask for session security and the exchanged key, which
// go-ntlmssp does not do.
func ntlmHandshake(user, password string, failed func(*http.Response) error) handshake {
	name, domain := ntlmssp.GetDomain(user)
	return func(ctx context.Context, rt http.RoundTripper, url string) (wsmancrypt.Sealer, error) {
		neg, err := ntlmssp.NewNegotiateMessage(domain, "")
		if err != nil {
			return nil, fmt.Errorf("NTLM: %w", err)
		}
		flags := binary.LittleEndian.Uint32(neg[12:])
		flags |= wsmancrypt.NTLMFlagSign | wsmancrypt.NTLMFlagSeal | wsmancrypt.NTLMFlagKeyExch | wsmancrypt.NTLMFlagAlwaysSign
		binary.LittleEndian.PutUint32(neg[12:], flags)
		resp, err := authPost(ctx, rt, url, "Negotiate "+base64.StdEncoding.EncodeToString(neg))
		if err != nil {
			return nil, err
		}
		challenge := negotiateToken(resp.Header)
		if resp.StatusCode == http.StatusUnauthorized && !offersNegotiate(resp.Header) {
			return nil, errNoNTLM
		}
		if resp.StatusCode != http.StatusUnauthorized || len(challenge) < 24 || string(challenge[:8]) != "NTLMSSP\x00" {
			return nil, failed(resp)
		}
		chFlags := binary.LittleEndian.Uint32(challenge[20:])
		if chFlags&wsmancrypt.NTLMFlagSeal == 0 || chFlags&wsmancrypt.NTLMFlagSign == 0 {
			return nil, errors.New("NTLM: the server does not agree to seal and sign messages, which encryption over HTTP needs")
		}
		// go-ntlmssp refuses a key exchange; it is done here instead.
		ch := append([]byte(nil), challenge...)
		binary.LittleEndian.PutUint32(ch[20:], chFlags&^wsmancrypt.NTLMFlagKeyExch)
		am, err := ntlmssp.ProcessChallenge(ch, name, password)
		if err != nil {
			return nil, fmt.Errorf("NTLM: %w", err)
		}
		if len(am) < 64 {
			return nil, errors.New("NTLM: short AUTHENTICATE message")
		}
		nt, err1 := ntlmField(am, 20)
		dom, err2 := ntlmField(am, 28)
		usr, err3 := ntlmField(am, 36)
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("NTLM: AUTHENTICATE message: %w", err)
		}
		base, err := wsmancrypt.NTLMv2SessionBaseKey(password, utf16String(usr), utf16String(dom), nt)
		if err != nil {
			return nil, err
		}
		exported := base
		amFlags := binary.LittleEndian.Uint32(am[60:])
		if chFlags&wsmancrypt.NTLMFlagKeyExch != 0 {
			exported = make([]byte, 16)
			if _, err := rand.Read(exported); err != nil {
				return nil, err
			}
			enc := wsmancrypt.NTLMKeyExchange(base, exported)
			binary.LittleEndian.PutUint16(am[52:], uint16(len(enc)))
			binary.LittleEndian.PutUint16(am[54:], uint16(len(enc)))
			binary.LittleEndian.PutUint32(am[56:], uint32(len(am)))
			am = append(am, enc...)
			amFlags |= wsmancrypt.NTLMFlagKeyExch
			binary.LittleEndian.PutUint32(am[60:], amFlags)
		}
		resp, err = authPost(ctx, rt, url, "Negotiate "+base64.StdEncoding.EncodeToString(am))
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, failed(resp)
		}
		return wsmancrypt.NewNTLMSession(exported, amFlags, true)
	}
}

// negotiateToken returns the token of a Negotiate or NTLM
// WWW-Authenticate header, nil if there is none.
func negotiateToken(h http.Header) []byte {
	for _, v := range h.Values("WWW-Authenticate") {
		scheme, data, _ := strings.Cut(strings.TrimSpace(v), " ")
		if strings.EqualFold(scheme, "Negotiate") || strings.EqualFold(scheme, "NTLM") {
			if b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(data)); err == nil && len(b) > 0 {
				return b
			}
		}
	}
	return nil
}

// offersNegotiate reports whether a 401 offers Negotiate or NTLM.
func offersNegotiate(h http.Header) bool {
	for _, v := range h.Values("WWW-Authenticate") {
		scheme, _, _ := strings.Cut(strings.TrimSpace(v), " ")
		if strings.EqualFold(scheme, "Negotiate") || strings.EqualFold(scheme, "NTLM") {
			return true
		}
	}
	return false
}

func ntlmField(msg []byte, at int) ([]byte, error) {
	n := int(binary.LittleEndian.Uint16(msg[at:]))
	off := int(binary.LittleEndian.Uint32(msg[at+4:]))
	if off+n > len(msg) {
		return nil, errors.New("field points outside the message")
	}
	return msg[off : off+n], nil
}

func utf16String(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}
