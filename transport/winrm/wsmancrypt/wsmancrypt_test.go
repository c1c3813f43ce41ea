package wsmancrypt

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/types"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestNTLMSpecVectors checks the NTLMv2 session security against the
// worked example of MS-NLMP 4.2.4 (user "User", domain "Domain",
// password "Password", random session key 0x55 x 16, with key
// exchange): the SessionBaseKey, the EncryptedRandomSessionKey, and the
// sealed "Plaintext" with its signature (4.2.4.4).
func TestNTLMSpecVectors(t *testing.T) {
	ntProofStr := unhex(t, "68cd0ab851e51c96aabc927bebef6a1c")
	base, err := NTLMv2SessionBaseKey("Password", "User", "Domain", ntProofStr)
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, "8de40ccadbc14a82f15cb0ad0de95ca3"); !bytes.Equal(base, want) {
		t.Errorf("SessionBaseKey %x, want %x", base, want)
	}
	random := bytes.Repeat([]byte{0x55}, 16)
	if got, want := NTLMKeyExchange(base, random), unhex(t, "c5dad2544fc9799094ce1ce90bc9d03e"); !bytes.Equal(got, want) {
		t.Errorf("EncryptedRandomSessionKey %x, want %x", got, want)
	}
	const flags = 0xe28a8233 // KEY_EXCH, 56, 128, VERSION, TARGET_INFO, ESS, ALWAYS_SIGN, NTLM, SEAL, SIGN, OEM, UNICODE
	client, err := NewNTLMSession(random, flags, true)
	if err != nil {
		t.Fatal(err)
	}
	plain := unhex(t, "50006c00610069006e007400650078007400")
	sig, sealed, err := client.Wrap(plain)
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, "54e50165bf1936dc996020c1811b0f06fb5f"); !bytes.Equal(sealed, want) {
		t.Errorf("sealed %x, want %x", sealed, want)
	}
	if want := unhex(t, "010000007fb38ec5c55d497600000000"); !bytes.Equal(sig, want) {
		t.Errorf("signature %x, want %x", sig, want)
	}
	server, err := NewNTLMSession(random, flags, false)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := server.Unwrap(sig, sealed); err != nil || !bytes.Equal(got, plain) {
		t.Errorf("server Unwrap: %x, %v", got, err)
	}
}

var krbKeys = map[int32]types.EncryptionKey{}

// krbKey derives a key of etype et once (string-to-key is slow).
func krbKey(t *testing.T, et int32) types.EncryptionKey {
	t.Helper()
	if k, ok := krbKeys[et]; ok {
		return k
	}
	kt := keytab.New()
	if err := kt.AddEntry("HTTP/win1", "TEND.TEST", "secret", time.Now(), 1, et); err != nil {
		t.Fatal(err)
	}
	k, _, err := kt.GetEncryptionKey(types.NewPrincipalName(2, "HTTP/win1"), "TEND.TEST", 1, et)
	if err != nil {
		t.Fatal(err)
	}
	krbKeys[et] = k
	return k
}

// pairs returns the two sides of a context of each kind.
func pairs(t *testing.T) map[string][2]Sealer {
	t.Helper()
	key := bytes.Repeat([]byte{7}, 16)
	c, err := NewNTLMSession(key, NTLMFlagSign|NTLMFlagSeal|NTLMFlagExtendedSessionSecurity|NTLMFlag128|NTLMFlagKeyExch, true)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := NewNTLMSession(key, NTLMFlagSign|NTLMFlagSeal|NTLMFlagExtendedSessionSecurity|NTLMFlag128|NTLMFlagKeyExch, false)
	out := map[string][2]Sealer{"NTLM": {c, s}}
	for _, et := range []int32{etypeID.AES128_CTS_HMAC_SHA1_96, etypeID.AES256_CTS_HMAC_SHA1_96} {
		k := krbKey(t, et)
		for _, sub := range []bool{false, true} {
			ini, err := NewKerberosSession(k, true, sub, 100, 900)
			if err != nil {
				t.Fatal(err)
			}
			acc, _ := NewKerberosSession(k, false, sub, 900, 100)
			name := "Kerberos-etype" + string(rune('0'+et/10)) + string(rune('0'+et%10))
			if sub {
				name += "-subkey"
			}
			out[name] = [2]Sealer{ini, acc}
		}
	}
	return out
}

