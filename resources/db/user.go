package db

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/resources"
)

// User is a database account: a PostgreSQL role, a MySQL/MariaDB user
// ('name'@'host'), an MSSQL login or an Oracle user.
type User struct{}

var (
	_ resources.Type          = User{}
	_ resources.DirectReader  = User{}
	_ resources.Resolver      = User{}
	_ resources.Irreversibler = User{}
)

// Name implements resources.Type.
func (User) Name() string { return "db_user" }

var pgUserAttrs = []string{"login", "superuser", "createdb", "createrole", "replication", "connection_limit", "valid_until", "member_of"}
var myUserAttrs = []string{"host", "auth_plugin", "tls_require", "max_queries_per_hour", "max_updates_per_hour", "max_connections_per_hour", "max_user_connections", "locked"}

// Schema implements resources.Type.
func (User) Schema() *resources.Schema {
	attrs := append([]resources.Attribute{}, connAttrs...)
	attrs = append(attrs,
		resources.Attribute{Name: "name", Type: cty.String, Doc: "The account name. Defaults to the block's label."},
		resources.Attribute{Name: "password", Type: cty.String, Sensitive: true, Doc: "The password, e.g. secret(\"env:APP_DB_PW\"). Compared on the controller with the server's stored verifier (PostgreSQL SCRAM-SHA-256 recomputed with its salt and iteration count, or md5; MySQL mysql_native_password or caching_sha2_password): a correct password is never a change and nothing is tried against the server. For SCRAM-SHA-256 the password is SASLprepped as PostgreSQL does (NFKC, non-ASCII spaces to spaces), so another spelling of it set by hand is no change; md5 and MySQL verifiers are of the bytes (configuration strings are Unicode NFC). Set by sending a verifier computed on the controller, so the plaintext never reaches the server or its logs. A verifier tend cannot check (another plugin, or an Oracle SYS.USER$ the admin may not read) is not counted as a change: the plan says the password is unknown for that resource."},
		resources.Attribute{Name: "update_password", Type: cty.String, Doc: "\"always\" (default): a different password is a change; \"on_create\": the password is set only when the account is created."},
		resources.Attribute{Name: "state", Type: cty.String, Doc: "\"present\" (default) or \"absent\"."},
		resources.Attribute{Name: "owned_objects", Type: cty.String, Doc: "PostgreSQL, state = \"absent\": what to do with objects the role owns. \"error\" (default): refuse to drop a role that owns anything; \"reassign\": REASSIGN OWNED to the admin user, then DROP OWNED (privileges); \"drop\": DROP OWNED (the objects are dropped: the plan says the change cannot be rolled back). Only in the admin database."},
		resources.Attribute{Name: "login", Type: cty.Bool, Doc: "PostgreSQL: LOGIN (true) or NOLOGIN. Default at creation: true."},
		resources.Attribute{Name: "superuser", Type: cty.Bool, Doc: "PostgreSQL: SUPERUSER."},
		resources.Attribute{Name: "createdb", Type: cty.Bool, Doc: "PostgreSQL: CREATEDB."},
		resources.Attribute{Name: "createrole", Type: cty.Bool, Doc: "PostgreSQL: CREATEROLE."},
		resources.Attribute{Name: "replication", Type: cty.Bool, Doc: "PostgreSQL: REPLICATION."},
		resources.Attribute{Name: "connection_limit", Type: cty.Number, Doc: "PostgreSQL: CONNECTION LIMIT (-1: none)."},
		resources.Attribute{Name: "valid_until", Type: cty.String, Doc: "PostgreSQL: VALID UNTIL, a timestamp (\"2030-01-01 00:00:00+00\") or \"infinity\"; compared by the server, so any form it accepts works."},
		resources.Attribute{Name: "member_of", Type: cty.List(cty.String), Doc: "PostgreSQL: the roles this role is a member of, exactly (memberships not listed are revoked)."},
		resources.Attribute{Name: "host", Type: cty.String, Doc: "MySQL/MariaDB: the account's host part. Default \"%\"."},
		resources.Attribute{Name: "auth_plugin", Type: cty.String, Doc: "MySQL/MariaDB: the authentication plugin, mysql_native_password (MariaDB's default) or caching_sha2_password (MySQL's). tend sets passwords of these two only (by verifier)."},
		resources.Attribute{Name: "tls_require", Type: cty.String, Doc: "MySQL/MariaDB: REQUIRE NONE, SSL or X509."},
		resources.Attribute{Name: "max_queries_per_hour", Type: cty.Number, Doc: "MySQL/MariaDB resource limit (0: none)."},
		resources.Attribute{Name: "max_updates_per_hour", Type: cty.Number, Doc: "MySQL/MariaDB resource limit (0: none)."},
		resources.Attribute{Name: "max_connections_per_hour", Type: cty.Number, Doc: "MySQL/MariaDB resource limit (0: none)."},
		resources.Attribute{Name: "max_user_connections", Type: cty.Number, Doc: "MySQL/MariaDB resource limit (0: none)."},
		resources.Attribute{Name: "locked", Type: cty.Bool, Doc: "MySQL/MariaDB: ACCOUNT LOCK. Oracle: ACCOUNT LOCK. MSSQL: the login is disabled."},
	)
	return &resources.Schema{
		Doc: "A database account on a server the host runs: a PostgreSQL role, a MySQL/MariaDB user, an MSSQL login or an Oracle user. " +
			"tend connects through the host's SSH connection with the engine's pure-Go driver, as an admin that can read password verifiers (PostgreSQL: a superuser; MySQL/MariaDB: root or SELECT on mysql.*). " +
			"Only the attributes set are managed. A rollback restores every attribute the run changed, the memberships and the previous password verifier verbatim (kept in the run journal's undo data encrypted with the run's key, never displayed); a created account is dropped, a dropped one recreated. " +
			"MSSQL logins and Oracle users go through the same steps with their drivers, but only their statements and verifiers are unit-tested: they have not been run against real servers.",
		Attributes: attrs,
	}
}

