package resources

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/shell"
)

// Symlink manages a symbolic link.
type Symlink struct{}

// Name implements Type.
func (Symlink) Name() string { return "symlink" }

// Schema implements Type.
func (Symlink) Schema() *Schema {
	return &Schema{
		Doc: "A symbolic link. A new or changed link is created under a temporary name and renamed over the old one, so the path never goes missing. A path that exists as anything other than a symbolic link is never replaced: tend reports it.",
		Attributes: []Attribute{
			{Name: "path", Type: cty.String, Required: true, Doc: "Absolute path of the link."},
			{Name: "target", Type: cty.String, Doc: "What the link points to (stored verbatim; may be relative). Required unless state is \"absent\"."},
			{Name: "state", Type: cty.String, Doc: "\"present\" (default) or \"absent\"."},
		},
	}
}

// Key implements Type.
func (Symlink) Key(cfg cty.Value) (string, error) { return pathKey(cfg) }

// Desired implements Type.
func (Symlink) Desired(cfg cty.Value, env Env) (*State, error) {
	st := &State{Attrs: map[string]cty.Value{"path": cty.StringVal(Str(cfg, "path", ""))}}
	switch s := Str(cfg, "state", "present"); s {
	case "present":
		st.Present = true
	case "absent":
		return st, nil
	default:
		return nil, &AttrError{Attr: "state", Msg: fmt.Sprintf("must be \"present\" or \"absent\", got %q", s)}
	}
	t := Str(cfg, "target", "")
	if t == "" {
		return nil, &AttrError{Attr: "target", Msg: "a present symlink needs a target"}
	}
	st.Attrs["target"] = cty.StringVal(t)
	return st, nil
}

// Probe implements Type.
func (Symlink) Probe(cfg cty.Value, want *State) string {
	return pathProbeScript(Str(cfg, "path", "")).
		Line(`if [ $t = link ]; then out target "$(readlink -- "$p" | b64)"; fi`).String()
}

// Occupies implements Occupant.
func (Symlink) Occupies(st *State) string { return st.Str("path") }

// Identity implements Identifier.
func (Symlink) Identity() []string { return []string{"path"} }

// ProbePath implements PathProber.
func (Symlink) ProbePath(cfg cty.Value, _ *State) (string, bool) { return Str(cfg, "path", ""), false }

// Read implements Type.
func (Symlink) Read(cfg cty.Value, out ProbeOutput) (*State, error) {
	pi, err := readPathInfo(out)
	if err != nil {
		return nil, err
	}
	st := &State{Attrs: map[string]cty.Value{"path": cty.StringVal(Str(cfg, "path", ""))}}
	switch pi.Type {
	case "absent":
		return st, nil
	case "link":
	default:
		return nil, fmt.Errorf("%s is a %s, not a symbolic link; tend does not replace it", Str(cfg, "path", ""), pi.Type)
	}
	t, err := decodeB64(out.Values["target"])
	if err != nil {
		return nil, fmt.Errorf("reading link target: %w", err)
	}
	st.Present = true
	st.Attrs["target"] = cty.StringVal(strings.TrimSuffix(string(t), "\n"))
	return st, nil
}

// Apply implements Type.
func (Symlink) Apply(ctx context.Context, h *Host, before, after *State) (Undo, error) {
	if !after.Present {
		return nil, RunChange(ctx, h, "remove", before.Str("path"), shell.Cmd("rm", "-f").Operands(before.Str("path")).String()+"\n", nil)
	}
	return nil, RunChange(ctx, h, ChangeAction(before, after), after.Str("path"), linkScript(h, after.Str("path"), after.Str("target")), nil)
}

// linkScript points p at target atomically: a link under a temporary
// name of its own (the run's prefix and a random tag: two runs making or
// restoring one link never share it, and ln never replaces what is
// there), renamed over p.
func linkScript(h *Host, p, target string) string {
	tmp := path.Dir(p) + "/.tend." + newTag(h) + ".link"
	s := shell.NewScript("set -e").Raw(PathCheckFunc)
	pathCheck(s, p, false)
	s.Run(shell.Cmd("ln", "-s").Operands(target, tmp))
	s.If(shell.Not(shell.Cmd("mv", "-fT").Operands(tmp, p)), func(s *shell.Script) {
		s.Run(shell.Cmd("rm", "-f").Operands(tmp))
		s.Line("exit 1")
	})
	return s.String()
}

// Revert implements Type.
func (Symlink) Revert(ctx context.Context, h *Host, before, after *State, undo Undo) error {
	p := before.Str("path")
	if !before.Present {
		return RunChange(ctx, h, "remove", p, shell.Cmd("rm", "-f").Operands(p).String()+"\n", nil)
	}
	return RunChange(ctx, h, "restore", p, linkScript(h, p, before.Str("target")), nil)
}
