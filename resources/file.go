package resources

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/shell"
)

// File manages a regular file's content, mode and ownership.
type File struct{}

// Name implements Type.
func (File) Name() string { return "file" }

// Schema implements Type.
func (File) Schema() *Schema {
	return &Schema{
		Doc: "A regular file: its content, mode and ownership. Content is written to a temporary file in the same directory, flushed to disk and renamed into place, so readers never see a partial file; a rewrite keeps what is not declared: mode (set-id and sticky bits included), ownership, and the file's ACL, extended attributes and SELinux context where the host has the tools (getfattr, getfacl, chcon). Replaced content is kept on the host under the run's backup directory for rollback.",
		Attributes: []Attribute{
			{Name: "path", Type: cty.String, Required: true, Doc: "Absolute path of the file."},
			{Name: "content", Type: cty.String, Doc: "The file's content. Exactly one of content, source and template may be set; with none, only mode and ownership are managed."},
			{Name: "source", Type: cty.String, Doc: "A file on the controller, relative to the configuration directory, copied verbatim. One over 1 MiB is never read into memory: the plan compares its SHA-256 (remembered in .tend/sources.json while the file's identity, change time included, is unchanged), and apply streams it to the host (over sftp on the host's SSH connection), which checks the SHA-256 before the file replaces the old one."},
			{Name: "template", Type: cty.String, Doc: "A template file on the controller, relative to the configuration directory, rendered with `vars` (the syntax of templatefile)."},
			{Name: "vars", Type: cty.DynamicPseudoType, Doc: "An object of variables for `template`."},
			{Name: "mode", Type: cty.String, OS: OSPOSIX, Doc: "Octal permission bits, e.g. \"0644\". New files default to \"0644\"; existing files keep theirs when unset. Content from a secret (secret(...), a sensitive variable, a template var holding one) makes the default \"0600\", for existing files too; a declared mode that lets the group or others read it is kept, and the plan warns."},
			{Name: "owner", Type: cty.String, Doc: "Owning user, by name or numeric id. Unset: new files belong to the connecting user, existing files keep theirs."},
			{Name: "group", Type: cty.String, OS: OSPOSIX, Doc: "Owning group, by name or numeric id."},
			{Name: "state", Type: cty.String, Doc: "\"present\" (default) or \"absent\"."},
		},
	}
}

// Key implements Type.
func (File) Key(cfg cty.Value) (string, error) { return pathKey(cfg) }

func pathKey(cfg cty.Value) (string, error) {
	p := Str(cfg, "path", "")
	if !path.IsAbs(p) {
		return "", &AttrError{Attr: "path", Msg: fmt.Sprintf("must be an absolute path, got %q", p)}
	}
	return "path " + path.Clean(p), nil
}

// Desired implements Type.
func (File) Desired(cfg cty.Value, env Env) (*State, error) {
	st := &State{Attrs: map[string]cty.Value{"path": cty.StringVal(Str(cfg, "path", ""))}}
	switch s := Str(cfg, "state", "present"); s {
	case "present":
		st.Present = true
	case "absent":
		return st, nil
	default:
		return nil, &AttrError{Attr: "state", Msg: fmt.Sprintf("must be \"present\" or \"absent\", got %q", s)}
	}
	if err := modeOwnerAttrs(st, cfg); err != nil {
		return nil, err
	}
	n := 0
	for _, a := range []string{"content", "source", "template"} {
		if isSet(cfg, a) {
			n++
		}
	}
	if n > 1 {
		return nil, &AttrError{Attr: "content", Msg: "only one of content, source and template may be set"}
	}
	if isSet(cfg, "vars") && !isSet(cfg, "template") {
		return nil, &AttrError{Attr: "vars", Msg: "vars is only used with template"}
	}
	var data []byte
	sensitive := false
	switch {
	case isSet(cfg, "content"):
		v := cfg.GetAttr("content")
		sensitive = v.IsMarked()
		data = []byte(Str(cfg, "content", ""))
	case isSet(cfg, "source"):
		if c, err := largeSource(env, Str(cfg, "source", "")); c != nil || err != nil {
			if err != nil {
				return nil, &AttrError{Attr: "source", Msg: err.Error()}
			}
			st.Content = c
			return st, nil
		}
		b, err := env.ReadFile(Str(cfg, "source", ""))
		if err != nil {
			return nil, &AttrError{Attr: "source", Msg: err.Error()}
		}
		data = b
	case isSet(cfg, "template"):
		vars := cfg.GetAttr("vars")
		if vars.IsNull() {
			vars = cty.EmptyObjectVal
		}
		sensitive = vars.ContainsMarked()
		s, err := env.RenderTemplate(Str(cfg, "template", ""), vars)
		if err != nil {
			return nil, &AttrError{Attr: "template", Msg: err.Error()}
		}
		data = []byte(s)
	default:
		return st, nil
	}
	st.Content = newContent(data, sensitive)
	if sensitive && !isSet(cfg, "mode") {
		// Content from a secret is for its owner only, unless the
		// configuration says otherwise (and the plan then warns).
		st.Attrs["mode"] = cty.StringVal("0600")
	}
	return st, nil
}

