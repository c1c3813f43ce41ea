package lang

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/vault"
)

// TestSecretVault: secret("vault:FILE") is the decrypted file, marked
// sensitive and with its reference; without a password it fails naming
// the file.
func TestSecretVault(t *testing.T) {
	dir := t.TempDir()
	text, err := vault.Encrypt([]byte("hunter2\n"), []byte("pw"), "prod")
	if err != nil {
		t.Fatal(err)
	}
	secretFile := filepath.Join(dir, "db.vault")
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(secretFile, text, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pwFile, []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vault.SetDefault(nil) })

	vault.SetDefault(nil)
	if _, err := ResolveSecret("vault:" + secretFile); err == nil || !strings.HasSuffix(err.Error(), secretFile+" is encrypted with Ansible Vault; give --vault-password-file or --vault-id") {
		t.Errorf("no password: %v", err)
	}
	k, err := vault.NewKeyring(vault.Options{IDs: []string{"prod@" + pwFile}})
	if err != nil {
		t.Fatal(err)
	}
	vault.SetDefault(k)
	v, err := ResolveSecret("vault:" + secretFile)
	if err != nil {
		t.Fatal(err)
	}
	if !v.HasMark(Sensitive) || resources.SecretRefOf(v) != "vault:"+secretFile {
		t.Errorf("marks: %#v", v)
	}
	if u, _ := v.Unmark(); u.AsString() != "hunter2" {
		t.Errorf("value = %q", u.AsString())
	}
}
