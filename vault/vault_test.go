package vault

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The files in testdata were written by ansible-vault (ansible-core
// 2.14): v11.yml and empty11.txt with `ansible-vault encrypt
// --vault-password-file` (format 1.1, password "tend-test-password"),
// v12-block.txt (exactly one AES block of plaintext) with `--vault-id
// prod@FILE` and inline12.yml with `encrypt_string --vault-id
// prod@FILE` (format 1.2, label prod, password "prod-pw").
const (
	pw11 = "tend-test-password"
	pw12 = "prod-pw"
)

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// inlineText is the vault text of an encrypt_string output.
func inlineText(t *testing.T, b []byte) []byte {
	t.Helper()
	_, rest, ok := bytes.Cut(b, []byte("!vault |\n"))
	if !ok {
		t.Fatalf("no !vault in %q", b)
	}
	return rest
}

func TestDecryptAnsibleVectors(t *testing.T) {
	for _, c := range []struct {
		file, pw, id, version, want string
		inline                      bool
	}{
		{"v11.yml", pw11, DefaultID, "1.1", "ansible_become_password: \"s3cr3t!\"\ndb:\n  user: app\n", false},
		{"empty11.txt", pw11, DefaultID, "1.1", "", false},
		{"v12-block.txt", pw12, "prod", "1.2", "0123456789abcdef", false},
		{"inline12.yml", pw12, "prod", "1.2", "hunter2", true},
	} {
		t.Run(c.file, func(t *testing.T) {
			data := readTestdata(t, c.file)
			if c.inline {
				data = inlineText(t, data)
			} else if !IsEncrypted(data) {
				t.Fatalf("IsEncrypted = false")
			}
			e, err := Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			if e.ID != c.id || e.Version != c.version || e.Cipher != "AES256" {
				t.Errorf("envelope = %s %s %s, want %s AES256 %s", e.Version, e.Cipher, e.ID, c.version, c.id)
			}
			got, err := Decrypt(data, []byte(c.pw))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.want {
				t.Errorf("Decrypt = %q, want %q", got, c.want)
			}
			_, err = Decrypt(data, []byte(c.pw+"x"))
			if !errors.Is(err, ErrHMAC) {
				t.Errorf("wrong password: err = %v, want ErrHMAC", err)
			}
		})
	}
}

func TestTampered(t *testing.T) {
	data := readTestdata(t, "v11.yml")
	e, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	// Flip one bit of the ciphertext and write the text back.
	e.ciphertext[3] ^= 1
	if _, err := e.Open([]byte(pw11)); !errors.Is(err, ErrHMAC) {
		t.Errorf("tampered ciphertext: err = %v, want ErrHMAC", err)
	}
	// A changed hex digit in the file.
	lines := strings.Split(string(data), "\n")
	b := []byte(lines[3])
	if b[10] == '3' {
		b[10] = '4'
	} else {
		b[10] = '3'
	}
	lines[3] = string(b)
	_, err = Decrypt([]byte(strings.Join(lines, "\n")), []byte(pw11))
	if err == nil {
		t.Fatal("a changed file decrypted")
	}
}

func TestRoundTrip(t *testing.T) {
	for _, id := range []string{"", DefaultID, "lab"} {
		for _, n := range []int{0, 1, 15, 16, 17, 1000} {
			plain := bytes.Repeat([]byte{'x'}, n)
			text, err := Encrypt(plain, []byte("pw"), id)
			if err != nil {
				t.Fatal(err)
			}
			e, err := Parse(text)
			if err != nil {
				t.Fatal(err)
			}
			wantID, wantVersion := DefaultID, "1.1"
			if id == "lab" {
				wantID, wantVersion = "lab", "1.2"
			}
			if e.ID != wantID || e.Version != wantVersion {
				t.Errorf("id %q: envelope %s %s", id, e.Version, e.ID)
			}
			got, err := Decrypt(text, []byte("pw"))
			if err != nil || !bytes.Equal(got, plain) {
				t.Errorf("id %q, %d bytes: got %q, %v", id, n, got, err)
			}
			for _, l := range strings.Split(strings.TrimSuffix(string(text), "\n"), "\n") {
				if len(l) > 80 && !strings.HasPrefix(l, Header) {
					t.Errorf("line longer than 80: %q", l)
				}
			}
		}
	}
}

func TestMalformed(t *testing.T) {
	for _, s := range []string{
		"$ANSIBLE_VAULT;1.1;AES256\nzz\n",
		"$ANSIBLE_VAULT;1.0;AES\n00\n",
		"$ANSIBLE_VAULT;1.3;AES256\n00\n",
		"$ANSIBLE_VAULT;1.1;AES256\n616263\n",
		"not a vault",
	} {
		if _, err := Decrypt([]byte(s), []byte("pw")); err == nil {
			t.Errorf("%q decrypted", s)
		}
	}
}
