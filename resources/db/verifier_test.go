package db

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"testing"
)

// TestSCRAMRFC7677 derives the keys of RFC 7677's SCRAM-SHA-256 example
// (section 3: user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==,
// 4096 iterations) and checks the client proof and server signature the
// RFC publishes.
func TestSCRAMRFC7677(t *testing.T) {
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	v := pgSCRAM("pencil", salt, 4096)
	iter, s, stored, server, err := parseSCRAM(v)
	if err != nil || iter != 4096 || string(s) != string(salt) {
		t.Fatalf("parse %q: %v", v, err)
	}
	auth := "n=user,r=rOprNGfwEbeRWgbNEkqO," +
		"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096," +
		"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
	sig := hmacSum(sha256.New, server, []byte(auth))
	if got := base64.StdEncoding.EncodeToString(sig); got != "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=" {
		t.Errorf("server signature %s", got)
	}
	proof, _ := base64.StdEncoding.DecodeString("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
	clientSig := hmacSum(sha256.New, stored, []byte(auth))
	clientKey := make([]byte, len(proof))
	for i := range proof {
		clientKey[i] = proof[i] ^ clientSig[i]
	}
	if sum := sha256.Sum256(clientKey); !hmac.Equal(sum[:], stored) {
		t.Errorf("the RFC's client proof does not match the stored key")
	}
	if m := checkPG("pencil", "user", v); !m.ok || !m.known {
		t.Errorf("checkPG(right password) = %+v", m)
	}
	if m := checkPG("pencil2", "user", v); m.ok || !m.known {
		t.Errorf("checkPG(wrong password) = %+v", m)
	}
	if m := checkPG("x", "user", "SCRAM-SHA-256$bogus"); m.known {
		t.Errorf("a malformed verifier is known: %+v", m)
	}
}

func TestPGMD5(t *testing.T) {
	// md5 verifiers are "md5" + md5(password || role name) (PostgreSQL
	// docs, "Password Authentication"); checked against the role name.
	v := pgMD5("secret", "alice")
	if len(v) != 35 || !checkPG("secret", "alice", v).ok || checkPG("secret", "bob", v).ok {
		t.Errorf("md5 verifier %s", v)
	}
}

// TestMySQLNative: MySQL's reference manual, PASSWORD() function:
// PASSWORD('mypass') = '*6C8989366EAF75BB670AD8EA7A7FC1176A95CEF4'.
func TestMySQLNative(t *testing.T) {
	const want = "*6C8989366EAF75BB670AD8EA7A7FC1176A95CEF4"
	if got := mysqlNative("mypass"); got != want {
		t.Errorf("mysqlNative = %s", got)
	}
	if m := checkMySQL("mypass", "mysql_native_password", want); !m.ok || !m.known {
		t.Errorf("check = %+v", m)
	}
	if m := checkMySQL("other", "mysql_native_password", want); m.ok || !m.known {
		t.Errorf("check(wrong) = %+v", m)
	}
	if m := checkMySQL("x", "ed25519", "abc"); m.known {
		t.Errorf("an unknown plugin is known: %+v", m)
	}
}

// TestSHA256Crypt checks SHA-256-crypt (the digest of caching_sha2_password)
// against glibc's crypt(3) for "$5$saltstring" and "Hello world!" (the
// first example of Drepper's specification), computed with Debian 12's
// crypt.crypt.
func TestSHA256Crypt(t *testing.T) {
	if got := sha256CryptDigest([]byte("Hello world!"), []byte("saltstring"), 5000); got != "5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5" {
		t.Errorf("digest %s", got)
	}
	v := newCachingSHA2("s3cret")
	if len(v) != 70 {
		t.Fatalf("caching_sha2 verifier of %d bytes", len(v))
	}
	if m := checkMySQL("s3cret", "caching_sha2_password", v); !m.ok || !m.known {
		t.Errorf("check = %+v", m)
	}
	if m := checkMySQL("s3cret!", "caching_sha2_password", v); m.ok || !m.known {
		t.Errorf("check(wrong) = %+v", m)
	}
}

// TestMSSQLHash: hashcat's published example hash for mode 1731
// (MSSQL 2012, 2014), password "hashcat"
// (hashcat.net/wiki/doku.php?id=example_hashes).
func TestMSSQLHash(t *testing.T) {
	h, _ := hex.DecodeString("02000102030434ea1b17802fd95ea6316bd61d2c94622ca3812793e8fb1672487b5c904a45a31b2ab4a78890d563d2fcf5663e46fe797d71550494be50cf4915d3f4d55ec375")
	if m := checkMSSQL("hashcat", h); !m.ok || !m.known {
		t.Errorf("check = %+v", m)
	}
	if m := checkMSSQL("hashcat2", h); m.ok || !m.known {
		t.Errorf("check(wrong) = %+v", m)
	}
	if got := mssqlHash("hashcat", h[2:6]); hex.EncodeToString(got) != hex.EncodeToString(h) {
		t.Errorf("mssqlHash = %x", got)
	}
}

// TestOracleVerifiers: hashcat's published example hashes for mode 112
// (Oracle S: 11g) and mode 12300 (Oracle T: 12c+), password "hashcat"
// (hashcat.net/wiki/doku.php?id=example_hashes).
func TestOracleVerifiers(t *testing.T) {
	const s = "S:AC5F1E62D21FD0529428B84D42E8955B0496670338445748184477378130"
	const tv = "T:78281A9C0CF626BD05EFC4F41B515B61D6C4D95A250CD4A605CA0EF97168D670EBCB5673B6F5A2FB9CC4E0C0101E659C0C4E3B9B3BEDA846CD15508E88685A2334141655046766111066420254008225"
	for _, v := range []string{s, tv, s + ";" + tv} {
		if m := checkOracle("hashcat", v); !m.ok || !m.known {
			t.Errorf("check(%.10s) = %+v", v, m)
		}
		if m := checkOracle("Hashcat", v); m.ok || !m.known {
			t.Errorf("check(wrong, %.10s) = %+v", v, m)
		}
	}
	if m := checkOracle("x", "H:ABC"); m.known {
		t.Errorf("an H: only verifier is known: %+v", m)
	}
}