// TestRoundTrip seals messages both ways, in one part and in 16 KiB
// parts, and checks that what was sealed is what comes out.
func TestRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte("<s:Envelope>0123456789</s:Envelope>"), 3000) // 105 KB
	for name, p := range pairs(t) {
		t.Run(name, func(t *testing.T) {
			for i, msg := range [][]byte{[]byte("<s:Envelope/>"), big, big[:ChunkSize], big[:ChunkSize+1]} {
				for dir, ends := range [][2]Sealer{{p[0], p[1]}, {p[1], p[0]}} {
					ct, data, err := Encode(ends[0], ProtocolSPNEGO, msg, ChunkSize)
					if err != nil {
						t.Fatal(err)
					}
					if multi := strings.HasPrefix(ct, ContentTypeMulti); multi != (len(msg) > ChunkSize) {
						t.Errorf("message %d (%d bytes): content type %s", i, len(msg), ct)
					}
					if bytes.Contains(data, []byte("Envelope")) {
						t.Errorf("message %d: plaintext in the sealed body", i)
					}
					got, proto, err := Decode(ends[1], ct, data)
					if err != nil || !bytes.Equal(got, msg) || proto != ProtocolSPNEGO {
						t.Fatalf("message %d direction %d: %d bytes, %q, %v", i, dir, len(got), proto, err)
					}
				}
			}
		})
	}
}

// TestTamperAndReplay: a flipped byte anywhere in a sealed part, a
// replayed message and a reflected one are refused.
func TestTamperAndReplay(t *testing.T) {
	msg := []byte(`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>`)
	for name := range pairs(t) {
		t.Run(name, func(t *testing.T) {
			// Every byte of the signature and of the sealed message.
			_, data, _ := Encode(pairs(t)[name][0], ProtocolSPNEGO, msg, 0)
			start := bytes.Index(data, []byte("application/octet-stream\r\n")) + len("application/octet-stream\r\n") + 4
			end := len(data) - len("--Encrypted Boundary--\r\n")
			for i := start; i < end; i++ {
				p := pairs(t)[name]
				ct, data, _ := Encode(p[0], ProtocolSPNEGO, msg, 0)
				data[i] ^= 1
				if got, _, err := Decode(p[1], ct, data); err == nil {
					t.Fatalf("byte %d (%d into the part) flipped: unsealed %q without error", i, i-start, got)
				}
			}
			p := pairs(t)[name]
			ct, data, _ := Encode(p[0], ProtocolSPNEGO, msg, 0)
			if _, _, err := Decode(p[1], ct, data); err != nil {
				t.Fatal(err)
			}
			if _, _, err := Decode(p[1], ct, data); err == nil || !strings.Contains(err.Error(), "sequence number") {
				t.Errorf("replayed: %v, want a sequence number error", err)
			}
			p = pairs(t)[name]
			ct, data, _ = Encode(p[0], ProtocolSPNEGO, msg, 0)
			if _, _, err := Decode(p[0], ct, data); err == nil {
				t.Error("reflected to its sender: no error")
			}
		})
	}
}

