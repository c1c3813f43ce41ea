package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tendhq/tend/vault"
)

// TestInventoryVault: `tend inventory` on an INI inventory encrypted
// with Ansible Vault fails naming the file without a password (and
// lists no host), and reads it with --vault-password-file, --vault-id
// or ANSIBLE_VAULT_PASSWORD_FILE, showing its vars as sensitive.
func TestInventoryVault(t *testing.T) {
	dir := t.TempDir()
	inv := filepath.Join(dir, "hosts")
	text, err := vault.Encrypt([]byte("[web]\nweb1 ansible_host=127.0.0.1 api_key=k3y-canary\n"), []byte("pw-prod"), "prod")
	if err != nil {
		t.Fatal(err)
	}
	pwFile := filepath.Join(dir, "pw")
	wrongFile := filepath.Join(dir, "wrong")
	writeFiles(t, dir, map[string]string{"hosts": string(text), "pw": "pw-prod\n", "wrong": "nope\n"})
	t.Setenv("ANSIBLE_VAULT_PASSWORD_FILE", "")

	out, errOut, code := tend(t, "inventory", "-C", dir, "-i", inv)
	if code != 1 || out != "" || !strings.Contains(errOut, inv+" is encrypted with Ansible Vault; give --vault-password-file or --vault-id") {
		t.Errorf("no password: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}

	_, errOut, code = tend(t, "inventory", "-C", dir, "-i", inv, "--vault-password-file", wrongFile)
	if code != 1 || !strings.Contains(errOut, "wrong vault password for vault id prod") {
		t.Errorf("wrong password: exit %d\nstderr: %s", code, errOut)
	}

	for _, args := range [][]string{
		{"--vault-password-file", pwFile},
		{"--vault-id", "dev@" + wrongFile, "--vault-id", "prod@" + pwFile},
		{"-vault-id", pwFile},
		{"env"},
	} {
		if args[0] == "env" {
			t.Setenv("ANSIBLE_VAULT_PASSWORD_FILE", pwFile)
			args = nil
		}
		out, errOut, code := tend(t, append([]string{"inventory", "-C", dir, "-i", inv}, args...)...)
		if code != 0 || out != "web1\tssh\t127.0.0.1\tgroups=all,web api_key=\"(sensitive)\"\n" {
			t.Errorf("%v: exit %d\nstdout: %s\nstderr: %s", args, code, out, errOut)
		}
		if strings.Contains(out+errOut, "k3y-canary") {
			t.Errorf("%v: the vaulted value is shown", args)
		}
	}
	if _, err := os.Stat(inv); err != nil {
		t.Fatal(err)
	}
}
