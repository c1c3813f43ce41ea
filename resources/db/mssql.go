package db

import (
	"encoding/hex"
	"strings"
)

// SQL Server statements. They are unit-tested against the syntax of
// Microsoft's documentation only: tend has not run them against a real
// server.

// msIdent quotes a SQL Server identifier: [name], ] doubled.
func msIdent(s string) string { return "[" + strings.ReplaceAll(s, "]", "]]") + "]" }

// msLoginSQL is the statements taking login name from (exists, disabled)
// to want: a password is sent as its hash (PASSWORD = 0x... HASHED,
// CREATE LOGIN / ALTER LOGIN), never in clear. hash nil leaves the
// password alone.
func msLoginSQL(name string, exists, present bool, hash []byte, disabled *bool) []string {
	login := msIdent(name)
	if !present {
		if !exists {
			return nil
		}
		return []string{"DROP LOGIN " + login}
	}
	var out []string
	pw := ""
	if hash != nil {
		pw = "PASSWORD = 0x" + strings.ToUpper(hex.EncodeToString(hash)) + " HASHED"
	}
	switch {
	case !exists:
		if pw == "" {
			// A SQL login needs a password: a random one nobody knows.
			pw = "PASSWORD = 0x" + strings.ToUpper(hex.EncodeToString(mssqlHash(hex.EncodeToString(randomBytes(24)), randomBytes(4)))) + " HASHED"
		}
		out = append(out, "CREATE LOGIN "+login+" WITH "+pw+", CHECK_POLICY = OFF")
	case pw != "":
		out = append(out, "ALTER LOGIN "+login+" WITH "+pw)
	}
	if disabled != nil {
		if *disabled {
			out = append(out, "ALTER LOGIN "+login+" DISABLE")
		} else if exists {
			out = append(out, "ALTER LOGIN "+login+" ENABLE")
		}
	}
	return out
}

// msHashQuery reads a login's stored hash (compared on the controller,
// as PWDCOMPARE would on the server) and whether it is disabled.
const msHashQuery = `SELECT CONVERT(varbinary(256), LOGINPROPERTY(name, 'PasswordHash')), is_disabled FROM sys.sql_logins WHERE name = @p1`

// msGrantSQL gives principal exactly want on a securable ("SCHEMA::dbo",
// "OBJECT::dbo.t", or "" for database-level permissions).
func msGrantSQL(securable, principal string, cur, want []string) []string {
	on := ""
	if securable != "" {
		class, name, _ := strings.Cut(securable, "::")
		parts := strings.Split(name, ".")
		for i, p := range parts {
			parts[i] = msIdent(p)
		}
		on = " ON " + strings.ToUpper(class) + "::" + strings.Join(parts, ".")
	}
	var out []string
	if r := minus(cur, want); len(r) > 0 {
		out = append(out, "REVOKE "+strings.Join(r, ", ")+on+" FROM "+msIdent(principal))
	}
	if a := minus(want, cur); len(a) > 0 {
		out = append(out, "GRANT "+strings.Join(a, ", ")+on+" TO "+msIdent(principal))
	}
	return out
}
