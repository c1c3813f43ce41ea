package db

import (
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/resources"
)

func st(present bool, kv ...any) *resources.State {
	s := &resources.State{Present: present, Attrs: map[string]cty.Value{}}
	for i := 0; i < len(kv); i += 2 {
		s.Attrs[kv[i].(string)] = kv[i+1].(cty.Value)
	}
	return s
}

var scramRE = regexp.MustCompile(`SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+`)

func TestPGUserSQL(t *testing.T) {
	tg := target{engine: Postgres, user: "admin"}
	pw := cty.StringVal("s3cret").Mark(resources.Sensitive)
	// Create: LOGIN by default, the password as a SCRAM verifier.
	got, err := pgUserSQL(tg, st(false), st(true, "name", cty.StringVal("app"), "createdb", cty.True, "password", pw,
		"connection_limit", cty.NumberIntVal(5), "member_of", resources.StringList([]string{"readers"})), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !strings.HasPrefix(got[0], `CREATE ROLE "app" WITH LOGIN CREATEDB CONNECTION LIMIT 5 PASSWORD 'SCRAM-SHA-256$4096:`) ||
		got[1] != `GRANT "readers" TO "app"` || strings.Contains(strings.Join(got, ""), "s3cret") {
		t.Errorf("create = %q", got)
	}
	v := scramRE.FindString(got[0])
	if !checkPG("s3cret", "app", v).ok {
		t.Errorf("the verifier sent does not match the password")
	}
	// Update: only what differs; memberships exactly.
	cur := st(true, "name", cty.StringVal("app"), "createdb", cty.False, "login", cty.True, "member_of", resources.StringList([]string{"old", "readers"}),
		"password", pw, "valid_until", cty.StringVal(""))
	want := st(true, "name", cty.StringVal("app"), "createdb", cty.True, "login", cty.True, "member_of", resources.StringList([]string{"readers", "writers"}),
		"password", pw, "valid_until", cty.StringVal("2030-01-01"))
	got, _ = pgUserSQL(tg, cur, want, "")
	wantSQL := []string{`ALTER ROLE "app" WITH CREATEDB VALID UNTIL '2030-01-01'`, `GRANT "writers" TO "app"`, `REVOKE "old" FROM "app"`}
	if diff := cmp.Diff(wantSQL, got); diff != "" {
		t.Errorf("update (-want +got):\n%s", diff)
	}
	// Revert: the previous verifier verbatim.
	got, _ = pgUserSQL(tg, cur, st(true, "name", cty.StringVal("app")), "md5abc")
	if diff := cmp.Diff([]string{`ALTER ROLE "app" WITH PASSWORD 'md5abc'`}, got); diff != "" {
		t.Errorf("revert (-want +got):\n%s", diff)
	}
	// Drop with owned objects.
	owner := st(true, "name", cty.StringVal("o'x"), "owned_count", cty.NumberIntVal(2))
	if _, err := pgUserSQL(tg, owner, st(false, "name", cty.StringVal("o'x")), ""); err == nil || !strings.Contains(err.Error(), "owns 2 objects") {
		t.Errorf("drop of an owner: %v", err)
	}
	got, _ = pgUserSQL(tg, owner, st(false, "name", cty.StringVal(`o"x`), "owned_objects", cty.StringVal("reassign")), "")
	if diff := cmp.Diff([]string{`REASSIGN OWNED BY "o""x" TO "admin"`, `DROP OWNED BY "o""x"`, `DROP ROLE "o""x"`}, got); diff != "" {
		t.Errorf("reassign (-want +got):\n%s", diff)
	}
}

func TestMySQLUserSQL(t *testing.T) {
	pw := cty.StringVal("s3cret").Mark(resources.Sensitive)
	want := st(true, "name", cty.StringVal("web"), "host", cty.StringVal("%"), "password", pw, "max_user_connections", cty.NumberIntVal(3), "locked", cty.False)
	got, _ := myUserSQL(MariaDB, st(false), want, "", "")
	if diff := cmp.Diff([]string{`CREATE USER 'web'@'%' IDENTIFIED VIA mysql_native_password USING '` + mysqlNative("s3cret") + `' WITH MAX_USER_CONNECTIONS 3 ACCOUNT UNLOCK`}, got); diff != "" {
		t.Errorf("mariadb create (-want +got):\n%s", diff)
	}
	got, _ = myUserSQL(MySQL, st(false), want, "", "")
	if len(got) != 1 || !strings.HasPrefix(got[0], `CREATE USER 'web'@'%' IDENTIFIED WITH caching_sha2_password AS 0x24412430303524`) {
		t.Errorf("mysql create = %q", got)
	}
	hexv := strings.Fields(got[0])[7][2:]
	v, _ := hex.DecodeString(hexv)
	if !checkMySQL("s3cret", "caching_sha2_password", string(v)).ok {
		t.Errorf("the caching_sha2 verifier sent does not match the password")
	}
	cur := st(true, "name", cty.StringVal("web"), "host", cty.StringVal("%"), "password", pw, "auth_plugin", cty.StringVal("mysql_native_password"),
		"max_user_connections", cty.NumberIntVal(7), "locked", cty.False, "tls_require", cty.StringVal("NONE"))
	got, _ = myUserSQL(MariaDB, cur, want, "", "")
	if diff := cmp.Diff([]string{`ALTER USER 'web'@'%' WITH MAX_USER_CONNECTIONS 3`}, got); diff != "" {
		t.Errorf("update (-want +got):\n%s", diff)
	}
	got, _ = myUserSQL(MariaDB, cur, st(true, "name", cty.StringVal("web"), "host", cty.StringVal("%")), "mysql_native_password", "*ABC'")
	if diff := cmp.Diff([]string{`ALTER USER 'web'@'%' IDENTIFIED VIA mysql_native_password USING '*ABC\''`}, got); diff != "" {
		t.Errorf("revert (-want +got):\n%s", diff)
	}
}

func TestGrantSQL(t *testing.T) {
	g := grantSpec{role: "app", on: "tables", database: "appdb", schema: "public"}
	got := pgGrantSQL(g, []string{"SELECT", "DELETE"}, []string{"INSERT", "SELECT"}, nil)
	want := []string{`REVOKE DELETE, REFERENCES, TRIGGER, TRUNCATE, UPDATE ON ALL TABLES IN SCHEMA "public" FROM "app"`,
		`GRANT INSERT, SELECT ON ALL TABLES IN SCHEMA "public" TO "app"`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tables (-want +got):\n%s", diff)
	}
	got = pgGrantSQL(g, nil, nil, map[string][]string{"t1": {"SELECT"}, "t2": nil})
	want = []string{`REVOKE ALL ON TABLE "public"."t1" FROM "app"`, `GRANT SELECT ON TABLE "public"."t1" TO "app"`, `REVOKE ALL ON TABLE "public"."t2" FROM "app"`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tables revert (-want +got):\n%s", diff)
	}
	g = grantSpec{role: "app", on: "default_tables", schema: "s", forRole: "owner"}
	got = pgGrantSQL(g, []string{"INSERT"}, []string{"SELECT"}, nil)
	want = []string{`ALTER DEFAULT PRIVILEGES FOR ROLE "owner" IN SCHEMA "s" REVOKE INSERT ON TABLES FROM "app"`,
		`ALTER DEFAULT PRIVILEGES FOR ROLE "owner" IN SCHEMA "s" GRANT SELECT ON TABLES TO "app"`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("default (-want +got):\n%s", diff)
	}
	g = grantSpec{role: "app", on: "default_functions", schema: "s", forRole: "owner"}
	got = pgGrantSQL(g, nil, []string{"EXECUTE"}, nil)
	want = []string{`ALTER DEFAULT PRIVILEGES FOR ROLE "owner" IN SCHEMA "s" GRANT EXECUTE ON FUNCTIONS TO "app"`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("default functions (-want +got):\n%s", diff)
	}
	g = grantSpec{role: "app", on: "default_sequences", schema: "s", forRole: "owner"}
	got = pgGrantSQL(g, []string{"UPDATE", "USAGE"}, []string{"SELECT", "USAGE"}, nil)
	want = []string{`ALTER DEFAULT PRIVILEGES FOR ROLE "owner" IN SCHEMA "s" REVOKE UPDATE ON SEQUENCES FROM "app"`,
		`ALTER DEFAULT PRIVILEGES FOR ROLE "owner" IN SCHEMA "s" GRANT SELECT ON SEQUENCES TO "app"`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("default sequences (-want +got):\n%s", diff)
	}
	mg := grantSpec{role: "web", host: "%", myDB: "web`db", myTable: "*"}
	got, undo := myGrantSQL(mg, []string{"DELETE", "SELECT"}, []string{"INSERT", "SELECT"})
	want = []string{"GRANT INSERT ON `web``db`.* TO 'web'@'%'", "REVOKE DELETE ON `web``db`.* FROM 'web'@'%'"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mysql (-want +got):\n%s", diff)
	}
	want = []string{"REVOKE INSERT ON `web``db`.* FROM 'web'@'%'", "GRANT DELETE ON `web``db`.* TO 'web'@'%'"}
	if diff := cmp.Diff(want, undo); diff != "" {
		t.Errorf("mysql undo (-want +got):\n%s", diff)
	}
}

// TestMSSQLStatements checks the statements against the syntax of
// Microsoft's documentation: CREATE LOGIN ("PASSWORD = hashed_password
// HASHED", example "Create a login from a hashed password" of
// learn.microsoft.com/sql/t-sql/statements/create-login-transact-sql),
// ALTER LOGIN (... HASHED; DISABLE / ENABLE) and GRANT/REVOKE on a schema
// (GRANT SELECT ON SCHEMA::Sales TO ...).
func TestMSSQLStatements(t *testing.T) {
	// The hash of hashcat's published mode 1731 example (password "hashcat").
	h, _ := hex.DecodeString("02000102030434ea1b17802fd95ea6316bd61d2c94622ca3812793e8fb1672487b5c904a45a31b2ab4a78890d563d2fcf5663e46fe797d71550494be50cf4915d3f4d55ec375")
	got := msLoginSQL("app]x", false, true, h, nil)
	want := []string{"CREATE LOGIN [app]]x] WITH PASSWORD = 0x" + strings.ToUpper(hex.EncodeToString(h)) + " HASHED, CHECK_POLICY = OFF"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("create (-want +got):\n%s", diff)
	}
	yes := true
	got = msLoginSQL("app", true, true, mssqlHash("new", []byte{1, 2, 3, 4}), &yes)
	if len(got) != 2 || !strings.HasPrefix(got[0], "ALTER LOGIN [app] WITH PASSWORD = 0x020001020304") || got[1] != "ALTER LOGIN [app] DISABLE" {
		t.Errorf("alter = %q", got)
	}
	if got := msLoginSQL("app", true, false, nil, nil); got[0] != "DROP LOGIN [app]" {
		t.Errorf("drop = %q", got)
	}
	got = msGrantSQL("SCHEMA::Sales", "app", []string{"DELETE"}, []string{"SELECT"})
	if diff := cmp.Diff([]string{"REVOKE DELETE ON SCHEMA::[Sales] FROM [app]", "GRANT SELECT ON SCHEMA::[Sales] TO [app]"}, got); diff != "" {
		t.Errorf("grant (-want +got):\n%s", diff)
	}
	if !strings.Contains(msHashQuery, "LOGINPROPERTY(name, 'PasswordHash')") {
		t.Errorf("hash query %q", msHashQuery)
	}
}

// TestOracleStatements checks the statements against the syntax of
// Oracle's SQL Language Reference (CREATE USER ... IDENTIFIED BY VALUES is
// the form DBMS_METADATA.GET_DDL returns for an existing user; ACCOUNT
// LOCK / UNLOCK; DROP USER ... CASCADE; GRANT object privileges ON
// schema.object TO user) and the verifiers of hashcat's published
// examples.
func TestOracleStatements(t *testing.T) {
	v := newOracleVerifier("hashcat")
	if m := checkOracle("hashcat", v); !m.ok || !m.known {
		t.Errorf("a fresh verifier does not match: %+v", m)
	}
	no := false
	got := oraUserSQL("APP", false, true, v, &no, false)
	if diff := cmp.Diff([]string{`CREATE USER "APP" IDENTIFIED BY VALUES '` + v + `' ACCOUNT UNLOCK`}, got); diff != "" {
		t.Errorf("create (-want +got):\n%s", diff)
	}
	yes := true
	if got := oraUserSQL("APP", true, true, "", &yes, false); got[0] != `ALTER USER "APP" ACCOUNT LOCK` {
		t.Errorf("lock = %q", got)
	}
	if got := oraUserSQL("APP", true, false, "", nil, true); got[0] != `DROP USER "APP" CASCADE` {
		t.Errorf("drop = %q", got)
	}
	got = oraGrantSQL("HR.EMPLOYEES", "APP", []string{"DELETE"}, []string{"SELECT", "UPDATE"})
	if diff := cmp.Diff([]string{`REVOKE DELETE ON "HR"."EMPLOYEES" FROM "APP"`, `GRANT SELECT, UPDATE ON "HR"."EMPLOYEES" TO "APP"`}, got); diff != "" {
		t.Errorf("grant (-want +got):\n%s", diff)
	}
	if !strings.Contains(oraSpare4Query, "spare4") {
		t.Errorf("query %q", oraSpare4Query)
	}
}

// TestMySQLGrantResolve: declared privileges are checked against the
// server's SHOW PRIVILEGES, and "ALL" is the scope's privileges it has.
func TestMySQLGrantResolve(t *testing.T) {
	cfg := func(privs ...string) cty.Value {
		vals := []cty.Value{}
		for _, p := range privs {
			vals = append(vals, cty.StringVal(p))
		}
		return cty.ObjectVal(map[string]cty.Value{"engine": cty.StringVal("mariadb"), "role": cty.StringVal("web"),
			"on": cty.StringVal("webdb.*"), "privileges": cty.ListVal(vals)})
	}
	server := &resources.State{Present: true, Attrs: map[string]cty.Value{"server_privileges": resources.StringList([]string{"DELETE", "INSERT", "SELECT", "UPDATE"})}}
	for _, c := range []struct {
		privs   []string
		want    string
		wantErr string
	}{
		{[]string{"all"}, "[DELETE INSERT SELECT UPDATE]", ""},
		{[]string{"select", "insert"}, "[INSERT SELECT]", ""},
		{[]string{"SELECT", "SHOW CREATE ROUTINE"}, "", `this mariadb server has no privilege "SHOW CREATE ROUTINE"`},
	} {
		d, err := Grant{}.Desired(cfg(c.privs...), nil)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Grant{}.Resolve(cfg(c.privs...), server, d)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%v: error %v, want %q", c.privs, err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v: %v", c.privs, err)
		}
		if got := fmt.Sprint(resources.Strings(r.Attr("privileges"))); got != c.want {
			t.Errorf("%v: resolved to %s, want %s", c.privs, got, c.want)
		}
	}
}
