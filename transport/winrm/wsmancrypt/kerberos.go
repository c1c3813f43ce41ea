package wsmancrypt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/crypto/etype"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/types"
)

// Wrap token flags (RFC 4121 4.2.2).
const (
	wrapSentByAcceptor = 0x01
	wrapSealed         = 0x02
	wrapAcceptorSubkey = 0x04
)

// KerberosSession seals messages as RFC 4121 Wrap tokens with
// confidentiality, in the context key of a Kerberos authentication: the
// acceptor's subkey from the AP-REP if it sent one, else the initiator's
// subkey from the authenticator, else the ticket's session key. The
// token is split as GSS-API's IOV wrap splits it (MIT's gss_wrap_iov and
// Windows' EncryptMessage): the sealed bytes are the encrypted message,
// as long as the message, and the signature is everything else (header,
// rotated trailer and confounder; RRC set accordingly). It is a Sealer.
type KerberosSession struct {
	mu             sync.Mutex
	key            types.EncryptionKey
	et             etype.EType
	initiator      bool
	acceptorSubkey bool
	sendSeq        uint64
	recvSeq        uint64
}

var _ Sealer = (*KerberosSession)(nil)

// NewKerberosSession returns the session of one side of a context:
// initiator is the client's side; acceptorSubkey says key is the
// acceptor's subkey; sendSeq and recvSeq are the first sequence numbers
// of each direction (the authenticator's and the AP-REP's).
func NewKerberosSession(key types.EncryptionKey, initiator, acceptorSubkey bool, sendSeq, recvSeq uint64) (*KerberosSession, error) {
	switch key.KeyType {
	case etypeID.AES128_CTS_HMAC_SHA1_96, etypeID.AES256_CTS_HMAC_SHA1_96, etypeID.AES128_CTS_HMAC_SHA256_128, etypeID.AES256_CTS_HMAC_SHA384_192:
	default:
		return nil, fmt.Errorf("kerberos: message encryption with a key of etype %d is not supported (AES etypes only; RC4-HMAC uses another token format)", key.KeyType)
	}
	et, err := crypto.GetEtype(key.KeyType)
	if err != nil {
		return nil, fmt.Errorf("kerberos: %w", err)
	}
	return &KerberosSession{key: key, et: et, initiator: initiator, acceptorSubkey: acceptorSubkey, sendSeq: sendSeq, recvSeq: recvSeq}, nil
}

func (k *KerberosSession) header(flags byte, ec, rrc uint16, seq uint64) []byte {
	h := make([]byte, 16)
	h[0], h[1], h[2], h[3] = 0x05, 0x04, flags, 0xff
	binary.BigEndian.PutUint16(h[4:], ec)
	binary.BigEndian.PutUint16(h[6:], rrc)
	binary.BigEndian.PutUint64(h[8:], seq)
	return h
}

func (k *KerberosSession) usage(sender bool) uint32 {
	// The initiator seals with usage 24, the acceptor with 22.
	if sender == k.initiator {
		return keyusage.GSSAPI_INITIATOR_SEAL
	}
	return keyusage.GSSAPI_ACCEPTOR_SEAL
}

// Wrap seals msg in a Wrap token with the next sequence number.
func (k *KerberosSession) Wrap(msg []byte) (signature, sealed []byte, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	flags := byte(wrapSealed)
	if !k.initiator {
		flags |= wrapSentByAcceptor
	}
	if k.acceptorSubkey {
		flags |= wrapAcceptorSubkey
	}
	// EC = 0: the AES etypes need no padding. The encrypted copy of the
	// header carries RRC = 0 (RFC 4121 4.2.4).
	plain := append(append([]byte(nil), msg...), k.header(flags, 0, 0, k.sendSeq)...)
	_, ct, err := k.et.EncryptMessage(k.key.KeyValue, plain, k.usage(true))
	if err != nil {
		return nil, nil, fmt.Errorf("kerberos: wrap: %w", err)
	}
	// Rotate the trailer (the encrypted header copy and the checksum) to
	// the front, so that the encrypted message comes last.
	rrc := 16 + k.et.GetHMACBitLength()/8
	tok := k.header(flags, 0, uint16(rrc), k.sendSeq)
	tok = append(tok, ct[len(ct)-rrc:]...)
	tok = append(tok, ct[:len(ct)-rrc]...)
	k.sendSeq++
	cut := len(tok) - len(msg)
	return tok[:cut], tok[cut:], nil
}

// Unwrap checks and unseals a Wrap token (any EC and RRC), which must
// carry the next sequence number of the peer. After a failure the
// session is out of step with its peer and must not be used again.
func (k *KerberosSession) Unwrap(signature, sealed []byte) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	tok := append(append([]byte(nil), signature...), sealed...)
	if len(tok) < 16 || tok[0] != 0x05 || tok[1] != 0x04 || tok[3] != 0xff {
		return nil, errors.New("kerberos: the signature is not an RFC 4121 Wrap token")
	}
	flags := tok[2]
	if flags&wrapSealed == 0 {
		return nil, errors.New("kerberos: the Wrap token is not sealed (integrity only): refusing a message sent in clear")
	}
	if (flags&wrapSentByAcceptor != 0) == !k.initiator {
		return nil, errors.New("kerberos: the Wrap token was sent by this side of the context (a reflected message)")
	}
	if k.acceptorSubkey && flags&wrapAcceptorSubkey == 0 {
		return nil, errors.New("kerberos: the Wrap token is not sealed with the acceptor's subkey")
	}
	ec := int(binary.BigEndian.Uint16(tok[4:]))
	rrc := int(binary.BigEndian.Uint16(tok[6:]))
	seq := binary.BigEndian.Uint64(tok[8:])
	if seq != k.recvSeq {
		return nil, fmt.Errorf("kerberos: message with sequence number %d where %d was due: replayed, reordered or lost", seq, k.recvSeq)
	}
	body := tok[16:]
	min := k.et.GetConfounderByteSize() + 16 + k.et.GetHMACBitLength()/8
	if len(body) < min+ec {
		return nil, errors.New("kerberos: the Wrap token is truncated")
	}
	if rrc >= len(body) {
		return nil, fmt.Errorf("kerberos: the Wrap token's rotation count %d exceeds its length", rrc)
	}
	if rrc > 0 {
		body = append(append([]byte(nil), body[rrc:]...), body[:rrc]...)
	}
	plain, err := k.et.DecryptMessage(k.key.KeyValue, body, k.usage(false))
	if err != nil {
		return nil, fmt.Errorf("kerberos: the message does not decrypt or its checksum does not verify: it was altered on the way, or sealed with another key (%v)", err)
	}
	if len(plain) < 16+ec {
		return nil, errors.New("kerberos: the Wrap token is truncated")
	}
	copyHdr := plain[len(plain)-16:]
	want := append([]byte(nil), tok[:16]...)
	want[6], want[7] = 0, 0
	if string(copyHdr) != string(want) {
		return nil, errors.New("kerberos: the Wrap token's header does not match its encrypted copy: it was altered on the way")
	}
	k.recvSeq++
	return plain[:len(plain)-16-ec], nil
}
