package db

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/resources"
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

// msReadUser reads a SQL login: its hash (marked) and whether it is
// disabled. Not exercised against a real server.
func msReadUser(ctx context.Context, conn *sql.Conn, want *resources.State) (*resources.State, error) {
	name := want.Str("name")
	st := &resources.State{Attrs: map[string]cty.Value{"name": cty.StringVal(name)}}
	var hash []byte
	var disabled bool
	err := conn.QueryRowContext(ctx, msHashQuery, name).Scan(&hash, &disabled)
	if err == sql.ErrNoRows {
		return st, nil
	}
	if err != nil {
		return nil, sqlErr(err)
	}
	st.Present = true
	st.Attrs["locked"] = cty.BoolVal(disabled)
	st.Attrs["verifier"] = cty.StringVal(hex.EncodeToString(hash)).Mark(resources.Sensitive)
	return st, nil
}

// msUserSQL is msLoginSQL for states; verifier, when set, is a hex hash
// stored verbatim (a revert).
func msUserSQL(cur, want *resources.State, verifier string) ([]string, error) {
	var hash []byte
	switch {
	case verifier != "":
		h, err := hex.DecodeString(verifier)
		if err != nil {
			return nil, fmt.Errorf("the previous password hash in the journal is not hex")
		}
		hash = h
	case has(want, "password") && (!cur.Present || differs(cur, want, "password")):
		hash = mssqlHash(want.Str("password"), randomBytes(4))
	}
	var locked *bool
	if has(want, "locked") && (!cur.Present || differs(cur, want, "locked")) {
		b := boolAttr(want, "locked")
		locked = &b
	}
	return msLoginSQL(want.Str("name"), cur.Present, want.Present, hash, locked), nil
}