// Notes implements Noter: a declared mode that lets others than the
// owner read content from a secret (the default for such content is
// 0600, so a wider mode was declared).
func (File) Notes(current, desired *State) []string {
	if n := SecretModeNote(desired); n != "" {
		return []string{n}
	}
	return nil
}

// SecretModeNote returns the plan's warning for a file state whose
// content comes from a secret and whose mode lets its group or others
// read it, or "".
func SecretModeNote(st *State) string {
	if st == nil || !st.Present || st.Content == nil || !st.Content.Sensitive {
		return ""
	}
	m, err := strconv.ParseUint(st.Str("mode"), 8, 32)
	if err != nil || m&0o044 == 0 {
		return ""
	}
	who := "others"
	if m&0o004 == 0 {
		who = "its group"
	}
	return fmt.Sprintf("warning: the content comes from a secret and the declared mode %s lets %s read it", st.Str("mode"), who)
}

func newContent(data []byte, sensitive bool) *Content {
	sum := sha256.Sum256(data)
	return &Content{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data)), Data: data, Known: true, Sensitive: sensitive}
}

// modeOwnerAttrs copies mode, owner and group from cfg into a desired state.
func modeOwnerAttrs(st *State, cfg cty.Value) error {
	if isSet(cfg, "mode") {
		m := Str(cfg, "mode", "")
		if err := checkMode(m); err != nil {
			return err
		}
		st.Attrs["mode"] = cty.StringVal(normMode(m))
	}
	for _, a := range []string{"owner", "group"} {
		if isSet(cfg, a) {
			v := Str(cfg, a, "")
			if v == "" || strings.ContainsAny(v, ": \t\n") {
				return &AttrError{Attr: a, Msg: fmt.Sprintf("%q is not a valid %s name", v, a)}
			}
			st.Attrs[a] = cty.StringVal(v)
		}
	}
	return nil
}

// Probe implements Type. Right after a change wrote the desired
// content (Content.Installed), the file is not hashed again while its
// identity is exactly the one the change saw once it had checked the
// content's SHA-256: same device, inode, size, modification and change
// times (the change time moves on any write, and on any metadata change).
// Any difference, and the file is hashed.
func (File) Probe(cfg cty.Value, want *State) string {
	wantSum := "-"
	if want != nil && want.Content != nil {
		wantSum = want.Content.SHA256
	}
	hash := "  tsha \"$p\" || exit 1\n"
	if id := installedID(want); id != "" {
		hash = shell.NewScript().Set("iid", id).Set("isum", wantSum).
			Line(`  if [ "$(stat -c '` + idFormat + `' -- "$p" 2>/dev/null)" = "$iid" ]; then h=$isum; else tsha "$p" || exit 1; fi`).String()
	}
	return pathProbe(Str(cfg, "path", "")) + `if [ $t = file ]; then
` + hash + `  out sha256 $h
  if [ "$h" != ` + wantSum + ` ] && [ $6 -le ` + strconv.Itoa(contentLimit) + ` ]; then out content "$(b64 < "$p")"; fi
fi
`
}

// ProbeInline implements InlineProber: anything but a regular file whose
// content differs from the desired one (whose probe sends the content)
// is answered from the prefetched values. A file just written (see
// Probe) is left to the fragment.
func (File) ProbeInline(cfg cty.Value, want *State) string {
	if installedID(want) != "" {
		return ""
	}
	wantSum := "-"
	if want != nil && want.Content != nil {
		wantSum = want.Content.SHA256
	}
	return pathInline(Str(cfg, "path", ""), `{ [ $_t != file ] || [ "$_th" = `+wantSum+` ]; }`,
		"  if [ $_t = file ]; then out sha256 $_th; fi\n")
}

