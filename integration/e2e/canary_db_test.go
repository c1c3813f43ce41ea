package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/integration/lab"
	"github.com/tendhq/tend/journal"
	"github.com/tendhq/tend/transport"
)

// canaryDBConfig sets the passwords of a PostgreSQL role over TCP (from
// secret("env:TEND_CANARY")), of a MariaDB user over its socket (from the
// sensitive variable pw) and of a PostgreSQL role through peer
// authentication (the secret again), the admin logging in with a
// password from the environment.
const canaryDBConfig = `
variable "pw" {
  sensitive = true
}
db_user "app" {
` + pgAdmin + `  password = secret("env:TEND_CANARY")
}
db_user "web" {
` + myAdmin + `  password = var.pw
}
db_user "peer" {
  engine      = "postgresql"
  become_user = "postgres"
  password    = secret("env:TEND_CANARY")
}
`

// TestCanaryLabDatabase: db_user passwords that are canaries (a secret
// and a sensitive variable), set on PostgreSQL and MariaDB with every
// command run on them (validate, plan, plan --json, plan -out, apply of
// the saved plan, drift in each format after a password set by hand,
// apply --json, runs, rollback, facts). No stdout, stderr, saved plan,
// file of .tend/ (the journal), run key directory or TMPDIR of the
// controller, no file of the host (the servers' statement logs
// included), and no command line of any process (sampled through the
// whole test) holds a canary, its SHA-256 or its base64; the passwords
// do log in.
func TestCanaryLabDatabase(t *testing.T) {
	lab.Required(t)
	l := lab.StartT(t, lab.Options{Name: "dbcanary", Packages: lab.DatabasePackages, BootTimeout: 90e9})
	h := l.Host(1)
	tr := dial(t, l, 1)
	addr := h.Address
	hostRun(t, tr, "ADDR="+addr+"\n"+dbSetup)

	rnd := make([]byte, 6)
	if _, err := rand.Read(rnd); err != nil {
		t.Fatal(err)
	}
	mark := "cnry" + hex.EncodeToString(rnd)
	c := &canaryRun{t: t, mark: mark, secret: "Zq7" + mark + "K3v9xT", pw: "Wp4" + mark + "J8m2yR"}
	c.needles = canaryNeedles(mark, c.secret, c.pw)
	binDir, keys, dir, planDir := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	c.tmp = t.TempDir()
	c.bin = buildTend(t, binDir)
	c.env = []string{"TEND_CANARY=" + c.secret, "TEND_TEST_DB_ADMIN=" + dbAdminPW, "TMPDIR=" + c.tmp, "XDG_STATE_HOME=" + keys, "NO_COLOR=1"}
	if err := l.WriteInventory(filepath.Join(dir, "inventory.hcl")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "main.hcl"), strings.ReplaceAll(canaryDBConfig, "PGADDR", addr))

	// The only command line allowed to hold a canary: the -var pw=...
	// the operator gives tend.
	sampler := startSampler(c.needles, func(argv []string) bool {
		if len(argv) == 0 || argv[0] != c.bin {
			return false
		}
		for _, a := range argv {
			if c.hold([]byte(a)) != "" && a != "pw="+c.pw {
				return false
			}
		}
		return true
	})
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			sampler.finish()
		}
	})
	// A positive control: a process on the host with the mark on its
	// command line is seen.
	control := "ctl-" + mark
	sampler.control(t, func(cmd string) (string, error) { return l.Exec(1, cmd) }, control)

	// canLogin tries a password with the clients, given in their
	// environment (not on their command lines).
	canLogin := func(engine, user, pw string) bool {
		script := "cd /tmp && PGPASSWORD='" + pw + "' psql -h " + addr + " -U " + user + " -d postgres -Atc 'SELECT 1'"
		if engine == "mariadb" {
			script = "MYSQL_PWD='" + pw + "' mariadb -u" + user + " -N -e 'SELECT 1'"
		}
		res, err := tr.Run(context.Background(), transport.Command{Script: script})
		return err == nil && res.ExitStatus == 0 && strings.TrimSpace(string(res.Stdout)) == "1"
	}

	v := []string{"-var", "pw=" + c.pw}
	planFile := filepath.Join(planDir, "saved.plan")
	if _, _, code := c.tend(nil, append([]string{"validate", "-C", dir}, v...)...); code != 0 {
		t.Errorf("validate: exit %d", code)
	}
	if out, _, code := c.tend(nil, append([]string{"plan", "-C", dir}, v...)...); code != 0 || !strings.Contains(out, "db_user.app") {
		t.Errorf("plan: exit %d, want the changes", code)
	}
	c.tend(nil, append([]string{"plan", "-C", dir, "--json"}, v...)...)
	if _, _, code := c.tend(nil, append([]string{"plan", "-C", dir, "-out", planFile}, v...)...); code != 0 {
		t.Errorf("plan -out: exit %d", code)
	}
	for _, f := range [][]string{nil, {"--json"}, {"--format", "markdown"}} {
		if _, _, code := c.tend(nil, append([]string{"show", "-C", dir, planFile}, f...)...); code != 0 {
			t.Errorf("show PLANFILE %v: exit %d", f, code)
		}
	}
	if pb, err := os.ReadFile(planFile); err != nil {
		t.Errorf("the saved plan: %v", err)
	} else {
		c.check("the saved plan", pb)
	}
	if _, _, code := c.tend(nil, append([]string{"apply", planFile, "--json"}, v...)...); code != 0 {
		t.Fatalf("apply of the saved plan: exit %d", code)
	}
	for _, u := range []struct{ engine, user, pw string }{{"postgresql", "app", c.secret}, {"mariadb", "web", c.pw}, {"postgresql", "peer", c.secret}} {
		if !canLogin(u.engine, u.user, u.pw) {
			t.Errorf("%s: %s does not log in with its canary password", u.engine, u.user)
		}
	}

	// Passwords set by hand: drift reports them in each format; apply
	// sets the canaries again (journaling the hand-set verifiers);
	// rollback puts the hand-set ones back.
	hostRun(t, tr, `cd /tmp && runuser -u postgres -- psql -q -c "ALTER ROLE app PASSWORD 'hand-set-pw'" && mariadb -e "SET PASSWORD FOR web@'%' = PASSWORD('hand-set-pw')"`)
	junit := filepath.Join(planDir, "drift.xml")
	for _, f := range [][]string{{"--format", "junit"}, {"--format", "json"}, nil} {
		out, _, code := c.tend(nil, append(append([]string{"drift", "-C", dir}, v...), f...)...)
		if code != 2 {
			t.Errorf("drift %v: exit %d, want 2 (drift)", f, code)
		}
		if len(f) > 0 && f[1] == "junit" {
			write(t, junit, out)
		}
	}
	out, _, code := c.tend(nil, append([]string{"apply", "-C", dir, "-y", "--json"}, v...)...)
	if code != 0 {
		t.Fatalf("apply --json: exit %d", code)
	}
	id := ""
	for _, line := range strings.Split(out, "\n") {
		var m struct {
			Type  string `json:"type"`
			RunID string `json:"run_id"`
		}
		if json.Unmarshal([]byte(line), &m) == nil && m.Type == "outcome" && m.RunID != "" {
			id = m.RunID
		}
	}
	if !canLogin("postgresql", "app", c.secret) || !canLogin("mariadb", "web", c.pw) {
		t.Errorf("apply did not set the canary passwords again")
	}
	c.tend(nil, "runs", "-C", dir)
	if runs, err := journal.List(dir); err == nil {
		for _, r := range runs {
			for _, f := range [][]string{nil, {"--json"}, {"--format", "markdown"}} {
				if _, _, code := c.tend(nil, append([]string{"show", "-C", dir, r.ID}, f...)...); code != 0 {
					t.Errorf("show %s %v: exit %d", r.ID, f, code)
				}
			}
		}
	}
	if id == "" {
		t.Error("no run id in apply --json's output")
	} else if _, _, code := c.tend(nil, "rollback", "-C", dir, id, "-y"); code != 0 {
		t.Errorf("rollback %s: exit %d", id, code)
	}
	if !canLogin("postgresql", "app", "hand-set-pw") || !canLogin("mariadb", "web", "hand-set-pw") {
		t.Errorf("rollback did not put the hand-set passwords back")
	}
	c.tend(nil, "facts", "-C", dir)
	// The database clients' connections close before the sampling stops.
	time.Sleep(time.Second)

	samples, procHits := sampler.finish()
	stopped = true
	t.Logf("%d samples of every process's command line", samples)
	seen := false
	for _, hit := range procHits {
		if strings.Contains(hit, control) {
			seen = true
			continue
		}
		t.Errorf("a command line holds the canary: %s", hit)
	}
	if !seen {
		t.Errorf("the sampler missed the control process %q", control)
	}

	// The servers log every statement: tend's password changes are there,
	// as verifiers.
	logs := hostRun(t, tr, "cat /var/log/postgresql/postgresql-15-main.log /var/log/mysql-general.log")
	if !strings.Contains(logs, `PASSWORD 'SCRAM-SHA-256$4096:`) || !strings.Contains(logs, `IDENTIFIED VIA mysql_native_password USING '*`) {
		t.Errorf("the server logs do not show tend's password statements: is statement logging on?\n%.3000s", logs)
	}
	for _, hit := range c.walk(h.Root, func(p string) bool {
		rel := strings.TrimPrefix(p, h.Root)
		for _, skip := range []string{"/proc", "/sys", "/dev", "/usr", "/lib", "/bin", "/sbin", "/boot"} {
			if rel == skip {
				return true
			}
		}
		return false
	}) {
		t.Errorf("the host's %s holds the canary", strings.TrimPrefix(hit, h.Root))
	}
	for _, root := range []string{dir, planDir, keys, c.tmp} {
		for _, hit := range c.walk(root, nil) {
			t.Errorf("the controller's %s holds the canary", hit)
		}
	}
}
