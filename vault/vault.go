// Package vault reads and writes data encrypted with Ansible Vault, in
// the formats ansible-vault writes:
//
//	$ANSIBLE_VAULT;1.1;AES256
//	$ANSIBLE_VAULT;1.2;AES256;LABEL
//
// followed by lines of hex. The hex decodes to three lines, each hex
// again: a 32-byte salt, the HMAC-SHA256 of the ciphertext, and the
// ciphertext. PBKDF2-SHA256 (10000 iterations) derives 80 bytes from the
// password and salt: the AES-256 key, the HMAC key and the CTR counter
// block. The plaintext is PKCS#7 padded to the AES block size before
// encryption (a leftover of the CBC days that the format keeps).
//
// The HMAC is checked, in constant time, before anything is decrypted,
// so a wrong password or a changed file is an error, never garbage.
//
// Passwords come from a Keyring: --vault-id and --vault-password-file
// sources read as Ansible reads them (files, scripts, "-client" scripts),
// tried in Ansible's order.
package vault

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Header starts every vault text.
const Header = "$ANSIBLE_VAULT"

// DefaultID is the vault id of a 1.1 text and of a password given
// without a label (Ansible's DEFAULT_VAULT_IDENTITY).
const DefaultID = "default"

const (
	saltLen    = 32
	keyLen     = 32
	iterations = 10000
)

// ErrHMAC is returned (wrapped) when a text's HMAC does not match: the
// password is wrong, or the text was changed.
var ErrHMAC = errors.New("HMAC mismatch: wrong vault password, or the vault text was changed")

// IsEncrypted reports whether data is a vault text, as Ansible's
// is_encrypted decides: ASCII that starts with the header.
func IsEncrypted(data []byte) bool {
	if !bytes.HasPrefix(data, []byte(Header)) {
		return false
	}
	for _, b := range data {
		if b >= 0x80 {
			return false
		}
	}
	return true
}

// Envelope is a parsed vault text.
type Envelope struct {
	Version string // "1.1" or "1.2"
	Cipher  string // "AES256"
	// ID is the label a 1.2 text names, else DefaultID.
	ID string

	salt, mac, ciphertext []byte
}

// Parse reads a vault text's header and body. Leading and trailing
// blank space on each line is ignored, as an inline !vault value is
// indented.
func Parse(data []byte) (*Envelope, error) {
	text := strings.TrimSpace(string(data))
	lines := strings.Split(text, "\n")
	header := strings.Split(strings.TrimSpace(lines[0]), ";")
	if len(header) < 3 || strings.TrimSpace(header[0]) != Header {
		return nil, errors.New("not an Ansible Vault text: it does not start with " + Header + ";VERSION;CIPHER")
	}
	e := &Envelope{
		Version: strings.TrimSpace(header[1]),
		Cipher:  strings.TrimSpace(header[2]),
		ID:      DefaultID,
	}
	if len(header) >= 4 {
		e.ID = strings.TrimSpace(header[3])
	}
	switch e.Version {
	case "1.1", "1.2":
	default:
		return nil, fmt.Errorf("unsupported Ansible Vault format version %q (tend reads 1.1 and 1.2)", e.Version)
	}
	if e.Cipher != "AES256" {
		return nil, fmt.Errorf("unsupported Ansible Vault cipher %q (tend reads AES256)", e.Cipher)
	}
	var hexBody strings.Builder
	for _, l := range lines[1:] {
		hexBody.WriteString(strings.TrimSpace(l))
	}
	inner, err := hex.DecodeString(hexBody.String())
	if err != nil {
		return nil, fmt.Errorf("malformed Ansible Vault text: %v", err)
	}
	parts := bytes.SplitN(inner, []byte("\n"), 3)
	if len(parts) != 3 {
		return nil, errors.New("malformed Ansible Vault text: expected salt, HMAC and ciphertext")
	}
	for i, dst := range []*[]byte{&e.salt, &e.mac, &e.ciphertext} {
		b, err := hex.DecodeString(string(bytes.TrimSpace(parts[i])))
		if err != nil {
			return nil, fmt.Errorf("malformed Ansible Vault text: %v", err)
		}
		*dst = b
	}
	if len(e.mac) != sha256.Size {
		return nil, errors.New("malformed Ansible Vault text: the HMAC is not 32 bytes")
	}
	if len(e.ciphertext) == 0 || len(e.ciphertext)%aes.BlockSize != 0 {
		return nil, errors.New("malformed Ansible Vault text: the ciphertext is not whole AES blocks")
	}
	return e, nil
}