func userName(cfg cty.Value) (string, error) {
	n, ok := cfgStr(cfg, "name")
	if !ok || n == "" {
		return "", &resources.AttrError{Attr: "name", Msg: "name is required"}
	}
	if strings.ContainsRune(n, 0) || len(n) > 63 {
		return "", &resources.AttrError{Attr: "name", Msg: "must be 1 to 63 characters, without NUL"}
	}
	return n, nil
}

func userHost(cfg cty.Value) string {
	if h, ok := cfgStr(cfg, "host"); ok {
		return h
	}
	return "%"
}

// Key implements resources.Type.
func (User) Key(cfg cty.Value) (string, error) {
	t, err := cfgTarget(cfg)
	if err != nil {
		return "", err
	}
	n, err := userName(cfg)
	if err != nil {
		return "", err
	}
	if t.engine == MySQL || t.engine == MariaDB {
		n = myAccount(n, userHost(cfg))
	}
	return fmt.Sprintf("db_user %s %s %s", t.engine, t.address, n), nil
}

// Desired implements resources.Type.
func (User) Desired(cfg cty.Value, env resources.Env) (*resources.State, error) {
	t, err := cfgTarget(cfg)
	if err != nil {
		return nil, err
	}
	name, err := userName(cfg)
	if err != nil {
		return nil, err
	}
	st := &resources.State{Present: true, Attrs: map[string]cty.Value{"name": cty.StringVal(name)}}
	putTarget(st.Attrs, t)
	switch s, _ := cfgStr(cfg, "state"); s {
	case "", "present":
	case "absent":
		st.Present = false
	default:
		return nil, &resources.AttrError{Attr: "state", Msg: fmt.Sprintf("must be \"present\" or \"absent\", got %q", s)}
	}
	switch s, _ := cfgStr(cfg, "update_password"); s {
	case "", "always", "on_create":
	default:
		return nil, &resources.AttrError{Attr: "update_password", Msg: fmt.Sprintf("must be \"always\" or \"on_create\", got %q", s)}
	}
	oo, ok := cfgStr(cfg, "owned_objects")
	switch oo {
	case "", "error", "reassign", "drop":
	default:
		return nil, &resources.AttrError{Attr: "owned_objects", Msg: fmt.Sprintf("must be \"error\", \"reassign\" or \"drop\", got %q", oo)}
	}
	if ok {
		if t.engine != Postgres {
			return nil, &resources.AttrError{Attr: "owned_objects", Msg: "owned_objects is for PostgreSQL only"}
		}
		st.Attrs["owned_objects"] = cty.StringVal(oo)
	}
	allowed := map[string]bool{}
	switch t.engine {
	case Postgres:
		for _, a := range pgUserAttrs {
			allowed[a] = true
		}
	case MySQL, MariaDB:
		for _, a := range myUserAttrs {
			allowed[a] = true
		}
	default:
		allowed["locked"] = true
	}
	for _, a := range append(append([]string{}, pgUserAttrs...), myUserAttrs...) {
		if !cfg.GetAttr(a).IsNull() && !allowed[a] {
			return nil, &resources.AttrError{Attr: a, Msg: fmt.Sprintf("%s is not an attribute of %s accounts", a, t.engine)}
		}
	}
	if t.engine == MySQL || t.engine == MariaDB {
		st.Attrs["host"] = cty.StringVal(userHost(cfg))
	}
	if !st.Present {
		return st, nil
	}
	for _, a := range []string{"login", "superuser", "createdb", "createrole", "replication", "locked"} {
		if b, ok := cfgBool(cfg, a); ok {
			st.Attrs[a] = cty.BoolVal(b)
		}
	}
	for _, a := range []string{"connection_limit", "max_queries_per_hour", "max_updates_per_hour", "max_connections_per_hour", "max_user_connections"} {
		i, ok, err := cfgInt(cfg, a)
		if err != nil {
			return nil, err
		}
		if ok {
			if i < 0 && a != "connection_limit" {
				return nil, &resources.AttrError{Attr: a, Msg: "must not be negative"}
			}
			st.Attrs[a] = cty.NumberIntVal(i)
		}
	}
	if v, ok := cfgStr(cfg, "valid_until"); ok {
		st.Attrs["valid_until"] = cty.StringVal(v)
	}
	if l, ok := cfgList(cfg, "member_of"); ok {
		st.Attrs["member_of"] = resources.StringList(sortedUnique(l))
	}
	if v, ok := cfgStr(cfg, "tls_require"); ok {
		v = strings.ToUpper(v)
		if v != "NONE" && v != "SSL" && v != "X509" {
			return nil, &resources.AttrError{Attr: "tls_require", Msg: fmt.Sprintf("must be \"NONE\", \"SSL\" or \"X509\", got %q", v)}
		}
		st.Attrs["tls_require"] = cty.StringVal(v)
	}
	if v, ok := cfgStr(cfg, "auth_plugin"); ok {
		st.Attrs["auth_plugin"] = cty.StringVal(v)
	}
	if pw, ok := cfgStr(cfg, "password"); ok {
		if t.engine == MySQL || t.engine == MariaDB {
			if p := myPlugin(t.engine, st); p != "mysql_native_password" && p != "caching_sha2_password" {
				return nil, &resources.AttrError{Attr: "password", Msg: fmt.Sprintf("tend sets passwords of mysql_native_password and caching_sha2_password accounts only, not %s", p)}
			}
			if t.engine == MariaDB && myPlugin(t.engine, st) == "caching_sha2_password" {
				return nil, &resources.AttrError{Attr: "auth_plugin", Msg: "MariaDB has no caching_sha2_password"}
			}
		}
		st.Attrs["password"] = cty.StringVal(pw).Mark(resources.Sensitive)
	}
	return st, nil
}

