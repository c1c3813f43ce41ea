package redact

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

// TestKeyed: a keyed digest is stable, idempotent, tells equal values
// from different ones, and holds nothing of the plain SHA-256.
func TestKeyed(t *testing.T) {
	sum := sha256.Sum256([]byte("hunter2"))
	plain := hex.EncodeToString(sum[:])
	k := Keyed(plain)
	if !IsKeyed(k) || Keyed(plain) != k || Keyed(k) != k {
		t.Errorf("Keyed(%s) = %s: want a stable, idempotent keyed digest", plain, k)
	}
	if Keyed("other") == k {
		t.Error("two values have one keyed digest")
	}
	if strings.Contains(k, plain) || strings.Contains(k, plain[:12]) {
		t.Errorf("the keyed digest %s holds the plain one", k)
	}
	if len(DigestKeyID()) != 16 {
		t.Errorf("DigestKeyID() = %q", DigestKeyID())
	}
}
