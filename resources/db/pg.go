package db

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/resources"
)

// pgReadUser reads a role: every attribute (a revert restores them all),
// its memberships, its verifier (marked) and how many objects it owns.
func pgReadUser(ctx context.Context, conn *sql.Conn, want *resources.State) (*resources.State, error) {
	name := want.Str("name")
	st := &resources.State{Attrs: map[string]cty.Value{"name": cty.StringVal(name)}}
	var login, super, createdb, createrole, repl bool
	var limit int64
	var until, verifier sql.NullString
	var owned int64
	err := conn.QueryRowContext(ctx, `SELECT a.rolcanlogin, a.rolsuper, a.rolcreatedb, a.rolcreaterole, a.rolreplication,
	a.rolconnlimit, a.rolvaliduntil::text, a.rolpassword,
	(SELECT count(*) FROM pg_shdepend d WHERE d.refclassid = 'pg_authid'::regclass AND d.refobjid = a.oid AND d.deptype = 'o')
FROM pg_authid a WHERE a.rolname = $1`, name).Scan(&login, &super, &createdb, &createrole, &repl, &limit, &until, &verifier, &owned)
	if err == sql.ErrNoRows {
		return st, nil
	}
	if err != nil {
		return nil, sqlErr(err)
	}
	st.Present = true
	a := st.Attrs
	a["login"], a["superuser"], a["createdb"] = cty.BoolVal(login), cty.BoolVal(super), cty.BoolVal(createdb)
	a["createrole"], a["replication"] = cty.BoolVal(createrole), cty.BoolVal(repl)
	a["connection_limit"] = cty.NumberIntVal(limit)
	a["valid_until"] = cty.StringVal(until.String)
	a["owned_count"] = cty.NumberIntVal(owned)
	if verifier.Valid {
		a["verifier"] = cty.StringVal(verifier.String).Mark(resources.Sensitive)
	}
	if w := want.Str("valid_until"); w != "" && until.Valid {
		// The server compares: any form of the same time is no change.
		var same bool
		if err := conn.QueryRowContext(ctx, `SELECT $1::timestamptz = $2::timestamptz`, until.String, w).Scan(&same); err == nil && same {
			a["valid_until"] = cty.StringVal(w)
		}
	}
	rows, err := conn.QueryContext(ctx, `SELECT r.rolname FROM pg_auth_members m
JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = $1 ORDER BY 1`, name)
	if err != nil {
		return nil, sqlErr(err)
	}
	defer rows.Close()
	var member []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, err
		}
		member = append(member, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	a["member_of"] = resources.StringList(member)
	return st, nil
}

// differs reports whether want sets attribute k to something cur does
// not have.
func differs(cur, want *resources.State, k string) bool {
	w := want.Attr(k)
	if w == cty.NilVal || w.IsNull() {
		return false
	}
	c := cur.Attr(k)
	if c == cty.NilVal || c.IsNull() {
		return true
	}
	w, _ = w.UnmarkDeep()
	c, _ = c.UnmarkDeep()
	return !c.Equals(w).True()
}

