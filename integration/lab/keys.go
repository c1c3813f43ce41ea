package lab

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"os"
)

// sshKey is an ed25519 key pair in the two encodings OpenSSH reads: the
// "openssh-key-v1" private key file and the one-line public key.
type sshKey struct {
	Private []byte // PEM, "OPENSSH PRIVATE KEY"
	Public  string // "ssh-ed25519 AAAA... comment"
}

// newSSHKey generates an ed25519 key. Generating in-process instead of
// running ssh-keygen keeps a 50-host lab from spawning 50 processes.
func newSSHKey(comment string) (sshKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return sshKey{}, fmt.Errorf("generate ed25519 key: %w", err)
	}
	return marshalSSHKey(pub, priv, comment), nil
}

// marshalSSHKey encodes an ed25519 key pair in OpenSSH's formats
// (PROTOCOL.key in the OpenSSH sources), unencrypted.
func marshalSSHKey(pub ed25519.PublicKey, priv ed25519.PrivateKey, comment string) sshKey {
	pubWire := sshString(nil, []byte("ssh-ed25519"))
	pubWire = sshString(pubWire, pub)

	var check [4]byte
	_, _ = rand.Read(check[:])
	var secret []byte
	secret = append(secret, check[:]...)
	secret = append(secret, check[:]...)
	secret = sshString(secret, []byte("ssh-ed25519"))
	secret = sshString(secret, pub)
	secret = sshString(secret, priv) // 64 bytes: seed followed by public key
	secret = sshString(secret, []byte(comment))
	for i := byte(1); len(secret)%8 != 0; i++ {
		secret = append(secret, i)
	}

	var blob []byte
	blob = append(blob, "openssh-key-v1\x00"...)
	blob = sshString(blob, []byte("none")) // cipher
	blob = sshString(blob, []byte("none")) // kdf
	blob = sshString(blob, nil)            // kdf options
	blob = binary.BigEndian.AppendUint32(blob, 1)
	blob = sshString(blob, pubWire)
	blob = sshString(blob, secret)

	public := "ssh-ed25519 " + base64.StdEncoding.EncodeToString(pubWire)
	if comment != "" {
		public += " " + comment
	}
	return sshKey{
		Private: pem.EncodeToMemory(&pem.Block{Type: "OPENSSH PRIVATE KEY", Bytes: blob}),
		Public:  public,
	}
}

// sshString appends s as an SSH wire-format string (uint32 length + bytes).
func sshString(b, s []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// writeKeyPair writes the private key to path (mode 0600) and the public
// key to path+".pub" (0644), the layout ssh-keygen uses.
func writeKeyPair(path string, k sshKey) error {
	if err := os.WriteFile(path, k.Private, 0o600); err != nil {
		return err
	}
	// WriteFile keeps the mode of an existing file; make sure it is 0600,
	// or ssh refuses the key.
	if err := os.Chmod(path, 0o600); err != nil {
		return err
	}
	return os.WriteFile(path+".pub", []byte(k.Public+"\n"), 0o644)
}

// publicKeyTypeAndData returns the "type base64" part of a public key line, the
// form known_hosts and authorized_keys take.
func publicKeyTypeAndData(public string) string {
	f := bytes.Fields([]byte(public))
	if len(f) < 2 {
		return public
	}
	return string(f[0]) + " " + string(f[1])
}
