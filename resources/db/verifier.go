package db

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"unicode/utf16"
)

// Password verifiers: what a server stores instead of a password. tend
// computes them on the controller, to compare a declared password with
// the stored verifier (no login attempt, nothing changed) and to set a
// password by sending the verifier, so the plaintext never reaches the
// server (nor its logs).

// match reports whether password matches verifier; known is false when
// the verifier's form is not one tend can check.
type match struct{ ok, known bool }

// pgSCRAM computes a PostgreSQL SCRAM-SHA-256 verifier,
// SCRAM-SHA-256$ITER:SALT$STOREDKEY:SERVERKEY (RFC 5802, RFC 7677), of
// the password as PostgreSQL prepares it (pgSASLprep): a non-ASCII
// password set by hand, spelled differently but the same after SASLprep
// (a ligature, a decomposed accent, a no-break space), matches.
func pgSCRAM(password string, salt []byte, iter int) string {
	stored, server := scramKeys(pgSASLprep(password), salt, iter)
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", iter, b64(salt), b64(stored), b64(server))
}

func scramKeys(password string, salt []byte, iter int) (stored, server []byte) {
	salted, err := pbkdf2.Key(sha256.New, password, salt, iter, sha256.Size)
	if err != nil {
		panic(err) // only for FIPS-restricted parameters, which these are not
	}
	clientKey := hmacSum(sha256.New, salted, []byte("Client Key"))
	s := sha256.Sum256(clientKey)
	return s[:], hmacSum(sha256.New, salted, []byte("Server Key"))
}

func hmacSum(h func() hash.Hash, key, msg []byte) []byte {
	m := hmac.New(h, key)
	m.Write(msg)
	return m.Sum(nil)
}

// newPGSCRAM is a new SCRAM-SHA-256 verifier with a random salt and
// PostgreSQL's default 4096 iterations.
func newPGSCRAM(password string) string {
	return pgSCRAM(password, randomBytes(16), 4096)
}

// pgMD5 is PostgreSQL's md5 verifier: "md5" + md5(password + role name),
// of the password's bytes as given (the server applies no SASLprep to
// md5: "ﬁ" and "fi" are different passwords there).
func pgMD5(password, role string) string {
	s := md5.Sum([]byte(password + role))
	return "md5" + hex.EncodeToString(s[:])
}

// checkPG compares password with a stored rolpassword.
func checkPG(password, role, verifier string) match {
	switch {
	case verifier == "":
		return match{false, true}
	case strings.HasPrefix(verifier, "SCRAM-SHA-256$"):
		iter, salt, _, _, err := parseSCRAM(verifier)
		if err != nil {
			return match{}
		}
		return match{constEq(pgSCRAM(password, salt, iter), verifier), true}
	case strings.HasPrefix(verifier, "md5") && len(verifier) == 35:
		return match{constEq(pgMD5(password, role), verifier), true}
	}
	return match{}
}

func parseSCRAM(v string) (iter int, salt, stored, server []byte, err error) {
	rest, ok := strings.CutPrefix(v, "SCRAM-SHA-256$")
	is, rest, ok2 := strings.Cut(rest, ":")
	ss, keys, ok3 := strings.Cut(rest, "$")
	sk, vk, ok4 := strings.Cut(keys, ":")
	if !ok || !ok2 || !ok3 || !ok4 {
		return 0, nil, nil, nil, fmt.Errorf("not a SCRAM-SHA-256 verifier")
	}
	if iter, err = strconv.Atoi(is); err != nil || iter <= 0 {
		return 0, nil, nil, nil, fmt.Errorf("bad iteration count")
	}
	d := base64.StdEncoding.DecodeString
	if salt, err = d(ss); err != nil {
		return
	}
	if stored, err = d(sk); err != nil {
		return
	}
	server, err = d(vk)
	return
}

// mysqlNative is mysql_native_password's verifier: "*" and the upper-case
// hex of SHA1(SHA1(password)).
func mysqlNative(password string) string {
	a := sha1.Sum([]byte(password))
	b := sha1.Sum(a[:])
	return "*" + strings.ToUpper(hex.EncodeToString(b[:]))
}

// cachingSHA2 is caching_sha2_password's verifier (MySQL 8):
// "$A$" + rounds/1000 as 3 hex digits + "$" + 20-byte salt + the 43
// characters of a SHA-256-crypt digest of the password with that salt.
func cachingSHA2(password string, salt []byte, rounds int) string {
	return fmt.Sprintf("$A$%03X$%s%s", rounds/1000, salt, sha256CryptDigest([]byte(password), salt, rounds))
}

// newCachingSHA2 is a new caching_sha2_password verifier with a random
// printable salt (as the server makes them) and 5000 rounds.
func newCachingSHA2(password string) string {
	const chars = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	salt := randomBytes(20)
	for i := range salt {
		salt[i] = chars[int(salt[i])%len(chars)]
	}
	return cachingSHA2(password, salt, 5000)
}

// checkMySQL compares password with a stored authentication_string of a
// plugin.
func checkMySQL(password, plugin, verifier string) match {
	switch plugin {
	case "mysql_native_password", "":
		if verifier == "" {
			return match{password == "", true}
		}
		if len(verifier) != 41 || verifier[0] != '*' {
			return match{}
		}
		return match{constEq(mysqlNative(password), strings.ToUpper(verifier)), true}
	case "caching_sha2_password":
		if verifier == "" {
			return match{password == "", true}
		}
		if len(verifier) != 3+3+1+20+43 || !strings.HasPrefix(verifier, "$A$") || verifier[6] != '$' {
			return match{}
		}
		r, err := strconv.ParseInt(verifier[3:6], 16, 32)
		if err != nil {
			return match{}
		}
		return match{constEq(cachingSHA2(password, []byte(verifier[7:27]), int(r)*1000), verifier), true}
	}
	return match{}
}

