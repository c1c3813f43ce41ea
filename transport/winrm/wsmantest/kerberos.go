package wsmantest

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/asn1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/service"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/tendhq/tend/transport/winrm/wsmancrypt"
)

// The server side of Kerberos in HTTP Negotiate (RFC 4559) as a Windows
// WinRM listener accepts it: the Authorization header carries either a
// SPNEGO NegTokenInit wrapping a Kerberos AP-REQ (tend, Windows clients)
// or a bare Kerberos GSS-API token (MIT's GSS-API without SPNEGO, as
// python's requests-kerberos sends it). The AP-REQ is checked with the
// service's keytab (gokrb5's service.VerifyAPREQ: ticket decrypted with
// the service key, authenticator, clock skew, replay); when the client
// asks for mutual authentication the answer carries an AP-REP, in the
// same framing as the request, in its WWW-Authenticate header. As on
// Windows, the connection stays authenticated afterwards, with the
// context that seals its messages over HTTP. Channel bindings are not
// checked.

// gssFlagMutual is GSS_C_MUTUAL_FLAG in the authenticator's checksum
// (RFC 4121 4.1.1.1).
const gssFlagMutual = 2

// oidMSKRB5 is the Kerberos OID Microsoft's SSPI lists first in SPNEGO's
// mechanism list (1.2.840.48018.1.2.2).
var oidMSKRB5 = asn1.ObjectIdentifier{1, 2, 840, 48018, 1, 2, 2}

// kerberos authenticates one request carrying a Negotiate or Kerberos
// token that is not NTLM.
func (s *Server) kerberos(w http.ResponseWriter, r *http.Request, cs *connState, scheme string, token []byte) (string, bool) {
	if s.opts.Keytab == nil {
		s.logf("%s: Kerberos token, but the server has no keytab", scheme)
		s.unauthorized(w, r)
		return "", false
	}
	krb, wrapped, err := parseKerberosToken(token)
	if err != nil {
		s.logf("%s: %v", scheme, err)
		s.unauthorized(w, r)
		return "", false
	}
	if !krb.IsAPReq() {
		s.logf("%s: the Kerberos token is not an AP-REQ", scheme)
		s.unauthorized(w, r)
		return "", false
	}
	settings := []func(*service.Settings){service.DecodePAC(false), service.MaxClockSkew(5 * time.Minute)}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		if ip := net.ParseIP(host); ip != nil {
			settings = append(settings, service.ClientAddress(types.HostAddressFromNetIP(ip)))
		}
	}
	if s.opts.KerberosPrincipal != "" {
		settings = append(settings, service.KeytabPrincipal(s.opts.KerberosPrincipal))
	}
	ok, creds, err := service.VerifyAPREQ(&krb.APReq, service.NewSettings(s.opts.Keytab, settings...))
	if err != nil || !ok {
		if err == nil {
			err = errors.New("not valid")
		}
		s.logf("%s: Kerberos AP-REQ for %s refused: %v", scheme, krb.APReq.Ticket.SName.PrincipalNameString(), err)
		s.refuseKerberos(w, r, scheme, wrapped, krbErrorFor(err, &krb.APReq))
		return "", false
	}
	user := creds.CName().PrincipalNameString() + "@" + creds.Domain()
	// The context's key: the initiator's subkey if it sent one (this
	// server sends none of its own), else the ticket's session key.
	// The acceptor's sequence numbers start at the AP-REP's, or without
	// one at the initiator's.
	auth := &krb.APReq.Authenticator
	ckey := krb.APReq.Ticket.DecryptedEncPart.Key
	if auth.SubKey.KeyType != 0 && len(auth.SubKey.KeyValue) > 0 {
		ckey = auth.SubKey
	}
	acceptorSeq := uint64(auth.SeqNumber)
	subkey := false
	if mutualRequested(&krb.APReq) {
		var sub *types.EncryptionKey
		if s.opts.KerberosAcceptorSubkey {
			et, err := crypto.GetEtype(ckey.KeyType)
			if err == nil {
				k, err := types.GenerateEncryptionKey(et)
				if err == nil {
					sub, ckey, subkey = &k, k, true
				}
			}
		}
		rep, seq, err := apRep(&krb.APReq, wrapped, sub)
		acceptorSeq = seq
		if err != nil {
			s.logf("%s: building the AP-REP: %v", scheme, err)
			s.unauthorized(w, r)
			return "", false
		}
		w.Header().Set("WWW-Authenticate", scheme+" "+base64.StdEncoding.EncodeToString(rep))
	}
	sealer, err := wsmancrypt.NewKerberosSession(ckey, false, subkey, acceptorSeq, uint64(auth.SeqNumber))
	if err != nil {
		s.logf("%s: no message encryption on this connection: %v", scheme, err)
		sealer = nil
	}
	cs.mu.Lock()
	cs.user = user
	cs.challenge = nil
	cs.sealer = sealer
	cs.mu.Unlock()
	s.count(func(st *Stats) { st.Kerberos++ })
	return user, true
}

