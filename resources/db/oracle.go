package db

import (
	"context"
	"database/sql"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/resources"
)

// Oracle statements. They are unit-tested against the syntax of Oracle's
// documentation only: tend has not run them against a real server.

// oraIdent quotes an Oracle identifier. Unquoted names are upper case in
// the dictionary, so a name is upper-cased unless it has lower-case
// letters on purpose (then the caller quotes it as written).
func oraIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// newOracleVerifier is an S: (11g) and T: (12c) verifier pair with fresh
// salts, as SPARE4 holds it.
func newOracleVerifier(password string) string {
	return oracleS(password, randomBytes(10)) + ";" + oracleT(password, randomBytes(16))
}

// oraUserSQL is the statements taking user name to want. A password is
// sent as its verifiers (IDENTIFIED BY VALUES), never in clear; an empty
// verifier leaves it alone. Dropping a user drops its objects (CASCADE)
// only when cascade is set.
func oraUserSQL(name string, exists, present bool, verifier string, locked *bool, cascade bool) []string {
	u := oraIdent(name)
	if !present {
		if !exists {
			return nil
		}
		if cascade {
			return []string{"DROP USER " + u + " CASCADE"}
		}
		return []string{"DROP USER " + u}
	}
	var clauses []string
	if verifier != "" {
		clauses = append(clauses, "IDENTIFIED BY VALUES '"+strings.ReplaceAll(verifier, "'", "''")+"'")
	} else if !exists {
		clauses = append(clauses, "NO AUTHENTICATION")
	}
	if locked != nil {
		if *locked {
			clauses = append(clauses, "ACCOUNT LOCK")
		} else {
			clauses = append(clauses, "ACCOUNT UNLOCK")
		}
	}
	switch {
	case !exists:
		return []string{"CREATE USER " + u + " " + strings.Join(clauses, " ")}
	case len(clauses) > 0:
		return []string{"ALTER USER " + u + " " + strings.Join(clauses, " ")}
	}
	return nil
}

// oraSpare4Query reads a user's verifiers (SYS.USER$ is readable by
// SYSDBA only; without it the password is reported unknown, never tried
// by logging in, which could lock the account).
const oraSpare4Query = `SELECT spare4, astatus FROM sys.user$ WHERE name = :1`

// oraGrantSQL gives grantee exactly want on object ("SCHEMA.TABLE"), or
// system privileges when object is "".
func oraGrantSQL(object, grantee string, cur, want []string) []string {
	on := ""
	if object != "" {
		parts := strings.Split(object, ".")
		for i, p := range parts {
			parts[i] = oraIdent(p)
		}
		on = " ON " + strings.Join(parts, ".")
	}
	var out []string
	if r := minus(cur, want); len(r) > 0 {
		out = append(out, "REVOKE "+strings.Join(r, ", ")+on+" FROM "+oraIdent(grantee))
	}
	if a := minus(want, cur); len(a) > 0 {
		out = append(out, "GRANT "+strings.Join(a, ", ")+on+" TO "+oraIdent(grantee))
	}
	return out
}

// oraReadUser reads a user: its verifiers from SYS.USER$ when the admin
// may read it (else they are unknown) and whether it is locked. Not
// exercised against a real server.
func oraReadUser(ctx context.Context, conn *sql.Conn, want *resources.State) (*resources.State, error) {
	name := want.Str("name")
	st := &resources.State{Attrs: map[string]cty.Value{"name": cty.StringVal(name)}}
	var status string
	err := conn.QueryRowContext(ctx, `SELECT account_status FROM dba_users WHERE username = :1`, name).Scan(&status)
	if err == sql.ErrNoRows {
		return st, nil
	}
	if err != nil {
		return nil, sqlErr(err)
	}
	st.Present = true
	st.Attrs["locked"] = cty.BoolVal(strings.Contains(status, "LOCKED"))
	var spare4 sql.NullString
	var astatus int64
	if err := conn.QueryRowContext(ctx, oraSpare4Query, name).Scan(&spare4, &astatus); err == nil && spare4.Valid {
		st.Attrs["verifier"] = cty.StringVal(spare4.String).Mark(resources.Sensitive)
	}
	return st, nil
}

// oraUserSQLFor is oraUserSQL for states; verifier, when set, is stored
// verbatim (a revert).
func oraUserSQLFor(cur, want *resources.State, verifier string) []string {
	if verifier == "" && has(want, "password") && (!cur.Present || differs(cur, want, "password")) {
		verifier = newOracleVerifier(want.Str("password"))
	}
	var locked *bool
	if has(want, "locked") && (!cur.Present || differs(cur, want, "locked")) {
		b := boolAttr(want, "locked")
		locked = &b
	}
	return oraUserSQL(want.Str("name"), cur.Present, want.Present, verifier, locked, false)
}
