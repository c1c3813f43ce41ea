package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tendhq/tend/integration/lab"
	"github.com/tendhq/tend/journal"
	"github.com/tendhq/tend/transport"
)

// Passwords of the database tests; each must appear in no output,
// journal or server log.
const (
	dbAdminPW   = "adm1n-Pw-7f3a"
	dbAppPW     = "app-Pw-91c2e"
	dbWebPW     = "web-Pw-5d8b0"
	dbPeerPW    = "peer-Pw-2a6f4"
	dbLegacyOld = "legacy-Old-3e9d"
	dbLegacyNew = "legacy-New-8b1c"
	dbNewbiePW  = "newbie-Pw-4c7e"
)

// dbSetup makes, on a lab host with PostgreSQL 15 and MariaDB 10.11, an
// admin with a password on each, a legacy account with a password and
// privileges, databases with tables, and turns on logging of every
// statement (PostgreSQL log_statement = all, MariaDB's general log).
const dbSetup = `set -e
cd /tmp
i=0
until pg_isready -q && [ -S /run/mysqld/mysqld.sock ]; do
  i=$((i+1)); [ $i -lt 240 ] || { echo "the database servers did not start" >&2; exit 1; }
  sleep 0.5
done
# TCP on the host's own address (the image's servers listen on their
# sockets only: lab hosts share the machine's loopback).
echo "listen_addresses = '$ADDR'" > /etc/postgresql/15/main/conf.d/zz-test.conf
echo "host all all 127.0.0.0/8 scram-sha-256" >> /etc/postgresql/15/main/pg_hba.conf
systemctl restart postgresql@15-main
i=0
until pg_isready -q -h "$ADDR"; do
  i=$((i+1)); [ $i -lt 240 ] || { echo "PostgreSQL did not restart" >&2; exit 1; }
  sleep 0.5
done
runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE ROLE tendadmin SUPERUSER LOGIN PASSWORD '` + dbAdminPW + `';
CREATE ROLE legacy LOGIN PASSWORD '` + dbLegacyOld + `';
CREATE DATABASE appdb;
\c appdb
CREATE TABLE t1 (a int);
CREATE TABLE t2 (b int);
GRANT SELECT ON ALL TABLES IN SCHEMA public TO legacy;
ALTER SYSTEM SET log_statement = 'all';
SELECT pg_reload_conf();
SQL
install -o mysql -g mysql -m 0640 /dev/null /var/log/mysql-general.log
mariadb <<'SQL'
CREATE USER 'tendadmin'@'localhost' IDENTIFIED BY '` + dbAdminPW + `';
GRANT ALL ON *.* TO 'tendadmin'@'localhost' WITH GRANT OPTION;
CREATE USER 'legacy'@'%' IDENTIFIED BY '` + dbLegacyOld + `';
CREATE DATABASE webdb;
CREATE TABLE webdb.t (a int);
GRANT SELECT ON webdb.* TO 'legacy'@'%';
SET GLOBAL general_log_file = '/var/log/mysql-general.log';
SET GLOBAL general_log = 1;
SQL
`

const pgAdmin = `  engine         = "postgresql"
  address        = "PGADDR:5432"
  admin_user     = "tendadmin"
  admin_password = secret("env:TEND_TEST_DB_ADMIN")
`

const myAdmin = `  engine         = "mariadb"
  admin_user     = "tendadmin"
  admin_password = secret("env:TEND_TEST_DB_ADMIN")
`

// dbConfig manages accounts and privileges on both servers, the admin
// logging in with a password (PostgreSQL over TCP, MariaDB over its
// socket), and one role through peer authentication (become_user).
const dbConfig = `
db_user "app" {
` + pgAdmin + `  password         = secret("env:TEND_TEST_APP_PW")
  createdb         = true
  connection_limit = 5
}
db_grant "app_connect" {
` + pgAdmin + `  role       = db_user.app.name
  on         = "database"
  database   = "appdb"
  privileges = ["CONNECT", "TEMP"]
}
db_grant "app_tables" {
` + pgAdmin + `  role       = db_user.app.name
  on         = "tables"
  database   = "appdb"
  privileges = ["SELECT", "INSERT"]
}
db_user "web" {
` + myAdmin + `  password             = secret("env:TEND_TEST_WEB_PW")
  max_user_connections = 3
}
db_grant "web" {
` + myAdmin + `  role       = db_user.web.name
  on         = "webdb.*"
  privileges = ["SELECT", "INSERT"]
}
db_user "peer" {
  engine      = "postgresql"
  become_user = "postgres"
  password    = secret("env:TEND_TEST_PEER_PW")
  createrole  = true
}
`

