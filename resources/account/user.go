package account

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"path"
	"strconv"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/shell"
)

// User manages a local user account with shadow-utils.
type User struct{}

var (
	_ resources.Type          = User{}
	_ resources.Irreversibler = User{}
)

// Name implements resources.Type.
func (User) Name() string { return "user" }

// Schema implements resources.Type.
func (User) Schema() *resources.Schema {
	return &resources.Schema{
		Doc: "A local user account (/etc/passwd, /etc/shadow, /etc/group), managed with useradd, usermod and userdel; tend must run as root (or with become). " +
			"Only the attributes set are managed: an unset shell or uid is left as the host has it (useradd's defaults at creation). " +
			"A rollback restores every attribute the run changed exactly: uid, primary and supplementary groups, shell, home path, comment, the password hash verbatim with its aging fields, and authorized_keys from a backup; " +
			"a user the run created is deleted, with its home if the run created it; a deleted user is recreated with its uid, groups, password hash, aging, subordinate ids and, with remove_home, its home directory. " +
			"To put a user in groups other resources create, refer to them (groups = [group.admins.name]) so that they come first.",
		Attributes: append([]resources.Attribute{
			{Name: "name", Type: cty.String, Doc: "The login name. Defaults to the block's label: user \"deploy\" {} manages deploy."},
			{Name: "uid", Type: cty.Number, Doc: "The numeric user id. Changing it with usermod -u also changes the owner of the files in the home directory (only there)."},
			{Name: "group", Type: cty.String, Doc: "The primary group, by name or numeric gid. Unset at creation: a new group named like the user (Debian's USERGROUPS_ENAB)."},
			{Name: "groups", Type: cty.List(cty.String), Doc: "Supplementary groups, by name or gid. By default the user is only made a member of these (other memberships stay); see groups_exclusive."},
			{Name: "groups_exclusive", Type: cty.Bool, Doc: "When true, the user's supplementary groups are exactly `groups` (removed from any other). Default false: membership is only added."},
			{Name: "shell", Type: cty.String, Doc: "The login shell, e.g. \"/bin/bash\"."},
			{Name: "home", Type: cty.String, Doc: "The home directory's absolute path. Changing it on an existing user only changes the path (usermod -d, contents not moved)."},
			{Name: "create_home", Type: cty.Bool, Doc: "Create the home directory (from /etc/skel) when creating the user. Default true. Used only at creation."},
			{Name: "system", Type: cty.Bool, Doc: "Create a system account (useradd -r: uid below UID_MIN, no aging, no subordinate ids). Used only at creation; it changes nothing on an existing user."},
			{Name: "comment", Type: cty.String, Doc: "The GECOS field, e.g. the full name."},
			{Name: "password_hash", Type: cty.String, Sensitive: true, Doc: "The password hash as /etc/shadow stores it (e.g. from mkpasswd -m yescrypt), compared with the host's and set with chpasswd -e through stdin, never a command line. \"!\" or \"*\" locks password login. The host's current hash is never displayed either; the previous one is kept for rollback in the run journal's undo data, encrypted with the run's key (kept outside the journal, in the user's state directory)."},
			{Name: "authorized_keys", Type: cty.List(cty.String), Doc: "SSH public keys, one line each. When set, ~/.ssh/authorized_keys holds exactly these lines (an empty list: an empty file), mode 0600 in a 0700 ~/.ssh, both owned by the user; tend writes them as the user, never through a symbolic link, in the home directory the user has after the change (created, mode 0700, if missing). The previous file is kept for rollback."},
			{Name: "state", Type: cty.String, Doc: "\"present\" (default) or \"absent\" (userdel; the home directory stays unless remove_home)."},
			{Name: "remove_home", Type: cty.Bool, Doc: "With state = \"absent\", also remove the home directory and mail spool. They are moved into the run's backup directory, so a rollback puts them back; when the home is on another filesystem than /var/lib/tend it is deleted instead (userdel -r), and the plan says the change cannot be rolled back. A home not owned by the user is left alone."},
		}, userWindowsAttributes...),
	}
}