// keys derives the AES key, HMAC key and initial counter block.
func keys(password, salt []byte) (aesKey, macKey, iv []byte, err error) {
	dk, err := pbkdf2.Key(sha256.New, string(password), salt, iterations, 2*keyLen+aes.BlockSize)
	if err != nil {
		return nil, nil, nil, err
	}
	return dk[:keyLen], dk[keyLen : 2*keyLen], dk[2*keyLen:], nil
}

// Open decrypts the envelope with one password. A wrong password is an
// error wrapping ErrHMAC.
func (e *Envelope) Open(password []byte) ([]byte, error) {
	aesKey, macKey, iv, err := keys(password, e.salt)
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, macKey)
	m.Write(e.ciphertext)
	if !hmac.Equal(m.Sum(nil), e.mac) {
		return nil, ErrHMAC
	}
	block, err := aes.NewCipher(aesKey)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(e.ciphertext))
	cipher.NewCTR(block, iv).XORKeyStream(out, e.ciphertext)
	n := int(out[len(out)-1])
	if n == 0 || n > aes.BlockSize || n > len(out) {
		return nil, errors.New("bad padding in the decrypted vault text")
	}
	for _, b := range out[len(out)-n:] {
		if int(b) != n {
			return nil, errors.New("bad padding in the decrypted vault text")
		}
	}
	return out[:len(out)-n], nil
}

// Decrypt decrypts a vault text with one password.
func Decrypt(data, password []byte) ([]byte, error) {
	e, err := Parse(data)
	if err != nil {
		return nil, err
	}
	return e.Open(password)
}

// Encrypt writes plaintext as ansible-vault does: format 1.2 with the
// label id, or 1.1 when id is "" or DefaultID. The text ends with a
// newline and wraps its hex at 80 columns.
func Encrypt(plaintext, password []byte, id string) ([]byte, error) {
	if len(password) == 0 {
		return nil, errors.New("empty vault password")
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	aesKey, macKey, iv, err := keys(password, salt)
	if err != nil {
		return nil, err
	}
	n := aes.BlockSize - len(plaintext)%aes.BlockSize
	padded := append(bytes.Clone(plaintext), bytes.Repeat([]byte{byte(n)}, n)...)
	block, err := aes.NewCipher(aesKey)
	if err != nil {
		return nil, err
	}
	ct := make([]byte, len(padded))
	cipher.NewCTR(block, iv).XORKeyStream(ct, padded)
	m := hmac.New(sha256.New, macKey)
	m.Write(ct)
	inner := hex.EncodeToString(salt) + "\n" + hex.EncodeToString(m.Sum(nil)) + "\n" + hex.EncodeToString(ct)
	body := hex.EncodeToString([]byte(inner))

	header := Header + ";1.1;AES256"
	if id != "" && id != DefaultID {
		if strings.ContainsAny(id, ";\n\r \t") {
			return nil, fmt.Errorf("invalid vault id %q", id)
		}
		header = Header + ";1.2;AES256;" + id
	}
	var out strings.Builder
	out.WriteString(header)
	out.WriteByte('\n')
	for i := 0; i < len(body); i += 80 {
		out.WriteString(body[i:min(i+80, len(body))])
		out.WriteByte('\n')
	}
	return []byte(out.String()), nil
}