// parseKerberosToken reads a GSS-API initial context token: SPNEGO with a
// Kerberos mechanism token (wrapped is true), or a bare Kerberos one.
func parseKerberosToken(b []byte) (tok spnego.KRB5Token, wrapped bool, err error) {
	// [APPLICATION 0] { thisMech OID, innerContextToken }
	var raw asn1.RawValue
	if _, err := asn1.Unmarshal(b, &raw); err != nil || raw.Class != asn1.ClassApplication || raw.Tag != 0 {
		return tok, false, errors.New("not a GSS-API initial context token")
	}
	var oid asn1.ObjectIdentifier
	if _, err := asn1.Unmarshal(raw.Bytes, &oid); err != nil {
		return tok, false, fmt.Errorf("not a GSS-API token: %v", err)
	}
	switch {
	case oid.Equal(asn1.ObjectIdentifier(gssapi.OIDSPNEGO.OID())):
		var st spnego.SPNEGOToken
		if err := st.Unmarshal(b); err != nil {
			return tok, true, err
		}
		if !st.Init {
			return tok, true, errors.New("SPNEGO token is not a NegTokenInit")
		}
		known := false
		for _, m := range st.NegTokenInit.MechTypes {
			if m.Equal(gssapi.OIDKRB5.OID()) || asn1.ObjectIdentifier(m).Equal(oidMSKRB5) {
				known = true
			}
		}
		if !known || len(st.NegTokenInit.MechTokenBytes) == 0 {
			return tok, true, errors.New("SPNEGO NegTokenInit without a Kerberos mechanism token")
		}
		if err := tok.Unmarshal(st.NegTokenInit.MechTokenBytes); err != nil {
			return tok, true, err
		}
		return tok, true, nil
	case oid.Equal(asn1.ObjectIdentifier(gssapi.OIDKRB5.OID())):
		if err := tok.Unmarshal(b); err != nil {
			return tok, false, err
		}
		return tok, false, nil
	default:
		return tok, false, fmt.Errorf("GSS-API mechanism %v is neither SPNEGO nor Kerberos", oid)
	}
}

// mutualRequested reports whether the client asked for mutual
// authentication: the AP option, or the GSS flag in the checksum.
func mutualRequested(a *messages.APReq) bool {
	if types.IsFlagSet(&a.APOptions, flags.APOptionMutualRequired) {
		return true
	}
	c := a.Authenticator.Cksum.Checksum
	return a.Authenticator.Cksum.CksumType == 0x8003 && len(c) >= 24 && binary.LittleEndian.Uint32(c[20:24])&gssFlagMutual != 0
}

// ASN.1 shapes of KRB_AP_REP (RFC 4120 5.5.2), which gokrb5 reads but
// does not write.
type encAPRepPart struct {
	CTime          time.Time     `asn1:"generalized,explicit,tag:0"`
	Cusec          int           `asn1:"explicit,tag:1"`
	Subkey         encryptionKey `asn1:"optional,explicit,tag:2"`
	SequenceNumber int64         `asn1:"optional,explicit,tag:3"`
}

type encryptionKey struct {
	KeyType  int32  `asn1:"explicit,tag:0"`
	KeyValue []byte `asn1:"explicit,tag:1"`
}

type encryptedData struct {
	EType  int32  `asn1:"explicit,tag:0"`
	KVNO   int    `asn1:"optional,explicit,tag:1"`
	Cipher []byte `asn1:"explicit,tag:2"`
}

type apRepBody struct {
	PVNO    int           `asn1:"explicit,tag:0"`
	MsgType int           `asn1:"explicit,tag:1"`
	EncPart encryptedData `asn1:"explicit,tag:2"`
}

func appTag(tag int, v any) ([]byte, error) {
	inner, err := asn1.Marshal(v)
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(asn1.RawValue{Class: asn1.ClassApplication, Tag: tag, IsCompound: true, Bytes: inner})
}

