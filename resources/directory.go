package resources

import (
	"context"
	"fmt"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/shell"
)

// Directory manages a directory's existence, mode and ownership.
type Directory struct{}

// Name implements Type.
func (Directory) Name() string { return "directory" }

// Schema implements Type.
func (Directory) Schema() *Schema {
	return &Schema{
		Doc: "A directory. Its parent must exist (declare it too; tend orders a path after the directory that contains it). Removing a directory moves it, with everything in it, into the run's backup directory, so a rollback can put it back.",
		Attributes: []Attribute{
			{Name: "path", Type: cty.String, Required: true, Doc: "Absolute path of the directory."},
			{Name: "mode", Type: cty.String, OS: OSPOSIX, Doc: "Octal permission bits, e.g. \"0755\". New directories default to \"0755\"."},
			{Name: "owner", Type: cty.String, Doc: "Owning user, by name or numeric id."},
			{Name: "group", Type: cty.String, OS: OSPOSIX, Doc: "Owning group, by name or numeric id."},
			{Name: "state", Type: cty.String, Doc: "\"present\" (default) or \"absent\" (removes the directory and its contents)."},
		},
	}
}

// Key implements Type.
func (Directory) Key(cfg cty.Value) (string, error) { return pathKey(cfg) }

// Desired implements Type.
func (Directory) Desired(cfg cty.Value, env Env) (*State, error) {
	st := &State{Attrs: map[string]cty.Value{"path": cty.StringVal(Str(cfg, "path", ""))}}
	switch s := Str(cfg, "state", "present"); s {
	case "present":
		st.Present = true
	case "absent":
		return st, nil
	default:
		return nil, &AttrError{Attr: "state", Msg: fmt.Sprintf("must be \"present\" or \"absent\", got %q", s)}
	}
	return st, modeOwnerAttrs(st, cfg)
}

// Probe implements Type.
func (Directory) Probe(cfg cty.Value, want *State) string {
	return pathProbe(Str(cfg, "path", ""))
}

// ProbeInline implements InlineProber.
func (Directory) ProbeInline(cfg cty.Value, want *State) string {
	return pathInline(Str(cfg, "path", ""), "true", "")
}

// ProbePath implements PathProber.
func (Directory) ProbePath(cfg cty.Value, _ *State) (string, bool) {
	return Str(cfg, "path", ""), false
}

// Read implements Type.
func (Directory) Read(cfg cty.Value, out ProbeOutput) (*State, error) {
	pi, err := readPathInfo(out)
	if err != nil {
		return nil, err
	}
	st := &State{Attrs: map[string]cty.Value{"path": cty.StringVal(Str(cfg, "path", ""))}}
	switch pi.Type {
	case "absent":
		return st, nil
	case "directory":
	default:
		return nil, fmt.Errorf("%s is a %s, not a directory", Str(cfg, "path", ""), pi.Type)
	}
	st.Present = true
	st.Attrs["mode"] = cty.StringVal(pi.Mode)
	ownerAttrs(st.Attrs, cfg, pi)
	st.Attrs["uid"] = cty.StringVal(pi.UID)
	st.Attrs["gid"] = cty.StringVal(pi.GID)
	return st, nil
}

// PredictUndo implements UndoPredictor: a removed directory is moved to
// the change's first backup.
func (Directory) PredictUndo(h *Host, before, after *State) Undo {
	if after.Present || !before.Present || h.BackupKey == "" {
		return nil
	}
	return Undo{"backup": h.BackupName(h.BackupKey, after.Str("path"), 1)}
}

// Occupies implements Occupant.
func (Directory) Occupies(st *State) string { return st.Str("path") }

// Identity implements Identifier.
func (Directory) Identity() []string { return []string{"path"} }

// Apply implements Type.
func (Directory) Apply(ctx context.Context, h *Host, before, after *State) (Undo, error) {
	p := after.Str("path")
	s := shell.NewScript("set -e")
	undo := Undo{}
	switch {
	case !after.Present:
		b := h.NextBackup(p)
		s.Run(shell.Cmd("mkdir", "-p", "-m", "0700").Operands(h.BackupDir))
		s.Run(shell.Cmd("mv").Operands(p, b))
		undo["backup"] = b
	case !before.Present:
		mode := after.Str("mode")
		if mode == "" {
			mode = "0755"
		}
		s.Raw(PathCheckFunc)
		pathCheck(s, p, false)
		s.Run(shell.Cmd("mkdir").Opt("-m", mode).Operands(p))
		o, g := after.Str("owner"), after.Str("group")
		if o != "" {
			s.Run(shell.Cmd("chown").Operands(o, p))
		}
		if g != "" {
			s.Run(shell.Cmd("chgrp").Operands(g, p))
		}
		if (o != "" || g != "") && setID(mode) {
			// chown and chgrp may clear set-id bits.
			s.Run(chmod(mode, p))
		}
	default:
		modeOwnerScript(s, p, before, after)
	}
	return undo, RunChange(ctx, h, ChangeAction(before, after), p, s.String(), nil)
}

// Revert implements Type.
func (Directory) Revert(ctx context.Context, h *Host, before, after *State, undo Undo) error {
	p := before.Str("path")
	s := shell.NewScript("set -e")
	switch {
	case !before.Present:
		// Only what this run created is removed, and only when empty:
		// anything else in it was put there by someone else.
		s.If(shell.Test("-d", p), func(s *shell.Script) { s.Run(shell.Cmd("rmdir").Operands(p)) })
	case undo["backup"] != "":
		s.Run(shell.Cmd("mv").Operands(undo["backup"], p))
	default:
		restoreModeOwnerScript(s, p, before)
	}
	return RunChange(ctx, h, RevertAction(before), p, s.String(), nil)
}
