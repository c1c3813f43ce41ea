package redact

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"strings"
	"sync"
)

// KeyedPrefix starts a digest made by Keyed.
const KeyedPrefix = "hmac-sha256:"

// A digest of a secret (its SHA-256, or a file's holding it) tells the
// value to whoever tries candidates, and links the places holding the
// same value: digests of sensitive values are keyed instead, with a key
// that is kept outside every file and output holding them.
var digestKey struct {
	once   sync.Once
	mu     sync.Mutex
	source func() ([]byte, error)
	key    []byte
	err    error // why the source gave no key
}

// SetDigestKeySource sets where Keyed takes its key from, on first use:
// the command line reads (or creates) a key file of the user's that is
// kept outside configuration directories, so that digests a saved plan
// holds can be compared by a later process. Without a source, or when it
// fails, the key is random for the process.
// Only the first source set is used.
func SetDigestKeySource(f func() ([]byte, error)) {
	digestKey.mu.Lock()
	defer digestKey.mu.Unlock()
	if digestKey.source == nil {
		digestKey.source = f
	}
}

func key() []byte {
	digestKey.once.Do(func() {
		digestKey.mu.Lock()
		source := digestKey.source
		digestKey.mu.Unlock()
		if source != nil {
			k, err := source()
			if err == nil && len(k) >= 16 {
				digestKey.key = k
				return
			}
			if err == nil {
				err = errors.New("the key is too short")
			}
			digestKey.err = err
		}
		digestKey.key = make([]byte, 32)
		_, _ = rand.Read(digestKey.key)
	})
	return digestKey.key
}

// DigestKeyError says why the key source set gave no key (Keyed then
// uses a key of the process's own, which no later process shares), or
// nil.
func DigestKeyError() error {
	key()
	return digestKey.err
}

// Keyed returns a keyed digest (HMAC-SHA256) of s, for a value, or a
// digest of one, that is secret. It is stable for the key: two equal
// values have equal keyed digests. A string that already is a keyed
// digest is returned as it is.
func Keyed(s string) string {
	if IsKeyed(s) {
		return s
	}
	m := hmac.New(sha256.New, key())
	m.Write([]byte(s))
	return KeyedPrefix + hex.EncodeToString(m.Sum(nil))
}

// IsKeyed reports whether s is a digest Keyed made.
func IsKeyed(s string) bool { return strings.HasPrefix(s, KeyedPrefix) }

// KeyedHash returns a hash of the keyed kind, for digests of many values
// together (of which some are secret).
func KeyedHash() hash.Hash { return hmac.New(sha256.New, key()) }

// DigestKeyID names the key Keyed uses, without telling it: a saved plan
// records it, so that a plan applied where its keyed digests cannot be
// compared says so instead of calling them changed.
func DigestKeyID() string {
	sum := sha256.Sum256(append([]byte("tend digest key id\x00"), key()...))
	return hex.EncodeToString(sum[:8])
}