// ProbePath implements PathProber: the prefetch hashes the file, unless
// it was just written (see Probe).
func (File) ProbePath(cfg cty.Value, want *State) (string, bool) {
	return Str(cfg, "path", ""), installedID(want) == ""
}

// Read implements Type.
func (File) Read(cfg cty.Value, out ProbeOutput) (*State, error) {
	pi, err := readPathInfo(out)
	if err != nil {
		return nil, err
	}
	st := &State{Attrs: map[string]cty.Value{"path": cty.StringVal(Str(cfg, "path", ""))}}
	switch pi.Type {
	case "absent":
		return st, nil
	case "file":
	case "link":
		return nil, fmt.Errorf("%s is a symbolic link, not a regular file; manage it with a symlink resource or remove it first", Str(cfg, "path", ""))
	default:
		return nil, fmt.Errorf("%s is a %s, not a regular file", Str(cfg, "path", ""), pi.Type)
	}
	st.Present = true
	st.Attrs["mode"] = cty.StringVal(pi.Mode)
	ownerAttrs(st.Attrs, cfg, pi)
	st.Attrs["uid"] = cty.StringVal(pi.UID)
	st.Attrs["gid"] = cty.StringVal(pi.GID)
	c := &Content{SHA256: out.Values["sha256"], Size: pi.Size}
	if enc, ok := out.Get("content"); ok {
		data, err := decodeB64(enc)
		if err != nil {
			return nil, fmt.Errorf("reading content: %w", err)
		}
		c.Data, c.Known = data, true
	}
	st.Content = c
	return st, nil
}

// PredictUndo implements UndoPredictor: a removed file, and one whose
// content is replaced, are copied to the change's first backup first.
func (File) PredictUndo(h *Host, before, after *State) Undo {
	p := changePath(before, after)
	if !after.Present || (contentChanges(before, after) && before.Present) {
		if h.BackupKey == "" || !before.Present {
			return nil
		}
		return Undo{"backup": h.BackupName(h.BackupKey, p, 1)}
	}
	return nil
}

// Occupies implements Occupant.
func (File) Occupies(st *State) string { return st.Str("path") }

// Identity implements Identifier.
func (File) Identity() []string { return []string{"path"} }

// ContentBackup implements ContentBackuper.
func (File) ContentBackup(undo Undo) string { return undo["backup"] }

// Apply implements Type.
func (File) Apply(ctx context.Context, h *Host, before, after *State) (Undo, error) {
	if after.Present && contentChanges(before, after) && streamed(after.Content) {
		return applyStream(ctx, h, before, after)
	}
	p := changePath(before, after)
	undo := Undo{}
	var sb strings.Builder
	sb.WriteString("set -e\n")
	sb.WriteString(FileFuncs)
	if after.Present && (contentChanges(before, after) || !before.Present) {
		sb.WriteString(PathCheckFunc)
		sb.WriteString(PathCheck(p, "file", "exit 1"))
	}
	var stdin []byte
	switch {
	case !after.Present:
		undo["backup"] = h.NextBackup(p)
		sb.WriteString(BackupScript(p, undo["backup"], "exit 1"))
		sb.WriteString(RemoveScript(p))
	case contentChanges(before, after):
		if before.Present {
			// One look for an ACL or extended attributes serves the
			// backup and the write.
			sb.WriteString(MetaCheck(p))
			undo["backup"] = h.NextBackup(p)
			sb.WriteString(BackupScript(p, undo["backup"], "exit 1"))
		}
		sb.WriteString(WriteStdin(p, h.TempPrefix(), rewrite(before, after)))
		stdin = after.Content.Data
	default:
		if !before.Present {
			// No content declared and no file: create it empty.
			sb.WriteString(WriteStdin(p, h.TempPrefix(), rewrite(before, after)))
			stdin = nil
		} else {
			chmodChown(&sb, p, before, after)
		}
	}
	if err := RunChange(ctx, h, ChangeAction(before, after), p, sb.String(), stdin); err != nil {
		return undo, err
	}
	return undo, nil
}

// ChangeAction is the word for what a change of a path does: create,
// update or remove.
func ChangeAction(before, after *State) string {
	switch {
	case !after.Present:
		return "remove"
	case !before.Present:
		return "create"
	}
	return "update"
}

// RevertAction is the word for what reverting a change of a path does:
// remove what it created, else restore.
func RevertAction(before *State) string {
	if !before.Present {
		return "remove"
	}
	return "restore"
}

