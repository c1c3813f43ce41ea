package vault

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"sync"
)

var (
	defaultMu      sync.Mutex
	defaultKeyring *Keyring
)

// SetDefault sets the keyring Resolve uses: the command line's
// --vault-id and --vault-password-file.
func SetDefault(k *Keyring) {
	defaultMu.Lock()
	defer defaultMu.Unlock()
	defaultKeyring = k
}

// Default returns the keyring SetDefault set, or nil.
func Default() *Keyring {
	defaultMu.Lock()
	defer defaultMu.Unlock()
	return defaultKeyring
}

// Resolve is the "vault:" secret source: ref is the path of a file
// encrypted with ansible-vault (whole, as `ansible-vault encrypt` or
// `encrypt_string` without --name writes it). The value is the
// decrypted content without its trailing newlines, decrypted with the
// default keyring.
func Resolve(ref string) (string, error) {
	if ref == "" {
		return "", fmt.Errorf("vault secret reference names no file; use \"vault:PATH\"")
	}
	data, err := os.ReadFile(ref)
	if err != nil {
		return "", fmt.Errorf("vault secret: %v", err)
	}
	// `ansible-vault encrypt_string` output saved as it is prints.
	if t := bytes.TrimSpace(data); bytes.HasPrefix(t, []byte("!vault")) {
		_, rest, _ := bytes.Cut(t, []byte("\n"))
		data = bytes.TrimSpace(rest)
	}
	if !IsEncrypted(data) {
		return "", fmt.Errorf("vault secret: %s is not encrypted with Ansible Vault", ref)
	}
	plain, err := Default().Decrypt(data, ref)
	if err != nil {
		return "", err
	}
	v := strings.TrimRight(string(plain), "\r\n")
	if v == "" {
		return "", fmt.Errorf("vault secret: %s decrypts to an empty value", ref)
	}
	return v, nil
}
