package account

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/shell"
	"github.com/tendhq/tend/transport"
)

// The probes read /etc/passwd, /etc/group and /etc/shadow with the shell's
// own read loop: no process per resource (getent or grep would cost a
// fork and exec each, several milliseconds on small hosts), and the files
// the shadow-utils tools edit are the ones read. Every fragment sets n to
// the quoted name first.

// etcDir is where probes read the account files; tests point it at
// fixtures.
var etcDir = "/etc/"

// etc returns the quoted path of an account file for a probe.
func etc(file string) string {
	if file == "" {
		return shell.Quote(etcDir)
	}
	return shell.Quote(etcDir + file)
}

// findLine is a loop setting $1's variable to the line of file $2 whose
// first field is $n.
func findLine(varName, file string) string {
	return varName + "=; while IFS= read -r l; do case $l in \"$n\":*) " + varName + "=$l; break;; esac; done < " + file + "\n"
}

// splitPasswd sets uid, ugid and home from the passwd line in $u.
const splitPasswd = `IFS=:; set -f; set -- $u; IFS=' 	
'; set +f
uid=$3; ugid=$4; home=$6
`

// script is a change script under construction, with its stdin.
type script struct {
	sb    strings.Builder
	stdin bytes.Buffer
}

func newScript(name string) *script {
	s := &script{}
	s.sb.WriteString(shell.NewScript("set -e").Set("n", name).String())
	return s
}

// cmd appends a command built with the shell builder.
func (s *script) cmd(c *shell.Command) { s.sb.WriteString(c.String() + "\n") }

// sh appends a script built with the shell builder.
func (s *script) sh(b *shell.Script) { s.sb.WriteString(b.String()) }

// raw appends shell text built from constants and quoted words.
func (s *script) raw(text string) { s.sb.WriteString(text) }

// undo appends a command recording an undo value (a quoted word or a
// shell expansion in double quotes) on stdout.
func (s *script) undo(key, value string) {
	s.sb.WriteString("printf 'undo " + key + " %s\\n' " + value + "\n")
}

// secret appends a command feeding one line of stdin (NAME:HASH) to a
// tool reading encrypted passwords (chpasswd -e, chgpasswd -e): secrets
// travel on stdin, never in argv, where other users could read them.
func (s *script) secret(tool, name, hash string) {
	s.sb.WriteString("IFS= read -r tend_pw\nprintf '%s\\n' \"$tend_pw\" | " + tool + " -e\ntend_pw=\n")
	s.stdin.WriteString(name + ":" + hash + "\n")
}

func (s *script) String() string { return s.sb.String() }

// run runs a change script and returns the undo values it printed, also
// when it failed part-way, so that what it did can be undone. Its failure
// is a *resources.ChangeError for action on object ("user NAME").
func run(ctx context.Context, h *resources.Host, action, object string, s *script) (resources.Undo, error) {
	res, err := h.T.Run(ctx, transport.Command{Script: s.String(), Stdin: bytes.NewReader(s.stdin.Bytes())})
	if err != nil {
		return resources.Undo{}, err
	}
	if res.ExitStatus != 0 {
		return parseUndo(res.Stdout), resources.ScriptError(action, object, res)
	}
	return parseUndo(res.Stdout), nil
}

// parseUndo collects the "undo KEY VALUE" lines of a script's output.
func parseUndo(out []byte) resources.Undo {
	u := resources.Undo{}
	for _, l := range strings.Split(string(out), "\n") {
		rest, ok := strings.CutPrefix(l, "undo ")
		if !ok {
			continue
		}
		k, v, _ := strings.Cut(rest, " ")
		u[k] = v
	}
	return u
}

