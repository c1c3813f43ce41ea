package db

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/resources"
)

// Both types keep how to reach the server in their states (Apply and
// Revert get states, not configuration): these attributes are copied
// from the desired state into the current one, so they never differ.
var targetAttrs = []string{"engine", "address", "admin_user", "admin_database", "become_user"}

func putTarget(a map[string]cty.Value, t target) {
	a["engine"] = cty.StringVal(t.engine)
	a["address"] = cty.StringVal(t.address)
	a["admin_user"] = cty.StringVal(t.user)
	a["admin_database"] = cty.StringVal(t.database)
	a["become_user"] = cty.StringVal(t.become)
	a["admin_password_set"] = cty.BoolVal(t.password != "")
	if t.password != "" {
		// The configuration's value, marks kept: the journal records the
		// secret(...) reference it came from (never the password), which
		// `tend rollback` resolves again.
		v := t.passwordVal
		if v == cty.NilVal {
			v = cty.StringVal(t.password)
		}
		a["admin_password"] = v.Mark(resources.Sensitive)
	}
}

func copyTarget(dst, src map[string]cty.Value) {
	for _, k := range append(targetAttrs, "admin_password", "admin_password_set") {
		if v, ok := src[k]; ok {
			dst[k] = v
		}
	}
}

// stateTarget is the target a state names. A state read back from the
// run journal has no admin_password (secrets are never saved there):
// `tend rollback` puts it back from the secret(...) reference the journal
// keeps (resources.State.ResolveSecrets) before reverting.
func stateTarget(s *resources.State) target {
	return target{engine: s.Str("engine"), address: s.Str("address"), user: s.Str("admin_user"),
		database: s.Str("admin_database"), become: s.Str("become_user"), password: s.Str("admin_password")}
}

// lostPassword reports whether s needs an admin password it no longer
// has (read back from the journal, and not from a secret(...) reference
// rollback could resolve).
func lostPassword(s *resources.State) bool {
	_, ok := s.Attrs["admin_password"]
	return !ok && boolAttr(s, "admin_password_set")
}

func cfgList(cfg cty.Value, name string) ([]string, bool) {
	if !cfg.Type().HasAttribute(name) {
		return nil, false
	}
	v := cfg.GetAttr(name)
	if v.IsNull() || !v.IsKnown() {
		return nil, false
	}
	return resources.Strings(v), true
}

func cfgBool(cfg cty.Value, name string) (bool, bool) {
	if !cfg.Type().HasAttribute(name) {
		return false, false
	}
	v := cfg.GetAttr(name)
	if v.IsNull() || !v.IsKnown() {
		return false, false
	}
	v, _ = v.Unmark()
	return v.True(), true
}

func cfgInt(cfg cty.Value, name string) (int64, bool, error) {
	if !cfg.Type().HasAttribute(name) {
		return 0, false, nil
	}
	v := cfg.GetAttr(name)
	if v.IsNull() || !v.IsKnown() {
		return 0, false, nil
	}
	v, _ = v.Unmark()
	f := v.AsBigFloat()
	i, acc := f.Int64()
	if !f.IsInt() || acc != 0 || i < -1 || i > 1<<31-1 {
		return 0, false, &resources.AttrError{Attr: name, Msg: "must be a whole number from -1 to 2147483647"}
	}
	return i, true, nil
}

func sortedUnique(list []string) []string {
	m := map[string]bool{}
	var out []string
	for _, s := range list {
		if !m[s] {
			m[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

func boolAttr(s *resources.State, name string) bool {
	v, _ := s.Bool(name)
	return v
}

func intAttr(s *resources.State, name string) (int64, bool) {
	v := s.Attr(name)
	if v == cty.NilVal || v.IsNull() || v.Type() != cty.Number {
		return 0, false
	}
	v, _ = v.Unmark()
	i, _ := v.AsBigFloat().Int64()
	return i, true
}

func has(s *resources.State, name string) bool {
	v := s.Attr(name)
	return v != cty.NilVal && !v.IsNull()
}

// pgIdent quotes a PostgreSQL identifier.
func pgIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// pgLit quotes a PostgreSQL string literal (standard_conforming_strings,
// on by default since 9.1, is assumed: the E'...' form is used when the
// string has a backslash).
func pgLit(s string) string {
	q := "'" + strings.ReplaceAll(s, "'", "''") + "'"
	if strings.Contains(s, `\`) {
		return "E" + strings.ReplaceAll(q, `\`, `\\`)
	}
	return q
}

// myLit quotes a MySQL/MariaDB string literal.
func myLit(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\x00", `\0`, "\n", `\n`, "\r", `\r`, "\x1a", `\Z`)
	return "'" + r.Replace(s) + "'"
}

// myIdent quotes a MySQL/MariaDB identifier.
func myIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// myAccount is 'user'@'host'.
func myAccount(user, host string) string { return myLit(user) + "@" + myLit(host) }

// execAll runs statements in order in one transaction (PostgreSQL), or
// one by one (the other engines, whose account statements commit
// implicitly). It returns how many statements succeeded.
func execAll(ctx context.Context, conn *sql.Conn, engine string, stmts []string) (int, error) {
	if len(stmts) == 0 {
		return 0, nil
	}
	if engine != Postgres {
		for i, s := range stmts {
			if _, err := conn.ExecContext(ctx, s); err != nil {
				return i, sqlErr(err)
			}
		}
		return len(stmts), nil
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			_ = tx.Rollback()
			return 0, sqlErr(err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, sqlErr(err)
	}
	return len(stmts), nil
}

// sqlErr is a server's error without the statement (which may hold a
// verifier).
func sqlErr(err error) error {
	return fmt.Errorf("%s", strings.TrimSpace(err.Error()))
}