// sha256CryptDigest is the digest part of SHA-256-crypt (Ulrich Drepper,
// "Unix crypt using SHA-256 and SHA-512", the $5$ scheme), 43 characters.
func sha256CryptDigest(key, salt []byte, rounds int) string {
	h := sha256.New
	b := h()
	b.Write(key)
	b.Write(salt)
	b.Write(key)
	sumB := b.Sum(nil)
	a := h()
	a.Write(key)
	a.Write(salt)
	for n := len(key); n > 0; n -= 32 {
		a.Write(sumB[:min(n, 32)])
	}
	for n := len(key); n > 0; n >>= 1 {
		if n&1 != 0 {
			a.Write(sumB)
		} else {
			a.Write(key)
		}
	}
	sumA := a.Sum(nil)
	dp := h()
	for range key {
		dp.Write(key)
	}
	p := repeatTo(dp.Sum(nil), len(key))
	ds := h()
	for i := 0; i < 16+int(sumA[0]); i++ {
		ds.Write(salt)
	}
	s := repeatTo(ds.Sum(nil), len(salt))
	c := sumA
	for i := 0; i < rounds; i++ {
		r := h()
		if i&1 != 0 {
			r.Write(p)
		} else {
			r.Write(c)
		}
		if i%3 != 0 {
			r.Write(s)
		}
		if i%7 != 0 {
			r.Write(p)
		}
		if i&1 != 0 {
			r.Write(c)
		} else {
			r.Write(p)
		}
		c = r.Sum(nil)
	}
	const b64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	var out bytes.Buffer
	enc := func(b2, b1, b0 byte, n int) {
		w := uint(b2)<<16 | uint(b1)<<8 | uint(b0)
		for ; n > 0; n-- {
			out.WriteByte(b64[w&0x3f])
			w >>= 6
		}
	}
	order := [][3]int{{0, 10, 20}, {21, 1, 11}, {12, 22, 2}, {3, 13, 23}, {24, 4, 14}, {15, 25, 5}, {6, 16, 26}, {27, 7, 17}, {18, 28, 8}, {9, 19, 29}}
	for _, o := range order {
		enc(c[o[0]], c[o[1]], c[o[2]], 4)
	}
	enc(0, c[31], c[30], 3)
	return out.String()
}

func repeatTo(sum []byte, n int) []byte {
	out := make([]byte, 0, n)
	for len(out) < n {
		out = append(out, sum[:min(len(sum), n-len(out))]...)
	}
	return out
}

// mssqlHash is SQL Server 2012+'s password hash (as
// LOGINPROPERTY(name, 'PasswordHash') returns it and CREATE LOGIN ...
// WITH PASSWORD = 0x... HASHED takes it): 0x0200, a 4-byte salt, and
// SHA-512 of the UTF-16LE password followed by the salt.
func mssqlHash(password string, salt []byte) []byte {
	h := sha512.New()
	h.Write(utf16le(password))
	h.Write(salt)
	return append(append([]byte{0x02, 0x00}, salt...), h.Sum(nil)...)
}

// checkMSSQL compares password with a stored 2012+ hash; SQL Server's
// own PWDCOMPARE does the same on the server.
func checkMSSQL(password string, hash []byte) match {
	if len(hash) != 2+4+64 || hash[0] != 0x02 || hash[1] != 0x00 {
		return match{}
	}
	return match{subtle.ConstantTimeCompare(mssqlHash(password, hash[2:6]), hash) == 1, true}
}

func utf16le(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return b
}

// oracleS is Oracle 11g+'s "S:" verifier (SYS.USER$.SPARE4): upper-case
// hex of SHA1(password || salt) followed by the 10-byte salt.
func oracleS(password string, salt []byte) string {
	h := sha1.New()
	h.Write([]byte(password))
	h.Write(salt)
	return "S:" + strings.ToUpper(hex.EncodeToString(h.Sum(nil))+hex.EncodeToString(salt))
}

// oracleT is Oracle 12c+'s "T:" verifier: with a 16-byte salt,
// K = PBKDF2-HMAC-SHA512(password, salt || "AUTH_PBKDF2_SPEEDY_KEY",
// 4096, 64) and the stored value is SHA512(K || salt), upper-case hex,
// followed by the salt.
func oracleT(password string, salt []byte) string {
	k, err := pbkdf2.Key(sha512.New, password, append(append([]byte{}, salt...), "AUTH_PBKDF2_SPEEDY_KEY"...), 4096, 64)
	if err != nil {
		panic(err)
	}
	h := sha512.New()
	h.Write(k)
	h.Write(salt)
	return "T:" + strings.ToUpper(hex.EncodeToString(h.Sum(nil))+hex.EncodeToString(salt))
}

// checkOracle compares password with the S: or T: part of a SPARE4 value
// (read only where the admin may read SYS.USER$; never by trying to log
// in, which could lock the account).
func checkOracle(password, spare4 string) match {
	for _, part := range strings.Split(spare4, ";") {
		switch {
		case strings.HasPrefix(part, "T:") && len(part) == 2+128+32:
			salt, err := hex.DecodeString(part[2+128:])
			if err == nil {
				return match{constEq(oracleT(password, salt), strings.ToUpper(part)), true}
			}
		}
	}
	for _, part := range strings.Split(spare4, ";") {
		if strings.HasPrefix(part, "S:") && len(part) == 2+40+20 {
			salt, err := hex.DecodeString(part[2+40:])
			if err == nil {
				return match{constEq(oracleS(password, salt), strings.ToUpper(part)), true}
			}
		}
	}
	return match{}
}

func constEq(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}