// joinUndo merges undo values recorded by the controller with those the
// script printed.
func joinUndo(a, b resources.Undo) resources.Undo {
	out := resources.Undo{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// strAttr returns a string attribute, unmarked, and whether it is set.
func strAttr(st *resources.State, name string) (string, bool) {
	if st == nil {
		return "", false
	}
	v := st.Attr(name)
	if v == cty.NilVal || v.IsNull() || !v.IsKnown() || v.Type() != cty.String {
		return "", false
	}
	v, _ = v.Unmark()
	return v.AsString(), true
}

// boolAttr returns a bool attribute, or def when unset.
func boolAttr(st *resources.State, name string, def bool) bool {
	if v, ok := st.Bool(name); ok {
		return v
	}
	return def
}

// numAttr returns a whole-number attribute as text, and whether it is set.
func numAttr(st *resources.State, name string) (string, bool) {
	v := st.Attr(name)
	if v == cty.NilVal || v.IsNull() || !v.IsKnown() || v.Type() != cty.Number {
		return "", false
	}
	v, _ = v.Unmark()
	return v.AsBigFloat().Text('f', 0), true
}

// differs reports whether attribute k of after differs from before's,
// comparing unmarked values.
func differs(before, after *resources.State, k string) bool {
	a, b := after.Attr(k), before.Attr(k)
	if a == cty.NilVal {
		return false
	}
	if b == cty.NilVal {
		return true
	}
	a, _ = a.UnmarkDeep()
	b, _ = b.UnmarkDeep()
	if a.IsNull() || b.IsNull() {
		return a.IsNull() != b.IsNull()
	}
	if !a.IsWhollyKnown() || !b.IsWhollyKnown() {
		return true
	}
	return !a.Equals(b).True()
}

// Config accessors: null or unknown attributes read as unset.

func cfgStr(cfg cty.Value, name string) (string, bool) {
	v := cfg.GetAttr(name)
	if v.IsNull() || !v.IsKnown() {
		return "", false
	}
	v, _ = v.Unmark()
	return v.AsString(), true
}

func cfgBool(cfg cty.Value, name string) (bool, bool) {
	v := cfg.GetAttr(name)
	if v.IsNull() || !v.IsKnown() {
		return false, false
	}
	v, _ = v.Unmark()
	return v.True(), true
}

func cfgList(cfg cty.Value, name string) ([]string, bool) {
	v := cfg.GetAttr(name)
	if v.IsNull() || !v.IsWhollyKnown() {
		return nil, false
	}
	v, _ = v.UnmarkDeep()
	out := []string{}
	for _, e := range v.AsValueSlice() {
		if e.IsNull() {
			continue
		}
		out = append(out, e.AsString())
	}
	return out, true
}

// optionAttrs copies the configured boolean options (creation-time and
// mode switches) into a state. Desired and Read both call it, so they are
// always equal and never shown as changes; Apply reads them from the
// desired state, since it receives only states.
func optionAttrs(attrs map[string]cty.Value, cfg cty.Value, names ...string) {
	for _, n := range names {
		if b, ok := cfgBool(cfg, n); ok {
			attrs[n] = cty.BoolVal(b)
		}
	}
}

// cfgID is a configured uid or gid as a decimal string ("" when not set
// or not a valid id).
func cfgID(cfg cty.Value, attr string) string {
	v := cfg.GetAttr(attr)
	if v.IsNull() || !v.IsKnown() {
		return ""
	}
	v, err := checkID(attr, v)
	if err != nil {
		return ""
	}
	return v.AsBigFloat().Text('f', 0)
}

// idOwnerProbe prints id_owner, the first entry of file (passwd or
// group) other than $n that has the id id, so a clash is refused when
// planning rather than by useradd half-way through an apply.
func idOwnerProbe(file, id string) string {
	if id == "" {
		return ""
	}
	return "while IFS=: read -r on _ oid _; do if [ \"$oid\" = " + id + " ] && [ \"$on\" != \"$n\" ]; then out id_owner \"$on\"; break; fi; done < " + file + "\n"
}

// idClash is the error for an id another account already has.
func idClash(cfg cty.Value, out resources.ProbeOutput, attr, kind string) error {
	owner, ok := out.Get("id_owner")
	if !ok {
		return nil
	}
	return &resources.AttrError{Attr: attr, Msg: fmt.Sprintf("%s %s is already used by %s %q on this host; choose another %s or manage %q instead", attr, cfgID(cfg, attr), kind, owner, attr, owner)}
}

// changeName is the name of the account a change acts on.
func changeName(before, after *resources.State) string {
	if n := after.Str("name"); n != "" {
		return n
	}
	return before.Str("name")
}
