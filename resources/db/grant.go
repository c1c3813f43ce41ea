package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/resources"
)

// Grant is the privileges of one role in one scope, declaratively: what
// the configuration does not list for that role in that scope is revoked.
type Grant struct{}

var (
	_ resources.Type         = Grant{}
	_ resources.DirectReader = Grant{}
	_ resources.Resolver     = Grant{}
)

// Name implements resources.Type.
func (Grant) Name() string { return "db_grant" }

// Schema implements resources.Type.
func (Grant) Schema() *resources.Schema {
	attrs := append([]resources.Attribute{}, connAttrs...)
	attrs = append(attrs,
		resources.Attribute{Name: "role", Type: cty.String, Required: true, Doc: "The role or user the privileges are granted to. Refer to a db_user (role = db_user.app.name) so that it is created first."},
		resources.Attribute{Name: "host", Type: cty.String, Doc: "MySQL/MariaDB: the user's host part. Default \"%\"."},
		resources.Attribute{Name: "on", Type: cty.String, Required: true, Doc: "The scope. PostgreSQL: \"database\" (the database named by database), \"schema\", \"tables\" (every table, view and sequence-less relation in the schema, each with exactly these privileges) or default privileges, ALTER DEFAULT PRIVILEGES for objects for_role creates in the schema: \"default_tables\", \"default_sequences\", \"default_functions\" or \"default_types\". MySQL/MariaDB: \"*.*\", \"db.*\" or \"db.table\"."},
		resources.Attribute{Name: "database", Type: cty.String, Doc: "PostgreSQL: the database of the scope (required); tend connects to it for schema and table scopes."},
		resources.Attribute{Name: "schema", Type: cty.String, Doc: "PostgreSQL: the schema, for the schema, tables and default_* scopes. Default \"public\"."},
		resources.Attribute{Name: "for_role", Type: cty.String, Doc: "PostgreSQL, default_* scopes: whose new objects the defaults apply to. Default: the admin user."},
		resources.Attribute{Name: "privileges", Type: cty.List(cty.String), Required: true, Doc: "The privileges, exactly (case-insensitive; an empty list revokes all). Checked against the engine's privilege names for the scope: PostgreSQL database CREATE, CONNECT, TEMPORARY; schema USAGE, CREATE; tables and default_tables SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER; default_sequences USAGE, SELECT, UPDATE; default_functions EXECUTE; default_types USAGE; \"ALL\" means all of the scope's. On MySQL/MariaDB they are also checked against the server's own list (SHOW PRIVILEGES), and \"ALL\" is the scope's privileges that server has. How a change is made: see the type's description."},
	)
	return &resources.Schema{
		Doc: "The privileges of a database role in one scope (PostgreSQL database, schema, tables or default privileges; MySQL/MariaDB global, database or table), declaratively. " +
			"On PostgreSQL a resource's REVOKE and GRANT statements run in one transaction: all or nothing. " +
			"MySQL and MariaDB cannot do that: GRANT and REVOKE commit implicitly, each on its own, so no transaction can hold them. There tend does the least risky thing: every statement of the resource is computed, and its privilege names, account and table checked, before the first runs; the GRANT of what is missing runs first (it is the statement a server may reject), then the REVOKE of what is not wanted; when a statement fails, those that ran are undone, last first. " +
			"Another session can see the state between two statements, and an undo that fails too (the connection lost) leaves the privileges half changed: the error says so. " +
			"A rollback restores the previous privileges exactly (for the tables scope, table by table).",
		Attributes: attrs,
	}
}

var pgPrivs = map[string][]string{
	"database":          {"CONNECT", "CREATE", "TEMPORARY"},
	"schema":            {"CREATE", "USAGE"},
	"tables":            {"DELETE", "INSERT", "REFERENCES", "SELECT", "TRIGGER", "TRUNCATE", "UPDATE"},
	"default_tables":    {"DELETE", "INSERT", "REFERENCES", "SELECT", "TRIGGER", "TRUNCATE", "UPDATE"},
	"default_sequences": {"SELECT", "UPDATE", "USAGE"},
	"default_functions": {"EXECUTE"},
	"default_types":     {"USAGE"},
}

