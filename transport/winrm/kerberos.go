package winrm

import (
	"context"
	"encoding/asn1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/chksumtype"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/tendhq/tend/transport/winrm/wsmancrypt"
)

// Kerberos authentication (HTTP Negotiate, RFC 4559, with a SPNEGO
// NegTokenInit wrapping a Kerberos AP-REQ, as Windows clients send it).
//
// Credentials come from, in this order: a password (the winrm or host
// password: tend asks the KDC for a ticket-granting ticket itself, as
// Ansible's "managed" kinit mode does), a keytab (winrm.keytab), or the
// operator's credential cache (KRB5CCNAME, else /tmp/krb5cc_<uid>; only
// FILE: caches), filled by kinit. krb5.conf is KRB5_CONFIG's first
// existing file, else /etc/krb5.conf. The service principal is
// <kerberos_service>/<kerberos_hostname> (HTTP/<address> by default).
//
// Every request carries a fresh AP-REQ for the cached service ticket, so
// that it authenticates whichever pooled connection it is sent on. Mutual
// authentication is asked for: an AP-REP the server sends back is
// checked (the ticket's session key decrypts it and it echoes the
// authenticator's time), a bad one fails the request, and the first
// answer (the shell's creation, in Dial) must carry one. Over plain HTTP
// each connection is instead authenticated once and its messages are
// sealed in that context (sealed.go). Channel bindings are not sent.

// kerberosAuth authenticates every request with a Kerberos AP-REQ.
type kerberosAuth struct {
	rt  http.RoundTripper
	cl  *client.Client
	spn string
	// ticket returns the service ticket and its session key: the
	// client's, from its cache or the KDC.
	ticket func(spn string) (messages.Ticket, types.EncryptionKey, error)
	cname  types.PrincipalName
	crealm string
	source string // where the credentials came from, for messages
	who    string // the user's principal, user@REALM

	mu   sync.Mutex
	last time.Time // the last authenticator's time: each is unique

	proven atomic.Bool // an AP-REP was verified
}