// myPlugin is the plugin a desired MySQL/MariaDB account uses.
func myPlugin(engine string, st *resources.State) string {
	if p := st.Str("auth_plugin"); p != "" {
		return p
	}
	if engine == MySQL {
		return "caching_sha2_password"
	}
	return "mysql_native_password"
}

// Probe implements resources.Type: accounts are read over a database
// connection (ReadCurrent), not by the host's probe script.
func (User) Probe(cfg cty.Value, want *resources.State) string { return "" }

// Read implements resources.Type; see ReadCurrent.
func (User) Read(cfg cty.Value, out resources.ProbeOutput) (*resources.State, error) {
	return nil, errors.New("db_user is read over a database connection")
}

// ReadCurrent implements resources.DirectReader.
func (User) ReadCurrent(ctx context.Context, h *resources.Host, cfg cty.Value, want *resources.State) (*resources.State, error) {
	t, err := cfgTarget(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	conn, closeFn, err := t.open(ctx, h, "")
	if err != nil {
		return nil, err
	}
	defer closeFn()
	var cur *resources.State
	switch t.engine {
	case Postgres:
		cur, err = pgReadUser(ctx, conn, want)
	case MySQL, MariaDB:
		cur, err = myReadUser(ctx, conn, t.engine, want)
	case MSSQL:
		cur, err = msReadUser(ctx, conn, want)
	case Oracle:
		cur, err = oraReadUser(ctx, conn, want)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s on %s: %w", want.Str("name"), t.engine, err)
	}
	copyTarget(cur.Attrs, want.Attrs)
	if v, ok := want.Attrs["owned_objects"]; ok {
		cur.Attrs["owned_objects"] = v
	}
	if want.Attrs["host"] != cty.NilVal {
		cur.Attrs["host"] = want.Attrs["host"]
	}
	if cur.Present && has(want, "password") {
		cur.Attrs["password"] = comparePassword(t.engine, want, cur)
	}
	return cur, nil
}

// comparePassword is the current "password" attribute: the declared
// password when the stored verifier matches it, or when tend cannot tell
// (the verifier is of a form it cannot check: "unknown" is no change),
// and a different marked value when it does not match.
func comparePassword(engine string, want, cur *resources.State) cty.Value {
	pw := want.Str("password")
	v := cur.Str("verifier")
	var m match
	switch engine {
	case Postgres:
		m = checkPG(pw, want.Str("name"), v)
	case MySQL, MariaDB:
		m = checkMySQL(pw, cur.Str("auth_plugin"), v)
		if m.ok && has(want, "auth_plugin") && cur.Str("auth_plugin") != want.Str("auth_plugin") {
			m.ok = false
		}
	case MSSQL:
		if h, err := hex.DecodeString(v); err == nil {
			m = checkMSSQL(pw, h)
		}
	case Oracle:
		m = checkOracle(pw, v)
	}
	if !m.known {
		cur.Attrs["password_check"] = cty.StringVal("unknown")
		return want.Attrs["password"]
	}
	if m.ok {
		return want.Attrs["password"]
	}
	return cty.StringVal("(differs)").Mark(resources.Sensitive)
}

// Notes implements resources.Noter: a declared password tend cannot check
// against the stored verifier is unknown, said so rather than shown as a
// change (or hidden).
func (User) Notes(current, desired *resources.State) []string {
	if current == nil || !current.Present || !has(desired, "password") || current.Str("password_check") != "unknown" {
		return nil
	}
	what := "the stored verifier"
	if p := current.Str("auth_plugin"); p != "" {
		what += " (auth plugin " + p + ")"
	}
	return []string{"password: unknown: " + what + " is of a form tend cannot check; not counted as a change"}
}

// Resolve implements resources.Resolver: with update_password =
// "on_create", an existing account's password is not compared.
func (User) Resolve(cfg cty.Value, current, desired *resources.State) (*resources.State, error) {
	if s, _ := cfgStr(cfg, "update_password"); s == "on_create" && current.Present && has(desired, "password") {
		d := *desired
		d.Attrs = map[string]cty.Value{}
		for k, v := range desired.Attrs {
			if k != "password" {
				d.Attrs[k] = v
			}
		}
		return &d, nil
	}
	return desired, nil
}

// Irreversible implements resources.Irreversibler.
func (User) Irreversible(before, after *resources.State) string {
	if before.Present && !after.Present && after.Str("owned_objects") == "drop" {
		if n, _ := intAttr(before, "owned_count"); n > 0 {
			return fmt.Sprintf("owned_objects = \"drop\" drops the %d objects role %s owns", n, before.Str("name"))
		}
	}
	return ""
}

// Apply implements resources.Type. The previous verifier goes into the
// undo data, verbatim (journaled encrypted: SecretUndo).
func (User) Apply(ctx context.Context, h *resources.Host, before, after *resources.State) (resources.Undo, error) {
	t := stateTarget(after)
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	conn, closeFn, err := t.open(ctx, h, "")
	if err != nil {
		return nil, err
	}
	defer closeFn()
	undo := resources.Undo{}
	if before.Present {
		undo["verifier"] = before.Str("verifier")
		undo["auth_plugin"] = before.Str("auth_plugin")
		if !has(before, "verifier") {
			undo["verifier_null"] = "1"
		}
	}
	var stmts []string
	switch t.engine {
	case Postgres:
		stmts, err = pgUserSQL(t, before, after, "")
	case MySQL, MariaDB:
		stmts, err = myUserSQL(t.engine, before, after, "", "")
	case MSSQL:
		stmts, err = msUserSQL(before, after, "")
	case Oracle:
		stmts = oraUserSQLFor(before, after, "")
	}
	if err != nil {
		return nil, err
	}
	n, err := execAll(ctx, conn, t.engine, stmts)
	if err != nil && n > 0 && t.engine != Postgres {
		// Statements already committed are undone now, so a failed change
		// leaves the account as it was.
		if rerr := revertUser(ctx, conn, t, before, after, undo); rerr != nil {
			return undo, fmt.Errorf("%w (and undoing the statements already run failed: %v)", err, rerr)
		}
	}
	return undo, err
}

// Revert implements resources.Type: the account gets every attribute
// before had, its memberships and its previous verifier.
func (User) Revert(ctx context.Context, h *resources.Host, before, after *resources.State, undo resources.Undo) error {
	t := stateTarget(after)
	if lostPassword(after) {
		return fmt.Errorf("%w: no admin password to revert %s with (the run journal keeps none; rollback resolves again only one from secret(...)): apply the previous configuration instead", resources.ErrSecretNeeded, after.Str("name"))
	}
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	conn, closeFn, err := t.open(ctx, h, "")
	if err != nil {
		return err
	}
	defer closeFn()
	return revertUser(ctx, conn, t, before, after, undo)
}

// SecretUndo implements resources.SecretUndoer: the previous verifier
// (a password hash, or the password itself on engines storing it
// reversibly) is journaled encrypted.
func (User) SecretUndo() []string { return []string{"verifier"} }