// pgDefaults is, for each default privileges scope, pg_default_acl's
// object type and the object word of ALTER DEFAULT PRIVILEGES.
var pgDefaults = map[string][2]string{
	"default_tables":    {"r", "TABLES"},
	"default_sequences": {"S", "SEQUENCES"},
	"default_functions": {"f", "FUNCTIONS"},
	"default_types":     {"T", "TYPES"},
}

var myTablePrivs = []string{"ALTER", "CREATE", "CREATE VIEW", "DELETE", "DELETE HISTORY", "DROP", "INDEX", "INSERT", "REFERENCES", "SELECT", "SHOW VIEW", "TRIGGER", "UPDATE"}
var myDBPrivs = append(slices.Clone(myTablePrivs), "ALTER ROUTINE", "CREATE ROUTINE", "CREATE TEMPORARY TABLES", "EVENT", "EXECUTE", "LOCK TABLES", "SHOW CREATE ROUTINE")
var myGlobalPrivs = append(slices.Clone(myDBPrivs), "BINLOG ADMIN", "BINLOG MONITOR", "BINLOG REPLAY", "CONNECTION ADMIN", "CREATE TABLESPACE", "CREATE USER",
	"FEDERATED ADMIN", "FILE", "PROCESS", "READ_ONLY ADMIN", "RELOAD", "REPLICATION CLIENT", "REPLICATION MASTER ADMIN", "REPLICATION SLAVE",
	"REPLICATION SLAVE ADMIN", "REPLICA MONITOR", "SET USER", "SHOW DATABASES", "SHUTDOWN", "SLAVE MONITOR", "SUPER")

// grantSpec is a grant's identity, from its configuration.
type grantSpec struct {
	role, host, on, database, schema, forRole string
	// MySQL scope parts ("*" for all).
	myDB, myTable string
}

func cfgGrant(cfg cty.Value, t target) (grantSpec, error) {
	g := grantSpec{}
	g.role, _ = cfgStr(cfg, "role")
	if g.role == "" {
		return g, &resources.AttrError{Attr: "role", Msg: "role is required"}
	}
	g.on, _ = cfgStr(cfg, "on")
	g.database, _ = cfgStr(cfg, "database")
	g.schema, _ = cfgStr(cfg, "schema")
	g.forRole, _ = cfgStr(cfg, "for_role")
	switch t.engine {
	case Postgres:
		if _, ok := pgPrivs[g.on]; !ok {
			return g, &resources.AttrError{Attr: "on", Msg: fmt.Sprintf("PostgreSQL scopes are \"database\", \"schema\", \"tables\", \"default_tables\", \"default_sequences\", \"default_functions\" and \"default_types\", not %q", g.on)}
		}
		if g.database == "" {
			return g, &resources.AttrError{Attr: "database", Msg: "database is required for PostgreSQL grants"}
		}
		if g.schema == "" && g.on != "database" {
			g.schema = "public"
		}
		if _, ok := pgDefaults[g.on]; ok && g.forRole == "" {
			g.forRole = t.user
		}
	case MySQL, MariaDB:
		g.host = "%"
		if h, ok := cfgStr(cfg, "host"); ok {
			g.host = h
		}
		d, tb, ok := strings.Cut(g.on, ".")
		if !ok || d == "" || tb == "" || (d == "*" && tb != "*") {
			return g, &resources.AttrError{Attr: "on", Msg: fmt.Sprintf("MySQL scopes are \"*.*\", \"db.*\" or \"db.table\", not %q", g.on)}
		}
		g.myDB, g.myTable = strings.Trim(d, "`"), strings.Trim(tb, "`")
	default:
		return g, &resources.AttrError{Attr: "engine", Msg: fmt.Sprintf("db_grant does not manage %s privileges yet (only their statements are generated)", t.engine)}
	}
	return g, nil
}