// krb5ConfPath returns the krb5.conf to read: opts.KRB5Config, else the
// first existing file of KRB5_CONFIG (a colon-separated list, as MIT
// reads it), else /etc/krb5.conf.
func krb5ConfPath(opts Options) (string, error) {
	if opts.KRB5Config != "" {
		return opts.KRB5Config, nil
	}
	if env := os.Getenv("KRB5_CONFIG"); env != "" {
		for _, p := range strings.Split(env, ":") {
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
		return "", fmt.Errorf("kerberos: no file of KRB5_CONFIG=%s exists", env)
	}
	if _, err := os.Stat("/etc/krb5.conf"); err != nil {
		return "", errors.New("kerberos: no /etc/krb5.conf (install krb5-config or set KRB5_CONFIG): tend needs the realm's KDCs")
	}
	return "/etc/krb5.conf", nil
}

// ccachePath returns the FILE: credential cache to read.
func ccachePath(opts Options) (string, error) {
	name := opts.KRB5CCache
	if name == "" {
		name = os.Getenv("KRB5CCNAME")
	}
	if name == "" {
		return "/tmp/krb5cc_" + strconv.Itoa(os.Getuid()), nil
	}
	kind, rest, ok := strings.Cut(name, ":")
	if !ok || strings.HasPrefix(name, "/") {
		return name, nil
	}
	if strings.EqualFold(kind, "FILE") {
		return rest, nil
	}
	return "", fmt.Errorf("kerberos: credential cache %s: tend reads only FILE: caches; run kinit with KRB5CCNAME=FILE:/tmp/krb5cc_tend (or give a password or keytab)", name)
}

// splitPrincipal splits user@REALM; a user without a realm is in the
// default realm of krb5.conf.
func splitPrincipal(user string, cfg *config.Config) (name, realm string, err error) {
	if strings.Contains(user, `\`) {
		return "", "", fmt.Errorf("kerberos: write the user as user@REALM, not %q (a Windows domain name is not a Kerberos realm)", user)
	}
	name, realm, ok := strings.Cut(user, "@")
	if !ok || realm == "" {
		realm = cfg.LibDefaults.DefaultRealm
	}
	if realm == "" {
		return "", "", fmt.Errorf("kerberos: user %q has no realm and krb5.conf sets no default_realm: write it as user@REALM", user)
	}
	return name, realm, nil
}

// newKerberosAuth builds the Kerberos client for s and gets a service
// ticket, so that a missing or expired ticket, a wrong password, an
// unknown service principal or an unreachable KDC is reported at Dial. The
// KDC exchanges are bounded by gokrb5's per-KDC timeouts; ctx ends the
// wait sooner.
func newKerberosAuth(ctx context.Context, s *settings, opts Options) (*kerberosAuth, error) {
	type result struct {
		k   *kerberosAuth
		err error
	}
	ch := make(chan result, 1)
	go func() {
		k, err := kerberosLogin(s, opts)
		ch <- result{k, err}
	}()
	select {
	case r := <-ch:
		return r.k, r.err
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.k != nil {
				r.k.close()
			}
		}()
		return nil, fmt.Errorf("kerberos: waiting for the KDC: %w", context.Cause(ctx))
	}
}

// kerberosLogin is loginKerberos; tests without a KDC replace it.
var kerberosLogin = loginKerberos

func loginKerberos(s *settings, opts Options) (*kerberosAuth, error) {
	confPath, err := krb5ConfPath(opts)
	if err != nil {
		return nil, err
	}
	cfg, err := config.Load(confPath)
	if err != nil {
		return nil, fmt.Errorf("kerberos: reading %s: %v", confPath, err)
	}
	set := []func(*client.Settings){client.DisablePAFXFAST(true)}
	k := &kerberosAuth{spn: s.spn}
	var who, realm string
	switch {
	case s.password != "":
		name, r, err := splitPrincipal(s.user, cfg)
		if err != nil {
			return nil, err
		}
		who, realm = name+"@"+r, r
		k.cl = client.NewWithPassword(name, r, s.password, cfg, set...)
		k.source = "password of " + who
	case s.keytab != "":
		kt, err := keytab.Load(s.keytab)
		if err != nil {
			return nil, fmt.Errorf("kerberos: keytab %s: %v", s.keytab, err)
		}
		name, r, err := splitPrincipal(s.user, cfg)
		if err != nil {
			return nil, err
		}
		who, realm = name+"@"+r, r
		k.cl = client.NewWithKeytab(name, r, kt, cfg, set...)
		k.source = "keytab " + s.keytab
	default:
		path, err := ccachePath(opts)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("kerberos: no ticket: the credential cache %s does not exist: run kinit (or give a password or keytab)", path)
		}
		cc, err := credentials.LoadCCache(path)
		if err != nil {
			return nil, fmt.Errorf("kerberos: credential cache %s: %v", path, err)
		}
		who = cc.DefaultPrincipal.PrincipalName.PrincipalNameString() + "@" + cc.DefaultPrincipal.Realm
		realm = cc.DefaultPrincipal.Realm
		if s.user != "" {
			name, r, err := splitPrincipal(s.user, cfg)
			if err != nil {
				return nil, err
			}
			if !strings.EqualFold(name+"@"+r, who) {
				return nil, fmt.Errorf("kerberos: the credential cache %s holds tickets of %s, not of %s: run kinit %s@%s (or leave the user out)", path, who, s.user, name, r)
			}
		}
		tgt, ok := cc.GetEntry(types.PrincipalName{NameType: nametype.KRB_NT_SRV_INST, NameString: []string{"krbtgt", realm}})
		if !ok {
			return nil, fmt.Errorf("kerberos: no ticket-granting ticket for %s in the credential cache %s: run kinit", who, path)
		}
		if !tgt.EndTime.After(time.Now()) {
			return nil, fmt.Errorf("kerberos: the ticket of %s in the credential cache %s expired at %s: run kinit again", who, path, tgt.EndTime.UTC().Format(time.RFC3339))
		}
		k.cl, err = client.NewFromCCache(cc, cfg, set...)
		if err != nil {
			return nil, fmt.Errorf("kerberos: credential cache %s: %v", path, err)
		}
		k.source = "credential cache " + path
	}
	if s.password != "" || s.keytab != "" {
		if err := k.cl.Login(); err != nil {
			k.cl.Destroy()
			return nil, kdcError(err, who, realm, s.spn, confPath)
		}
	}
	if _, _, err := k.cl.GetServiceTicket(s.spn); err != nil {
		k.cl.Destroy()
		return nil, kdcError(err, who, realm, s.spn, confPath)
	}
	k.who = who
	k.ticket = k.cl.GetServiceTicket
	k.cname, k.crealm = k.cl.Credentials.CName(), k.cl.Credentials.Domain()
	return k, nil
}

// kdcError explains a failed exchange with the KDC. gokrb5 reports KDC
// errors as text, so the error code names are matched in it.
func kdcError(err error, who, realm, spn, confPath string) error {
	msg := err.Error()
	has := func(s ...string) bool {
		for _, x := range s {
			if strings.Contains(msg, x) {
				return true
			}
		}
		return false
	}
	var why string
	switch {
	case has("KDC_ERR_PREAUTH_FAILED", "password/keytab incorrect") && !has("TGS"):
		// A KDC requiring pre-authentication (Active Directory) refuses
		// the wrong key; one that does not answers with a reply the key
		// cannot decrypt.
		why = fmt.Sprintf("the KDC refused the password (or key) of %s", who)
	case has("KDC_ERR_C_PRINCIPAL_UNKNOWN"):
		why = fmt.Sprintf("the KDC does not know the user %s", who)
	case has("KDC_ERR_S_PRINCIPAL_UNKNOWN"):
		why = fmt.Sprintf("the KDC does not know the service principal %s: set kerberos_hostname to the host's name as registered in the directory (or kerberos_service)", spn)
	case has("KDC_ERR_CLIENT_REVOKED"):
		why = fmt.Sprintf("the account %s is disabled or locked", who)
	case has("KDC_ERR_KEY_EXPIRED"):
		why = fmt.Sprintf("the password of %s has expired", who)
	case has("KRB_AP_ERR_TKT_EXPIRED", "no valid existing session"):
		why = fmt.Sprintf("the ticket of %s has expired: run kinit again", who)
	case has("KRB_AP_ERR_SKEW"):
		why = "the clocks of this machine and the KDC differ by more than the allowed skew"
	case has("KDC_ERR_ETYPE_NOSUPP"):
		why = "the KDC and tend share no encryption type (tend supports AES and RC4)"
	case has("communicate with KDC", "communication error with KDC", "networking", "no KDCs defined", "dial ", "connection refused", "i/o timeout"):
		why = fmt.Sprintf("cannot reach a KDC of realm %s (the kdc entries of %s)", realm, confPath)
	default:
		why = "the KDC exchange failed"
	}
	return fmt.Errorf("kerberos: %s: %s", why, strings.TrimSpace(msg))
}

// gssChecksum is the authenticator checksum of a GSS-API Kerberos
// context (RFC 4121 4.1.1): no channel bindings, and the context flags.
func gssChecksum(fl uint32) []byte {
	b := make([]byte, 24)
	binary.LittleEndian.PutUint32(b[:4], 16)
	binary.LittleEndian.PutUint32(b[20:24], fl)
	return b
}

// token returns a Negotiate header value with a fresh AP-REQ, and the
// authenticator and session key an AP-REP must match.
func (k *kerberosAuth) token() (string, types.Authenticator, types.EncryptionKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	tkt, key, err := k.ticket(k.spn)
	if err != nil {
		return "", types.Authenticator{}, key, fmt.Errorf("kerberos: service ticket for %s: %w", k.spn, err)
	}
	auth, err := types.NewAuthenticator(k.crealm, k.cname)
	if err != nil {
		return "", auth, key, fmt.Errorf("kerberos: %w", err)
	}
	// Servers refuse a second authenticator with the same time as a
	// replay, and requests go out concurrently: each gets its own
	// microsecond.
	now := time.Now().UTC().Truncate(time.Microsecond)
	if !now.After(k.last) {
		now = k.last.Add(time.Microsecond)
	}
	k.last = now
	auth.CTime = now.Truncate(time.Second)
	auth.Cusec = now.Nanosecond() / 1000
	auth.Cksum = types.Checksum{
		CksumType: chksumtype.GSSAPI,
		Checksum:  gssChecksum(gssapi.ContextFlagMutual | gssapi.ContextFlagInteg | gssapi.ContextFlagConf),
	}
	req, err := messages.NewAPReq(tkt, key, auth)
	if err != nil {
		return "", auth, key, fmt.Errorf("kerberos: AP-REQ: %w", err)
	}
	types.SetFlag(&req.APOptions, flags.APOptionMutualRequired)
	rb, err := req.Marshal()
	if err != nil {
		return "", auth, key, fmt.Errorf("kerberos: AP-REQ: %w", err)
	}
	oid, _ := asn1.Marshal(asn1.ObjectIdentifier(gssapi.OIDKRB5.OID()))
	mech, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassApplication, Tag: 0, IsCompound: true,
		Bytes: append(append(oid, 0x01, 0x00), rb...)}) // TOK_ID KRB_AP_REQ
	if err != nil {
		return "", auth, key, fmt.Errorf("kerberos: %w", err)
	}
	tok, err := spnegoInit(mech)
	if err != nil {
		return "", auth, key, fmt.Errorf("kerberos: %w", err)
	}
	return "Negotiate " + base64.StdEncoding.EncodeToString(tok), auth, key, nil
}

// negTokenInit is SPNEGO's NegTokenInit (RFC 4178 4.2.1) with the fields
// tend sends.
type negTokenInit struct {
	MechTypes []asn1.ObjectIdentifier `asn1:"explicit,tag:0"`
	MechToken []byte                  `asn1:"explicit,tag:2"`
}

// spnegoInit wraps a Kerberos mechanism token in a SPNEGO initial context
// token offering Kerberos only.
func spnegoInit(mech []byte) ([]byte, error) {
	inner, err := asn1.Marshal(negTokenInit{
		MechTypes: []asn1.ObjectIdentifier{asn1.ObjectIdentifier(gssapi.OIDKRB5.OID())},
		MechToken: mech,
	})
	if err != nil {
		return nil, err
	}
	choice, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: inner})
	if err != nil {
		return nil, err
	}
	oid, err := asn1.Marshal(asn1.ObjectIdentifier(gssapi.OIDSPNEGO.OID()))
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(asn1.RawValue{Class: asn1.ClassApplication, Tag: 0, IsCompound: true, Bytes: append(oid, choice...)})
}

// oidMSKRB5 is the Kerberos OID Microsoft's SSPI may use in place of
// RFC 1964's (1.2.840.48018.1.2.2).
var oidMSKRB5 = asn1.ObjectIdentifier{1, 2, 840, 48018, 1, 2, 2}

// Kerberos GSS-API token ids (RFC 1964 1.1).
const (
	tokAPRep    = 0x0200
	tokKRBError = 0x0300
)

// serverToken finds the Kerberos token in the server's Negotiate (or
// Kerberos) WWW-Authenticate header: a SPNEGO NegTokenResp's response
// token, or a bare GSS-API token. It returns the token id and the
// Kerberos message; ok is false when there is none. A SPNEGO reject is
// reported with its token (a KRB-ERROR), if any.
func serverToken(h http.Header) (id int, msg []byte, ok bool, err error) {
	var tok []byte
	for _, v := range h.Values("WWW-Authenticate") {
		scheme, data, _ := strings.Cut(strings.TrimSpace(v), " ")
		if (strings.EqualFold(scheme, "Negotiate") || strings.EqualFold(scheme, "Kerberos")) && strings.TrimSpace(data) != "" {
			b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(data))
			if err != nil {
				return 0, nil, true, fmt.Errorf("kerberos: the server's %s answer is not base64", scheme)
			}
			tok = b
		}
	}
	if tok == nil {
		return 0, nil, false, nil
	}
	if tok[0] == 0xa1 { // SPNEGO NegTokenResp
		_, nt, err := spnego.UnmarshalNegToken(tok)
		if err != nil {
			return 0, nil, true, fmt.Errorf("kerberos: the server's SPNEGO answer: %v", err)
		}
		resp, isResp := nt.(spnego.NegTokenResp)
		if !isResp {
			return 0, nil, true, errors.New("kerberos: the server's SPNEGO answer is not a NegTokenResp")
		}
		if len(resp.ResponseToken) == 0 {
			if resp.State() != spnego.NegStateAcceptCompleted {
				return 0, nil, true, fmt.Errorf("kerberos: the server's SPNEGO answer is not accept-completed (state %d)", resp.State())
			}
			return 0, nil, false, nil
		}
		tok = resp.ResponseToken
	}
	// [APPLICATION 0] IMPLICIT SEQUENCE { thisMech OID, TOK_ID, message }
	var raw asn1.RawValue
	if _, err := asn1.Unmarshal(tok, &raw); err != nil || raw.Class != asn1.ClassApplication || raw.Tag != 0 {
		return 0, nil, true, errors.New("kerberos: the server's answer is not a GSS-API token")
	}
	var oid asn1.ObjectIdentifier
	rest, err := asn1.Unmarshal(raw.Bytes, &oid)
	if err != nil || len(rest) < 2 {
		return 0, nil, true, errors.New("kerberos: the server's answer is not a GSS-API token")
	}
	if !oid.Equal(asn1.ObjectIdentifier(gssapi.OIDKRB5.OID())) && !oid.Equal(oidMSKRB5) {
		return 0, nil, true, fmt.Errorf("kerberos: the server answered with mechanism %v, not Kerberos", oid)
	}
	return int(binary.BigEndian.Uint16(rest)), rest[2:], true, nil
}

// serverKRBError returns the KRB-ERROR a server put in its 401, if any.
func serverKRBError(h http.Header) (messages.KRBError, bool) {
	var ke messages.KRBError
	id, msg, ok, err := serverToken(h)
	if err != nil || !ok || id != tokKRBError || ke.Unmarshal(msg) != nil {
		return ke, false
	}
	return ke, true
}

// verifyReply checks the server's answer to a mutual authentication: an
// AP-REP that decrypts with the session key and echoes the
// authenticator's time. It reports whether there was one.
func verifyReply(h http.Header, auth types.Authenticator, key types.EncryptionKey) (bool, error) {
	_, ok, err := replyPart(h, auth, key)
	return ok, err
}

// replyPart is verifyReply, returning the AP-REP's decrypted part (the
// acceptor's subkey and sequence number).
func replyPart(h http.Header, auth types.Authenticator, key types.EncryptionKey) (messages.EncAPRepPart, bool, error) {
	var part messages.EncAPRepPart
	id, msg, ok, err := serverToken(h)
	if err != nil || !ok {
		return part, ok, err
	}
	switch id {
	case tokAPRep:
	case tokKRBError:
		var ke messages.KRBError
		if err := ke.Unmarshal(msg); err != nil {
			return part, true, fmt.Errorf("kerberos: the server answered with a KRB-ERROR: %v", err)
		}
		return part, true, fmt.Errorf("kerberos: the server answered with %v", ke)
	default:
		return part, true, fmt.Errorf("kerberos: the server's answer is not an AP-REP (token id %04x)", id)
	}
	var rep messages.APRep
	if err := rep.Unmarshal(msg); err != nil {
		return part, true, fmt.Errorf("kerberos: the server's AP-REP: %v", err)
	}
	plain, err := crypto.DecryptEncPart(rep.EncPart, key, keyusage.AP_REP_ENCPART)
	if err != nil {
		return part, true, fmt.Errorf("kerberos: the server's AP-REP does not decrypt with the session key: it does not hold the service key of the ticket (%v)", err)
	}
	if err := part.Unmarshal(plain); err != nil {
		return part, true, fmt.Errorf("kerberos: the server's AP-REP: %v", err)
	}
	if part.CTime.Unix() != auth.CTime.Unix() || part.Cusec != auth.Cusec {
		return part, true, errors.New("kerberos: the server's AP-REP answers another authenticator (a replayed answer)")
	}
	return part, true, nil
}

// explainKRBError says what a KRB-ERROR in a server's 401 means for the
// operator.
func explainKRBError(ke messages.KRBError, spn string) string {
	var why string
	switch ke.ErrorCode {
	case errorcode.KRB_AP_ERR_MODIFIED, errorcode.KRB_AP_ERR_BAD_INTEGRITY, errorcode.KRB_AP_ERR_NOKEY, errorcode.KRB_AP_ERR_BADKEYVER:
		why = fmt.Sprintf("the host cannot decrypt the ticket for %s: the service principal belongs to another account, or the host's key changed since the KDC issued the ticket (kerberos_hostname, kerberos_service; or run kinit again)", spn)
	case errorcode.KRB_AP_ERR_SKEW:
		why = "the clocks of this machine and the host differ by more than the allowed skew"
	case errorcode.KRB_AP_ERR_TKT_EXPIRED:
		why = "the ticket expired: run kinit again"
	case errorcode.KRB_AP_ERR_REPEAT:
		why = "the host took the request for a replay"
	default:
		why = "the host refused the ticket"
	}
	return fmt.Sprintf("%s (the host says %v)", why, ke)
}

// RoundTrip sends r with a fresh AP-REQ and checks the AP-REP of a
// successful answer.
func (k *kerberosAuth) RoundTrip(r *http.Request) (*http.Response, error) {
	hdr, auth, key, err := k.token()
	if err != nil {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, err
	}
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", hdr)
	resp, err := k.rt.RoundTrip(r)
	if err != nil || resp.StatusCode == http.StatusUnauthorized {
		return resp, err
	}
	had, err := verifyReply(resp.Header, auth, key)
	if err == nil && !had && !k.proven.Load() && resp.StatusCode == http.StatusOK {
		err = errors.New("kerberos: the server answered without proving its identity (no AP-REP in its Negotiate header, though mutual authentication was asked for)")
	}
	if err != nil {
		resp.Body.Close()
		return nil, err
	}
	if had {
		k.proven.Store(true)
	}
	return resp, nil
}

// handshake authenticates a connection for message encryption: an empty
// POST with a fresh AP-REQ, whose AP-REP (required) gives the context key
// (the acceptor's subkey, else the ticket's session key) and the
// acceptor's first sequence number.
func (k *kerberosAuth) handshake(failed func(*http.Response) error) handshake {
	return func(ctx context.Context, rt http.RoundTripper, url string) (wsmancrypt.Sealer, error) {
		hdr, auth, key, err := k.token()
		if err != nil {
			return nil, err
		}
		resp, err := authPost(ctx, rt, url, hdr)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, failed(resp)
		}
		part, had, err := replyPart(resp.Header, auth, key)
		if err != nil {
			return nil, err
		}
		if !had {
			return nil, errors.New("kerberos: the server answered without an AP-REP: it neither proved its identity nor set up the context that encrypts the messages")
		}
		k.proven.Store(true)
		ckey, sub := key, false
		if part.Subkey.KeyType != 0 && len(part.Subkey.KeyValue) > 0 {
			ckey, sub = part.Subkey, true
		}
		return wsmancrypt.NewKerberosSession(ckey, true, sub, uint64(auth.SeqNumber), uint64(part.SequenceNumber))
	}
}

// CloseIdleConnections closes the idle connections (http.Client calls
// it).
func (k *kerberosAuth) CloseIdleConnections() {
	if c, ok := k.rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// close ends the client's ticket renewal.
func (k *kerberosAuth) close() {
	if k.cl != nil {
		k.cl.Destroy()
	}
}