// rewrite is how a file's new content is installed: with the declared
// mode, owner and group, and what is not declared kept from the file it
// replaces (its mode, ownership, ACL and extended attributes), or, for a
// new file, mode 0644 and the connecting user's ownership.
func rewrite(before, after *State) Install {
	in := Install{Mode: newMode(before, after), Owner: after.Str("owner"), Group: after.Str("group"), Meta: before.Present}
	if before.Present {
		u, g := before.Str("uid"), before.Str("gid")
		switch {
		case in.Owner == "" && in.Group == "":
			in.KeepUID, in.KeepGID = u, g
		case in.Owner == "":
			in.Owner = u
		case in.Group == "":
			in.Group = g
		}
	}
	return in
}

// chmodChown appends commands changing only the attributes that differ:
// ownership first, then the mode, since chown and chgrp clear the
// set-user-ID and set-group-ID bits (a file keeping its set-id mode gets
// it again after an ownership change).
func chmodChown(sb *strings.Builder, p string, before, after *State) {
	s := shell.NewScript()
	owned := false
	if o := after.Str("owner"); o != "" && o != before.Str("owner") {
		s.Run(shell.Cmd("chown", "-h").Operands(o, p))
		owned = true
	}
	if g := after.Str("group"); g != "" && g != before.Str("group") {
		s.Run(shell.Cmd("chgrp", "-h").Operands(g, p))
		owned = true
	}
	// The mode is octal digits (validated) and the path absolute: no
	// operand starts with "-".
	if m := after.Str("mode"); m != "" && m != before.Str("mode") {
		s.Run(shell.Cmd("chmod").Arg(m, p))
	} else if m := before.Str("mode"); owned && setID(m) {
		s.Run(shell.Cmd("chmod").Arg(m, p))
	}
	sb.WriteString(s.String())
}

// setID reports whether an octal mode has the set-user-ID, set-group-ID
// or sticky bit.
func setID(mode string) bool {
	return len(mode) > 3 && strings.TrimLeft(mode[:len(mode)-3], "0") != ""
}

// Tidy implements Tidier: the run's temporary files and staging
// directories in the directories of the states' paths.
func (File) Tidy(ctx context.Context, h *Host, states []*State) error {
	dirs := map[string]bool{}
	var sb strings.Builder
	for _, st := range states {
		p := st.Str("path")
		if p == "" || h.RunID == "" {
			continue
		}
		d := path.Dir(p)
		if dirs[d] {
			continue
		}
		dirs[d] = true
		sb.WriteString(shell.NewScript().Run(shell.Cmd("rm", "-rf", "--").Word("", d+"/"+h.TempPrefix(), "*")).String())
	}
	if sb.Len() == 0 {
		return nil
	}
	// The star is outside the quotes: a glob of the quoted prefix.
	return RunScript(ctx, h, sb.String(), nil)
}

// Revert implements Type.
func (File) Revert(ctx context.Context, h *Host, before, after *State, undo Undo) error {
	p := before.Str("path")
	var sb strings.Builder
	sb.WriteString("set -e\n")
	switch {
	case !before.Present:
		sb.WriteString(RemoveScript(p))
	case undo["backup"] != "":
		sb.WriteString(FileFuncs)
		sb.WriteString(RestoreScript(p, undo["backup"], h.TempPrefix()))
	default:
		restoreModeOwner(&sb, p, before)
	}
	return RunChange(ctx, h, RevertAction(before), p, sb.String(), nil)
}

// restoreModeOwner appends commands that put back a path's numeric
// ownership and mode, in that order (chown clears set-id bits).
func restoreModeOwner(sb *strings.Builder, p string, before *State) {
	s := shell.NewScript()
	if u, g := before.Str("uid"), before.Str("gid"); u != "" && g != "" {
		s.Raw(`[ "$(`).Inline(shell.Cmd("stat", "-c", "%u:%g").Operands(p)).Raw(`)" = `).Word("", u+":"+g, "").Raw(" ] || ").
			Run(shell.Cmd("chown", "-h").Operands(u+":"+g, p))
	}
	if m := before.Str("mode"); m != "" {
		s.Run(shell.Cmd("chmod").Arg(m, p))
	}
	sb.WriteString(s.String())
}

// changePath is the path a change acts on: the probed one, or the desired
// one for a resource that did not exist.
func changePath(before, after *State) string {
	if p := before.Str("path"); p != "" {
		return p
	}
	return after.Str("path")
}
