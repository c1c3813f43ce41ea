package wsmantest

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/tendhq/tend/transport/winrm/wsmancrypt"
)

// The server side of NTLM (MS-NLMP), enough to authenticate a known user
// and password with NTLMv2: it answers a NEGOTIATE_MESSAGE with a
// CHALLENGE_MESSAGE and checks the AUTHENTICATE_MESSAGE's NTLMv2 response.
// When the client asks for sealing and signing (and a key exchange), the
// connection gets NTLM session security for message encryption. The MIC
// is not checked: the NTProofStr alone proves the password.

const ntlmSignature = "NTLMSSP\x00"

// Negotiate flags (MS-NLMP 2.2.2.5).
const (
	flagUnicode                 = 0x00000001
	flagRequestTarget           = 0x00000004
	flagSign                    = 0x00000010
	flagSeal                    = 0x00000020
	flagNTLM                    = 0x00000200
	flagAlwaysSign              = 0x00008000
	flagTargetTypeDomain        = 0x00010000
	flagExtendedSessionSecurity = 0x00080000
	flagTargetInfo              = 0x00800000
	flagVersion                 = 0x02000000
	flag128                     = 0x20000000
	flagKeyExch                 = 0x40000000
	flag56                      = 0x80000000
)

// AV pair ids (MS-NLMP 2.2.2.1).
const (
	avEOL             = 0
	avNbComputerName  = 1
	avNbDomainName    = 2
	avDNSComputerName = 3
	avDNSDomainName   = 4
	avTimestamp       = 7
)

// ntlmChallenge is what the server remembers between the two legs of a
// handshake on one connection.
type ntlmChallenge struct {
	serverChallenge [8]byte
}

// newNTLMChallenge checks a NEGOTIATE_MESSAGE and returns the
// CHALLENGE_MESSAGE that answers it.
func newNTLMChallenge(negotiate []byte, domain, computer string, now time.Time) (*ntlmChallenge, []byte, error) {
	if len(negotiate) < 16 || string(negotiate[:8]) != ntlmSignature || binary.LittleEndian.Uint32(negotiate[8:]) != 1 {
		return nil, nil, errors.New("not an NTLM NEGOTIATE_MESSAGE")
	}
	// The challenge always selects Unicode, as Windows does; some clients
	// (python's ntlm-auth) offer only OEM in their NEGOTIATE_MESSAGE and
	// follow the server's choice.
	clientFlags := binary.LittleEndian.Uint32(negotiate[12:])
	st := &ntlmChallenge{}
	if _, err := rand.Read(st.serverChallenge[:]); err != nil {
		return nil, nil, err
	}

	flags := uint32(flagUnicode | flagRequestTarget | flagNTLM | flagAlwaysSign |
		flagTargetTypeDomain | flagExtendedSessionSecurity | flagTargetInfo |
		flagVersion | flag128 | flag56)
	flags |= clientFlags & (flagSign | flagSeal | flagKeyExch)

	target := utf16le(domain)
	var info bytes.Buffer
	av := func(id uint16, v []byte) {
		binary.Write(&info, binary.LittleEndian, id)
		binary.Write(&info, binary.LittleEndian, uint16(len(v)))
		info.Write(v)
	}
	av(avNbDomainName, utf16le(domain))
	av(avNbComputerName, utf16le(computer))
	av(avDNSDomainName, utf16le(strings.ToLower(domain)+".test"))
	av(avDNSComputerName, utf16le(strings.ToLower(computer)+"."+strings.ToLower(domain)+".test"))
	var ts [8]byte
	binary.LittleEndian.PutUint64(ts[:], uint64(now.UnixNano()/100)+116444736000000000)
	av(avTimestamp, ts[:])
	av(avEOL, nil)

	const headerLen = 56
	msg := make([]byte, headerLen)
	copy(msg, ntlmSignature)
	binary.LittleEndian.PutUint32(msg[8:], 2)
	putVarField(msg[12:], len(target), headerLen)
	binary.LittleEndian.PutUint32(msg[20:], flags)
	copy(msg[24:32], st.serverChallenge[:])
	putVarField(msg[40:], info.Len(), headerLen+len(target))
	// Version: 10.0 build 17763, NTLM revision 15, as Windows Server 2019.
	copy(msg[48:56], []byte{10, 0, 0x63, 0x45, 0, 0, 0, 15})
	msg = append(msg, target...)
	msg = append(msg, info.Bytes()...)
	return st, msg, nil
}

