package vault

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestKeyringSources(t *testing.T) {
	dir := t.TempDir()
	file11 := writeFile(t, dir, "p11", "  "+pw11+"\n\n", 0o600)
	file12 := writeFile(t, dir, "p12", pw12+"\n", 0o600)
	wrong := writeFile(t, dir, "wrong", "nope\n", 0o600)
	log := filepath.Join(dir, "log")
	// A plain script gets no arguments; a -client script gets
	// --vault-id LABEL. Each records how it was called.
	script := writeFile(t, dir, "pw.sh", "#!/bin/sh\necho \"script $*\" >> "+log+"\nprintf '%s\\n' '"+pw12+"'\n", 0o700)
	client := writeFile(t, dir, "pw-client.py", "#!/bin/sh\necho \"client $*\" >> "+log+"\n[ \"$2\" = prod ] || exit 2\necho '"+pw12+"'\n", 0o700)
	v11 := readTestdata(t, "v11.yml")
	v12 := readTestdata(t, "v12-block.txt")

	for _, c := range []struct {
		name    string
		opts    Options
		text    []byte
		wantErr string
		wantLog string
	}{
		{name: "password file", opts: Options{PasswordFiles: []string{file11}}, text: v11},
		{name: "env file", opts: Options{EnvPasswordFile: file11}, text: v11},
		{name: "labelled id for 1.2", opts: Options{IDs: []string{"prod@" + file12}}, text: v12},
		{name: "wrong then right", opts: Options{IDs: []string{"dev@" + wrong}, PasswordFiles: []string{file11}}, text: v11},
		{name: "1.2 label of another id still tried", opts: Options{IDs: []string{"other@" + file12}}, text: v12},
		{name: "script", opts: Options{IDs: []string{script}}, text: v12, wantLog: "script \n"},
		{name: "client", opts: Options{IDs: []string{"prod@" + client}}, text: v12, wantLog: "client --vault-id prod\n"},
		{name: "client without the label", opts: Options{IDs: []string{"dev@" + client}}, text: v12, wantErr: "has no password for vault id dev"},
		{name: "no password", opts: Options{}, text: v11, wantErr: "NAME is encrypted with Ansible Vault; give --vault-password-file or --vault-id"},
		{name: "wrong password", opts: Options{IDs: []string{"prod@" + wrong}}, text: v12, wantErr: "NAME: wrong vault password for vault id prod (1 tried) (HMAC mismatch"},
		{name: "no password for the label", opts: Options{IDs: []string{"dev@" + wrong}}, text: v12, wantErr: "NAME: no vault password given for vault id prod, and none of the 1 others opens it (HMAC mismatch"},
		{name: "missing file", opts: Options{PasswordFiles: []string{filepath.Join(dir, "absent")}}, text: v11, wantErr: "was not found"},
	} {
		t.Run(c.name, func(t *testing.T) {
			os.Remove(log)
			k, err := NewKeyring(c.opts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := k.Decrypt(c.text, "NAME")
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want %q", err, c.wantErr)
				}
				if strings.Contains(err.Error(), pw11) || strings.Contains(err.Error(), pw12) {
					t.Errorf("error shows a password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == 0 {
				t.Error("empty plaintext")
			}
			if c.wantLog != "" {
				b, _ := os.ReadFile(log)
				if string(b) != c.wantLog {
					t.Errorf("scripts ran as %q, want %q", b, c.wantLog)
				}
				// Read once: a second decryption does not run it again.
				if _, err := k.Decrypt(c.text, "NAME"); err != nil {
					t.Fatal(err)
				}
				if b2, _ := os.ReadFile(log); string(b2) != c.wantLog {
					t.Errorf("script ran again: %q", b2)
				}
			}
		})
	}
}

// TestLabelFirst checks that a 1.2 text's label picks its id before the
// ids given earlier: the earlier id's script is never run.
func TestLabelFirst(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	first := writeFile(t, dir, "first.sh", "#!/bin/sh\ntouch "+marker+"\necho nope\n", 0o700)
	file12 := writeFile(t, dir, "p12", pw12, 0o600)
	k, err := NewKeyring(Options{IDs: []string{"dev@" + first, "prod@" + file12}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Decrypt(readTestdata(t, "v12-block.txt"), "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the dev id was tried before the prod id the text names")
	}
}

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	file12 := writeFile(t, dir, "p12", pw12, 0o600)
	k, err := NewKeyring(Options{IDs: []string{"prod@" + file12}})
	if err != nil {
		t.Fatal(err)
	}
	SetDefault(k)
	t.Cleanup(func() { SetDefault(nil) })
	// encrypt_string's output without --name, saved as printed.
	inline := strings.TrimPrefix(string(readTestdata(t, "inline12.yml")), "pw: ")
	if v, err := Resolve(writeFile(t, dir, "inline", inline, 0o600)); err != nil || v != "hunter2" {
		t.Errorf("Resolve(inline) = %q, %v", v, err)
	}
	text, _ := Encrypt([]byte("line\n"), []byte(pw12), "prod")
	p := writeFile(t, dir, "s.vault", string(text), 0o600)
	if v, err := Resolve(p); err != nil || v != "line" {
		t.Errorf("Resolve = %q, %v", v, err)
	}
	plain := writeFile(t, dir, "plain", "x", 0o600)
	if _, err := Resolve(plain); err == nil {
		t.Error("a plain file resolved")
	}
	SetDefault(nil)
	var np *NoPasswordError
	if _, err := Resolve(p); !errors.As(err, &np) {
		t.Errorf("no keyring: err = %v", err)
	}
}
