package account

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/probe"
	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/transport/local"
)

// fixtures writes account files into a directory and points the probes
// at it for the test.
func fixtures(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(strings.ReplaceAll(content, "HOME", dir)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := etcDir
	etcDir = dir + "/"
	t.Cleanup(func() { etcDir = old })
	return dir
}

var etcFiles = map[string]string{
	"passwd": `root:x:0:0:root:/root:/bin/bash
deployer:x:1002:1002::/home/deployer:/bin/sh
deploy:x:1001:1001:Deploy User,,,:HOME:/bin/bash
odd:x:1003:4242:a * b $(x):/nonexistent:
`,
	"group": `root:x:0:
sudo:x:27:deployer,deploy
adm:x:4:deploy
deploy:x:1001:
deployer:x:1002:deploy2
docker:x:999:deployerx,xdeploy
web:x:33:alice,deploy,bob
broken:x:55
`,
	"shadow": `root:*:19000:0:99999:7:::
deploy:$y$j9T$salt$hash:19000:0:99999:7:::
`,
	"gshadow": `sudo:!:root:deployer,deploy
web:$6$gsalt$ghash:alice:alice,deploy,bob
`,
	"subuid": "deployer:100000:65536\ndeploy:165536:65536\n1001:300000:10\n",
	"subgid": "deploy:165536:65536\n",
}

// probeRead runs a type's probe on the local transport and reads it.
func probeRead(t *testing.T, typ resources.Type, cfg cty.Value) (*resources.State, error) {
	t.Helper()
	res, err := probe.Run(context.Background(), local.New(), false, []probe.Fragment{{ID: "r", Script: typ.Probe(cfg, nil)}})
	if err != nil {
		t.Fatal(err)
	}
	if msg, ok := res.Failed["r"]; ok {
		t.Fatalf("probe failed: %s", msg)
	}
	if o := res.Outputs["r"].Other; o != "" {
		t.Errorf("the probe printed stray output: %q", o)
	}
	return typ.Read(cfg, res.Outputs["r"])
}

// show renders attributes for comparison, marking sensitive values.
func show(attrs map[string]cty.Value) map[string]string {
	out := map[string]string{}
	for k, v := range attrs {
		u, marks := v.UnmarkDeep()
		s := u.GoString()
		if len(marks) > 0 {
			s = "(sensitive) " + s
		}
		out[k] = s
	}
	return out
}

func TestUserProbeRead(t *testing.T) {
	dir := fixtures(t, etcFiles)
	s := cty.StringVal
	list := func(v ...string) cty.Value { return resources.StringList(v) }
	cases := map[string]struct {
		config map[string]cty.Value
		want   map[string]string
	}{
		"everything": {
			config: map[string]cty.Value{"name": s("deploy"), "group": s("deploy"), "groups": list("sudo", "docker"), "password_hash": s("x")},
			want: map[string]string{
				"name": `cty.StringVal("deploy")`, "uid": `cty.NumberIntVal(1001)`, "gid": `cty.StringVal("1001")`, "group_name": `cty.StringVal("deploy")`,
				"group": `cty.StringVal("deploy")`, "groups": `cty.ListVal([]cty.Value{cty.StringVal("sudo")})`,
				"all_groups": `cty.ListVal([]cty.Value{cty.StringVal("adm"), cty.StringVal("sudo"), cty.StringVal("web")})`,
				"shell":      `cty.StringVal("/bin/bash")`, "home": fmt.Sprintf("cty.StringVal(%q)", dir), "comment": `cty.StringVal("Deploy User,,,")`,
				"home_exists": "cty.True", "password_hash": `(sensitive) cty.StringVal("$y$j9T$salt$hash")`, "password_aging": `cty.StringVal("19000:0:99999:7::")`,
				"subuids": `cty.ListVal([]cty.Value{cty.StringVal("165536-231071"), cty.StringVal("300000-300009")})`,
				"subgids": `cty.ListVal([]cty.Value{cty.StringVal("165536-231071")})`,
			},
		},
		"exclusive groups, by gid": {
			config: map[string]cty.Value{"name": s("deploy"), "group": s("1001"), "groups": list("27", "adm"), "groups_exclusive": cty.True},
			want: map[string]string{
				"group": `cty.StringVal("1001")`, "groups": `cty.ListVal([]cty.Value{cty.StringVal("27"), cty.StringVal("adm"), cty.StringVal("web")})`,
				"groups_exclusive": "cty.True",
			},
		},
		"primary group without entry": {
			config: map[string]cty.Value{"name": s("odd"), "group": s("odd")},
			want: map[string]string{
				"group": `cty.StringVal("4242")`, "group_name": `cty.StringVal("")`, "comment": `cty.StringVal("a * b $(x)")`, "shell": `cty.StringVal("")`,
				"all_groups": `cty.ListValEmpty(cty.String)`, "home_exists": "cty.False",
			},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := object(User{}, c.config)
			st, err := probeRead(t, User{}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !st.Present {
				t.Fatal("not present")
			}
			got := show(st.Attrs)
			for k, want := range c.want {
				if got[k] != want {
					t.Errorf("%s = %s, want %s", k, got[k], want)
				}
			}
		})
	}
	st, err := probeRead(t, User{}, object(User{}, map[string]cty.Value{"name": s("nobody-here")}))
	if err != nil || st.Present {
		t.Errorf("a missing user: %+v %v", st, err)
	}
	// A prefix of an existing name is another user.
	st, err = probeRead(t, User{}, object(User{}, map[string]cty.Value{"name": s("deplo")}))
	if err != nil || st.Present {
		t.Errorf("a prefix of a name: %+v %v", st, err)
	}
}

// TestUserDesiredMatchesRead: for a user already as configured, the plan
// is a no-op (Read gives every attribute in the form Desired uses).
func TestUserDesiredMatchesRead(t *testing.T) {
	dir := fixtures(t, etcFiles)
	s := cty.StringVal
	cfg := object(User{}, map[string]cty.Value{
		"name": s("deploy"), "uid": cty.NumberIntVal(1001), "group": s("deploy"), "groups": resources.StringList([]string{"sudo", "adm", "sudo"}),
		"shell": s("/bin/bash"), "home": s(dir), "comment": s("Deploy User,,,"), "password_hash": s("$y$j9T$salt$hash").Mark(resources.Sensitive),
		"create_home": cty.False, "system": cty.False, "groups_exclusive": cty.False,
	})
	want, err := User{}.Desired(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := probeRead(t, User{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range want.AttrNames() {
		if differs(cur, want, k) {
			t.Errorf("%s: current %#v, desired %#v", k, cur.Attrs[k], want.Attrs[k])
		}
	}
	if !want.Attrs["password_hash"].IsMarked() || !cur.Attrs["password_hash"].IsMarked() {
		t.Error("password hashes are not marked sensitive")
	}
}

func TestUserDesiredErrors(t *testing.T) {
	s := cty.StringVal
	cases := map[string]struct {
		config map[string]cty.Value
		attr   string
	}{
		"no name":             {config: map[string]cty.Value{}, attr: "name"},
		"bad name":            {config: map[string]cty.Value{"name": s("-o")}, attr: "name"},
		"bad state":           {config: map[string]cty.Value{"name": s("a"), "state": s("gone")}, attr: "state"},
		"fractional uid":      {config: map[string]cty.Value{"name": s("a"), "uid": cty.NumberFloatVal(1.5)}, attr: "uid"},
		"negative uid":        {config: map[string]cty.Value{"name": s("a"), "uid": cty.NumberIntVal(-1)}, attr: "uid"},
		"huge uid":            {config: map[string]cty.Value{"name": s("a"), "uid": cty.NumberIntVal(4294967295)}, attr: "uid"},
		"bad group":           {config: map[string]cty.Value{"name": s("a"), "group": s("a b")}, attr: "group"},
		"bad groups":          {config: map[string]cty.Value{"name": s("a"), "groups": resources.StringList([]string{"ok", "no,pe"})}, attr: "groups"},
		"colon in comment":    {config: map[string]cty.Value{"name": s("a"), "comment": s("a:b")}, attr: "comment"},
		"relative home":       {config: map[string]cty.Value{"name": s("a"), "home": s("home/a")}, attr: "home"},
		"unclean home":        {config: map[string]cty.Value{"name": s("a"), "home": s("/home/a/")}, attr: "home"},
		"newline in shell":    {config: map[string]cty.Value{"name": s("a"), "shell": s("/bin/sh\n")}, attr: "shell"},
		"colon in hash":       {config: map[string]cty.Value{"name": s("a"), "password_hash": s("$6$a:b")}, attr: "password_hash"},
		"multi-line key":      {config: map[string]cty.Value{"name": s("a"), "authorized_keys": resources.StringList([]string{"ssh-ed25519 A\nssh-rsa B"})}, attr: "authorized_keys"},
		"remove_home present": {config: map[string]cty.Value{"name": s("a"), "remove_home": cty.True}, attr: "remove_home"},
	}
	for name, c := range cases {
		_, err := User{}.Desired(object(User{}, c.config), nil)
		var ae *resources.AttrError
		if !errors.As(err, &ae) || ae.Attr != c.attr {
			t.Errorf("%s: %v, want an AttrError on %s", name, err, c.attr)
		}
		if err != nil && strings.Contains(err.Error(), "$6$") {
			t.Errorf("%s: the error shows the hash: %v", name, err)
		}
	}
	if k, err := (User{}).Key(object(User{}, map[string]cty.Value{"name": s("deploy")})); err != nil || k != "user deploy" {
		t.Errorf("key %q %v", k, err)
	}
}

func TestUserDesiredKeys(t *testing.T) {
	s := cty.StringVal
	st, err := User{}.Desired(object(User{}, map[string]cty.Value{"name": s("a"), "authorized_keys": resources.StringList([]string{"ssh-ed25519 AAA a@b", "ssh-rsa BBB"})}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Str("authorized_keys"); got != "ssh-ed25519 AAA a@b\nssh-rsa BBB\n" {
		t.Errorf("authorized_keys %q", got)
	}
	if got := st.Str("authorized_keys_access"); got != "~/.ssh 0700, authorized_keys 0600, owned by a" {
		t.Errorf("access %q", got)
	}
	st, _ = User{}.Desired(object(User{}, map[string]cty.Value{"name": s("a"), "authorized_keys": cty.ListValEmpty(cty.String)}), nil)
	if v := st.Attrs["authorized_keys"]; v.IsNull() || v.AsString() != "" {
		t.Errorf("an empty list should mean an empty file: %#v", v)
	}
}

func TestReadKeys(t *testing.T) {
	pw := passwdEntry{Name: "deploy", UID: 1001, GID: "1001"}
	cases := map[string]struct {
		values       map[string]string
		keys, access string
	}{
		"as wanted": {values: map[string]string{"ssh_dir": "700 1001 1001", "keys_stat": "600 1001 1001 6", "keys": "a2V5MQo="},
			keys: `cty.StringVal("key1\n")`, access: `cty.StringVal("~/.ssh 0700, authorized_keys 0600, owned by deploy")`},
		"wrong owner and mode": {values: map[string]string{"ssh_dir": "755 0 0", "keys_stat": "644 1001 1001 6", "keys": "a2V5MQo="},
			keys: `cty.StringVal("key1\n")`, access: `cty.StringVal("~/.ssh 0755, authorized_keys 0644, owned by 0:0 and 1001:1001")`},
		"no dir":       {values: map[string]string{}, keys: `cty.NullVal(cty.String)`, access: `cty.StringVal("~/.ssh missing")`},
		"no file":      {values: map[string]string{"ssh_dir": "700 1001 1001"}, keys: `cty.NullVal(cty.String)`, access: `cty.StringVal("~/.ssh 0700, authorized_keys missing")`},
		"dir is link":  {values: map[string]string{"ssh_dir": "link"}, keys: `cty.StringVal("(~/.ssh is a symbolic link)")`, access: `cty.StringVal("~/.ssh is a symbolic link")`},
		"file is link": {values: map[string]string{"ssh_dir": "700 1001 1001", "keys_stat": "link"}, keys: `cty.StringVal("(authorized_keys is a symbolic link)")`, access: `cty.StringVal("~/.ssh 0700, authorized_keys is a symbolic link")`},
		"large": {values: map[string]string{"ssh_dir": "700 1001 1001", "keys_stat": "600 1001 1001 99999", "keys_sha": "abc"},
			keys: `cty.StringVal("(99999 bytes, sha256 abc)")`, access: `cty.StringVal("~/.ssh 0700, authorized_keys 0600, owned by deploy")`},
		"unreadable": {values: map[string]string{"ssh_dir": "700 1001 1001", "keys_stat": "600 0 0 5"},
			keys: `cty.StringVal("(not readable by the user)")`, access: `cty.StringVal("~/.ssh 0700, authorized_keys 0600, owned by 1001:1001 and 0:0")`},
	}
	for name, c := range cases {
		attrs := map[string]cty.Value{}
		if err := readKeys(attrs, resources.ProbeOutput{Values: c.values}, "deploy", pw); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got := attrs["authorized_keys"].GoString(); got != c.keys {
			t.Errorf("%s: keys %s, want %s", name, got, c.keys)
		}
		if got := attrs["authorized_keys_access"].GoString(); got != c.access {
			t.Errorf("%s: access %s, want %s", name, got, c.access)
		}
	}
}

func TestCurrentGroups(t *testing.T) {
	member := []groupEntry{{Name: "adm", GID: "4"}, {Name: "sudo", GID: "27"}, {Name: "web", GID: "33"}}
	cases := map[string]struct {
		want      []string
		exclusive bool
		got       []string
	}{
		"append: only configured":        {want: []string{"docker", "sudo"}, got: []string{"sudo"}},
		"append: none":                   {want: []string{"docker"}, got: []string{}},
		"append: by gid":                 {want: []string{"27", "adm"}, got: []string{"27", "adm"}},
		"exclusive: all":                 {want: []string{"sudo"}, exclusive: true, got: []string{"adm", "sudo", "web"}},
		"exclusive: by gid where listed": {want: []string{"33"}, exclusive: true, got: []string{"33", "adm", "sudo"}},
	}
	for name, c := range cases {
		if diff := cmp.Diff(c.got, currentGroups(member, c.want, c.exclusive)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
}

func state(present bool, attrs map[string]cty.Value) *resources.State {
	return &resources.State{Present: present, Attrs: attrs}
}

// TestUserCommands pins the commands each change runs and checks that
// no password hash ever appears in a script (only on stdin).
func TestUserCommands(t *testing.T) {
	s := cty.StringVal
	secret := "$6$SECRETSALT$SECRETHASH"
	old := "$6$OLDSALT$OLDHASH"
	cur := state(true, map[string]cty.Value{
		"name": s("deploy"), "uid": cty.NumberIntVal(1001), "gid": s("1001"), "group_name": s("deploy"), "group": s("deploy"),
		"groups": resources.StringList([]string{"sudo"}), "all_groups": resources.StringList([]string{"adm", "sudo"}), "shell": s("/bin/sh"), "home": s("/home/deploy"),
		"comment": s(""), "password_hash": s(old).Mark(resources.Sensitive), "password_aging": s("19000:0:99999:7::"),
		"subuids": resources.StringList([]string{"165536-231071"}),
	})
	want := state(true, map[string]cty.Value{
		"name": s("deploy"), "uid": cty.NumberIntVal(2001), "group": s("users"), "groups": resources.StringList([]string{"docker", "sudo"}),
		"shell": s("/bin/bash"), "home": s("/srv/deploy"), "comment": s("Deploy it; $(rm -rf /)"), "password_hash": s(secret).Mark(resources.Sensitive),
	})
	cases := map[string]struct {
		s        *script
		contains []string
		absent   []string
		stdin    string
	}{
		"create": {
			s: createScript(want, "/var/lib/tend/backup/r/001-x-authorized_keys"),
			contains: []string{
				`useradd -u 2001 -g users -G docker,sudo -s /bin/bash -d /srv/deploy -c 'Deploy it; $(rm -rf /)' -m -- "$n"`,
				"printf 'undo created %s\\n' 1", "| chpasswd -e",
			},
			stdin: "deploy:" + secret + "\n",
		},
		"create system, no home, defaults": {
			s:        createScript(state(true, map[string]cty.Value{"name": s("svc"), "system": cty.True, "create_home": cty.False}), "b"),
			contains: []string{`useradd -r -M -- "$n"`, "useradd -D"},
			absent:   []string{"chpasswd", "setpriv"},
		},
		"update": {
			s:        updateScript(cur, want, "b"),
			contains: []string{`usermod -u 2001 -g users -a -G docker -s /bin/bash -d /srv/deploy -c 'Deploy it; $(rm -rf /)' -- "$n"`, "| chpasswd -e"},
			stdin:    "deploy:" + secret + "\n",
		},
		"update exclusive groups": {
			s:        updateScript(cur, state(true, map[string]cty.Value{"name": s("deploy"), "groups": resources.StringList([]string{"docker"}), "groups_exclusive": cty.True}), "b"),
			contains: []string{`usermod -G docker -- "$n"`},
			absent:   []string{"chpasswd"},
		},
		"update nothing but the password": {
			s:        updateScript(cur, state(true, map[string]cty.Value{"name": s("deploy"), "password_hash": s(secret).Mark(resources.Sensitive)}), "b"),
			contains: []string{"| chpasswd -e"},
			absent:   []string{"usermod"},
			stdin:    "deploy:" + secret + "\n",
		},
		"revert update": {
			s: revertUpdateScript(cur, want, resources.Undo{"password_hash": old}),
			contains: []string{
				`usermod -u 1001 -g 1001 -G adm,sudo -s /bin/sh -d /home/deploy -c '' -- "$n"`,
				"| chpasswd -e", `chage -d 19000 -m 0 -M 99999 -W 7 -I '-1' -E '-1' -- "$n"`,
			},
			stdin: "deploy:" + old + "\n",
		},
		"delete": {
			s:        deleteScript(cur, state(false, map[string]cty.Value{"name": s("deploy")}), &resources.Host{BackupDir: "/b"}),
			contains: []string{`userdel -- "$n"`},
			absent:   []string{"-r", "mv"},
		},
		"delete, remove home by moving it": {
			s:        deleteScript(withAttr(cur, "home_removal", s("move")), state(false, map[string]cty.Value{"name": s("deploy"), "remove_home": cty.True}), &resources.Host{BackupDir: "/b"}),
			contains: []string{`userdel -- "$n"`, `mv -- "$h" /b/001-`, "undo home_backup", "undo mail_backup"},
			absent:   []string{"userdel -r"},
		},
		"delete, remove home on another filesystem": {
			s:        deleteScript(withAttr(cur, "home_removal", s("delete")), state(false, map[string]cty.Value{"name": s("deploy"), "remove_home": cty.True}), &resources.Host{BackupDir: "/b"}),
			contains: []string{`userdel -r -- "$n"`},
		},
		"revert delete": {
			s: revertDeleteScript(cur, resources.Undo{"password_hash": old, "home_backup": "/b/001-x-deploy"}),
			contains: []string{
				"groupadd -g 1001 -- deploy",
				`useradd -M -u 1001 -g 1001 -s /bin/sh -d /home/deploy -c '' -K 'SUB_UID_COUNT=0' -K 'SUB_GID_COUNT=0' -G adm,sudo -- "$n"`,
				`usermod -v 165536-231071 -- "$n"`, "| chpasswd -e", `chage -d 19000`, "mv -- /b/001-x-deploy /home/deploy",
			},
			stdin: "deploy:" + old + "\n",
		},
		"revert create": {
			s:        revertCreateScript(want, resources.Undo{"created": "1", "home_created": "/srv/deploy", "mail_created": "/var/mail/deploy", "group_existed": "deploy:x:1500:"}),
			contains: []string{`userdel -- "$n"`, "rm -rf -- /srv/deploy", "rm -f -- /var/mail/deploy", "groupadd -g 1500 -- \"$n\""},
		},
		"revert create refuses to remove /": {
			s:      revertCreateScript(want, resources.Undo{"created": "1", "home_created": "/", "mail_created": "/etc/passwd"}),
			absent: []string{"rm -rf", "rm -f"},
		},
	}
	for name, c := range cases {
		text := c.s.String()
		for _, w := range c.contains {
			if !strings.Contains(text, w) {
				t.Errorf("%s: the script lacks %q:\n%s", name, w, text)
			}
		}
		for _, w := range c.absent {
			if strings.Contains(text, w) {
				t.Errorf("%s: the script has %q:\n%s", name, w, text)
			}
		}
		if strings.Contains(text, "SECRET") || strings.Contains(text, "OLDHASH") {
			t.Errorf("%s: a password hash is in the script:\n%s", name, text)
		}
		if got := c.s.stdin.String(); got != c.stdin {
			t.Errorf("%s: stdin %q, want %q", name, got, c.stdin)
		}
	}
}

func withAttr(st *resources.State, k string, v cty.Value) *resources.State {
	out := state(st.Present, map[string]cty.Value{})
	for a, x := range st.Attrs {
		out.Attrs[a] = x
	}
	out.Attrs[k] = v
	return out
}

func TestUserKeysCommands(t *testing.T) {
	s := cty.StringVal
	cur := state(true, map[string]cty.Value{"name": s("deploy"), "authorized_keys": cty.NullVal(cty.String), "authorized_keys_access": s("~/.ssh missing")})
	want := state(true, map[string]cty.Value{"name": s("deploy"), "authorized_keys": s("ssh-ed25519 AAA\n"), "authorized_keys_access": s(accessWant("deploy"))})
	sc := updateScript(cur, want, "/b/001-x-authorized_keys")
	text := sc.String()
	for _, w := range []string{`setpriv --reuid="$uid" --regid="$ugid" --clear-groups -- /bin/sh -c`, "chown -h", "cp -pP", "undo keys_backup", "undo keys_home"} {
		if !strings.Contains(text, w) {
			t.Errorf("the script lacks %q:\n%s", w, text)
		}
	}
	if sc.stdin.String() != "ssh-ed25519 AAA\n" {
		t.Errorf("stdin %q", sc.stdin.String())
	}
	// Nothing to do for the keys when only the shell changes.
	sc = updateScript(withAttr(want, "shell", s("/bin/sh")), withAttr(want, "shell", s("/bin/bash")), "b")
	if strings.Contains(sc.String(), "setpriv") {
		t.Errorf("keys rewritten without a change:\n%s", sc.String())
	}
	rs := &script{}
	restoreKeys(rs, resources.Undo{"keys_home": "/home/deploy", "keys_backup": "/b/001", "ssh_dir": "755 0:0"})
	for _, w := range []string{"< \"$b\"", `chown -h -- 0:0 "$d"`, "chmod"} {
		if !strings.Contains(rs.String(), w) {
			t.Errorf("the restore lacks %q:\n%s", w, rs.String())
		}
	}
}

func TestIrreversible(t *testing.T) {
	s := cty.StringVal
	before := state(true, map[string]cty.Value{"name": s("deploy"), "home": s("/home/deploy"), "home_removal": s("delete")})
	gone := state(false, map[string]cty.Value{"name": s("deploy"), "remove_home": cty.True})
	if msg := (User{}).Irreversible(before, gone); !strings.Contains(msg, "/home/deploy is on another filesystem") {
		t.Errorf("got %q", msg)
	}
	for _, r := range []string{"move", "none"} {
		if msg := (User{}).Irreversible(withAttr(before, "home_removal", s(r)), gone); msg != "" {
			t.Errorf("%s: %q", r, msg)
		}
	}
	for fs, want := range map[string]string{"2049 1001 2049 0 ": "move", "2049 1001 2050 0 ": "delete", "2049 0 2049 0 ": "none", "": "none"} {
		if got := homeRemoval(fs, 1001); got != want {
			t.Errorf("homeRemoval(%q) = %s, want %s", fs, got, want)
		}
	}
}

func TestParseUndo(t *testing.T) {
	got := parseUndo([]byte("noise\nundo created 1\nundo home_created /home/a b\nundo keys_backup /b/1\nusermod: no changes\n"))
	want := resources.Undo{"created": "1", "home_created": "/home/a b", "keys_backup": "/b/1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Error(diff)
	}
}

// TestSchemaDocs: every attribute is documented.
func TestSchemaDocs(t *testing.T) {
	for _, typ := range []resources.Type{User{}, Group{}} {
		for _, a := range typ.Schema().Attributes {
			if a.Doc == "" {
				t.Errorf("%s.%s has no Doc", typ.Name(), a.Name)
			}
		}
	}
}

// object builds a full configuration object for a type from the set
// attributes (as resourcetest.Object does).
func object(t resources.Type, attrs map[string]cty.Value) cty.Value {
	m := map[string]cty.Value{}
	for _, a := range t.Schema().Attributes {
		if v, ok := attrs[a.Name]; ok {
			m[a.Name] = v
		} else {
			m[a.Name] = cty.NullVal(a.Type)
		}
	}
	return cty.ObjectVal(m)
}

// TestUserApplyFailureUndone: a change failing part-way is undone at once
// from what its script reported; one that did nothing is left alone.
func TestUserApplyFailureUndone(t *testing.T) {
	s := cty.StringVal
	absent := state(false, map[string]cty.Value{"name": s("deploy")})
	want := state(true, map[string]cty.Value{"name": s("deploy"), "password_hash": s("!").Mark(resources.Sensitive)})
	ctx := context.Background()

	// useradd worked, chpasswd failed: the user is deleted again.
	rec := &fakeTransport{fail: map[int]bool{0: true}, out: map[int]string{0: "undo created 1\nundo home_created /home/deploy\n"}}
	if _, err := (User{}).Apply(ctx, &resources.Host{T: rec, BackupDir: "/b"}, absent, want); err == nil || !strings.Contains(err.Error(), "the part done was undone") {
		t.Errorf("error %v", err)
	}
	if len(rec.scripts) != 2 || !strings.Contains(rec.scripts[1], `userdel -- "$n"`) || !strings.Contains(rec.scripts[1], "rm -rf -- /home/deploy") {
		t.Errorf("scripts: %q", rec.scripts)
	}

	// useradd failed: nothing to undo, nothing run.
	rec = &fakeTransport{fail: map[int]bool{0: true}}
	if _, err := (User{}).Apply(ctx, &resources.Host{T: rec, BackupDir: "/b"}, absent, want); err == nil || strings.Contains(err.Error(), "undone") {
		t.Errorf("error %v", err)
	}
	if len(rec.scripts) != 1 {
		t.Errorf("%d scripts run", len(rec.scripts))
	}

	// An update failing after usermod is reverted from the pre-state, and
	// the revert's failure is reported too.
	cur := state(true, map[string]cty.Value{"name": s("deploy"), "shell": s("/bin/sh"), "password_hash": s("$6$OLD").Mark(resources.Sensitive), "password_aging": s("1::::: ")})
	upd := state(true, map[string]cty.Value{"name": s("deploy"), "shell": s("/bin/bash"), "password_hash": s("!").Mark(resources.Sensitive)})
	rec = &fakeTransport{fail: map[int]bool{0: true, 1: true}, out: map[int]string{0: "undo modified 1\n"}}
	_, err := (User{}).Apply(ctx, &resources.Host{T: rec, BackupDir: "/b"}, cur, upd)
	if err == nil || !strings.Contains(err.Error(), "undoing the part done failed too") {
		t.Errorf("error %v", err)
	}
	if len(rec.scripts) != 2 || !strings.Contains(rec.scripts[1], `usermod -s /bin/sh -- "$n"`) || rec.stdins[1] != "deploy:$6$OLD\n" {
		t.Errorf("scripts: %q stdin %q", rec.scripts, rec.stdins)
	}
}

// TestUserUpdateFailsAtOnce: usermod refusing (an unknown group) changed
// nothing, so nothing is undone.
func TestUserUpdateFailsAtOnce(t *testing.T) {
	s := cty.StringVal
	cur := state(true, map[string]cty.Value{"name": s("deploy"), "groups": resources.StringList(nil)})
	upd := state(true, map[string]cty.Value{"name": s("deploy"), "groups": resources.StringList([]string{"nosuch"})})
	rec := &fakeTransport{fail: map[int]bool{0: true}}
	_, err := (User{}).Apply(context.Background(), &resources.Host{T: rec, BackupDir: "/b"}, cur, upd)
	if err == nil || strings.Contains(err.Error(), "undone") || len(rec.scripts) != 1 {
		t.Errorf("error %v, %d scripts", err, len(rec.scripts))
	}
}

// TestIDClash: a uid or gid another account has is refused when planning,
// naming the account; the account's own id, or a free one, is fine.
func TestIDClash(t *testing.T) {
	fixtures(t, etcFiles)
	s := cty.StringVal
	n := cty.NumberIntVal
	cases := []struct {
		typ    resources.Type
		config map[string]cty.Value
		want   string
	}{
		{User{}, map[string]cty.Value{"name": s("newuser"), "uid": n(1002)}, `uid 1002 is already used by user "deployer" on this host`},
		{User{}, map[string]cty.Value{"name": s("deploy"), "uid": n(1002)}, `uid 1002 is already used by user "deployer" on this host`},
		{User{}, map[string]cty.Value{"name": s("deploy"), "uid": n(1001)}, ""},
		{User{}, map[string]cty.Value{"name": s("newuser"), "uid": n(1500)}, ""},
		{Group{}, map[string]cty.Value{"name": s("newgroup"), "gid": n(27)}, `gid 27 is already used by group "sudo" on this host`},
		{Group{}, map[string]cty.Value{"name": s("sudo"), "gid": n(27)}, ""},
		{Group{}, map[string]cty.Value{"name": s("newgroup"), "gid": n(2000)}, ""},
	}
	for _, c := range cases {
		_, err := probeRead(t, c.typ, object(c.typ, c.config))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s %v: %v", c.typ.Name(), c.config, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s %v: error %v, want %q", c.typ.Name(), c.config, err, c.want)
		}
	}
}

// TestUserChangeError: a user change that fails on the host, run by real
// sh, reads "update user NAME: CAUSE", the cause the script's own words.
func TestUserChangeError(t *testing.T) {
	s := cty.StringVal
	cur := state(true, map[string]cty.Value{"name": s("tend-no-such-user"), "authorized_keys": cty.NullVal(cty.String), "authorized_keys_access": s("~/.ssh missing")})
	want := state(true, map[string]cty.Value{"name": s("tend-no-such-user"), "authorized_keys": s("ssh-ed25519 AAA\n"), "authorized_keys_access": s(accessWant("tend-no-such-user"))})
	h := &resources.Host{T: local.New(), BackupDir: t.TempDir()}
	_, err := User{}.Apply(context.Background(), h, cur, want)
	var ce *resources.ChangeError
	if !errors.As(err, &ce) || ce.Error() != "update user tend-no-such-user: user tend-no-such-user does not exist" {
		t.Errorf("error %v (%T)", err, err)
	}
}
