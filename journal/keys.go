package journal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/tendhq/tend/resources"
)

// sealedPrefix starts an undo value the journal holds encrypted: the rest
// is base64 of a nonce and an AES-256-GCM ciphertext.
const sealedPrefix = "tend-sealed:1:"

// Sealed reports whether an undo value is encrypted with its run's key.
func Sealed(v string) bool { return strings.HasPrefix(v, sealedPrefix) }

// KeyDir is where the keys of runs' secret undo data live: the user's
// state directory ($XDG_STATE_HOME/tend/keys, by default
// ~/.local/state/tend/keys), outside the configuration directory, so a
// copy of the configuration or of its journals (an archive of .tend, a
// CI artifact, a bug report) does not carry what decrypts them.
func KeyDir() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "tend", "keys"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no home directory for the run keys: %w", err)
	}
	return filepath.Join(home, ".local", "state", "tend", "keys"), nil
}

// KeyPath is the file of run id's key.
func KeyPath(id string) (string, error) {
	d, err := KeyDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, id+".key"), nil
}

// DigestKey returns the user's key for digests of sensitive values
// (redact.Keyed), KeyDir()/digest.key, creating it on first use: saved
// plans and run journals hold such digests, never plain ones, and a later
// run of the same user compares them. TEND_DIGEST_KEY_FILE names another
// key file (32 bytes in base64; never created), so that a plan made in
// one place can be applied in another (a CI job's secret).
func DigestKey() ([]byte, error) {
	if p := os.Getenv("TEND_DIGEST_KEY_FILE"); p != "" {
		key, err := readKey(p)
		if err != nil {
			return nil, fmt.Errorf("TEND_DIGEST_KEY_FILE %s: %w", p, err)
		}
		return key, nil
	}
	d, err := KeyDir()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(d, "digest.key")
	key, err := readKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err = createKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("digest key %s: %w", path, err)
	}
	return key, nil
}

// MissingKeyError is a sealed undo value whose run key cannot be read.
type MissingKeyError struct {
	Run, Path string
	Err       error
}

func (e *MissingKeyError) Error() string {
	return fmt.Sprintf("the secret undo data of run %s is encrypted with the key %s, which cannot be read (%v): without it this change cannot be reverted", e.Run, e.Path, e.Err)
}

func (e *MissingKeyError) Unwrap() error { return e.Err }

// runKey is a run's key, created on first use.
type runKey struct {
	id   string
	mu   sync.Mutex
	aead cipher.AEAD
}

// get returns the run's AEAD, reading its key file or, when there is
// none, creating it (mode 0600 in a directory 0700) durably.
func (k *runKey) get() (cipher.AEAD, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.aead != nil {
		return k.aead, nil
	}
	path, err := KeyPath(k.id)
	if err != nil {
		return nil, err
	}
	key, err := readKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err = createKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("run key %s: %w", path, err)
	}
	if k.aead, err = newAEAD(key); err != nil {
		return nil, err
	}
	return k.aead, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

func readKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != 32 {
		return nil, errors.New("not a run key (32 bytes in base64)")
	}
	return key, nil
}

func createKey(path string) ([]byte, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		// Another process of the same run (a resume) made it first.
		return readKey(path)
	}
	if err != nil {
		return nil, err
	}
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	if err == nil {
		// The key must be on disk before a journal record needs it.
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		os.Remove(path)
		return nil, err
	}
	return key, nil
}

// aad binds a sealed value to its run and undo key, so it cannot be
// moved to another entry's key or run and still open.
func aad(run, key string) []byte { return []byte(run + "\x00" + key) }

// seal returns u with the values of keys encrypted; u itself is not
// changed.
func (k *runKey) seal(u resources.Undo, keys []string) (resources.Undo, error) {
	var out resources.Undo
	for _, name := range keys {
		v, ok := u[name]
		if !ok || Sealed(v) {
			continue
		}
		aead, err := k.get()
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = make(resources.Undo, len(u))
			for n, v := range u {
				out[n] = v
			}
		}
		nonce := make([]byte, aead.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			return nil, err
		}
		ct := aead.Seal(nonce, nonce, []byte(v), aad(k.id, name))
		out[name] = sealedPrefix + base64.StdEncoding.EncodeToString(ct)
	}
	if out == nil {
		return u, nil
	}
	return out, nil
}

// OpenUndo returns run id's journaled undo data u with its encrypted
// values decrypted with the run's key (u itself is not changed). A key
// that cannot be read is a *MissingKeyError naming the run and the file.
func OpenUndo(id string, u resources.Undo) (resources.Undo, error) {
	var aead cipher.AEAD
	var out resources.Undo
	for name, v := range u {
		if !Sealed(v) {
			continue
		}
		if aead == nil {
			path, err := KeyPath(id)
			if err != nil {
				return nil, &MissingKeyError{Run: id, Path: "(none)", Err: err}
			}
			key, err := readKey(path)
			if err != nil {
				return nil, &MissingKeyError{Run: id, Path: path, Err: err}
			}
			if aead, err = newAEAD(key); err != nil {
				return nil, err
			}
		}
		ct, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(v, sealedPrefix))
		if err != nil || len(ct) < aead.NonceSize() {
			return nil, fmt.Errorf("run %s: undo %s is damaged", id, name)
		}
		pt, err := aead.Open(nil, ct[:aead.NonceSize()], ct[aead.NonceSize():], aad(id, name))
		if err != nil {
			path, _ := KeyPath(id)
			return nil, fmt.Errorf("run %s: undo %s does not decrypt with the key %s (a key made again for the run, or the journal was changed)", id, name, path)
		}
		if out == nil {
			out = make(resources.Undo, len(u))
			for n, v := range u {
				out[n] = v
			}
		}
		out[name] = string(pt)
	}
	if out == nil {
		return u, nil
	}
	return out, nil
}