// privileges checks and normalizes the configured privileges.
func privileges(cfg cty.Value, t target, g grantSpec) ([]string, error) {
	list, _ := cfgList(cfg, "privileges")
	var valid []string
	switch {
	case t.engine == Postgres:
		valid = pgPrivs[g.on]
	case g.myDB == "*":
		valid = myGlobalPrivs
	case g.myTable == "*":
		valid = myDBPrivs
	default:
		valid = myTablePrivs
	}
	var out []string
	for _, p := range list {
		p = strings.ToUpper(strings.Join(strings.Fields(p), " "))
		switch {
		case p == "TEMP" && t.engine == Postgres:
			p = "TEMPORARY"
		case p == "ALL" || p == "ALL PRIVILEGES":
			out = append(out, valid...)
			continue
		}
		if !slices.Contains(valid, p) {
			return nil, &resources.AttrError{Attr: "privileges", Msg: fmt.Sprintf("%q is not a %s privilege on %s (valid: %s)", p, t.engine, g.on, strings.Join(valid, ", "))}
		}
		out = append(out, p)
	}
	return sortedUnique(out), nil
}

// Key implements resources.Type.
func (Grant) Key(cfg cty.Value) (string, error) {
	t, err := cfgTarget(cfg)
	if err != nil {
		return "", err
	}
	g, err := cfgGrant(cfg, t)
	if err != nil {
		return "", err
	}
	if t.engine == Postgres {
		return fmt.Sprintf("db_grant %s %s %s on %s %s.%s for %s", t.engine, t.address, g.role, g.on, g.database, g.schema, g.forRole), nil
	}
	return fmt.Sprintf("db_grant %s %s %s on %s", t.engine, t.address, myAccount(g.role, g.host), g.on), nil
}

// Desired implements resources.Type.
func (Grant) Desired(cfg cty.Value, env resources.Env) (*resources.State, error) {
	t, err := cfgTarget(cfg)
	if err != nil {
		return nil, err
	}
	g, err := cfgGrant(cfg, t)
	if err != nil {
		return nil, err
	}
	privs, err := privileges(cfg, t, g)
	if err != nil {
		return nil, err
	}
	st := &resources.State{Present: true, Attrs: grantIdentity(g)}
	putTarget(st.Attrs, t)
	st.Attrs["privileges"] = resources.StringList(privs)
	return st, nil
}

func grantIdentity(g grantSpec) map[string]cty.Value {
	return map[string]cty.Value{"role": cty.StringVal(g.role), "host": cty.StringVal(g.host), "on": cty.StringVal(g.on),
		"database": cty.StringVal(g.database), "schema": cty.StringVal(g.schema), "for_role": cty.StringVal(g.forRole)}
}

func stateGrant(s *resources.State) grantSpec {
	g := grantSpec{role: s.Str("role"), host: s.Str("host"), on: s.Str("on"), database: s.Str("database"), schema: s.Str("schema"), forRole: s.Str("for_role")}
	if d, tb, ok := strings.Cut(g.on, "."); ok {
		g.myDB, g.myTable = strings.Trim(d, "`"), strings.Trim(tb, "`")
	}
	return g
}

// Probe implements resources.Type: grants are read over a database
// connection (ReadCurrent).
func (Grant) Probe(cfg cty.Value, want *resources.State) string { return "" }

// Read implements resources.Type; see ReadCurrent.
func (Grant) Read(cfg cty.Value, out resources.ProbeOutput) (*resources.State, error) {
	return nil, errors.New("db_grant is read over a database connection")
}

// connDB is the database a grant's statements run in.
func (g grantSpec) connDB(t target) string {
	if t.engine == Postgres && g.on != "database" {
		return g.database
	}
	return ""
}