// Key implements resources.Type.
func (User) Key(cfg cty.Value) (string, error) {
	name, err := accountName(cfg)
	if err != nil {
		return "", err
	}
	return "user " + name, nil
}

// accountName returns the configured name (the language fills it with
// the block's label).
func accountName(cfg cty.Value) (string, error) {
	name, ok := cfgStr(cfg, "name")
	if !ok {
		return "", &resources.AttrError{Attr: "name", Msg: "name is required"}
	}
	if err := checkName("name", name); err != nil {
		return "", &resources.AttrError{Attr: "name", Msg: err.Error()}
	}
	return name, nil
}

func checkGroupRef(attr, g string) error {
	if isNumeric(g) {
		return nil
	}
	if err := checkName("group name", g); err != nil {
		return &resources.AttrError{Attr: attr, Msg: err.Error()}
	}
	return nil
}

// state returns the configured state.
func cfgState(cfg cty.Value) (bool, error) {
	s, ok := cfgStr(cfg, "state")
	switch {
	case !ok || s == "present":
		return true, nil
	case s == "absent":
		return false, nil
	}
	return false, &resources.AttrError{Attr: "state", Msg: fmt.Sprintf("must be \"present\" or \"absent\", got %q", s)}
}

// maxID is the largest uid or gid shadow-utils accepts ((uid_t)-1 is
// reserved).
var maxID = big.NewFloat(4294967294)

func checkID(attr string, v cty.Value) (cty.Value, error) {
	v, _ = v.Unmark()
	f := v.AsBigFloat()
	if !f.IsInt() || f.Sign() < 0 || f.Cmp(maxID) > 0 {
		return cty.NilVal, &resources.AttrError{Attr: attr, Msg: "must be a whole number from 0 to 4294967294"}
	}
	i, _ := f.Int64()
	return cty.NumberIntVal(i), nil
}

var userOptions = []string{"create_home", "system", "groups_exclusive", "remove_home"}

// Desired implements resources.Type.
func (User) Desired(cfg cty.Value, env resources.Env) (*resources.State, error) {
	name, err := accountName(cfg)
	if err != nil {
		return nil, err
	}
	present, err := cfgState(cfg)
	if err != nil {
		return nil, err
	}
	st := &resources.State{Present: present, Attrs: map[string]cty.Value{"name": cty.StringVal(name)}}
	optionAttrs(st.Attrs, cfg, userOptions...)
	if !present {
		return st, nil
	}
	if rh, _ := cfgBool(cfg, "remove_home"); rh {
		return nil, &resources.AttrError{Attr: "remove_home", Msg: "remove_home is used only with state = \"absent\""}
	}
	if v := cfg.GetAttr("uid"); !v.IsNull() && v.IsKnown() {
		if st.Attrs["uid"], err = checkID("uid", v); err != nil {
			return nil, err
		}
	}
	if g, ok := cfgStr(cfg, "group"); ok {
		if err := checkGroupRef("group", g); err != nil {
			return nil, err
		}
		st.Attrs["group"] = cty.StringVal(g)
	}
	if gs, ok := cfgList(cfg, "groups"); ok {
		for _, g := range gs {
			if err := checkGroupRef("groups", g); err != nil {
				return nil, err
			}
		}
		st.Attrs["groups"] = resources.StringList(sortedUnique(gs))
	}
	for _, a := range []string{"shell", "home", "comment"} {
		if v, ok := cfgStr(cfg, a); ok {
			if err := checkField(a, v); err != nil {
				return nil, &resources.AttrError{Attr: a, Msg: err.Error()}
			}
			st.Attrs[a] = cty.StringVal(v)
		}
	}
	if h, ok := cfgStr(cfg, "home"); ok && (!path.IsAbs(h) || h != path.Clean(h)) {
		return nil, &resources.AttrError{Attr: "home", Msg: fmt.Sprintf("must be a clean absolute path, got %q", h)}
	}
	if h, ok := cfgStr(cfg, "password_hash"); ok {
		if err := checkField("password_hash", h); err != nil {
			return nil, &resources.AttrError{Attr: "password_hash", Msg: "must not contain ':' or a newline"}
		}
		st.Attrs["password_hash"] = cty.StringVal(h).Mark(resources.Sensitive)
	}
	if keys, ok := cfgList(cfg, "authorized_keys"); ok {
		for _, k := range keys {
			if strings.ContainsAny(k, "\n\r") {
				return nil, &resources.AttrError{Attr: "authorized_keys", Msg: "each key must be one line"}
			}
		}
		st.Attrs["authorized_keys"] = cty.StringVal(keysWant(keys))
		st.Attrs["authorized_keys_access"] = cty.StringVal(accessWant(name))
	}
	return st, nil
}

