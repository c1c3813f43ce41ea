package wsmancrypt

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rc4"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf16"
)

// NTLM negotiate flags (MS-NLMP 2.2.2.5) that session security depends
// on.
const (
	NTLMFlagSign                    = 0x00000010
	NTLMFlagSeal                    = 0x00000020
	NTLMFlagAlwaysSign              = 0x00008000
	NTLMFlagExtendedSessionSecurity = 0x00080000
	NTLMFlag128                     = 0x20000000
	NTLMFlagKeyExch                 = 0x40000000
	NTLMFlag56                      = 0x80000000
)

// NTLMv2SessionBaseKey is the SessionBaseKey of an NTLMv2 authentication
// (MS-NLMP 3.3.2): HMAC-MD5 keyed with NTOWFv2(password, user, domain)
// over the NTProofStr, the first 16 bytes of the NtChallengeResponse.
// user and domain are as the AUTHENTICATE_MESSAGE names them.
func NTLMv2SessionBaseKey(password, user, domain string, ntResponse []byte) ([]byte, error) {
	if len(ntResponse) < 16 {
		return nil, errors.New("NTLM: the NtChallengeResponse is not an NTLMv2 response")
	}
	return hmacMD5(NTOWFv2(password, user, domain), ntResponse[:16]), nil
}

// NTOWFv2 is the NTLMv2 key of a password (MS-NLMP 3.3.2): HMAC-MD5
// keyed with the MD4 of the password over the upper-cased user and the
// domain, all UTF-16LE.
func NTOWFv2(password, user, domain string) []byte {
	h := md4(utf16le(password))
	return hmacMD5(h[:], utf16le(strings.ToUpper(user)+domain))
}

// NTLMKeyExchange is the KEY_EXCH step (MS-NLMP 3.1.5.1.2): RC4 with the
// KeyExchangeKey (for NTLMv2, the SessionBaseKey) over the exported
// session key. It is its own inverse: the server recovers the exported key
// from the EncryptedRandomSessionKey with the same call.
func NTLMKeyExchange(keyExchangeKey, key []byte) []byte {
	c, _ := rc4.NewCipher(keyExchangeKey)
	out := make([]byte, len(key))
	c.XORKeyStream(out, key)
	return out
}

// NTLMSession is the session security of one NTLM authentication
// (MS-NLMP 3.4 with extended session security): messages are sealed with
// RC4 and signed with HMAC-MD5 and a sequence number, with keys and
// sequence numbers of their own in each direction. It is a Sealer.
type NTLMSession struct {
	mu               sync.Mutex
	keyExch          bool
	sendSign         []byte
	recvSign         []byte
	sendSeal         *rc4.Cipher
	recvSeal         *rc4.Cipher
	sendSeq, recvSeq uint32
}

var _ Sealer = (*NTLMSession)(nil)

// NewNTLMSession derives the session's keys from the exported session key
// and the negotiated flags, for the client's side or the server's.
func NewNTLMSession(exportedKey []byte, flags uint32, client bool) (*NTLMSession, error) {
	if flags&NTLMFlagExtendedSessionSecurity == 0 {
		return nil, errors.New("NTLM: extended session security was not negotiated (NTLMv1 session security is not supported)")
	}
	if flags&NTLMFlagSeal == 0 || flags&NTLMFlagSign == 0 {
		return nil, errors.New("NTLM: the authentication did not negotiate sealing and signing")
	}
	if len(exportedKey) != 16 {
		return nil, fmt.Errorf("NTLM: session key of %d bytes", len(exportedKey))
	}
	sealKey := exportedKey
	switch {
	case flags&NTLMFlag128 != 0:
	case flags&NTLMFlag56 != 0:
		sealKey = exportedKey[:7]
	default:
		sealKey = exportedKey[:5]
	}
	derive := func(key []byte, magic string) []byte {
		h := md5.New()
		h.Write(key)
		h.Write([]byte(magic + "\x00"))
		return h.Sum(nil)
	}
	c2sSign := derive(exportedKey, "session key to client-to-server signing key magic constant")
	s2cSign := derive(exportedKey, "session key to server-to-client signing key magic constant")
	c2sSeal, _ := rc4.NewCipher(derive(sealKey, "session key to client-to-server sealing key magic constant"))
	s2cSeal, _ := rc4.NewCipher(derive(sealKey, "session key to server-to-client sealing key magic constant"))
	s := &NTLMSession{keyExch: flags&NTLMFlagKeyExch != 0}
	if client {
		s.sendSign, s.recvSign, s.sendSeal, s.recvSeal = c2sSign, s2cSign, c2sSeal, s2cSeal
	} else {
		s.sendSign, s.recvSign, s.sendSeal, s.recvSeal = s2cSign, c2sSign, s2cSeal, c2sSeal
	}
	return s, nil
}

// signature is MS-NLMP 3.4.4.2's: version 1, the first 8 bytes of the
// HMAC-MD5 over the sequence number and the message (RC4-encrypted with
// the sealing key when keys were exchanged), and the sequence number.
func (s *NTLMSession) signature(key []byte, seal *rc4.Cipher, seq uint32, msg []byte) []byte {
	var sq [4]byte
	binary.LittleEndian.PutUint32(sq[:], seq)
	sum := hmacMD5(key, sq[:], msg)[:8]
	if s.keyExch {
		seal.XORKeyStream(sum, sum)
	}
	sig := make([]byte, 16)
	sig[0] = 1
	copy(sig[4:12], sum)
	copy(sig[12:], sq[:])
	return sig
}

// Wrap seals msg and signs it with the next sequence number.
func (s *NTLMSession) Wrap(msg []byte) (signature, sealed []byte, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sealed = make([]byte, len(msg))
	s.sendSeal.XORKeyStream(sealed, msg)
	signature = s.signature(s.sendSign, s.sendSeal, s.sendSeq, msg)
	s.sendSeq++
	return signature, sealed, nil
}

// Unwrap unseals a message and checks its signature and sequence number.
// After a failure the session is out of step with its peer and must not
// be used again.
func (s *NTLMSession) Unwrap(signature, sealed []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(signature) != 16 || binary.LittleEndian.Uint32(signature) != 1 {
		return nil, fmt.Errorf("NTLM: the signature is not an NTLM message signature (%d bytes)", len(signature))
	}
	msg := make([]byte, len(sealed))
	s.recvSeal.XORKeyStream(msg, sealed)
	want := s.signature(s.recvSign, s.recvSeal, s.recvSeq, msg)
	if got := binary.LittleEndian.Uint32(signature[12:]); got != s.recvSeq {
		return nil, fmt.Errorf("NTLM: message with sequence number %d where %d was due: replayed, reordered or lost", got, s.recvSeq)
	}
	s.recvSeq++
	if subtle.ConstantTimeCompare(want, signature) != 1 {
		return nil, errors.New("NTLM: the message's signature does not verify: it was altered on the way, or sealed with another session's key")
	}
	return msg, nil
}

func hmacMD5(key []byte, data ...[]byte) []byte {
	m := hmac.New(md5.New, key)
	for _, d := range data {
		m.Write(d)
	}
	return m.Sum(nil)
}

func utf16le(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return b
}
