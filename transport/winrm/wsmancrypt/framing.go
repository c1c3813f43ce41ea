package wsmancrypt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"mime"
	"strconv"
	"strings"
)

// Protocols name the sealing in the framing's Content-Type: SPNEGO for
// the Negotiate HTTP scheme (NTLM, or Kerberos negotiated by SPNEGO),
// Kerberos for the Kerberos HTTP scheme.
const (
	ProtocolSPNEGO   = "application/HTTP-SPNEGO-session-encrypted"
	ProtocolKerberos = "application/HTTP-Kerberos-session-encrypted"
)

// Content types of an encrypted body: one sealed part, or (for messages
// over ChunkSize) a sequence of sealed parts of ChunkSize bytes of
// plaintext each.
const (
	ContentTypeSingle = "multipart/encrypted"
	ContentTypeMulti  = "multipart/x-multi-encrypted"
)

// ChunkSize is the plaintext size of each part of a
// multipart/x-multi-encrypted body.
const ChunkSize = 16 << 10

const boundary = "Encrypted Boundary"

// originalType is the content type of the sealed message, as Windows
// writes it in each part's header.
const originalType = "application/soap+xml;charset=UTF-8"

// Sealer seals and unseals the messages of one security context, in
// order: each direction's sequence numbers advance with every call.
type Sealer interface {
	// Wrap seals msg, returning the signature (the token header) and the
	// sealed bytes, which are as long as msg.
	Wrap(msg []byte) (signature, sealed []byte, err error)
	// Unwrap checks and unseals a message Wrap sealed on the other side.
	Unwrap(signature, sealed []byte) ([]byte, error)
}

// IsEncrypted reports whether contentType is an encrypted body's.
func IsEncrypted(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == ContentTypeSingle || mt == ContentTypeMulti)
}

// Encode seals body for protocol and frames it. With chunk > 0 a body
// longer than chunk is sealed in parts of chunk bytes
// (multipart/x-multi-encrypted); otherwise it is one part.
func Encode(s Sealer, protocol string, body []byte, chunk int) (contentType string, data []byte, err error) {
	parts := [][]byte{body}
	kind := ContentTypeSingle
	if chunk > 0 && len(body) > chunk {
		kind = ContentTypeMulti
		parts = nil
		for off := 0; off < len(body); off += chunk {
			parts = append(parts, body[off:min(off+chunk, len(body))])
		}
	}
	var b bytes.Buffer
	for _, p := range parts {
		sig, sealed, err := s.Wrap(p)
		if err != nil {
			return "", nil, err
		}
		fmt.Fprintf(&b, "--%s\r\n\tContent-Type: %s\r\n\tOriginalContent: type=%s;Length=%d\r\n", boundary, protocol, originalType, len(p))
		fmt.Fprintf(&b, "--%s\r\n\tContent-Type: application/octet-stream\r\n", boundary)
		var n [4]byte
		binary.LittleEndian.PutUint32(n[:], uint32(len(sig)))
		b.Write(n[:])
		b.Write(sig)
		b.Write(sealed)
	}
	fmt.Fprintf(&b, "--%s--\r\n", boundary)
	return fmt.Sprintf("%s;protocol=%q;boundary=%q", kind, protocol, boundary), b.Bytes(), nil
}