// Probe implements resources.Type: one pass over each account file with
// the shell's read loop, no process at all for a user without
// authorized_keys.
func (User) Probe(cfg cty.Value, want *resources.State) string {
	name, _ := cfgStr(cfg, "name")
	var sb strings.Builder
	sb.WriteString(shell.NewScript().Set("n", name).String())
	sb.WriteString(idOwnerProbe(etc("passwd"), cfgID(cfg, "uid")))
	sb.WriteString(findLine("u", etc("passwd")))
	sb.WriteString(`if [ -z "$u" ]; then out exists 0; return 0; fi
out exists 1; out passwd "$u"
` + splitPasswd + `i=0
while IFS= read -r l; do
  r=${l#*:}; r=${r#*:}; g=${r%%:*}
  case $r in *:*) m=${r#*:};; *) m=;; esac
  case ",$m," in *",$n,"*) i=$((i+1)); out group$i "$l"; continue;; esac
  if [ "$g" = "$ugid" ]; then i=$((i+1)); out group$i "$l"; fi
done < ` + etc("group") + `
if [ -r ` + etc("shadow") + ` ]; then
  ` + findLine("s", etc("shadow")) + `  if [ -n "$s" ]; then out shadow "$s"; fi
else out shadow_unreadable 1; fi
for f in subuid subgid; do
  i=0
  if [ -r ` + etc("") + `$f ]; then while IFS= read -r l; do case $l in "$n":*|"$uid":*) i=$((i+1)); out $f$i "$l";; esac; done < ` + etc("") + `$f; fi
done
if [ -d "$home" ]; then out home_exists 1; fi
`)
	if _, ok := cfgList(cfg, "authorized_keys"); ok {
		sb.WriteString(keysProbe)
	}
	if rh, _ := cfgBool(cfg, "remove_home"); rh {
		sb.WriteString(`if [ -d "$home" ]; then
  b=/var/lib/tend/backup; while [ ! -e "$b" ]; do b=${b%/*}; [ -n "$b" ] || b=/; done
  out home_fs "$(stat -c '%d %u' -- "$home" "$b" | tr '\n' ' ')"
fi
`)
	}
	sb.WriteString("return 0\n")
	return sb.String()
}

// ProbeInShell implements resources.InShellProber: the probe is the
// shell's read loops over the account files.
func (User) ProbeInShell(cty.Value) bool { return true }

// numbered returns the values of key1, key2, ... in order.
func numbered(out resources.ProbeOutput, key string) []string {
	var vals []string
	for i := 1; ; i++ {
		v, ok := out.Get(key + strconv.Itoa(i))
		if !ok {
			return vals
		}
		vals = append(vals, v)
	}
}

