package cli

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

	_, errOut, code = tend(t, "inventory", "-C", dir, "-i", inv, "--vault-id", "prod@"+wrongFile)
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

// TestPlanVaultNothingConnected: `tend plan` with an encrypted inventory
// and no password fails naming the file, and no connection reaches the
// host the inventory names (a listener on loopback counts them).
func TestPlanVaultNothingConnected(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan struct{}, 16)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- struct{}{}
			conn.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	dir := t.TempDir()
	inv := filepath.Join(dir, "hosts")
	plain := fmt.Sprintf("[web]\nweb1 ansible_host=127.0.0.1 ansible_port=%d ansible_password=x\n", port)
	text, err := vault.Encrypt([]byte(plain), []byte("pw"), "")
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{
		"hosts":    string(text),
		"main.hcl": fmt.Sprintf("file \"a\" {\n  path = %q\n  content = \"a\"\n}\n", filepath.Join(dir, "a")),
	})
	t.Setenv("ANSIBLE_VAULT_PASSWORD_FILE", "")
	_, errOut, code := tend(t, "plan", "-C", dir, "-i", inv)
	if code != 1 || !strings.Contains(errOut, inv+" is encrypted with Ansible Vault; give --vault-password-file or --vault-id") {
		t.Errorf("exit %d\nstderr: %s", code, errOut)
	}
	select {
	case <-accepted:
		t.Error("tend connected to the host of an inventory it could not decrypt")
	case <-time.After(200 * time.Millisecond):
	}
	// The listener does count connections: the same inventory in clear
	// makes plan connect (and fail, as the listener speaks no SSH).
	writeFiles(t, dir, map[string]string{"clear": plain})
	tend(t, "plan", "-C", dir, "-i", filepath.Join(dir, "clear"))
	select {
	case <-accepted:
	case <-time.After(5 * time.Second):
		t.Error("the listener saw no connection from a plan of the clear inventory")
	}
}
