package transport

import (
	"crypto/rand"
	"encoding/hex"
)

// NewNonce returns 16 random bytes in hex: the marker framing one run's
// script and output, which nothing the script prints can forge.
func NewNonce() string {
	var b [16]byte
	// crypto/rand.Read never fails (it crashes the program instead).
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