// Read implements resources.Type. Besides the configured attributes (in
// the form the configuration uses: a group by name or gid as written), the
// current state holds everything a revert restores: gid, all groups,
// password hash (marked sensitive) and aging, subordinate ids.
func (User) Read(cfg cty.Value, out resources.ProbeOutput) (*resources.State, error) {
	name, _ := cfgStr(cfg, "name")
	exists, ok := out.Get("exists")
	if !ok {
		return nil, resources.ProbeFailed(out)
	}
	if err := idClash(cfg, out, "uid", "user"); err != nil {
		return nil, err
	}
	st := &resources.State{Attrs: map[string]cty.Value{"name": cty.StringVal(name)}}
	optionAttrs(st.Attrs, cfg, userOptions...)
	if exists != "1" {
		return st, nil
	}
	pw, err := parsePasswd(out.Values["passwd"])
	if err != nil {
		return nil, err
	}
	st.Present = true
	var primary string
	var member []groupEntry
	for _, l := range numbered(out, "group") {
		g, err := parseGroup(l)
		if err != nil {
			return nil, err
		}
		if g.GID == pw.GID && primary == "" {
			primary = g.Name
		}
		if contains(g.Members, name) {
			member = append(member, g)
		}
	}
	a := st.Attrs
	a["uid"] = cty.NumberIntVal(pw.UID)
	a["gid"] = cty.StringVal(pw.GID)
	a["group_name"] = cty.StringVal(primary)
	a["shell"] = cty.StringVal(pw.Shell)
	a["home"] = cty.StringVal(pw.Home)
	a["comment"] = cty.StringVal(pw.Comment)
	a["home_exists"] = cty.BoolVal(out.Values["home_exists"] == "1")
	var all []string
	for _, g := range member {
		all = append(all, g.Name)
	}
	a["all_groups"] = resources.StringList(sortedUnique(all))
	if g, ok := cfgStr(cfg, "group"); ok {
		switch {
		case isNumeric(g) || primary == "":
			a["group"] = cty.StringVal(pw.GID)
		default:
			a["group"] = cty.StringVal(primary)
		}
	}
	if want, ok := cfgList(cfg, "groups"); ok {
		a["groups"] = resources.StringList(currentGroups(member, sortedUnique(want), boolOpt(cfg, "groups_exclusive")))
	}
	if l, ok := out.Get("shadow"); ok {
		sh, err := parseShadow(l)
		if err != nil {
			return nil, err
		}
		a["password_hash"] = cty.StringVal(sh.Hash).Mark(resources.Sensitive)
		a["password_aging"] = cty.StringVal(sh.AgingString())
	} else if _, set := cfgStr(cfg, "password_hash"); set {
		if _, unreadable := out.Get("shadow_unreadable"); unreadable {
			return nil, errors.New("cannot read /etc/shadow to compare password_hash: tend must run as root (become = true)")
		}
		a["password_hash"] = cty.StringVal("").Mark(resources.Sensitive)
	}
	for _, f := range []string{"subuid", "subgid"} {
		var ranges []string
		for _, l := range numbered(out, f) {
			r, err := parseSubID(l)
			if err != nil {
				return nil, err
			}
			ranges = append(ranges, r)
		}
		if len(ranges) > 0 {
			a[f+"s"] = resources.StringList(ranges)
		}
	}
	if _, ok := cfgList(cfg, "authorized_keys"); ok {
		if err := readKeys(a, out, name, pw); err != nil {
			return nil, err
		}
	}
	if rh, _ := cfgBool(cfg, "remove_home"); rh {
		a["home_removal"] = cty.StringVal(homeRemoval(out.Values["home_fs"], pw.UID))
	}
	return st, nil
}

// homeRemoval says how remove_home would remove the home: "none" (no
// home directory, or not the user's), "move" (renamed into the backup
// directory, same filesystem) or "delete" (another filesystem).
func homeRemoval(fs string, uid int64) string {
	f := strings.Fields(fs)
	if len(f) != 4 || f[1] != strconv.FormatInt(uid, 10) {
		return "none"
	}
	if f[0] != f[2] {
		return "delete"
	}
	return "move"
}

