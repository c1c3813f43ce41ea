package account

import (
	"context"
	"fmt"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/shell"
)

// Group manages a local group with shadow-utils.
type Group struct{}

var _ resources.Type = Group{}

// Name implements resources.Type.
func (Group) Name() string { return "group" }

// Schema implements resources.Type.
func (Group) Schema() *resources.Schema {
	return &resources.Schema{
		Doc: "A local group (/etc/group, /etc/gshadow), managed with groupadd, groupmod, gpasswd and groupdel; tend must run as root (or with become). " +
			"A rollback restores the gid and members the run changed; a group the run created is deleted; a deleted group is recreated with its gid, members, administrators and password hash. " +
			"A group that is some user's primary group cannot be removed (groupdel refuses; remove or change the user first).",
		Attributes: []resources.Attribute{
			{Name: "name", Type: cty.String, Doc: "The group name. Defaults to the block's label."},
			{Name: "gid", Type: cty.Number, Doc: "The numeric group id. Changing it (groupmod -g) updates users whose primary group it is, not the group of existing files."},
			{Name: "system", Type: cty.Bool, Doc: "Create a system group (groupadd -r: gid below GID_MIN). Used only at creation."},
			{Name: "members", Type: cty.List(cty.String), Doc: "When set, the group's members are exactly these users (gpasswd -M); users not listed are removed from it. Unset: membership is left alone (see the user type's groups)."},
			{Name: "state", Type: cty.String, Doc: "\"present\" (default) or \"absent\"."},
		},
	}
}

// Key implements resources.Type.
func (Group) Key(cfg cty.Value) (string, error) {
	name, err := accountName(cfg)
	if err != nil {
		return "", err
	}
	return "group " + name, nil
}

// Desired implements resources.Type.
func (Group) Desired(cfg cty.Value, env resources.Env) (*resources.State, error) {
	name, err := accountName(cfg)
	if err != nil {
		return nil, err
	}
	present, err := cfgState(cfg)
	if err != nil {
		return nil, err
	}
	st := &resources.State{Present: present, Attrs: map[string]cty.Value{"name": cty.StringVal(name)}}
	optionAttrs(st.Attrs, cfg, "system")
	if !present {
		return st, nil
	}
	if v := cfg.GetAttr("gid"); !v.IsNull() && v.IsKnown() {
		if st.Attrs["gid"], err = checkID("gid", v); err != nil {
			return nil, err
		}
	}
	if ms, ok := cfgList(cfg, "members"); ok {
		for _, m := range ms {
			if err := checkName("member", m); err != nil {
				return nil, &resources.AttrError{Attr: "members", Msg: err.Error()}
			}
		}
		st.Attrs["members"] = resources.StringList(sortedUnique(ms))
	}
	return st, nil
}

// Probe implements resources.Type.
func (Group) Probe(cfg cty.Value, want *resources.State) string {
	name, _ := cfgStr(cfg, "name")
	return shell.NewScript().Set("n", name).String() + idOwnerProbe(etc("group"), cfgID(cfg, "gid")) + findLine("g", etc("group")) + `if [ -z "$g" ]; then out exists 0; return 0; fi
out exists 1; out group "$g"
if [ -r ` + etc("gshadow") + ` ]; then
  ` + findLine("s", etc("gshadow")) + `  if [ -n "$s" ]; then out gshadow "$s"; fi
fi
return 0
`
}

// ProbeInShell implements resources.InShellProber.
func (Group) ProbeInShell(cty.Value) bool { return true }

// Read implements resources.Type. Members are always read (sorted), for
// the revert; administrators and the group password hash (marked
// sensitive) too, when /etc/gshadow is readable.
func (Group) Read(cfg cty.Value, out resources.ProbeOutput) (*resources.State, error) {
	name, _ := cfgStr(cfg, "name")
	exists, ok := out.Get("exists")
	if !ok {
		return nil, resources.ProbeFailed(out)
	}
	if err := idClash(cfg, out, "gid", "group"); err != nil {
		return nil, err
	}
	st := &resources.State{Attrs: map[string]cty.Value{"name": cty.StringVal(name)}}
	optionAttrs(st.Attrs, cfg, "system")
	if exists != "1" {
		return st, nil
	}
	g, err := parseGroup(out.Values["group"])
	if err != nil {
		return nil, err
	}
	st.Present = true
	var gid cty.Value
	if gid, err = checkID("gid", cty.MustParseNumberVal(g.GID)); err != nil {
		return nil, err
	}
	st.Attrs["gid"] = gid
	st.Attrs["members"] = resources.StringList(sortedUnique(g.Members))
	if l, ok := out.Get("gshadow"); ok {
		gs, err := parseGshadow(l)
		if err != nil {
			return nil, err
		}
		st.Attrs["admins"] = resources.StringList(gs.Admins)
		st.Attrs["password_hash"] = cty.StringVal(gs.Hash).Mark(resources.Sensitive)
	}
	return st, nil
}

