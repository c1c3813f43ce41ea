package wsmancrypt

import (
	"encoding/binary"
	"math/bits"
)

// md4 returns the MD4 digest of b (RFC 1320). NTLM hashes passwords with
// it; it lives here because golang.org/x/crypto/md4 is deprecated.
func md4(b []byte) [16]byte {
	a0, b0, c0, d0 := uint32(0x67452301), uint32(0xefcdab89), uint32(0x98badcfe), uint32(0x10325476)
	msg := append([]byte(nil), b...)
	msg = append(msg, 0x80)
	for len(msg)%64 != 56 {
		msg = append(msg, 0)
	}
	var length [8]byte
	binary.LittleEndian.PutUint64(length[:], uint64(len(b))*8)
	msg = append(msg, length[:]...)

	f := func(x, y, z uint32) uint32 { return x&y | ^x&z }
	g := func(x, y, z uint32) uint32 { return x&y | x&z | y&z }
	h := func(x, y, z uint32) uint32 { return x ^ y ^ z }
	for off := 0; off < len(msg); off += 64 {
		var x [16]uint32
		for i := range x {
			x[i] = binary.LittleEndian.Uint32(msg[off+4*i:])
		}
		a, b, c, d := a0, b0, c0, d0
		r1 := [4]int{3, 7, 11, 19}
		for i := 0; i < 16; i++ {
			k := i
			t := a + f(b, c, d) + x[k]
			a, b, c, d = d, bits.RotateLeft32(t, r1[i%4]), b, c
		}
		r2 := [4]int{3, 5, 9, 13}
		for i := 0; i < 16; i++ {
			k := (i%4)*4 + i/4
			t := a + g(b, c, d) + x[k] + 0x5a827999
			a, b, c, d = d, bits.RotateLeft32(t, r2[i%4]), b, c
		}
		r3 := [4]int{3, 9, 11, 15}
		order := [16]int{0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15}
		for i := 0; i < 16; i++ {
			t := a + h(b, c, d) + x[order[i]] + 0x6ed9eba1
			a, b, c, d = d, bits.RotateLeft32(t, r3[i%4]), b, c
		}
		a0, b0, c0, d0 = a0+a, b0+b, c0+c, d0+d
	}
	var out [16]byte
	binary.LittleEndian.PutUint32(out[0:], a0)
	binary.LittleEndian.PutUint32(out[4:], b0)
	binary.LittleEndian.PutUint32(out[8:], c0)
	binary.LittleEndian.PutUint32(out[12:], d0)
	return out
}