func boolOpt(cfg cty.Value, name string) bool {
	b, _ := cfgBool(cfg, name)
	return b
}

// currentGroups is the user's supplementary groups in the form of the
// configured list: a group named by gid there is shown by gid. When not
// exclusive, only the configured groups count.
func currentGroups(member []groupEntry, want []string, exclusive bool) []string {
	var out []string
	for _, g := range member {
		id := g.Name
		if contains(want, g.GID) && !contains(want, g.Name) {
			id = g.GID
		}
		if exclusive || contains(want, id) {
			out = append(out, id)
		}
	}
	return sortedUnique(out)
}

// Irreversible implements resources.Irreversibler.
func (User) Irreversible(before, after *resources.State) string {
	if before.Present && !after.Present && before.Str("home_removal") == "delete" {
		return fmt.Sprintf("the home directory %s is on another filesystem than /var/lib/tend, so remove_home deletes it instead of keeping it for rollback", before.Str("home"))
	}
	return ""
}

// Apply implements resources.Type. A change that fails part-way is undone
// at once (the parts done are known from what its script printed), so a
// failed change leaves the account as it was.
func (User) Apply(ctx context.Context, h *resources.Host, before, after *resources.State) (resources.Undo, error) {
	var s *script
	pre := resources.Undo{}
	switch {
	case !before.Present && !after.Present:
		return nil, nil
	case !before.Present:
		s = createScript(after, h.NextBackup(after.Str("name")+"/.ssh/authorized_keys"))
	case !after.Present:
		if hash, ok := strAttr(before, "password_hash"); ok {
			pre["password_hash"] = hash
		}
		s = deleteScript(before, after, h)
	default:
		if differs(before, after, "password_hash") {
			if hash, ok := strAttr(before, "password_hash"); ok {
				pre["password_hash"] = hash
			}
		}
		s = updateScript(before, after, h.NextBackup(after.Str("name")+"/.ssh/authorized_keys"))
	}
	done, err := run(ctx, h, resources.ChangeAction(before, after), "user "+changeName(before, after), s)
	undo := joinUndo(pre, done)
	if err == nil {
		return undo, nil
	}
	if didSomething(done) {
		if rerr := (User{}).Revert(ctx, h, before, after, undo); rerr != nil {
			return undo, fmt.Errorf("%w; undoing the part done failed too: %v", err, rerr)
		}
		return nil, fmt.Errorf("%w (the part done was undone)", err)
	}
	return nil, err
}

// didSomething reports whether a change script's undo lines show it
// changed something before failing (group_existed is only a note).
func didSomething(done resources.Undo) bool {
	for k := range done {
		if k != "group_existed" {
			return true
		}
	}
	return false
}

// useradd is the useradd command for the desired state.
func useradd(after *resources.State) *shell.Command {
	c := shell.Cmd("useradd")
	if uid, ok := numAttr(after, "uid"); ok {
		c.Opt("-u", uid)
	}
	if g, ok := strAttr(after, "group"); ok {
		c.Opt("-g", g)
	}
	if gs, ok := after.List("groups"); ok && len(gs) > 0 {
		c.Opt("-G", strings.Join(gs, ","))
	}
	textOpts(c, func(attr string) (string, bool) { return strAttr(after, attr) })
	if boolAttr(after, "system", false) {
		c.Flag("-r")
	}
	if boolAttr(after, "create_home", true) {
		c.Flag("-m")
	} else {
		c.Flag("-M")
	}
	return c.VarOperand("n")
}

// textOpts appends the shell, home and comment options of useradd or
// usermod that value says to set.
func textOpts(c *shell.Command, value func(attr string) (string, bool)) {
	if v, ok := value("shell"); ok {
		c.Opt("-s", v)
	}
	if v, ok := value("home"); ok {
		c.Opt("-d", v)
	}
	if v, ok := value("comment"); ok {
		c.Opt("-c", v)
	}
}