func TestDecodeBadFraming(t *testing.T) {
	p := pairs(t)["NTLM"]
	ct, data, _ := Encode(p[0], ProtocolSPNEGO, []byte("hello"), 0)
	for name, c := range map[string]struct{ ct, data string }{
		"NotEncrypted":  {"application/soap+xml", string(data)},
		"OtherProtocol": {`multipart/encrypted;protocol="application/HTTP-CredSSP-session-encrypted";boundary="Encrypted Boundary"`, string(data)},
		"Truncated":     {ct, string(data[:len(data)-30])},
		"NoParts":       {ct, "--Encrypted Boundary--\r\n"},
		"WrongLength":   {ct, strings.Replace(string(data), "Length=5", "Length=4", 1)},
		"NoLength":      {ct, strings.Replace(string(data), "Length=5", "", 1)},
	} {
		if _, _, err := Decode(p[1], c.ct, []byte(c.data)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestMD4(t *testing.T) {
	// RFC 1320, appendix A.5.
	for in, want := range map[string]string{
		"":                              "31d6cfe0d16ae931b73c59d7e0c089c0",
		"a":                             "bde52cb31de33e46245e05fbdbd6fb24",
		"abc":                           "a448017aaf21d8525fc10ae87aa6729d",
		"message digest":                "d9130a8164549fe818874806e1c7014b",
		"abcdefghijklmnopqrstuvwxyz":    "d79e1c308aa5bbcdeea8ed63df412da9",
		strings.Repeat("1234567890", 8): "e33b4ddc9c38f2199c3e7b164fcc0536",
	} {
		got := md4([]byte(in))
		if hex.EncodeToString(got[:]) != want {
			t.Errorf("md4(%q) = %x, want %s", in, got, want)
		}
	}
}

// xorSealer is a stand-in for a security context: a fixed signature, and
// bytes XORed with 0x5a.
type xorSealer struct{}

func (xorSealer) Wrap(msg []byte) ([]byte, []byte, error) {
	out := make([]byte, len(msg))
	for i, c := range msg {
		out[i] = c ^ 0x5a
	}
	return []byte("SIGN"), out, nil
}

func (x xorSealer) Unwrap(sig, sealed []byte) ([]byte, error) {
	if string(sig) != "SIGN" {
		return nil, errors.New("bad signature")
	}
	_, out, _ := x.Wrap(sealed)
	return out, nil
}

// TestFraming checks the bytes of MS-WSMV's framing as Windows and
// pywinrm write it (tab-indented part headers, the signature's length as
// 4 little-endian bytes), and that a body ending in a bare boundary line
// (as some servers end it) or in the closing "--" delimiter reads alike.
func TestFraming(t *testing.T) {
	_, sealed, _ := xorSealer{}.Wrap([]byte("<s:Envelope/>"))
	want := "--Encrypted Boundary\r\n" +
		"\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n" +
		"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=13\r\n" +
		"--Encrypted Boundary\r\n" +
		"\tContent-Type: application/octet-stream\r\n" +
		"\x04\x00\x00\x00SIGN" + string(sealed) +
		"--Encrypted Boundary--\r\n"
	ct, data, err := Encode(xorSealer{}, ProtocolSPNEGO, []byte("<s:Envelope/>"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if wantCT := `multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted";boundary="Encrypted Boundary"`; ct != wantCT {
		t.Errorf("content type %s, want %s", ct, wantCT)
	}
	if string(data) != want {
		t.Errorf("body\n%q\nwant\n%q", data, want)
	}
	for name, body := range map[string]string{
		"closing delimiter": want,
		"bare boundary":     strings.TrimSuffix(want, "--Encrypted Boundary--\r\n") + "--Encrypted Boundary\r\n",
	} {
		got, proto, err := Decode(xorSealer{}, ct, []byte(body))
		if err != nil || string(got) != "<s:Envelope/>" || proto != ProtocolSPNEGO {
			t.Errorf("%s: %q %q %v", name, got, proto, err)
		}
	}
	// Kerberos' protocol name, and parts of 16 KiB.
	msg := bytes.Repeat([]byte("x"), 2*ChunkSize+100)
	ct, data, _ = Encode(xorSealer{}, ProtocolKerberos, msg, ChunkSize)
	if !strings.HasPrefix(ct, `multipart/x-multi-encrypted;protocol="application/HTTP-Kerberos-session-encrypted"`) || bytes.Count(data, []byte("Length=16384\r\n")) != 2 || !bytes.Contains(data, []byte("Length=100\r\n")) {
		t.Errorf("chunked: %s, %d bytes", ct, len(data))
	}
	if got, proto, err := Decode(xorSealer{}, ct, data); err != nil || !bytes.Equal(got, msg) || proto != ProtocolKerberos {
		t.Errorf("chunked: %d bytes, %q, %v", len(got), proto, err)
	}
}