// dbRollbackConfig adds to dbConfig a new account on each server,
// changes legacy's password and privileges on each, then fails.
const dbRollbackConfig = dbConfig + `
db_user "newbie_pg" {
` + pgAdmin + `  name     = "newbie"
  password = secret("env:TEND_TEST_NEWBIE_PW")
}
db_user "legacy_pg" {
` + pgAdmin + `  name     = "legacy"
  password = secret("env:TEND_TEST_LEGACY_PW")
}
db_grant "legacy_pg" {
` + pgAdmin + `  role       = "legacy"
  on         = "tables"
  database   = "appdb"
  privileges = ["SELECT", "UPDATE"]
}
db_user "newbie_my" {
` + myAdmin + `  name     = "newbie"
  password = secret("env:TEND_TEST_NEWBIE_PW")
}
db_user "legacy_my" {
` + myAdmin + `  name     = "legacy"
  password = secret("env:TEND_TEST_LEGACY_PW")
}
db_grant "legacy_my" {
` + myAdmin + `  role       = "legacy"
  on         = "webdb.*"
  privileges = ["SELECT", "DELETE"]
}
file "fails" {
  path       = "/etc/motd/not-a-directory"
  content    = "x"
  depends_on = [db_user.newbie_pg, db_user.legacy_pg, db_grant.legacy_pg, db_user.newbie_my, db_user.legacy_my, db_grant.legacy_my]
}
`

// dbSnapshot is every account, verifier and privilege on both servers.
const dbSnapshot = `cd /tmp
runuser -u postgres -- psql -At -c "SELECT rolname, rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolconnlimit, rolvaliduntil, rolpassword FROM pg_authid WHERE rolname !~ '^pg_' ORDER BY 1"
runuser -u postgres -- psql -At -d appdb -c "SELECT datname, (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(datacl) x) FROM pg_database ORDER BY 1" \
  -c "SELECT relname, (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(relacl) x) FROM pg_class WHERE relname IN ('t1', 't2') ORDER BY 1"
mariadb -N -e "SELECT User, Host, plugin, authentication_string, max_user_connections FROM mysql.user ORDER BY 1, 2; SELECT * FROM information_schema.SCHEMA_PRIVILEGES ORDER BY 1, 2, 3, 4"
`

func hostRun(t *testing.T, tr transport.Transport, script string) string {
	t.Helper()
	out, err := transport.Output(context.Background(), tr, transport.Command{Script: script})
	if err != nil {
		t.Fatalf("on the host: %v\n%s", err, out)
	}
	return string(out)
}