// createScript adds the user, noting what it creates besides (home, mail
// spool) for the revert.
func createScript(after *resources.State, keysBackup string) *script {
	s := newScript(after.Str("name"))
	if home, ok := strAttr(after, "home"); ok {
		s.sh(shell.NewScript().Set("h", home))
	} else {
		s.raw("h=$(useradd -D | sed -n 's/^HOME=//p')/$n\n")
	}
	s.raw(`if [ -e "$h" ]; then hx=1; else hx=0; fi
m=/var/mail/$n; if [ -e "$m" ]; then mx=1; else mx=0; fi
` + findLine("g0", "/etc/group") + `if [ -n "$g0" ]; then printf 'undo group_existed %s\n' "$g0"; fi
`)
	s.cmd(useradd(after))
	s.undo("created", "1")
	s.raw(findLine("u", "/etc/passwd") + splitPasswd + `if [ $hx = 0 ] && [ "$home" = "$h" ] && [ -d "$h" ]; then printf 'undo home_created %s\n' "$h"; fi
if [ $mx = 0 ] && [ -e "$m" ]; then printf 'undo mail_created %s\n' "$m"; fi
`)
	if hash, ok := strAttr(after, "password_hash"); ok {
		s.secret("chpasswd", after.Str("name"), hash)
	}
	if keys, ok := strAttr(after, "authorized_keys"); ok {
		writeKeys(s, keys, keysBackup)
	}
	return s
}

// usermod is the usermod command taking the user from before to after,
// or nil when there is nothing for usermod to change.
func usermod(before, after *resources.State) *shell.Command {
	c, changed := shell.Cmd("usermod"), false
	if differs(before, after, "uid") {
		uid, _ := numAttr(after, "uid")
		c.Opt("-u", uid)
		changed = true
	}
	if differs(before, after, "group") {
		g, _ := strAttr(after, "group")
		c.Opt("-g", g)
		changed = true
	}
	if differs(before, after, "groups") {
		want, _ := after.List("groups")
		if boolAttr(after, "groups_exclusive", false) {
			c.Opt("-G", strings.Join(want, ","))
			changed = true
		} else {
			have, _ := before.List("groups")
			var missing []string
			for _, g := range want {
				if !contains(have, g) {
					missing = append(missing, g)
				}
			}
			if len(missing) > 0 {
				c.Flag("-a").Opt("-G", strings.Join(missing, ","))
				changed = true
			}
		}
	}
	textOpts(c, func(attr string) (string, bool) {
		if !differs(before, after, attr) {
			return "", false
		}
		changed = true
		v, _ := strAttr(after, attr)
		return v, true
	})
	if !changed {
		return nil
	}
	return c.VarOperand("n")
}

func updateScript(before, after *resources.State, keysBackup string) *script {
	s := newScript(after.Str("name"))
	if c := usermod(before, after); c != nil {
		s.cmd(c)
		s.undo("modified", "1")
	}
	if differs(before, after, "password_hash") {
		hash, _ := strAttr(after, "password_hash")
		s.secret("chpasswd", after.Str("name"), hash)
		s.undo("password_set", "1")
	}
	// A new home needs the keys too: they are read from the home in use.
	if keys, ok := strAttr(after, "authorized_keys"); ok &&
		(differs(before, after, "authorized_keys") || differs(before, after, "authorized_keys_access") || differs(before, after, "home")) {
		writeKeys(s, keys, keysBackup)
	}
	return s
}