// pgUserSQL is the statements taking role cur to want. verifier, when
// set, is stored verbatim ("NULL": no password; a revert); otherwise a
// password want sets and cur does not have is sent as a new
// SCRAM-SHA-256 verifier.
func pgUserSQL(t target, cur, want *resources.State, verifier string) ([]string, error) {
	name := want.Str("name")
	role := pgIdent(name)
	if !want.Present {
		if !cur.Present {
			return nil, nil
		}
		var out []string
		n, _ := intAttr(cur, "owned_count")
		switch want.Str("owned_objects") {
		case "reassign":
			out = append(out, "REASSIGN OWNED BY "+role+" TO "+pgIdent(t.user), "DROP OWNED BY "+role)
		case "drop":
			out = append(out, "DROP OWNED BY "+role)
		default:
			if n > 0 {
				return nil, fmt.Errorf("role %s owns %d objects: set owned_objects to \"reassign\" or \"drop\"", name, n)
			}
		}
		return append(out, "DROP ROLE "+role), nil
	}
	var opts []string
	flag := func(k, on, off string) {
		if differs(cur, want, k) || (!cur.Present && has(want, k)) {
			if boolAttr(want, k) {
				opts = append(opts, on)
			} else {
				opts = append(opts, off)
			}
		}
	}
	if !cur.Present && !has(want, "login") {
		opts = append(opts, "LOGIN")
	}
	flag("login", "LOGIN", "NOLOGIN")
	flag("superuser", "SUPERUSER", "NOSUPERUSER")
	flag("createdb", "CREATEDB", "NOCREATEDB")
	flag("createrole", "CREATEROLE", "NOCREATEROLE")
	flag("replication", "REPLICATION", "NOREPLICATION")
	if differs(cur, want, "connection_limit") {
		n, _ := intAttr(want, "connection_limit")
		opts = append(opts, fmt.Sprintf("CONNECTION LIMIT %d", n))
	}
	if differs(cur, want, "valid_until") {
		if v := want.Str("valid_until"); v == "" {
			opts = append(opts, "VALID UNTIL 'infinity'")
		} else {
			opts = append(opts, "VALID UNTIL "+pgLit(v))
		}
	}
	switch {
	case verifier == "NULL":
		opts = append(opts, "PASSWORD NULL")
	case verifier != "":
		opts = append(opts, "PASSWORD "+pgLit(verifier))
	case has(want, "password") && (!cur.Present || differs(cur, want, "password")):
		opts = append(opts, "PASSWORD "+pgLit(newPGSCRAM(want.Str("password"))))
	}
	var out []string
	switch {
	case !cur.Present:
		s := "CREATE ROLE " + role
		if len(opts) > 0 {
			s += " WITH " + strings.Join(opts, " ")
		}
		out = append(out, s)
	case len(opts) > 0:
		out = append(out, "ALTER ROLE "+role+" WITH "+strings.Join(opts, " "))
	}
	if has(want, "member_of") {
		have := map[string]bool{}
		for _, r := range resources.Strings(cur.Attr("member_of")) {
			have[r] = true
		}
		wantSet := map[string]bool{}
		for _, r := range resources.Strings(want.Attr("member_of")) {
			wantSet[r] = true
			if !have[r] {
				out = append(out, "GRANT "+pgIdent(r)+" TO "+role)
			}
		}
		for _, r := range resources.Strings(cur.Attr("member_of")) {
			if !wantSet[r] {
				out = append(out, "REVOKE "+pgIdent(r)+" FROM "+role)
			}
		}
	}
	return out, nil
}

// revertUser takes the account back to before: every attribute it had,
// its memberships and its verifier verbatim.
func revertUser(ctx context.Context, conn *sql.Conn, t target, before, after *resources.State, undo resources.Undo) error {
	probe := &resources.State{Present: true, Attrs: map[string]cty.Value{"name": after.Attrs["name"]}}
	if h := after.Attr("host"); h != cty.NilVal {
		probe.Attrs["host"] = h
	}
	var cur *resources.State
	var err error
	switch t.engine {
	case Postgres:
		cur, err = pgReadUser(ctx, conn, probe)
	case MySQL, MariaDB:
		cur, err = myReadUser(ctx, conn, t.engine, probe)
	case MSSQL:
		cur, err = msReadUser(ctx, conn, probe)
	case Oracle:
		cur, err = oraReadUser(ctx, conn, probe)
	}
	if err != nil {
		return err
	}
	want := &resources.State{Present: before.Present, Attrs: map[string]cty.Value{}}
	for k, v := range before.Attrs {
		if k != "password" && k != "verifier" && k != "owned_objects" && k != "owned_count" {
			want.Attrs[k] = v
		}
	}
	want.Attrs["name"] = after.Attrs["name"]
	if !before.Present {
		want.Attrs["owned_objects"] = cty.StringVal("error")
	}
	var stmts []string
	switch t.engine {
	case Postgres:
		v := ""
		if before.Present {
			v = undo["verifier"]
			if undo["verifier_null"] == "1" || v == "" {
				v = "NULL"
			}
		}
		stmts, err = pgUserSQL(t, cur, want, v)
	case MSSQL, Oracle:
		v := ""
		if before.Present {
			v = undo["verifier"]
		}
		if t.engine == MSSQL {
			stmts, err = msUserSQL(cur, want, v)
		} else {
			stmts = oraUserSQLFor(cur, want, v)
		}
	default:
		v, plugin := "", ""
		if before.Present {
			v, plugin = undo["verifier"], undo["auth_plugin"]
			if v == "" {
				v = "NONE"
			}
		}
		stmts, err = myUserSQL(t.engine, cur, want, plugin, v)
	}
	if err != nil {
		return err
	}
	_, err = execAll(ctx, conn, t.engine, stmts)
	return err
}
