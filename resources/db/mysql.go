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

var mySSL = map[string]string{"": "NONE", "ANY": "SSL", "X509": "X509", "SPECIFIED": "SPECIFIED"}

// myReadUser reads 'name'@'host' from mysql.user (a view over
// mysql.global_priv on MariaDB).
func myReadUser(ctx context.Context, conn *sql.Conn, engine string, want *resources.State) (*resources.State, error) {
	name, host := want.Str("name"), want.Str("host")
	st := &resources.State{Attrs: map[string]cty.Value{"name": cty.StringVal(name), "host": cty.StringVal(host)}}
	var plugin, ssl string
	var auth []byte
	var q, u, c, uc int64
	err := conn.QueryRowContext(ctx, `SELECT plugin, authentication_string, ssl_type, max_questions, max_updates, max_connections, max_user_connections
FROM mysql.user WHERE User = ? AND Host = ?`, name, host).Scan(&plugin, &auth, &ssl, &q, &u, &c, &uc)
	if err == sql.ErrNoRows {
		return st, nil
	}
	if err != nil {
		return nil, sqlErr(err)
	}
	var locked string
	if engine == MariaDB {
		err = conn.QueryRowContext(ctx, `SELECT COALESCE(JSON_VALUE(Priv, '$.account_locked'), 'false') FROM mysql.global_priv WHERE User = ? AND Host = ?`, name, host).Scan(&locked)
		// JSON_VALUE gives a JSON true as "1" (MariaDB 10.11).
		locked = map[string]string{"true": "Y", "1": "Y"}[locked]
	} else {
		err = conn.QueryRowContext(ctx, `SELECT account_locked FROM mysql.user WHERE User = ? AND Host = ?`, name, host).Scan(&locked)
	}
	if err != nil {
		return nil, sqlErr(err)
	}
	st.Present = true
	a := st.Attrs
	a["auth_plugin"] = cty.StringVal(plugin)
	a["tls_require"] = cty.StringVal(mySSL[strings.ToUpper(ssl)])
	a["max_queries_per_hour"], a["max_updates_per_hour"] = cty.NumberIntVal(q), cty.NumberIntVal(u)
	a["max_connections_per_hour"], a["max_user_connections"] = cty.NumberIntVal(c), cty.NumberIntVal(uc)
	a["locked"] = cty.BoolVal(locked == "Y")
	a["verifier"] = cty.StringVal(string(auth)).Mark(resources.Sensitive)
	return st, nil
}

// myIdentified is the IDENTIFIED clause storing verifier for plugin.
func myIdentified(engine, plugin, verifier string) string {
	if engine == MariaDB {
		if verifier == "" {
			return "IDENTIFIED VIA " + plugin
		}
		return "IDENTIFIED VIA " + plugin + " USING " + myLit(verifier)
	}
	if verifier == "" {
		return "IDENTIFIED WITH " + plugin
	}
	// A caching_sha2_password verifier holds arbitrary bytes.
	return "IDENTIFIED WITH " + plugin + " AS 0x" + hex.EncodeToString([]byte(verifier))
}

// myUserSQL is the statement taking the account cur to want: one CREATE,
// ALTER or DROP USER. verifier and plugin, when set, are stored verbatim
// ("NONE": no password; a revert); otherwise a password want sets and
// cur does not have is sent as a new verifier of the plugin.
func myUserSQL(engine string, cur, want *resources.State, plugin, verifier string) ([]string, error) {
	acct := myAccount(want.Str("name"), want.Str("host"))
	if !want.Present {
		if !cur.Present {
			return nil, nil
		}
		return []string{"DROP USER " + acct}, nil
	}
	var clauses []string
	switch {
	case verifier == "NONE":
		clauses = append(clauses, myIdentified(engine, plugin, ""))
	case verifier != "":
		clauses = append(clauses, myIdentified(engine, plugin, verifier))
	case has(want, "password") && (!cur.Present || differs(cur, want, "password") || differs(cur, want, "auth_plugin")):
		p := myPlugin(engine, want)
		v := mysqlNative(want.Str("password"))
		if p == "caching_sha2_password" {
			v = newCachingSHA2(want.Str("password"))
		}
		clauses = append(clauses, myIdentified(engine, p, v))
	case differs(cur, want, "auth_plugin") || (!cur.Present && has(want, "auth_plugin")):
		clauses = append(clauses, myIdentified(engine, want.Str("auth_plugin"), ""))
	}
	if differs(cur, want, "tls_require") || (!cur.Present && has(want, "tls_require")) {
		v := want.Str("tls_require")
		if v == "SPECIFIED" {
			return nil, fmt.Errorf("cannot restore a TLS requirement on a specific certificate (REQUIRE SUBJECT/ISSUER/CIPHER)")
		}
		clauses = append(clauses, "REQUIRE "+v)
	}
	var limits []string
	for _, l := range [][2]string{{"max_queries_per_hour", "MAX_QUERIES_PER_HOUR"}, {"max_updates_per_hour", "MAX_UPDATES_PER_HOUR"},
		{"max_connections_per_hour", "MAX_CONNECTIONS_PER_HOUR"}, {"max_user_connections", "MAX_USER_CONNECTIONS"}} {
		if differs(cur, want, l[0]) || (!cur.Present && has(want, l[0])) {
			n, _ := intAttr(want, l[0])
			limits = append(limits, fmt.Sprintf("%s %d", l[1], n))
		}
	}
	if len(limits) > 0 {
		clauses = append(clauses, "WITH "+strings.Join(limits, " "))
	}
	if differs(cur, want, "locked") || (!cur.Present && has(want, "locked")) {
		if boolAttr(want, "locked") {
			clauses = append(clauses, "ACCOUNT LOCK")
		} else {
			clauses = append(clauses, "ACCOUNT UNLOCK")
		}
	}
	if !cur.Present {
		return []string{strings.TrimSpace("CREATE USER " + acct + " " + strings.Join(clauses, " "))}, nil
	}
	if len(clauses) == 0 {
		return nil, nil
	}
	return []string{"ALTER USER " + acct + " " + strings.Join(clauses, " ")}, nil
}
