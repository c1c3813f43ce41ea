package db

import (
	"strings"
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