// deleteScript removes the user; with remove_home, its home and mail
// spool are moved into the backup directory (or deleted, when the plan
// said so), after userdel succeeded.
func deleteScript(before, after *resources.State, h *resources.Host) *script {
	name := before.Str("name")
	s := newScript(name)
	removal := "none"
	if boolAttr(after, "remove_home", false) {
		removal = before.Str("home_removal")
	}
	if removal == "delete" {
		s.raw(`userdel -r -- "$n"` + "\n")
		return s
	}
	s.raw(`userdel -- "$n"` + "\n")
	if removal == "move" {
		home := before.Str("home")
		bh, bm := h.NextBackup(home), h.NextBackup("/var/mail/"+name)
		s.sh(shell.NewScript().Set("h", home).Set("uid", numStr(before, "uid")).
			Line(`if [ -d "$h" ] && [ ! -L "$h" ] && [ "$(stat -c %u -- "$h")" = "$uid" ]; then`).
			Run(shell.Cmd("mkdir", "-p", "-m", "0700").Operands(path.Dir(bh))).
			Run(shell.Cmd("mv").VarOperand("h").Arg(bh)).
			Run(shell.Cmd("printf", `'undo home_backup %s\n'`).Arg(bh)).
			Line("fi\nm=/var/mail/$n\nif [ -f \"$m\" ]; then").
			Run(shell.Cmd("mkdir", "-p", "-m", "0700").Operands(path.Dir(bm))).
			Run(shell.Cmd("mv").VarOperand("m").Arg(bm)).
			Run(shell.Cmd("printf", `'undo mail_backup %s\n'`).Arg(bm)).
			Line("fi"))
	}
	return s
}

func numStr(st *resources.State, name string) string {
	v, _ := numAttr(st, name)
	return v
}

// Revert implements resources.Type. It works from the journaled states
// (which carry no secret) and the undo values, which hold the previous
// password hash.
func (User) Revert(ctx context.Context, h *resources.Host, before, after *resources.State, undo resources.Undo) error {
	var s *script
	switch {
	case !before.Present && !after.Present:
		return nil
	case !before.Present:
		s = revertCreateScript(after, undo)
	case !after.Present:
		s = revertDeleteScript(before, undo)
	default:
		s = revertUpdateScript(before, after, undo)
	}
	_, err := run(ctx, h, resources.RevertAction(before), "user "+changeName(before, after), s)
	return err
}

func revertCreateScript(after *resources.State, undo resources.Undo) *script {
	s := newScript(after.Str("name"))
	restoreKeys(s, undo)
	if undo["created"] == "1" {
		s.raw(findLine("u", "/etc/passwd") + `if [ -n "$u" ]; then userdel -- "$n"; fi` + "\n")
	}
	if h := undo["home_created"]; isRemovableHome(h) {
		s.cmd(shell.Cmd("rm", "-rf").Operands(h))
	}
	if m := undo["mail_created"]; strings.HasPrefix(m, "/var/mail/") {
		s.cmd(shell.Cmd("rm", "-f").Operands(m))
	}
	// userdel removes a group named like the user when it was the user's
	// primary group; put back one that existed before the run.
	if g, err := parseGroup(undo["group_existed"]); err == nil {
		s.raw(findLine("g", "/etc/group"))
		s.sh(shell.NewScript().Line(`if [ -z "$g" ]; then`).Run(shell.Cmd("groupadd").Opt("-g", g.GID).VarOperand("n")).Line("fi"))
	}
	return s
}