// Apply implements resources.Type. A change that fails part-way is undone
// at once.
func (Group) Apply(ctx context.Context, h *resources.Host, before, after *resources.State) (resources.Undo, error) {
	name := after.Str("name")
	s := newScript(name)
	pre := resources.Undo{}
	switch {
	case !before.Present && !after.Present:
		return nil, nil
	case !before.Present:
		c := shell.Cmd("groupadd")
		if gid, ok := numAttr(after, "gid"); ok {
			c.Opt("-g", gid)
		}
		if boolAttr(after, "system", false) {
			c.Flag("-r")
		}
		s.cmd(c.VarOperand("n"))
		s.undo("created", "1")
		if ms, ok := after.List("members"); ok && len(ms) > 0 {
			s.cmd(shell.Cmd("gpasswd").Opt("-M", strings.Join(ms, ",")).VarOperand("n").Redirect(">/dev/null"))
		}
	case !after.Present:
		if hash, ok := strAttr(before, "password_hash"); ok {
			pre["password_hash"] = hash
		}
		s.raw(`groupdel -- "$n"` + "\n")
	default:
		if differs(before, after, "gid") {
			gid, _ := numAttr(after, "gid")
			s.cmd(shell.Cmd("groupmod").Opt("-g", gid).VarOperand("n"))
			s.undo("modified", "1")
		}
		if differs(before, after, "members") {
			ms, _ := after.List("members")
			s.cmd(shell.Cmd("gpasswd").Opt("-M", strings.Join(ms, ",")).VarOperand("n").Redirect(">/dev/null"))
		}
	}
	done, err := run(ctx, h, resources.ChangeAction(before, after), "group "+changeName(before, after), s)
	undo := joinUndo(pre, done)
	if err == nil {
		return undo, nil
	}
	if len(done) > 0 {
		if rerr := (Group{}).Revert(ctx, h, before, after, undo); rerr != nil {
			return undo, fmt.Errorf("%w; undoing the part done failed too: %v", err, rerr)
		}
		return nil, fmt.Errorf("%w (the part done was undone)", err)
	}
	return nil, err
}

// Revert implements resources.Type.
func (Group) Revert(ctx context.Context, h *resources.Host, before, after *resources.State, undo resources.Undo) error {
	s := newScript(before.Str("name"))
	switch {
	case !before.Present && !after.Present:
		return nil
	case !before.Present:
		if undo["created"] != "1" {
			return nil
		}
		s.raw(findLine("g", "/etc/group") + `if [ -n "$g" ]; then groupdel -- "$n"; fi` + "\n")
	case !after.Present:
		gid, _ := numAttr(before, "gid")
		s.raw(findLine("g", "/etc/group") + "if [ -z \"$g\" ]; then\n")
		s.cmd(shell.Cmd("groupadd").Opt("-g", gid).VarOperand("n"))
		if ms, _ := before.List("members"); len(ms) > 0 {
			s.cmd(shell.Cmd("gpasswd").Opt("-M", strings.Join(ms, ",")).VarOperand("n").Redirect(">/dev/null"))
		}
		if as, _ := before.List("admins"); len(as) > 0 {
			s.cmd(shell.Cmd("gpasswd").Opt("-A", strings.Join(as, ",")).VarOperand("n").Redirect(">/dev/null"))
		}
		if hash, ok := undo["password_hash"]; ok {
			s.secret("chgpasswd", before.Str("name"), hash)
		}
		s.raw("fi\n")
	default:
		if differs(before, after, "gid") {
			gid, _ := numAttr(before, "gid")
			s.cmd(shell.Cmd("groupmod").Opt("-g", gid).VarOperand("n"))
		}
		if differs(before, after, "members") {
			ms, _ := before.List("members")
			s.cmd(shell.Cmd("gpasswd").Opt("-M", strings.Join(ms, ",")).VarOperand("n").Redirect(">/dev/null"))
		}
	}
	_, err := run(ctx, h, resources.RevertAction(before), "group "+changeName(before, after), s)
	return err
}

// SecretUndo implements resources.SecretUndoer: the previous hash is
// journaled encrypted.
func (Group) SecretUndo() []string { return []string{"password_hash"} }