// Decode checks and unseals an encrypted body, returning the message and
// the protocol its Content-Type names. A body that does not parse, a part
// whose signature does not verify and a part whose length is not the one
// its header announces are errors: the message was altered or sealed
// with another key.
func Decode(s Sealer, contentType string, data []byte) (msg []byte, protocol string, err error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || (mt != ContentTypeSingle && mt != ContentTypeMulti) {
		return nil, "", fmt.Errorf("content type %q is not an encrypted message", contentType)
	}
	protocol = params["protocol"]
	if !strings.EqualFold(protocol, ProtocolSPNEGO) && !strings.EqualFold(protocol, ProtocolKerberos) {
		return nil, protocol, fmt.Errorf("encrypted message of protocol %q (only %s and %s are known)", protocol, ProtocolSPNEGO, ProtocolKerberos)
	}
	bnd := params["boundary"]
	if bnd == "" {
		bnd = boundary
	}
	delim := []byte("--" + bnd)
	end := append(append([]byte(nil), delim...), "--"...)
	rest := data
	var out []byte
	for part := 1; ; part++ {
		// The body ends with the closing delimiter "--B--", or with a
		// bare "--B" line, as some servers end it.
		if bytes.HasPrefix(rest, end) || (part > 1 && len(bytes.TrimSpace(rest[len(delim):])) == 0) {
			if part == 1 {
				return nil, protocol, errors.New("encrypted message without a part")
			}
			if mt == ContentTypeSingle && part > 2 {
				return nil, protocol, fmt.Errorf("multipart/encrypted message with %d parts (one expected)", part-1)
			}
			return out, protocol, nil
		}
		// The header part: "--B\r\n\tContent-Type: P\r\n\tOriginalContent: type=...;Length=N\r\n"
		hdr, after, err := cutPart(rest, delim)
		if err != nil {
			return nil, protocol, fmt.Errorf("part %d: %w", part, err)
		}
		length, err := originalLength(hdr)
		if err != nil {
			return nil, protocol, fmt.Errorf("part %d: %w", part, err)
		}
		// The data part: "--B\r\n\tContent-Type: application/octet-stream\r\n" then
		// the signature's length (4 bytes, little-endian), the signature and
		// the sealed bytes, as long as the plaintext.
		const octet = "Content-Type: application/octet-stream\r\n"
		if !bytes.HasPrefix(after, delim) {
			return nil, protocol, fmt.Errorf("part %d: no data part after its header", part)
		}
		body := bytes.TrimLeft(after[len(delim):], "\r\n")
		body = bytes.TrimLeft(body, "\t ")
		if !bytes.HasPrefix(body, []byte(octet)) {
			return nil, protocol, fmt.Errorf("part %d: the data part is not application/octet-stream", part)
		}
		body = body[len(octet):]
		if len(body) < 4 {
			return nil, protocol, fmt.Errorf("part %d: truncated", part)
		}
		sigLen := int(binary.LittleEndian.Uint32(body))
		if sigLen <= 0 || sigLen > 1024 || 4+sigLen+length > len(body) {
			return nil, protocol, fmt.Errorf("part %d: signature of %d bytes and message of %d do not fit in the %d bytes sent", part, sigLen, length, len(body)-4)
		}
		sig := body[4 : 4+sigLen]
		sealed := body[4+sigLen : 4+sigLen+length]
		rest = body[4+sigLen+length:]
		if !bytes.HasPrefix(rest, delim) {
			return nil, protocol, fmt.Errorf("part %d: its length (%d) is not the length of its sealed bytes", part, length)
		}
		plain, err := s.Unwrap(sig, sealed)
		if err != nil {
			return nil, protocol, fmt.Errorf("part %d: %w", part, err)
		}
		if len(plain) != length {
			return nil, protocol, fmt.Errorf("part %d: %d bytes unsealed, %d announced", part, len(plain), length)
		}
		out = append(out, plain...)
	}
}

// cutPart returns the header part's text after the boundary and the rest,
// starting at the next boundary.
func cutPart(b, delim []byte) (hdr, rest []byte, err error) {
	if !bytes.HasPrefix(b, delim) {
		return nil, nil, errors.New("no boundary where a part should begin")
	}
	b = b[len(delim):]
	i := bytes.Index(b, delim)
	if i < 0 {
		return nil, nil, errors.New("header part without an end")
	}
	return b[:i], b[i:], nil
}

// originalLength reads the Length of a header part's OriginalContent.
func originalLength(hdr []byte) (int, error) {
	for _, line := range strings.Split(string(hdr), "\n") {
		line = strings.TrimSpace(line)
		name, v, ok := strings.Cut(line, ":")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "OriginalContent") {
			continue
		}
		for _, p := range strings.Split(v, ";") {
			k, n, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.EqualFold(k, "Length") {
				l, err := strconv.Atoi(strings.TrimSpace(n))
				if err != nil || l < 0 {
					return 0, fmt.Errorf("OriginalContent length %q is not a number", n)
				}
				return l, nil
			}
		}
	}
	return 0, errors.New("header part without an OriginalContent length")
}