// ntlmUser is who an AUTHENTICATE_MESSAGE claims to be.
type ntlmUser struct {
	User, Domain string
}

// parseNTLMAuthenticate returns the user and domain an AUTHENTICATE_MESSAGE
// names, and its NtChallengeResponse.
func parseNTLMAuthenticate(msg []byte) (ntlmUser, []byte, error) {
	if len(msg) < 64 || string(msg[:8]) != ntlmSignature || binary.LittleEndian.Uint32(msg[8:]) != 3 {
		return ntlmUser{}, nil, errors.New("not an NTLM AUTHENTICATE_MESSAGE")
	}
	flags := binary.LittleEndian.Uint32(msg[60:])
	if flags&flagUnicode == 0 {
		return ntlmUser{}, nil, errors.New("AUTHENTICATE_MESSAGE is not Unicode")
	}
	nt, err := varField(msg, 20)
	if err != nil {
		return ntlmUser{}, nil, fmt.Errorf("NtChallengeResponse: %w", err)
	}
	domain, err := varField(msg, 28)
	if err != nil {
		return ntlmUser{}, nil, fmt.Errorf("DomainName: %w", err)
	}
	user, err := varField(msg, 36)
	if err != nil {
		return ntlmUser{}, nil, fmt.Errorf("UserName: %w", err)
	}
	return ntlmUser{User: fromUTF16le(user), Domain: fromUTF16le(domain)}, nt, nil
}

// verifyNTLMv2 checks an NtChallengeResponse against password: the first
// 16 bytes (NTProofStr) must be HMAC-MD5 keyed with NTOWFv2 over the server
// challenge and the rest of the response (the client's blob).
func verifyNTLMv2(st *ntlmChallenge, u ntlmUser, password string, nt []byte) error {
	if len(nt) <= 24 {
		return errors.New("NTLMv1 or anonymous response (NTLMv2 required)")
	}
	blob := nt[16:]
	if blob[0] != 1 || blob[1] != 1 {
		return errors.New("malformed NTLMv2 blob")
	}
	ntowfv2 := wsmancrypt.NTOWFv2(password, u.User, u.Domain)
	want := hmacMD5(ntowfv2, st.serverChallenge[:], blob)
	if !hmac.Equal(want, nt[:16]) {
		return errors.New("NTLMv2 response does not match the password")
	}
	return nil
}

func hmacMD5(key []byte, data ...[]byte) []byte {
	m := hmac.New(md5.New, key)
	for _, d := range data {
		m.Write(d)
	}
	return m.Sum(nil)
}

func putVarField(b []byte, n, offset int) {
	binary.LittleEndian.PutUint16(b[0:], uint16(n))
	binary.LittleEndian.PutUint16(b[2:], uint16(n))
	binary.LittleEndian.PutUint32(b[4:], uint32(offset))
}

func varField(msg []byte, at int) ([]byte, error) {
	n := int(binary.LittleEndian.Uint16(msg[at:]))
	off := int(binary.LittleEndian.Uint32(msg[at+4:]))
	if off < 0 || n < 0 || off+n > len(msg) {
		return nil, errors.New("field points outside the message")
	}
	return msg[off : off+n], nil
}

func utf16le(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return b
}

func fromUTF16le(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

// ntlmSession returns the session security an AUTHENTICATE_MESSAGE
// negotiated (sealing and signing, MS-NLMP 3.4), nil when it asked for
// none. With a key exchange the exported session key is the client's
// EncryptedRandomSessionKey decrypted with the SessionBaseKey.
func ntlmSession(msg []byte, u ntlmUser, password string, nt []byte) (wsmancrypt.Sealer, error) {
	flags := binary.LittleEndian.Uint32(msg[60:])
	if flags&flagSeal == 0 {
		return nil, nil
	}
	key, err := wsmancrypt.NTLMv2SessionBaseKey(password, u.User, u.Domain, nt)
	if err != nil {
		return nil, err
	}
	if flags&flagKeyExch != 0 {
		enc, err := varField(msg, 52)
		if err != nil || len(enc) != 16 {
			return nil, errors.New("key exchange negotiated, but no EncryptedRandomSessionKey of 16 bytes")
		}
		key = wsmancrypt.NTLMKeyExchange(key, enc)
	}
	return wsmancrypt.NewNTLMSession(key, flags, false)
}