// apRep answers a verified AP-REQ with the AP-REP that proves the server
// holds the service key: the authenticator's time, encrypted in the
// ticket's session key. It is framed as the request was: a bare Kerberos
// token, or inside a SPNEGO NegTokenResp (accept-completed).
func apRep(req *messages.APReq, wrapped bool, subkey *types.EncryptionKey) ([]byte, uint64, error) {
	var seq [4]byte
	if _, err := rand.Read(seq[:]); err != nil {
		return nil, 0, err
	}
	first := uint64(binary.BigEndian.Uint32(seq[:]) & 0x3fffffff)
	p := encAPRepPart{
		CTime:          req.Authenticator.CTime.UTC(),
		Cusec:          req.Authenticator.Cusec,
		SequenceNumber: int64(first),
	}
	if subkey != nil {
		p.Subkey = encryptionKey{KeyType: subkey.KeyType, KeyValue: subkey.KeyValue}
	}
	part, err := appTag(27, p)
	if err != nil {
		return nil, 0, err
	}
	ed, err := crypto.GetEncryptedData(part, req.Ticket.DecryptedEncPart.Key, keyusage.AP_REP_ENCPART, 0)
	if err != nil {
		return nil, 0, err
	}
	rep, err := appTag(15, apRepBody{PVNO: 5, MsgType: 15, EncPart: encryptedData{EType: ed.EType, Cipher: ed.Cipher}})
	if err != nil {
		return nil, 0, err
	}
	krb, err := gssToken(0x0200, rep) // KRB_AP_REP
	if err != nil {
		return nil, 0, err
	}
	if !wrapped {
		return krb, first, nil
	}
	resp := spnego.NegTokenResp{
		NegState:      0, // accept-completed
		SupportedMech: gssapi.OIDKRB5.OID(),
		ResponseToken: krb,
	}
	b, err := resp.Marshal()
	return b, first, err
}

// Keytab returns the server's Kerberos keytab (Options.Keytab).
func (s *Server) Keytab() *keytab.Keytab { return s.opts.Keytab }

// TLSConfig returns the server's TLS configuration (Options.TLS), nil for
// plain HTTP.
func (s *Server) TLSConfig() *tls.Config { return s.opts.TLS }

// krbErrorFor is the KRB-ERROR that tells the client why its AP-REQ was
// refused: gokrb5's own, or KRB_AP_ERR_MODIFIED when the ticket does not
// decrypt with the service's keys (what Windows answers when a service
// principal's key is not the host's).
func krbErrorFor(err error, req *messages.APReq) messages.KRBError {
	var ke messages.KRBError
	if errors.As(err, &ke) {
		return ke
	}
	code := int32(errorcode.KRB_AP_ERR_BADMATCH)
	if strings.Contains(err.Error(), "Decrypting_Error") || strings.Contains(err.Error(), "KRB_AP_ERR_NOKEY") {
		code = errorcode.KRB_AP_ERR_MODIFIED
	}
	return messages.NewKRBError(req.Ticket.SName, req.Ticket.Realm, code, "")
}

// refuseKerberos answers 401 with a GSS-API error token carrying ke, in
// the framing of the request (bare, or in a SPNEGO reject), as a GSS-API
// acceptor reports a failed AP-REQ.
func (s *Server) refuseKerberos(w http.ResponseWriter, r *http.Request, scheme string, wrapped bool, ke messages.KRBError) {
	tok, err := errorToken(ke, wrapped)
	if err != nil {
		s.logf("%s: building the KRB-ERROR: %v", scheme, err)
		s.unauthorized(w, r)
		return
	}
	io.Copy(io.Discard, r.Body)
	s.count(func(st *Stats) { st.Unauthorized++ })
	w.Header().Set("WWW-Authenticate", scheme+" "+base64.StdEncoding.EncodeToString(tok))
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusUnauthorized)
}

func errorToken(ke messages.KRBError, wrapped bool) ([]byte, error) {
	b, err := ke.Marshal()
	if err != nil {
		return nil, err
	}
	krb, err := gssToken(0x0300, b)
	if err != nil || !wrapped {
		return krb, err
	}
	resp := spnego.NegTokenResp{NegState: 2, SupportedMech: gssapi.OIDKRB5.OID(), ResponseToken: krb} // reject
	return resp.Marshal()
}

// gssToken frames a Kerberos message as a GSS-API token (RFC 1964 1.1):
// [APPLICATION 0] { the Kerberos OID, the token id, the message }.
func gssToken(id uint16, msg []byte) ([]byte, error) {
	oid, err := asn1.Marshal(asn1.ObjectIdentifier(gssapi.OIDKRB5.OID()))
	if err != nil {
		return nil, err
	}
	inner := append(append(oid, byte(id>>8), byte(id)), msg...)
	return asn1.Marshal(asn1.RawValue{Class: asn1.ClassApplication, Tag: 0, IsCompound: true, Bytes: inner})
}
