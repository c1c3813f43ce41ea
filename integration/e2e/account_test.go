package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/integration/lab"
	"github.com/tendhq/tend/inventory"
	"github.com/tendhq/tend/journal"
	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/resources/account"
	"github.com/tendhq/tend/resources/resourcetest"
	"github.com/tendhq/tend/transport"
	"github.com/tendhq/tend/transport/ssh"
)

// dial opens an SSH transport to lab host i as root.
func dial(t *testing.T, l *lab.Lab, i int) transport.Transport {
	t.Helper()
	inv := filepath.Join(t.TempDir(), "inventory.hcl")
	if err := l.WriteInventory(inv, lab.InventoryHosts(i)); err != nil {
		t.Fatal(err)
	}
	in, diags := inventory.Load([]string{inv}, nil)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	tr, err := ssh.Dial(context.Background(), in.Host(l.Host(i).Name), ssh.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

func strs(v ...string) cty.Value {
	if len(v) == 0 {
		return cty.ListValEmpty(cty.String)
	}
	vals := make([]cty.Value, len(v))
	for i, s := range v {
		vals[i] = cty.StringVal(s)
	}
	return cty.ListVal(vals)
}

// with returns a copy of m with more attributes.
func with(m map[string]cty.Value, kv ...any) map[string]cty.Value {
	out := map[string]cty.Value{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1].(cty.Value)
	}
	return out
}

// Password hashes as /etc/shadow stores them (yescrypt); their values
// never matter to tend, only that they are carried verbatim.
const (
	hash1 = "$y$j9T$7o4v4rrzFp1xQmXN2b4I0/$u0p3sBUOn9fTgDLDCkfyDIzG5dHc6N/1rWZXFd7r4fA"
	hash2 = "$y$j9T$KsmK1xp6ZTy7WvPcGvJqS0$EGiHrKbg8MOYE9p3Fq0mYb1bAM7DIh4b3G/1JY5Yo2C"
	key1  = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO1aqyVQnIu4gZh1XK2nWuvFqN5u0bUjB7bXl9vxDY2x one@example"
	key2  = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBg2vV6S1hZp3sQ0b3W1D9lJk9cQ9bVt7Kk0mGxS0y4y two@example"
)

// TestAccountContract plays the idempotence contract for group and user
// on a lab host over SSH: create, change each attribute, hand changes
// (drift), absent; each step is applied, verified, reverted (the probed
// pre-state restored exactly, password hash and aging included) and
// applied again.
func TestAccountContract(t *testing.T) {
	lab.Required(t)
	l := lab.StartT(t, lab.Options{Hosts: 1, Name: "acct"})
	tr := dial(t, l, 1)
	host := &resources.Host{Name: l.Host(1).Name, T: tr, RunID: "contract", BackupDir: "/var/lib/tend/backup/contract"}
	u, g := account.User{}, account.Group{}
	s := cty.StringVal
	admins := map[string]cty.Value{"name": s("admins"), "gid": cty.NumberIntVal(1500)}
	deploy := map[string]cty.Value{"name": s("deploy"), "uid": cty.NumberIntVal(2001), "shell": s("/bin/bash"), "groups": strs("sudo"),
		"comment": s("Deploy,,,"), "password_hash": s(hash1), "authorized_keys": strs(key1)}
	// d changes deploy's configuration and returns it. Steps call it (and
	// never read deploy directly): Go evaluates the calls in a composite
	// literal in order, but not plain variable reads among them.
	d := func(kv ...any) map[string]cty.Value { deploy = with(deploy, kv...); return deploy }
	resourcetest.Run(t, tr, host, nil, []resourcetest.Step{
		{Name: "group create", Type: g, Config: admins, Want: plan.Create},
		{Name: "group no-op", Type: g, Config: admins, Want: plan.NoOp},
		{Name: "group gid", Type: g, Config: with(admins, "gid", cty.NumberIntVal(1501)), Want: plan.Update},
		{Name: "group members", Type: g, Config: with(admins, "gid", cty.NumberIntVal(1501), "members", strs("root", lab.OpsUser)), Want: plan.Update},
		{Name: "group members drift", Type: g, Setup: "gpasswd -a daemon admins",
			Config: with(admins, "gid", cty.NumberIntVal(1501), "members", strs("root", lab.OpsUser)), Want: plan.Update},
		{Name: "group members emptied", Type: g, Config: with(admins, "gid", cty.NumberIntVal(1501), "members", strs()), Want: plan.Update},

		{Name: "user create", Type: u, Config: d(), Want: plan.Create},
		{Name: "user no-op", Type: u, Config: d(), Want: plan.NoOp},
		{Name: "user uid", Type: u, Config: d("uid", cty.NumberIntVal(2002)), Want: plan.Update},
		{Name: "user primary group", Type: u, Config: d("group", s("admins")), Want: plan.Update},
		{Name: "user primary group by gid", Type: u, Config: d("group", s("27")), Want: plan.Update},
		{Name: "user groups appended", Type: u, Config: d("groups", strs("sudo", "adm")), Want: plan.Update},
		{Name: "user groups exclusive", Type: u, Config: d("groups", strs("adm", "admins"), "groups_exclusive", cty.True), Want: plan.Update},
		{Name: "user shell", Type: u, Config: d("shell", s("/bin/sh")), Want: plan.Update},
		{Name: "user home", Type: u, Config: d("home", s("/srv/deploy")), Want: plan.Update},
		{Name: "user comment", Type: u, Config: d("comment", s("Deploy Bot,room 1,,")), Want: plan.Update},
		{Name: "user password", Type: u, Config: d("password_hash", s(hash2)), Want: plan.Update},
		{Name: "user password locked", Type: u, Config: d("password_hash", s("!")), Want: plan.Update},
		{Name: "user keys", Type: u, Config: d("authorized_keys", strs(key1, key2)), Want: plan.Update},
		{Name: "user keys emptied", Type: u, Config: d("authorized_keys", strs()), Want: plan.Update},
		{Name: "user keys again", Type: u, Config: d("authorized_keys", strs(key2)), Want: plan.Update},
		{Name: "user shell drift", Type: u, Setup: "usermod -s /bin/dash deploy", Config: d(), Want: plan.Update},
		{Name: "user keys mode drift", Type: u, Setup: "chmod 0644 /srv/deploy/.ssh/authorized_keys; chown root /srv/deploy/.ssh", Config: d(), Want: plan.Update},
		{Name: "user keys content drift", Type: u, Setup: "echo 'ssh-rsa AAAAB3 intruder' >> /srv/deploy/.ssh/authorized_keys", Config: d(), Want: plan.Update},
		{Name: "user keys symlink drift", Type: u, Setup: "cd /srv/deploy/.ssh && mv authorized_keys k && ln -s k authorized_keys", Config: d(), Want: plan.Update},
		{Name: "user no-op again", Type: u, Config: d(), Want: plan.NoOp},
		{Name: "user absent", Type: u, Config: map[string]cty.Value{"name": s("deploy"), "state": s("absent")}, Want: plan.Delete},
		{Name: "user create again", Type: u, Config: d(), Want: plan.Create},
		{Name: "user absent, remove home", Type: u, Setup: "echo mail > /var/mail/deploy; echo data > /srv/deploy/data",
			Config: map[string]cty.Value{"name": s("deploy"), "state": s("absent"), "remove_home": cty.True}, Want: plan.Delete},
		{Name: "system user", Type: u, Config: map[string]cty.Value{"name": s("svc"), "system": cty.True, "create_home": cty.False, "shell": s("/usr/sbin/nologin")}, Want: plan.Create},
		{Name: "user in a new group", Type: u, Config: map[string]cty.Value{"name": s("carol"), "group": s("admins"), "groups": strs("admins", "sudo")}, Want: plan.Create},
		{Name: "group absent", Type: g, Setup: "userdel carol", Config: map[string]cty.Value{"name": s("admins"), "state": s("absent")}, Want: plan.Delete},
		{Name: "user absent when absent", Type: u, Config: map[string]cty.Value{"name": s("nobody2"), "state": s("absent")}, Want: plan.NoOp},
	})
}

// accountSnapshot is everything about the accounts on a host a revert
// must restore, read inside the host with getent and stat: the whole
// passwd, shadow, group and gshadow databases, subordinate ids, and the
// homes, mail spools and authorized_keys of the users named.
func accountSnapshot(t *testing.T, l *lab.Lab, i int, users ...string) string {
	t.Helper()
	script := `getent passwd; echo; getent shadow; echo; getent group; echo; getent gshadow; echo; cat /etc/subuid /etc/subgid; echo
for u in ` + strings.Join(users, " ") + `; do
  for p in /home/$u /srv/$u /var/mail/$u; do
    if [ -e "$p" ]; then find "$p" -printf '%p %y %m %u %g %s\n' | sort; find "$p" -type f -exec sha256sum {} + | sort; else echo "$p missing"; fi
  done
done`
	out, err := l.Exec(i, script)
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	return out
}

// handMadeDeploy creates the user deploy by hand, with attributes tend
// will change: non-default aging, an extra group, keys with loose modes.
const handMadeDeploy = `set -e
useradd -m -u 3001 -s /bin/sh -c 'Old Deploy,,,' -G adm deploy
printf '%s\n' 'deploy:` + hash1 + `' | chpasswd -e
chage -d 19500 -m 1 -M 90 -W 14 -I 7 -E 2030-01-01 deploy
mkdir -m 0755 /home/deploy/.ssh
echo '` + key1 + `' > /home/deploy/.ssh/authorized_keys
chmod 0640 /home/deploy/.ssh/authorized_keys
chown -R deploy:deploy /home/deploy/.ssh
echo 'You have mail' > /var/mail/deploy
`

func diffLines(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	in := map[string]int{}
	for _, l := range bl {
		in[l]++
	}
	var out []string
	for _, l := range al {
		if in[l] > 0 {
			in[l]--
			continue
		}
		out = append(out, "- "+l)
	}
	am := map[string]int{}
	for _, l := range al {
		am[l]++
	}
	for _, l := range bl {
		if am[l] > 0 {
			am[l]--
			continue
		}
		out = append(out, "+ "+l)
	}
	return strings.Join(out, "\n")
}

// TestUserCLI: a user and its group applied to two lab hosts through the
// CLI; the user can log in with the managed key; the second plan is a
// no-op; a hand change of the shell is reported for exactly that
// resource on that host and apply restores it; tend rollback restores
// every attribute (getent passwd/shadow/group/gshadow, subordinate ids,
// home, keys) exactly; no password hash ever appears in output or journal.
func TestUserCLI(t *testing.T) {
	lab.Required(t)
	l := lab.StartT(t, lab.Options{Hosts: 2, Name: "ucli"})
	dir := t.TempDir()
	// The run keys of the journals' secret undo data.
	keys := t.TempDir()
	t.Setenv("XDG_STATE_HOME", keys)
	if err := l.WriteInventory(filepath.Join(dir, "inventory.hcl")); err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(l.ClientKeyFile() + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("DEPLOY_HASH", hash2)
	write(t, filepath.Join(dir, "main.hcl"), fmt.Sprintf(`
group "admins" {
  gid = 1600
}
user "deploy" {
  uid              = 3002
  group            = group.admins.name
  groups           = ["sudo"]
  groups_exclusive = true
  shell            = "/bin/bash"
  home             = "/srv/deploy"
  comment          = "Deploy Bot"
  password_hash    = secret("env:DEPLOY_HASH")
  authorized_keys  = [%q]
}
`, strings.TrimSpace(string(pub))))
	snap := map[int]string{}
	for _, i := range []int{1, 2} {
		if _, err := l.Exec(i, handMadeDeploy); err != nil {
			t.Fatal(err)
		}
		snap[i] = accountSnapshot(t, l, i, "deploy")
	}
	var all strings.Builder
	tendAll := func(args ...string) (out string, code int) {
		// A panic in the CLI fails this test, not the whole test binary.
		defer func() {
			if r := recover(); r != nil {
				t.Errorf("tend %s panicked: %v", strings.Join(args, " "), r)
				out, code = "", -1
			}
		}()
		out, errOut, code := tend(t, args...)
		all.WriteString(out + errOut)
		return out, code
	}
	out, code := tendAll("plan", "-C", dir)
	if code != 0 || !strings.Contains(out, `shell: "/bin/sh" → "/bin/bash"`) || !strings.Contains(out, "password_hash: (sensitive) → (sensitive)") {
		t.Errorf("plan: exit %d, want the shell change and a sensitive password change", code)
	}
	if _, code := tendAll("apply", "-C", dir, "-y"); code != 0 {
		t.Fatalf("apply: exit %d", code)
	}
	runs, err := journal.List(dir)
	if err != nil || len(runs) != 1 {
		t.Fatalf("journal: %v %v", runs, err)
	}
	first := runs[0].ID
	for _, i := range []int{1, 2} {
		got, err := l.Exec(i, "getent passwd deploy; getent shadow deploy | cut -d: -f2; id -Gn deploy; stat -c '%a %U' /srv/deploy/.ssh /srv/deploy/.ssh/authorized_keys")
		want := "deploy:x:3002:1600:Deploy Bot:/srv/deploy:/bin/bash\n" + hash2 + "\nadmins sudo\n700 deploy\n600 deploy\n"
		if err != nil || got != want {
			t.Errorf("host %d after apply:\n%s\nwant\n%s (%v)", i, got, want, err)
		}
	}
	login := l.SSHCommand(context.Background(), 1, "deploy", "id -un")
	if b, err := login.Output(); err != nil || string(b) != "deploy\n" {
		t.Errorf("login as deploy with the managed key: %q %v", b, err)
	}
	if _, code := tendAll("plan", "-C", dir, "-detailed-exitcode"); code != 0 {
		t.Errorf("second plan: exit %d, want 0", code)
	}

	// Drift on host 2 only.
	if _, err := l.Exec(2, "usermod -s /bin/sh deploy"); err != nil {
		t.Fatal(err)
	}
	changed, errs := planJSON(t, "-C", dir)
	if want := map[string][]string{l.Host(2).Name: {"user.deploy"}}; len(errs) > 0 || fmt.Sprint(changed) != fmt.Sprint(want) {
		t.Errorf("drift reported as %v (errors %v), want %v", changed, errs, want)
	}
	out, code = tendAll("plan", "-C", dir, "-detailed-exitcode")
	if code != 2 || !strings.Contains(out, `shell: "/bin/sh" → "/bin/bash"`) || strings.Contains(out, "password_hash") {
		t.Errorf("plan after the hand change: exit %d, want 2 with only the shell", code)
	}
	if _, code := tendAll("apply", "-C", dir, "-y"); code != 0 {
		t.Fatalf("restoring apply: exit %d", code)
	}
	if got, _ := l.Exec(2, "getent passwd deploy"); !strings.HasSuffix(got, ":/bin/bash\n") {
		t.Errorf("shell not restored: %q", got)
	}
	if _, code := tendAll("plan", "-C", dir, "-detailed-exitcode"); code != 0 {
		t.Errorf("plan after restore: exit %d, want 0", code)
	}

	// Roll back: host 2 its drift repair, then both the first run.
	runs, _ = journal.List(dir)
	second := runs[len(runs)-1].ID
	if _, code := tendAll("rollback", second, "-C", dir, "-y"); code != 0 {
		t.Fatalf("rollback of the repair: exit %d", code)
	}
	if _, code := tendAll("rollback", first, "-C", dir, "-y"); code != 0 {
		t.Fatalf("rollback: exit %d", code)
	}
	for _, i := range []int{1, 2} {
		if got := accountSnapshot(t, l, i, "deploy"); got != snap[i] {
			t.Errorf("host %d: the rollback did not restore the accounts exactly:\n%s", i, diffLines(snap[i], got))
		}
	}

	// The hashes never show in output nor, in clear, in the journal's
	// bytes: the previous hash is in a change's undo data, encrypted with
	// the run's key, kept outside the configuration directory.
	for _, h := range []string{hash1, hash2} {
		if strings.Contains(all.String(), h) {
			t.Errorf("a password hash appears in the output")
		}
	}
	runs, _ = journal.List(dir)
	if fi, err := os.Stat(filepath.Join(keys, "tend", "keys", first+".key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the key of run %s: %v, want a file of mode 0600", first, err)
	}
	for _, r := range runs {
		fi, err := os.Stat(filepath.Join(journal.Dir(dir), r.ID+".journal"))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("journal %s: %v %v, want mode 0600", r.ID, fi.Mode(), err)
		}
		raw, _ := os.ReadFile(filepath.Join(journal.Dir(dir), r.ID+".journal"))
		if strings.Contains(string(raw), hash1) || strings.Contains(string(raw), hash2) {
			t.Errorf("run %s: a password hash is in the journal file in clear", r.ID)
		}
		for _, jh := range r.Hosts {
			for _, e := range jh.Changes {
				b, _ := json.Marshal([]any{e.Before, e.After})
				if strings.Contains(string(b), hash1) || strings.Contains(string(b), hash2) {
					t.Errorf("run %s: %s: a password hash is in a journaled state", r.ID, e.Address)
				}
			}
		}
	}
}

// TestUserRemoveHomeCLI: removing users with remove_home. A home on the
// backup directory's filesystem is moved aside and put back by rollback
// with the mail spool; one on another filesystem is deleted, and the plan
// and the rollback say that change cannot be reverted.
func TestUserRemoveHomeCLI(t *testing.T) {
	lab.Required(t)
	l := lab.StartT(t, lab.Options{Hosts: 1, Name: "rmhome"})
	dir := t.TempDir()
	if err := l.WriteInventory(filepath.Join(dir, "inventory.hcl")); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Exec(1, `set -e
mkdir -p /mnt/other && mount -t tmpfs tmpfs /mnt/other
useradd -m -d /mnt/other/far -s /bin/bash far
useradd -m -u 4001 -c 'Near By' near
printf '%s\n' 'near:`+hash1+`' | chpasswd -e
echo data > /home/near/file; chown near: /home/near/file
echo mail > /var/mail/near`); err != nil {
		t.Fatal(err)
	}
	near := func() string {
		out, err := l.Exec(1, `getent passwd near; getent shadow near; getent group near; grep '^near:' /etc/subuid /etc/subgid
find /home/near /var/mail/near -printf '%p %y %m %u %g %s\n' | sort; cat /home/near/file /var/mail/near`)
		if err != nil {
			t.Fatalf("near: %v", err)
		}
		return out
	}
	before := near()
	write(t, filepath.Join(dir, "main.hcl"), `
user "near" {
  state       = "absent"
  remove_home = true
}
user "far" {
  state       = "absent"
  remove_home = true
}
`)
	out, _, code := tend(t, "plan", "-C", dir)
	if code != 0 || !strings.Contains(out, "cannot be rolled back: the home directory /mnt/other/far is on another filesystem") ||
		strings.Count(out, "cannot be rolled back") != 1 {
		t.Errorf("plan: exit %d, want exactly far's change marked irreversible", code)
	}
	if _, _, code := tend(t, "apply", "-C", dir, "-y"); code != 0 {
		t.Fatalf("apply: exit %d", code)
	}
	if out, _ := l.Exec(1, "getent passwd near far; ls -d /home/near /mnt/other/far /var/mail/near 2>&1; true"); strings.Contains(out, "near:") ||
		!strings.Contains(out, "cannot access '/home/near'") || !strings.Contains(out, "cannot access '/mnt/other/far'") || !strings.Contains(out, "cannot access '/var/mail/near'") {
		t.Errorf("after apply:\n%s", out)
	}
	runs, _ := journal.List(dir)
	out, _, code = tend(t, "rollback", runs[len(runs)-1].ID, "-C", dir, "-y")
	if code != 0 || !strings.Contains(out, "user.near reverted") || !strings.Contains(out, "user.far cannot be reverted") {
		t.Errorf("rollback: exit %d", code)
	}
	if got := near(); got != before {
		t.Errorf("near after rollback:\n%s", diffLines(before, got))
	}
}
