package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Options name the password sources of a Keyring, as Ansible's command
// line does.
type Options struct {
	// IDs are --vault-id values: "[label@]source", where source is a
	// password file or an executable (see Keyring).
	IDs []string
	// PasswordFiles are --vault-password-file values: sources with the
	// default label.
	PasswordFiles []string
	// EnvPasswordFile is ANSIBLE_VAULT_PASSWORD_FILE, tried last.
	EnvPasswordFile string
}

// OptionsFromEnv returns Options with the given ids and password files
// and ANSIBLE_VAULT_PASSWORD_FILE from the environment.
func OptionsFromEnv(ids, passwordFiles []string) Options {
	return Options{IDs: ids, PasswordFiles: passwordFiles, EnvPasswordFile: os.Getenv("ANSIBLE_VAULT_PASSWORD_FILE")}
}

// ScriptTimeout bounds a password script's run.
const ScriptTimeout = 2 * time.Minute

// source is one password source.
type source struct {
	id    string // label; DefaultID when none was given
	label string // the label as given, "" for none
	path  string

	once     sync.Once
	password []byte
	err      error
}

// Keyring holds vault passwords, read from their sources on first use:
// a command that meets no vault text needs no password, and a script is
// run at most once. Safe for concurrent use. The nil Keyring has no
// passwords.
//
// A source is read as Ansible reads it: an executable file is run with
// no arguments and its standard output, without trailing newlines, is
// the password; an executable whose name (before its extension) ends in
// "-client" is run with "--vault-id LABEL"; any other file's content,
// stripped of surrounding white space, is the password. Sources are
// tried in the order --vault-id, --vault-password-file,
// ANSIBLE_VAULT_PASSWORD_FILE; for a text with a label, the sources with
// that label come first.
type Keyring struct {
	sources []*source
}

// NewKeyring returns a Keyring of opts' sources, or an error for a
// malformed --vault-id. No source is read yet.
func NewKeyring(opts Options) (*Keyring, error) {
	k := &Keyring{}
	for _, s := range opts.IDs {
		label, path, ok := strings.Cut(s, "@")
		if !ok {
			label, path = "", s
		}
		if path == "" {
			return nil, fmt.Errorf("--vault-id %q names no password file or script", s)
		}
		if path == "prompt" {
			return nil, fmt.Errorf("--vault-id %q: tend does not prompt for vault passwords; give a password file or script", s)
		}
		id := label
		if id == "" {
			id = DefaultID
		}
		k.sources = append(k.sources, &source{id: id, label: label, path: path})
	}
	for _, p := range opts.PasswordFiles {
		k.sources = append(k.sources, &source{id: DefaultID, path: p})
	}
	if opts.EnvPasswordFile != "" {
		k.sources = append(k.sources, &source{id: DefaultID, path: opts.EnvPasswordFile})
	}
	return k, nil
}

// Empty reports whether the keyring has no password source.
func (k *Keyring) Empty() bool { return k == nil || len(k.sources) == 0 }

// NoPasswordError is returned for a vault text when the keyring has no
// password source at all.
type NoPasswordError struct{ Name string }

func (e *NoPasswordError) Error() string {
	return fmt.Sprintf("%s is encrypted with Ansible Vault; give --vault-password-file or --vault-id", e.Name)
}

// Decrypt decrypts a vault text; name (a file, or "file:line") names it
// in errors. It tries the sources whose label is the text's id, then
// the others, and fails with the HMAC error of the text's own id when
// none opens it.
func (k *Keyring) Decrypt(data []byte, name string) ([]byte, error) {
	if k.Empty() {
		return nil, &NoPasswordError{Name: name}
	}
	e, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var ordered []*source
	for _, s := range k.sources {
		if s.id == e.ID {
			ordered = append(ordered, s)
		}
	}
	for _, s := range k.sources {
		if s.id != e.ID {
			ordered = append(ordered, s)
		}
	}
	var readErrs []string
	tried := 0
	for _, s := range ordered {
		pw, err := s.get()
		if err != nil {
			readErrs = append(readErrs, err.Error())
			continue
		}
		tried++
		plain, err := e.Open(pw)
		if err == nil {
			return plain, nil
		}
		if !errors.Is(err, ErrHMAC) {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	if tried == 0 {
		return nil, fmt.Errorf("%s is encrypted with Ansible Vault, and no vault password could be read: %s", name, strings.Join(readErrs, "; "))
	}
	msg := fmt.Sprintf("%s: wrong vault password for vault id %s (%d tried)", name, e.ID, tried)
	if !k.has(e.ID) {
		msg = fmt.Sprintf("%s: no vault password given for vault id %s, and none of the %d others opens it", name, e.ID, tried)
	}
	if len(readErrs) > 0 {
		msg += "; also: " + strings.Join(readErrs, "; ")
	}
	return nil, &WrongPasswordError{msg: msg}
}

func (k *Keyring) has(id string) bool {
	for _, s := range k.sources {
		if s.id == id {
			return true
		}
	}
	return false
}

// WrongPasswordError is a vault text no password opened; it wraps
// ErrHMAC.
type WrongPasswordError struct{ msg string }

func (e *WrongPasswordError) Error() string { return e.msg + " (" + ErrHMAC.Error() + ")" }
func (e *WrongPasswordError) Unwrap() error { return ErrHMAC }

func (s *source) get() ([]byte, error) {
	s.once.Do(func() { s.password, s.err = s.read() })
	return s.password, s.err
}

func (s *source) read() ([]byte, error) {
	fi, err := os.Stat(s.path)
	if err != nil {
		return nil, fmt.Errorf("the vault password file %s was not found", s.path)
	}
	if fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
		return s.run()
	}
	b, err := os.ReadFile(s.path)
	if err != nil {
		return nil, fmt.Errorf("could not read vault password file %s: %v", s.path, err)
	}
	pw := bytes.Trim(b, " \t\n\r\v\f") // Python's bytes.strip()
	if len(pw) == 0 {
		return nil, fmt.Errorf("the vault password file %s is empty", s.path)
	}
	return pw, nil
}

// isClient is Ansible's script_is_client: "NAME-client" or
// "NAME-client.EXT".
func isClient(path string) bool {
	return strings.HasSuffix(strings.TrimSuffix(path, filepath.Ext(path)), "-client")
}

// run runs a password script without a shell; its stdout, with trailing
// newlines removed, is the password.
func (s *source) run() ([]byte, error) {
	args := []string{}
	if isClient(s.path) && s.label != "" {
		args = append(args, "--vault-id", s.label)
	}
	ctx, cancel := context.WithTimeout(context.Background(), ScriptTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.path, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		// stderr is the script's own message; stdout may hold the
		// password and is not shown.
		detail := strings.TrimSpace(stderr.String())
		if len(detail) > 500 {
			detail = detail[:500] + "..."
		}
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 2 && isClient(s.path) {
			return nil, fmt.Errorf("vault password client %s has no password for vault id %s: %s", s.path, s.id, detail)
		}
		return nil, fmt.Errorf("vault password script %s failed (%v): %s", s.path, err, detail)
	}
	pw := bytes.TrimRight(stdout.Bytes(), "\r\n")
	if len(pw) == 0 {
		return nil, fmt.Errorf("vault password script %s printed no password", s.path)
	}
	return pw, nil
}