// revertDeleteScript recreates a deleted user exactly: primary group if
// userdel removed it, uid, groups, shell, home path, comment, subordinate
// ids, password hash and aging, then moves the home back.
func revertDeleteScript(before *resources.State, undo resources.Undo) *script {
	name := before.Str("name")
	s := newScript(name)
	gid := before.Str("gid")
	s.raw(findLine("u", "/etc/passwd") + "if [ -z \"$u\" ]; then\n")
	if gn := before.Str("group_name"); gn != "" {
		s.sh(shell.NewScript().Raw(`g=; while IFS= read -r l; do r=${l#*:}; r=${r#*:}; if [ "${r%%:*}" = `).Word("", gid, "").
			Line(` ]; then g=$l; break; fi; done < /etc/group`).
			Line(`if [ -z "$g" ]; then`).Run(shell.Cmd("groupadd").Opt("-g", gid).Operands(gn)).Line("fi"))
	}
	c := shell.Cmd("useradd", "-M").Opt("-u", numStr(before, "uid")).Opt("-g", gid).
		Opt("-s", before.Str("shell")).Opt("-d", before.Str("home")).Opt("-c", before.Str("comment")).
		Opt("-K", "SUB_UID_COUNT=0").Opt("-K", "SUB_GID_COUNT=0")
	if gs, _ := before.List("all_groups"); len(gs) > 0 {
		c.Opt("-G", strings.Join(gs, ","))
	}
	s.cmd(c.VarOperand("n"))
	if rs, _ := before.List("subuids"); len(rs) > 0 {
		c := shell.Cmd("usermod")
		for _, r := range rs {
			c.Opt("-v", r)
		}
		s.cmd(c.VarOperand("n"))
	}
	if rs, _ := before.List("subgids"); len(rs) > 0 {
		c := shell.Cmd("usermod")
		for _, r := range rs {
			c.Opt("-w", r)
		}
		s.cmd(c.VarOperand("n"))
	}
	if hash, ok := undo["password_hash"]; ok {
		s.secret("chpasswd", name, hash)
	}
	restoreAging(s, before)
	s.raw("fi\n")
	if b := undo["home_backup"]; b != "" {
		s.sh(shell.NewScript().If(shell.Test("-e", b).And(shell.Not(shell.Test("-e", before.Str("home")))), func(sh *shell.Script) {
			sh.Run(shell.Cmd("mv").Operands(b, before.Str("home")))
		}))
	}
	if b := undo["mail_backup"]; b != "" {
		s.sh(shell.NewScript().If(shell.Test("-e", b), func(sh *shell.Script) {
			sh.Run(shell.Cmd("mv").Operands(b, "/var/mail/"+name))
		}))
	}
	return s
}

// restoreAging appends chage with the journaled aging fields (empty is
// -1, "unset", for chage).
func restoreAging(s *script, before *resources.State) {
	aging, ok := strAttr(before, "password_aging")
	if !ok {
		return
	}
	f := strings.Split(aging, ":")
	if len(f) != 6 {
		return
	}
	for i := range f {
		if f[i] == "" {
			f[i] = "-1"
		}
	}
	s.cmd(shell.Cmd("chage").Opt("-d", f[0]).Opt("-m", f[1]).Opt("-M", f[2]).Opt("-W", f[3]).Opt("-I", f[4]).Opt("-E", f[5]).VarOperand("n"))
}

func revertUpdateScript(before, after *resources.State, undo resources.Undo) *script {
	s := newScript(before.Str("name"))
	restoreKeys(s, undo)
	c, changed := shell.Cmd("usermod"), false
	if differs(before, after, "uid") {
		c.Opt("-u", numStr(before, "uid"))
		changed = true
	}
	if differs(before, after, "group") {
		c.Opt("-g", before.Str("gid"))
		changed = true
	}
	if differs(before, after, "groups") {
		all, _ := before.List("all_groups")
		c.Opt("-G", strings.Join(all, ","))
		changed = true
	}
	textOpts(c, func(attr string) (string, bool) {
		if !differs(before, after, attr) {
			return "", false
		}
		changed = true
		return before.Str(attr), true
	})
	if changed {
		s.cmd(c.VarOperand("n"))
	}
	if hash, ok := undo["password_hash"]; ok {
		s.secret("chpasswd", before.Str("name"), hash)
		restoreAging(s, before)
	}
	return s
}

// SecretUndo implements resources.SecretUndoer: the previous hash is
// journaled encrypted.
func (User) SecretUndo() []string { return []string{"password_hash"} }