// TestDatabases covers issue 8's acceptance on PostgreSQL 15 and MariaDB
// 10.11 from Debian 12's packages, on one lab host: bad input (5),
// rollback (2), idempotence and drift of each resource (1), peer
// authentication through become_user (3), and secrets kept out of every
// output, journal and server log (4).
func TestDatabases(t *testing.T) {
	lab.Required(t)
	l := lab.StartT(t, lab.Options{Name: "db", Packages: lab.DatabasePackages, BootTimeout: 90e9})
	tr := dial(t, l, 1)
	addr := l.Host(1).Address
	hostRun(t, tr, "ADDR="+addr+"\n"+dbSetup)
	for k, v := range map[string]string{"TEND_TEST_DB_ADMIN": dbAdminPW, "TEND_TEST_APP_PW": dbAppPW, "TEND_TEST_WEB_PW": dbWebPW,
		"TEND_TEST_PEER_PW": dbPeerPW, "TEND_TEST_NEWBIE_PW": dbNewbiePW, "TEND_TEST_LEGACY_PW": dbLegacyNew} {
		t.Setenv(k, v)
	}
	dir := t.TempDir()
	// The run keys of the journals' secret undo data (the verifiers).
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	if err := l.WriteInventory(filepath.Join(dir, "inventory.hcl")); err != nil {
		t.Fatal(err)
	}
	main := filepath.Join(dir, "main.hcl")
	host := l.Host(1).Name
	var outputs strings.Builder
	run := func(args ...string) (string, int) {
		t.Helper()
		out, errs, code := tend(t, append(args[:1:1], append([]string{"-C", dir}, args[1:]...)...)...)
		outputs.WriteString(out + errs)
		return out + errs, code
	}
	snapshot := func() string { return hostRun(t, tr, dbSnapshot) }
	canLogin := func(engine, user, pw string) bool {
		script := "PGPASSWORD='" + pw + "' psql -h " + addr + " -U " + user + " -d appdb -Atc 'SELECT 1'"
		if engine == "mariadb" {
			script = "mariadb -u" + user + " -p'" + pw + "' -N -e 'SELECT 1'"
		}
		res, err := tr.Run(context.Background(), transport.Command{Script: script})
		return err == nil && res.ExitStatus == 0 && strings.TrimSpace(string(res.Stdout)) == "1"
	}

	t.Run("bad input", func(t *testing.T) {
		before := snapshot()
		cases := []struct{ name, cfg, want string }{
			{"unknown engine", "db_user \"x\" {\n  engine = \"oracle9\"\n}\n", "unknown engine \"oracle9\""},
			{"wrong admin password", "db_user \"x\" {\n  engine = \"postgresql\"\n  address = \"PGADDR:5432\"\n  admin_user = \"tendadmin\"\n  admin_password = \"wrong\"\n}\n", "password authentication failed"},
			{"wrong admin password mariadb", "db_user \"x\" {\n  engine = \"mariadb\"\n  admin_user = \"tendadmin\"\n  admin_password = \"wrong\"\n}\n", "Access denied"},
			{"unreachable", "db_user \"x\" {\n  engine = \"postgresql\"\n  address = \"PGADDR:5999\"\n}\n", "Connection refused"},
			{"no socket", "db_user \"x\" {\n  engine = \"postgresql\"\n  become_user = \"postgres\"\n  address = \"/nonexistent/.s.PGSQL.5432\"\n}\n", "connect /nonexistent/.s.PGSQL.5432"},
			{"invalid privilege", "db_grant \"x\" {\n" + pgAdmin + "  role = \"legacy\"\n  on = \"tables\"\n  database = \"appdb\"\n  privileges = [\"SELEKT\"]\n}\n", "\"SELEKT\" is not a postgresql privilege"},
			{"privilege this server lacks", "db_grant \"x\" {\n" + myAdmin + "  role = \"legacy\"\n  on = \"webdb.*\"\n  privileges = [\"INSERT\", \"SHOW CREATE ROUTINE\"]\n}\n", "this mariadb server has no privilege \"SHOW CREATE ROUTINE\""},
			{"missing table", "db_grant \"x\" {\n" + myAdmin + "  role = \"legacy\"\n  on = \"webdb.nosuch\"\n  privileges = [\"SELECT\"]\n}\n", "table `webdb`.`nosuch` does not exist"},
			{"missing role in a transaction", "db_user \"x\" {\n" + pgAdmin + "  name = \"legacy\"\n  connection_limit = 3\n  member_of = [\"nosuchrole\"]\n}\n", "role \"nosuchrole\" does not exist"},
		}
		for _, c := range cases {
			write(t, main, strings.ReplaceAll(c.cfg, "PGADDR", addr))
			out, code := run("apply", "-y")
			if code == 0 || !strings.Contains(out, c.want) || !strings.Contains(out, "db_") {
				t.Errorf("%s: exit %d, want an error naming the resource and saying %q:\n%s", c.name, code, c.want, out)
			}
			if !strings.Contains(out, host) && !strings.Contains(out, "main.hcl:") {
				t.Errorf("%s: the error names neither the host nor the position:\n%s", c.name, out)
			}
		}
		if after := snapshot(); after != before {
			t.Errorf("bad input changed the servers:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	})

	t.Run("rollback", func(t *testing.T) {
		write(t, main, strings.ReplaceAll(dbConfig, "PGADDR", addr))
		if out, code := run("apply", "-y"); code != 0 {
			t.Fatalf("apply: exit %d\n%s", code, out)
		}
		before := snapshot()
		write(t, main, strings.ReplaceAll(dbRollbackConfig, "PGADDR", addr))
		out, code := run("apply", "-y")
		if code != 1 || !strings.Contains(out, "! file.fails: create /etc/motd/not-a-directory: parent /etc/motd is not a directory") || !strings.Contains(out, "rolled back 6 changes") {
			t.Errorf("apply: exit %d, want 1 with file.fails's cause and 6 changes rolled back:\n%s", code, out)
		}
		if after := snapshot(); after != before {
			t.Errorf("the servers are not as before (verifiers, attributes, privileges):\nbefore:\n%s\nafter:\n%s", before, after)
		}
		for _, engine := range []string{"postgresql", "mariadb"} {
			if !canLogin(engine, "legacy", dbLegacyOld) {
				t.Errorf("%s: legacy's old password no longer logs in", engine)
			}
			if canLogin(engine, "newbie", dbNewbiePW) {
				t.Errorf("%s: newbie still logs in", engine)
			}
		}
	})

	t.Run("idempotence and drift", func(t *testing.T) {
		write(t, main, strings.ReplaceAll(dbConfig, "PGADDR", addr))
		if out, code := run("apply", "-y"); code != 0 {
			t.Fatalf("apply: exit %d\n%s", code, out)
		}
		if out, code := run("plan", "-detailed-exitcode"); code != 0 {
			t.Fatalf("second plan: exit %d, want no changes\n%s", code, out)
		}
		for _, c := range [][3]string{{"postgresql", "app", dbAppPW}, {"mariadb", "web", dbWebPW}} {
			if !canLogin(c[0], c[1], c[2]) {
				t.Errorf("%s: %s does not log in with its password", c[0], c[1])
			}
		}
		pg := func(db, sql string) string {
			return fmt.Sprintf("cd /tmp && runuser -u postgres -- psql -q -d %s -c %q", db, sql)
		}
		my := func(sql string) string { return fmt.Sprintf("mariadb -e %q", sql) }
		drifts := []struct {
			name, script string
			want         []string
		}{
			{"PostgreSQL attribute", pg("postgres", "ALTER ROLE app CONNECTION LIMIT 9"), []string{"db_user.app"}},
			{"PostgreSQL password", pg("postgres", "ALTER ROLE app PASSWORD 'hand-set-pw'"), []string{"db_user.app"}},
			{"PostgreSQL peer role attribute", pg("postgres", "ALTER ROLE peer NOCREATEROLE"), []string{"db_user.peer"}},
			{"PostgreSQL table privilege", pg("appdb", "REVOKE INSERT ON t1 FROM app"), []string{"db_grant.app_tables"}},
			{"PostgreSQL database privilege", pg("postgres", "GRANT CREATE ON DATABASE appdb TO app"), []string{"db_grant.app_connect"}},
			{"MariaDB attribute", my("ALTER USER web@'%' WITH MAX_USER_CONNECTIONS 7"), []string{"db_user.web"}},
			{"MariaDB password", my("SET PASSWORD FOR web@'%' = PASSWORD('hand-set-pw')"), []string{"db_user.web"}},
			{"MariaDB privilege", my("REVOKE INSERT ON webdb.* FROM web@'%'"), []string{"db_grant.web"}},
		}
		for _, d := range drifts {
			hostRun(t, tr, d.script)
			changed, errs := planJSON(t, "-C", dir)
			if len(errs) > 0 {
				t.Fatalf("%s: plan errors %v", d.name, errs)
			}
			if got, want := fmt.Sprint(changed[host]), fmt.Sprint(d.want); got != want {
				t.Errorf("%s: drift reported on %s, want %s", d.name, got, want)
			}
			if d.want != nil {
				if out, code := run("apply", "-y"); code != 0 {
					t.Fatalf("%s: apply: exit %d\n%s", d.name, code, out)
				}
			}
		}
		if out, code := run("plan", "-detailed-exitcode"); code != 0 {
			t.Errorf("plan after restoring: exit %d, want no changes\n%s", code, out)
		}
		if !canLogin("postgresql", "peer", dbPeerPW) {
			t.Errorf("peer does not log in with the password set through become_user")
		}
	})

	t.Run("secrets", func(t *testing.T) {
		// The servers' logs hold every statement since the setup: no
		// password tend set may be there (it sends verifiers).
		logs := hostRun(t, tr, "cat /var/log/postgresql/postgresql-15-main.log /var/log/mysql-general.log")
		if !strings.Contains(logs, `PASSWORD 'SCRAM-SHA-256$4096:`) || !strings.Contains(logs, `IDENTIFIED VIA mysql_native_password USING '*`) {
			t.Errorf("the server logs do not show tend's password statements (sent as verifiers): is statement logging on?\n%.3000s", logs)
		}
		for _, pw := range []string{dbAppPW, dbWebPW, dbPeerPW, dbLegacyNew, dbNewbiePW} {
			if strings.Contains(logs, pw) {
				t.Errorf("a declared password is in the database server's log")
			}
		}
		verifiers := hostRun(t, tr, `cd /tmp; runuser -u postgres -- psql -At -c "SELECT rolpassword FROM pg_authid WHERE rolname IN ('app', 'peer', 'legacy')"
mariadb -N -e "SELECT authentication_string FROM mysql.user WHERE User IN ('web', 'legacy')"`)
		passwords := []string{dbAppPW, dbWebPW, dbPeerPW, dbLegacyNew, dbNewbiePW, dbAdminPW}
		secrets := append(strings.Fields(verifiers), passwords...)
		// Every output: plans, applies, errors, plan -json, runs.
		out, _, _ := tend(t, "plan", "-C", dir, "-json")
		outputs.WriteString(out)
		out, _, _ = tend(t, "runs", "-C", dir)
		outputs.WriteString(out)
		for _, s := range secrets {
			if strings.Contains(outputs.String(), s) {
				t.Errorf("a password or verifier (%.6s...) appears in tend's output", s)
			}
		}
		// Journals: mode 0600, no password, no verifier in clear (the
		// previous ones are undo data for rollback, encrypted).
		jd := filepath.Join(dir, ".tend", "runs")
		entries, err := os.ReadDir(jd)
		if err != nil || len(entries) == 0 {
			t.Fatalf("no journals in %s: %v", jd, err)
		}
		for _, e := range entries {
			p := filepath.Join(jd, e.Name())
			if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("journal %s: mode %v (%v), want 0600", e.Name(), fi.Mode().Perm(), err)
			}
			j := read(t, p)
			for _, pw := range secrets {
				if strings.Contains(j, pw) {
					t.Errorf("a password or verifier (%.6s...) is in journal %s", pw, e.Name())
				}
			}
		}
	})

	t.Run("same password set by hand", func(t *testing.T) {
		// A new salt, the same password: never a change. (These statements
		// put the passwords in the server logs: after the secrets check.)
		hostRun(t, tr, fmt.Sprintf("cd /tmp && runuser -u postgres -- psql -qc %q && mariadb -e %q",
			"ALTER ROLE app PASSWORD '"+dbAppPW+"'", "SET PASSWORD FOR web@'%' = PASSWORD('"+dbWebPW+"')"))
		if out, code := run("plan", "-detailed-exitcode"); code != 0 {
			t.Errorf("plan: exit %d, want no changes\n%s", code, out)
		}
	})

	t.Run("tend rollback RUN-ID with peer authentication", func(t *testing.T) {
		// The journal alone (no configuration, no secret) reverts a change
		// whose admin needs no password: the role's attribute and its
		// previous verifier come back.
		before := snapshot()
		write(t, main, `
db_user "peer" {
  engine      = "postgresql"
  become_user = "postgres"
  password    = secret("env:TEND_TEST_LEGACY_PW")
  createrole  = false
}
`)
		if out, code := run("apply", "-y"); code != 0 {
			t.Fatalf("apply: exit %d\n%s", code, out)
		}
		if !canLogin("postgresql", "peer", dbLegacyNew) {
			t.Fatalf("the new password does not log in")
		}
		runs, err := journal.List(dir)
		if err != nil || len(runs) == 0 {
			t.Fatalf("runs: %v", err)
		}
		if _, _, code := tend(t, "rollback", runs[len(runs)-1].ID, "-C", dir, "-y"); code != 0 {
			t.Fatalf("rollback: exit %d", code)
		}
		if after := snapshot(); after != before {
			t.Errorf("not as before:\nbefore:\n%s\nafter:\n%s", before, after)
		}
		if !canLogin("postgresql", "peer", dbPeerPW) {
			t.Errorf("the previous password does not log in after tend rollback")
		}
	})

	t.Run("tend rollback RUN-ID with a password admin", func(t *testing.T) {
		// The journal keeps where the admin password came from
		// (secret("env:TEND_TEST_DB_ADMIN")), never the password: rollback
		// resolves it again, and says what to set when it cannot.
		before := snapshot()
		write(t, main, strings.ReplaceAll(`
db_user "legacy_my" {
`+myAdmin+`  name                 = "legacy"
  password             = secret("env:TEND_TEST_LEGACY_PW")
  max_user_connections = 2
}
db_grant "legacy_my" {
`+myAdmin+`  role       = "legacy"
  on         = "webdb.*"
  privileges = ["SELECT", "DELETE"]
}
db_user "legacy_pg" {
`+pgAdmin+`  name             = "legacy"
  password         = secret("env:TEND_TEST_LEGACY_PW")
  connection_limit = 4
}
db_grant "legacy_pg" {
`+pgAdmin+`  role       = "legacy"
  on         = "tables"
  database   = "appdb"
  privileges = ["SELECT", "UPDATE"]
}
`, "PGADDR", addr))
		if out, code := run("apply", "-y"); code != 0 {
			t.Fatalf("apply: exit %d\n%s", code, out)
		}
		applied := snapshot()
		if applied == before {
			t.Fatalf("the apply changed nothing")
		}
		runs, err := journal.List(dir)
		if err != nil || len(runs) == 0 {
			t.Fatalf("runs: %v", err)
		}
		id := runs[len(runs)-1].ID
		j := read(t, filepath.Join(dir, ".tend", "runs", id+".journal"))
		for _, pw := range []string{dbAdminPW, dbLegacyNew, dbLegacyOld} {
			if strings.Contains(j, pw) {
				t.Errorf("a password is in journal %s", id)
			}
		}
		if !strings.Contains(j, `"admin_password":"env:TEND_TEST_DB_ADMIN"`) {
			t.Errorf("journal %s does not name the admin password's secret reference:\n%s", id, j)
		}
		// Without the secret: a clear error naming it, nothing changed.
		t.Setenv("TEND_TEST_DB_ADMIN", dbAdminPW)
		os.Unsetenv("TEND_TEST_DB_ADMIN")
		out, errs, code := tend(t, "rollback", id, "-C", dir, "-y")
		if want := `admin_password comes from secret("env:TEND_TEST_DB_ADMIN"): the environment variable TEND_TEST_DB_ADMIN is not set: set it and roll back again`; code == 0 || !strings.Contains(out+errs, want) {
			t.Errorf("rollback without the secret: exit %d, want an error saying %q:\n%s%s", code, want, out, errs)
		}
		if now := snapshot(); now != applied {
			t.Errorf("a rollback that could not resolve the admin password changed the servers:\nbefore:\n%s\nafter:\n%s", applied, now)
		}
		// With it: everything as before the run.
		t.Setenv("TEND_TEST_DB_ADMIN", dbAdminPW)
		if out, errs, code := tend(t, "rollback", id, "-C", dir, "-y"); code != 0 || !strings.Contains(out, "4 changes reverted") {
			t.Fatalf("rollback: exit %d, want 4 changes reverted\n%s%s", code, out, errs)
		}
		if after := snapshot(); after != before {
			t.Errorf("not as before:\nbefore:\n%s\nafter:\n%s", before, after)
		}
		for _, engine := range []string{"postgresql", "mariadb"} {
			if !canLogin(engine, "legacy", dbLegacyOld) {
				t.Errorf("%s: legacy's previous password does not log in after tend rollback", engine)
			}
		}
		for _, e := range mustReadDir(t, filepath.Join(dir, ".tend", "runs")) {
			if j := read(t, filepath.Join(dir, ".tend", "runs", e)); strings.Contains(j, dbAdminPW) || strings.Contains(j, dbLegacyNew) {
				t.Errorf("a password is in journal %s", e)
			}
		}
	})

	t.Run("non-ASCII passwords set by hand", func(t *testing.T) {
		// PostgreSQL SASLpreps a password before computing its
		// SCRAM-SHA-256 verifier (NFKC, non-ASCII spaces to U+0020, some
		// characters removed): a password set by hand spelled differently
		// but the same after SASLprep is no change; md5 verifiers are of
		// the bytes as typed.
		const (
			nfc        = "office caf\u00e9-7Q"          // precomposed é, ASCII space
			spelled    = "o\ufb03ce\u00a0cafe\u0301-7Q" // ﬃ ligature, NO-BREAK SPACE, e + COMBINING ACUTE
			spelledNFC = "o\ufb03ce\u00a0caf\u00e9-7Q"  // the same in NFC (é precomposed)
			other      = "office cafe-7Q"               // no accent: another password
			newer      = "new\u2c7c-7Q"                 // U+2C7C: unassigned in Unicode 3.2, NFKC "j"
			newerNFK   = "newj-7Q"
		)
		pgSet := func(pw string, md5 bool) {
			t.Helper()
			enc := ""
			if md5 {
				enc = "SET password_encryption = 'md5';\n"
			}
			hostRun(t, tr, "cd /tmp && PGCLIENTENCODING=UTF8 runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 <<'SQL'\n"+enc+"ALTER ROLE uni PASSWORD '"+pw+"';\nSQL\n")
		}
		changed := func() []string {
			t.Helper()
			c, errs := planJSON(t, "-C", dir)
			if len(errs) > 0 {
				t.Fatalf("plan errors %v", errs)
			}
			return c[host]
		}
		write(t, main, strings.ReplaceAll(`
db_user "uni" {
`+pgAdmin+`  password = secret("env:TEND_TEST_UNI_PW")
}
`, "PGADDR", addr))
		t.Setenv("TEND_TEST_UNI_PW", spelled)
		if out, code := run("apply", "-y"); code != 0 {
			t.Fatalf("apply: exit %d\n%s", code, out)
		}
		// tend set the verifier of the SASLprepped password: clients
		// (libpq SASLpreps too) log in with either spelling.
		for _, pw := range []string{nfc, spelled} {
			if !canLogin("postgresql", "uni", pw) {
				t.Errorf("uni does not log in with %+q after tend set %+q", pw, spelled)
			}
		}
		cases := []struct {
			declared, byHand string
			md5              bool
			change           bool
		}{
			{spelled, nfc, false, false},
			{nfc, spelled, false, false},
			{nfc, other, false, true},
			{spelled, other, false, true},
			// pg_saslprep checks for unassigned code points before
			// normalizing: U+2C7C makes it use the bytes as they are.
			{newer, newer, false, false},
			{newer, newerNFK, false, true},
			{newerNFK, newer, false, true},
			// md5: no SASLprep, the bytes.
			{nfc, nfc, true, false},
			{spelledNFC, spelledNFC, true, false},
			{nfc, spelledNFC, true, true},
			{spelledNFC, nfc, true, true},
			// Configuration strings are Unicode NFC (cty normalizes every
			// string): the declared e + COMBINING ACUTE is é, not the
			// bytes typed by hand.
			{spelled, spelled, true, true},
		}
		for _, c := range cases {
			t.Setenv("TEND_TEST_UNI_PW", c.declared)
			pgSet(c.byHand, c.md5)
			got := changed()
			if want := map[bool]string{true: "[db_user.uni]", false: "[]"}[c.change]; fmt.Sprint(got) != want {
				t.Errorf("declared %+q, set by hand %+q (md5 %v): plan changes %v, want %s", c.declared, c.byHand, c.md5, got, want)
			}
		}
		verifier := func() string {
			return strings.TrimSpace(hostRun(t, tr, `cd /tmp && runuser -u postgres -- psql -At -c "SELECT left(rolpassword, 3) FROM pg_authid WHERE rolname = 'uni'"`))
		}
		if v := verifier(); v != "md5" {
			t.Errorf("the last hand-set password is not an md5 verifier: %q", v)
		}
		// A matching md5 verifier is no change; another password is set
		// as a SCRAM-SHA-256 verifier, which logs in with any spelling.
		t.Setenv("TEND_TEST_UNI_PW", nfc)
		pgSet(other, true)
		if out, code := run("apply", "-y"); code != 0 {
			t.Fatalf("apply: exit %d\n%s", code, out)
		}
		if got := changed(); len(got) != 0 {
			t.Errorf("after apply: changes %v", got)
		}
		if v := verifier(); v != "SCR" {
			t.Errorf("tend did not set a SCRAM-SHA-256 verifier: %q", v)
		}
		if !canLogin("postgresql", "uni", spelled) {
			t.Errorf("uni does not log in with %+q", spelled)
		}
	})

	t.Run("MariaDB ALL and PostgreSQL grants in one transaction", func(t *testing.T) {
		// "ALL" on MariaDB 10.11 is the scope's privileges this server
		// has (not SHOW CREATE ROUTINE, MariaDB 11.3's): applied, then no
		// change.
		write(t, main, `
db_grant "web_all" {
`+myAdmin+`  role       = "legacy"
  on         = "webdb.*"
  privileges = ["ALL"]
}
`)
		if out, code := run("apply", "-y"); code != 0 {
			t.Fatalf("apply ALL: exit %d\n%s", code, out)
		}
		if out, code := run("plan", "-detailed-exitcode"); code != 0 {
			t.Errorf("plan after ALL: exit %d, want no changes\n%s", code, out)
		}
		write(t, main, `
db_grant "web_all" {
`+myAdmin+`  role       = "legacy"
  on         = "webdb.*"
  privileges = ["SELECT"]
}
`)
		if out, code := run("apply", "-y"); code != 0 {
			t.Fatalf("apply SELECT: exit %d\n%s", code, out)
		}
		// PostgreSQL default privileges of sequences and functions.
		write(t, main, strings.ReplaceAll(`
db_grant "seq" {
`+pgAdmin+`  role       = "legacy"
  on         = "default_sequences"
  database   = "appdb"
  privileges = ["USAGE", "SELECT"]
}
db_grant "fn" {
`+pgAdmin+`  role       = "legacy"
  on         = "default_functions"
  database   = "appdb"
  privileges = ["EXECUTE"]
}
`, "PGADDR", addr))
		if out, code := run("apply", "-y"); code != 0 {
			t.Fatalf("apply default privileges: exit %d\n%s", code, out)
		}
		if out, code := run("plan", "-detailed-exitcode"); code != 0 {
			t.Errorf("plan after default privileges: exit %d, want no changes\n%s", code, out)
		}
		acl := hostRun(t, tr, `cd /tmp && runuser -u postgres -- psql -At -d appdb -c "SELECT defaclobjtype, array_to_string(defaclacl, ',') FROM pg_default_acl d JOIN pg_roles r ON r.oid = d.defaclrole WHERE r.rolname = 'tendadmin' ORDER BY 1"`)
		if !strings.Contains(acl, "S|legacy=rU/tendadmin") || !strings.Contains(acl, "f|legacy=X/tendadmin") {
			t.Errorf("pg_default_acl:\n%s\nwant legacy=rU on sequences and legacy=X on functions", acl)
		}
		// PostgreSQL: a revert of the tables scope whose last statement
		// fails (a table dropped since) changes nothing: the statements
		// before it, on other tables, are rolled back with it.
		hostRun(t, tr, `cd /tmp && runuser -u postgres -- psql -q -d appdb -c "CREATE TABLE t3 (c int)"`)
		write(t, main, strings.ReplaceAll(`
db_grant "legacy_pg" {
`+pgAdmin+`  role       = "legacy"
  on         = "tables"
  database   = "appdb"
  privileges = ["SELECT", "UPDATE"]
}
`, "PGADDR", addr))
		if out, code := run("apply", "-y"); code != 0 {
			t.Fatalf("apply: exit %d\n%s", code, out)
		}
		runs, err := journal.List(dir)
		if err != nil || len(runs) == 0 {
			t.Fatalf("runs: %v", err)
		}
		hostRun(t, tr, `cd /tmp && runuser -u postgres -- psql -q -d appdb -c "DROP TABLE t3"`)
		mid := snapshot()
		if !strings.Contains(mid, "legacy=rw/") {
			t.Fatalf("the apply did not grant SELECT, UPDATE on t1 and t2:\n%s", mid)
		}
		out, errs, code := tend(t, "rollback", runs[len(runs)-1].ID, "-C", dir, "-y")
		if code == 0 || !strings.Contains(out+errs, `relation "public.t3" does not exist`) {
			t.Errorf("rollback: exit %d, want the error of t3's statement:\n%s%s", code, out, errs)
		}
		if after := snapshot(); after != mid {
			t.Errorf("a failed transaction changed privileges:\nbefore:\n%s\nafter:\n%s", mid, after)
		}
	})

	t.Run("every account attribute", func(t *testing.T) {
		// Every attribute of both engines applied on the real servers, then
		// no change; update_password = "on_create"; state = "absent" with
		// PostgreSQL's owned_objects policy.
		hostRun(t, tr, `cd /tmp && runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE ROLE owner1 LOGIN;
CREATE TABLE public.owned1 (a int);
ALTER TABLE public.owned1 OWNER TO owner1;
SQL`)
		cfg := func(pw, extra string) string {
			return strings.ReplaceAll(`
db_user "readers" {
`+pgAdmin+`  login = false
}
db_user "full" {
`+pgAdmin+`  password         = secret("env:`+pw+`")
  update_password  = "on_create"
  login            = true
  superuser        = false
  createdb         = true
  createrole       = true
  replication      = true
  connection_limit = 7
  valid_until      = "2031-02-03 04:05:06+00"
  member_of        = [db_user.readers.name]
}
db_user "full_my" {
`+myAdmin+`  name                     = "full"
  host                     = "10.%"
  password                 = secret("env:`+pw+`")
  auth_plugin              = "mysql_native_password"
  tls_require              = "SSL"
  max_queries_per_hour     = 100
  max_updates_per_hour     = 50
  max_connections_per_hour = 20
  max_user_connections     = 4
  locked                   = true
}
`+extra, "PGADDR", addr)
		}
		write(t, main, cfg("TEND_TEST_APP_PW", ""))
		if out, code := run("apply", "-y"); code != 0 {
			t.Fatalf("apply: exit %d\n%s", code, out)
		}
		if out, code := run("plan", "-detailed-exitcode"); code != 0 {
			t.Errorf("second plan: exit %d, want no changes\n%s", code, out)
		}
		const dbAttrs = `cd /tmp && runuser -u postgres -- psql -At -c "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolconnlimit, rolvaliduntil AT TIME ZONE 'UTC', (SELECT string_agg(r.rolname, ',') FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid WHERE m.member = a.oid) FROM pg_authid a WHERE rolname = 'full'"
mariadb -N -e "SELECT ssl_type, max_questions, max_updates, max_connections, max_user_connections, plugin FROM mysql.user WHERE User = 'full' AND Host = '10.%'; SELECT JSON_VALUE(Priv, '$.account_locked') FROM mysql.global_priv WHERE User = 'full' AND Host = '10.%'"`
		got := hostRun(t, tr, dbAttrs)
		// JSON_VALUE gives a JSON true as 1.
		want := "t|f|t|t|t|7|2031-02-03 04:05:06|readers\nANY\t100\t50\t20\t4\tmysql_native_password\n1\n"
		if got != want {
			t.Errorf("the servers hold:\n%s\nwant:\n%s", got, want)
		}
		// Drift of these attributes by hand, each for its resource.
		for _, d := range [][2]string{
			{`mariadb -e "ALTER USER 'full'@'10.%' ACCOUNT UNLOCK"`, "[db_user.full_my]"},
			{`mariadb -e "ALTER USER 'full'@'10.%' REQUIRE NONE"`, "[db_user.full_my]"},
			{`cd /tmp && runuser -u postgres -- psql -qc "ALTER ROLE \"full\" VALID UNTIL 'infinity'"`, "[db_user.full]"},
			{`cd /tmp && runuser -u postgres -- psql -qc "REVOKE readers FROM \"full\""`, "[db_user.full]"},
		} {
			hostRun(t, tr, d[0])
			c, errs := planJSON(t, "-C", dir)
			if len(errs) > 0 || fmt.Sprint(c[host]) != d[1] {
				t.Errorf("%s: changes %v (errors %v), want %s", d[0], c[host], errs, d[1])
			}
			if out, code := run("apply", "-y"); code != 0 {
				t.Fatalf("apply: exit %d\n%s", code, out)
			}
		}
		if got2 := hostRun(t, tr, dbAttrs); got2 != want {
			t.Errorf("after restoring, the servers hold:\n%s\nwant:\n%s", got2, want)
		}
		// on_create: another declared password is no change for existing
		// accounts (the PostgreSQL role; the MariaDB one has "always").
		write(t, main, cfg("TEND_TEST_WEB_PW", ""))
		c, errs := planJSON(t, "-C", dir)
		if len(errs) > 0 || fmt.Sprint(c[host]) != "[db_user.full_my]" {
			t.Errorf("another password: changes %v (errors %v), want only db_user.full_my (update_password = on_create on db_user.full)", c[host], errs)
		}
		// absent: a role owning objects is refused by default; reassign
		// gives them to the admin and drops the role.
		absent := func(policy string) string {
			p := ""
			if policy != "" {
				p = "  owned_objects = \"" + policy + "\"\n"
			}
			return "db_user \"owner1\" {\n" + strings.ReplaceAll(pgAdmin, "PGADDR", addr) + "  state = \"absent\"\n" + p + "}\n" +
				"db_user \"full_gone\" {\n" + myAdmin + "  name = \"full\"\n  host = \"10.%\"\n  state = \"absent\"\n}\n"
		}
		write(t, main, absent(""))
		if out, code := run("apply", "-y"); code == 0 || !strings.Contains(out, "role owner1 owns 1 objects") {
			t.Errorf("absent with owned objects: exit %d, want the owned objects refused:\n%s", code, out)
		}
		write(t, main, absent("reassign"))
		if out, code := run("apply", "-y"); code != 0 {
			t.Fatalf("absent, reassign: exit %d\n%s", code, out)
		}
		got = hostRun(t, tr, `cd /tmp && runuser -u postgres -- psql -At -c "SELECT count(*) FROM pg_roles WHERE rolname = 'owner1'" -c "SELECT tableowner FROM pg_tables WHERE tablename = 'owned1'"
mariadb -N -e "SELECT count(*) FROM mysql.user WHERE User = 'full'"`)
		if got != "0\ntendadmin\n0\n" {
			t.Errorf("after absent: %q, want owner1 and full gone, owned1 owned by tendadmin", got)
		}
		if out, code := run("plan", "-detailed-exitcode"); code != 0 {
			t.Errorf("plan after absent: exit %d, want no changes\n%s", code, out)
		}
	})
}

func mustReadDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}