// ReadCurrent implements resources.DirectReader.
func (Grant) ReadCurrent(ctx context.Context, h *resources.Host, cfg cty.Value, want *resources.State) (*resources.State, error) {
	t := stateTarget(want)
	g := stateGrant(want)
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	conn, closeFn, err := t.open(ctx, h, g.connDB(t))
	if err != nil {
		return nil, err
	}
	defer closeFn()
	st := &resources.State{Present: true, Attrs: grantIdentity(g)}
	copyTarget(st.Attrs, want.Attrs)
	var privs []string
	switch t.engine {
	case Postgres:
		var tables map[string][]string
		privs, tables, err = pgReadGrant(ctx, conn, g, resources.Strings(want.Attr("privileges")))
		if tables != nil {
			st.Attrs["table_privileges"] = cty.StringVal(encodeTables(tables))
		}
	default:
		privs, err = myReadGrant(ctx, conn, g)
		if err == nil {
			var known []string
			if known, err = myServerPrivileges(ctx, conn); err == nil {
				st.Attrs["server_privileges"] = resources.StringList(known)
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("reading the privileges of %s on %s: %w", g.role, g.on, err)
	}
	st.Attrs["privileges"] = resources.StringList(privs)
	return st, nil
}

func splitPrivs(s string) []string {
	if s == "" {
		return nil
	}
	return sortedUnique(strings.Split(s, ","))
}

func pgReadGrant(ctx context.Context, conn *sql.Conn, g grantSpec, want []string) ([]string, map[string][]string, error) {
	var s sql.NullString
	var exists bool
	var err error
	const grantee = `(SELECT oid FROM pg_roles WHERE rolname = $2)`
	switch g.on {
	case "database":
		err = conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1),
(SELECT string_agg(a.privilege_type, ',') FROM pg_database d, aclexplode(d.datacl) a WHERE d.datname = $1 AND a.grantee = `+grantee+`)`, g.database, g.role).Scan(&exists, &s)
		if err == nil && !exists {
			err = fmt.Errorf("database %q does not exist", g.database)
		}
	case "schema":
		err = conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1),
(SELECT string_agg(a.privilege_type, ',') FROM pg_namespace n, aclexplode(n.nspacl) a WHERE n.nspname = $1 AND a.grantee = `+grantee+`)`, g.schema, g.role).Scan(&exists, &s)
		if err == nil && !exists {
			err = fmt.Errorf("schema %q does not exist in database %q", g.schema, g.database)
		}
	case "default_tables", "default_sequences", "default_functions", "default_types":
		err = conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1),
(SELECT string_agg(a.privilege_type, ',') FROM pg_default_acl d JOIN pg_namespace n ON n.oid = d.defaclnamespace, aclexplode(d.defaclacl) a
 WHERE n.nspname = $1 AND d.defaclobjtype = $4::"char" AND d.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = $3) AND a.grantee = `+grantee+`)`, g.schema, g.role, g.forRole, pgDefaults[g.on][0]).Scan(&exists, &s)
		if err == nil && !exists {
			err = fmt.Errorf("schema %q does not exist in database %q", g.schema, g.database)
		}
	case "tables":
		return pgReadTables(ctx, conn, g, want)
	}
	if err != nil {
		return nil, nil, sqlErr(err)
	}
	return splitPrivs(s.String), nil, nil
}

// pgReadTables reads the role's privileges on every table of the schema:
// one set when they all have the same, else the union and a marker that
// they differ.
func pgReadTables(ctx context.Context, conn *sql.Conn, g grantSpec, want []string) ([]string, map[string][]string, error) {
	rows, err := conn.QueryContext(ctx, `SELECT c.relname, COALESCE((SELECT string_agg(a.privilege_type, ',') FROM aclexplode(c.relacl) a
  WHERE a.grantee = (SELECT oid FROM pg_roles WHERE rolname = $2)), '')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY 1`, g.schema, g.role)
	if err != nil {
		return nil, nil, sqlErr(err)
	}
	defer rows.Close()
	tables := map[string][]string{}
	for rows.Next() {
		var name, privs string
		if err := rows.Scan(&name, &privs); err != nil {
			return nil, nil, err
		}
		tables[name] = splitPrivs(privs)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	if len(tables) == 0 {
		return want, tables, nil // nothing to grant on
	}
	var union []string
	var first []string
	same := true
	i := 0
	for _, p := range tables {
		if i == 0 {
			first = p
		} else if !slices.Equal(first, p) {
			same = false
		}
		union = append(union, p...)
		i++
	}
	union = sortedUnique(union)
	if !same {
		union = append(union, "(not the same on every table)")
	}
	return union, tables, nil
}

func encodeTables(tables map[string][]string) string {
	names := make([]string, 0, len(tables))
	for n := range tables {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "%s=%s\n", n, strings.Join(tables[n], ","))
	}
	return b.String()
}

func decodeTables(s string) map[string][]string {
	out := map[string][]string{}
	for _, l := range strings.Split(s, "\n") {
		if n, p, ok := strings.Cut(l, "="); ok {
			out[n] = splitPrivs(p)
		}
	}
	return out
}

func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) && !strings.HasPrefix(x, "(") {
			out = append(out, x)
		}
	}
	return out
}

// pgGrantSQL is the statements giving role exactly want in the scope
// (run in one transaction). tables, when set, gives each table its own
// set instead (a revert of the tables scope).
func pgGrantSQL(g grantSpec, cur, want []string, tables map[string][]string) []string {
	role := pgIdent(g.role)
	var obj string
	switch g.on {
	case "database":
		obj = "DATABASE " + pgIdent(g.database)
	case "schema":
		obj = "SCHEMA " + pgIdent(g.schema)
	case "tables":
		if tables != nil {
			var out []string
			names := make([]string, 0, len(tables))
			for n := range tables {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				t := pgIdent(g.schema) + "." + pgIdent(n)
				out = append(out, "REVOKE ALL ON TABLE "+t+" FROM "+role)
				if len(tables[n]) > 0 {
					out = append(out, "GRANT "+strings.Join(tables[n], ", ")+" ON TABLE "+t+" TO "+role)
				}
			}
			return out
		}
		// Every table: revoke what is not wanted, grant what is.
		var out []string
		if r := minus(pgPrivs["tables"], want); len(r) > 0 {
			out = append(out, "REVOKE "+strings.Join(r, ", ")+" ON ALL TABLES IN SCHEMA "+pgIdent(g.schema)+" FROM "+role)
		}
		if len(want) > 0 {
			out = append(out, "GRANT "+strings.Join(want, ", ")+" ON ALL TABLES IN SCHEMA "+pgIdent(g.schema)+" TO "+role)
		}
		return out
	case "default_tables", "default_sequences", "default_functions", "default_types":
		pre := "ALTER DEFAULT PRIVILEGES FOR ROLE " + pgIdent(g.forRole) + " IN SCHEMA " + pgIdent(g.schema) + " "
		objs := pgDefaults[g.on][1]
		var out []string
		if r := minus(cur, want); len(r) > 0 {
			out = append(out, pre+"REVOKE "+strings.Join(r, ", ")+" ON "+objs+" FROM "+role)
		}
		if a := minus(want, cur); len(a) > 0 {
			out = append(out, pre+"GRANT "+strings.Join(a, ", ")+" ON "+objs+" TO "+role)
		}
		return out
	}
	var out []string
	if r := minus(cur, want); len(r) > 0 {
		out = append(out, "REVOKE "+strings.Join(r, ", ")+" ON "+obj+" FROM "+role)
	}
	if a := minus(want, cur); len(a) > 0 {
		out = append(out, "GRANT "+strings.Join(a, ", ")+" ON "+obj+" TO "+role)
	}
	return out
}

func myScope(g grantSpec) string {
	if g.myDB == "*" {
		return "*.*"
	}
	if g.myTable == "*" {
		return myIdent(g.myDB) + ".*"
	}
	return myIdent(g.myDB) + "." + myIdent(g.myTable)
}

func myReadGrant(ctx context.Context, conn *sql.Conn, g grantSpec) ([]string, error) {
	grantee := myAccount(g.role, g.host)
	var rows *sql.Rows
	var err error
	switch {
	case g.myDB == "*":
		rows, err = conn.QueryContext(ctx, `SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = ?`, grantee)
	case g.myTable == "*":
		rows, err = conn.QueryContext(ctx, `SELECT PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = ? AND TABLE_SCHEMA = ?`, grantee, g.myDB)
	default:
		rows, err = conn.QueryContext(ctx, `SELECT PRIVILEGE_TYPE FROM information_schema.TABLE_PRIVILEGES WHERE GRANTEE = ? AND TABLE_SCHEMA = ? AND TABLE_NAME = ?`, grantee, g.myDB, g.myTable)
	}
	if err != nil {
		return nil, sqlErr(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, err
		}
		if p != "USAGE" {
			out = append(out, p)
		}
	}
	return sortedUnique(out), rows.Err()
}

// myServerPrivileges is the privilege names the server knows (SHOW
// PRIVILEGES), upper case: MySQL and MariaDB versions differ.
func myServerPrivileges(ctx context.Context, conn *sql.Conn) ([]string, error) {
	rows, err := conn.QueryContext(ctx, "SHOW PRIVILEGES")
	if err != nil {
		return nil, sqlErr(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		var name string
		vals[0] = &name
		for i := 1; i < len(vals); i++ {
			vals[i] = new(sql.RawBytes)
		}
		if err := rows.Scan(vals...); err != nil {
			return nil, err
		}
		out = append(out, strings.ToUpper(name))
	}
	return sortedUnique(out), rows.Err()
}

// Resolve implements resources.Resolver: on MySQL/MariaDB, the declared
// privileges are checked against the ones the server knows (read with
// the current state), and "ALL" is the scope's privileges this server
// has, so an apply never sends a GRANT the server rejects for a name.
func (Grant) Resolve(cfg cty.Value, current, desired *resources.State) (*resources.State, error) {
	e := desired.Str("engine")
	known := resources.Strings(current.Attr("server_privileges"))
	if (e != MySQL && e != MariaDB) || known == nil {
		return desired, nil
	}
	all := false
	declared := map[string]bool{}
	list, _ := cfgList(cfg, "privileges")
	for _, p := range list {
		p = strings.ToUpper(strings.Join(strings.Fields(p), " "))
		if p == "ALL" || p == "ALL PRIVILEGES" {
			all = true
		} else {
			declared[p] = true
		}
	}
	var out []string
	for _, p := range resources.Strings(desired.Attr("privileges")) {
		switch {
		case slices.Contains(known, p):
			out = append(out, p)
		case declared[p] || !all:
			return nil, &resources.AttrError{Attr: "privileges", Msg: fmt.Sprintf("this %s server has no privilege %q (SHOW PRIVILEGES)", e, p)}
		}
	}
	d := *desired
	d.Attrs = map[string]cty.Value{}
	for k, v := range desired.Attrs {
		d.Attrs[k] = v
	}
	d.Attrs["privileges"] = resources.StringList(out)
	return &d, nil
}

// myGrantSQL is the statements giving the account exactly want in the
// scope, each with the statement undoing it: a GRANT of what is missing,
// then a REVOKE of what is not wanted. MySQL and MariaDB commit each
// GRANT and REVOKE at once (no transaction holds them): the GRANT, the
// statement likelier to fail (a name the server rejects), comes first,
// so that most failures change nothing.
func myGrantSQL(g grantSpec, cur, want []string) (do, undo []string) {
	acct := myAccount(g.role, g.host)
	grant := func(p []string) string { return "GRANT " + strings.Join(p, ", ") + " ON " + myScope(g) + " TO " + acct }
	revoke := func(p []string) string {
		return "REVOKE " + strings.Join(p, ", ") + " ON " + myScope(g) + " FROM " + acct
	}
	if a := minus(want, cur); len(a) > 0 {
		do, undo = append(do, grant(a)), append(undo, revoke(a))
	}
	if r := minus(cur, want); len(r) > 0 {
		do, undo = append(do, revoke(r)), append(undo, grant(r))
	}
	return do, undo
}

// myCheckGrant checks, before any statement runs, what the statements
// need: the account, and the table of a table scope.
func myCheckGrant(ctx context.Context, conn *sql.Conn, g grantSpec) error {
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM mysql.user WHERE User = ? AND Host = ?", g.role, g.host).Scan(&n); err != nil {
		return sqlErr(err)
	}
	if n == 0 {
		return fmt.Errorf("account %s does not exist", myAccount(g.role, g.host))
	}
	if g.myDB != "*" && g.myTable != "*" {
		if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", g.myDB, g.myTable).Scan(&n); err != nil {
			return sqlErr(err)
		}
		if n == 0 {
			return fmt.Errorf("table %s does not exist", myScope(g))
		}
	}
	return nil
}

func (Grant) change(ctx context.Context, h *resources.Host, cur, want *resources.State, tables map[string][]string) error {
	t := stateTarget(want)
	g := stateGrant(want)
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	conn, closeFn, err := t.open(ctx, h, g.connDB(t))
	if err != nil {
		return err
	}
	defer closeFn()
	c, w := resources.Strings(cur.Attr("privileges")), resources.Strings(want.Attr("privileges"))
	if t.engine == Postgres {
		_, err = execAll(ctx, conn, t.engine, pgGrantSQL(g, c, w, tables))
		return err
	}
	// Every statement is computed, and what it needs checked, before
	// the first runs; those that ran are undone, last first, when a later
	// one fails.
	do, undo := myGrantSQL(g, c, w)
	if len(do) == 0 {
		return nil
	}
	if err := myCheckGrant(ctx, conn, g); err != nil {
		return err
	}
	n, err := execAll(ctx, conn, t.engine, do)
	if err != nil && n > 0 {
		for i := n - 1; i >= 0; i-- {
			if _, rerr := conn.ExecContext(ctx, undo[i]); rerr != nil {
				return fmt.Errorf("%w (and undoing the statements already run failed: %v)", err, sqlErr(rerr))
			}
		}
	}
	return err
}

// Apply implements resources.Type.
func (gr Grant) Apply(ctx context.Context, h *resources.Host, before, after *resources.State) (resources.Undo, error) {
	undo := resources.Undo{}
	if v := before.Str("table_privileges"); v != "" {
		undo["table_privileges"] = v
	}
	return undo, gr.change(ctx, h, before, after, nil)
}

// Revert implements resources.Type: the role gets back exactly the
// privileges it had (table by table for the tables scope).
func (gr Grant) Revert(ctx context.Context, h *resources.Host, before, after *resources.State, undo resources.Undo) error {
	if lostPassword(after) {
		return fmt.Errorf("%w: no admin password to revert the privileges of %s with (the run journal keeps none; rollback resolves again only one from secret(...)): apply the previous configuration instead", resources.ErrSecretNeeded, after.Str("role"))
	}
	var tables map[string][]string
	if after.Str("on") == "tables" && after.Str("engine") == Postgres {
		tables = decodeTables(undo["table_privileges"])
		if tables == nil {
			tables = map[string][]string{}
		}
	}
	return gr.change(ctx, h, after, before, tables)
}
