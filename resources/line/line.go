package line

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/probe"
	"github.com/tendhq/tend/redact"
	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/shell"
)

// MaxSize is the largest file a line resource edits. Its whole content
// travels to the controller on every plan, so larger files are refused.
const MaxSize = 1 << 20

// Line ensures one line of a text file is present or absent.
type Line struct{}

var (
	_ resources.Type     = Line{}
	_ resources.Resolver = Line{}
)

// Name implements resources.Type.
func (Line) Name() string { return "line" }

// Schema implements resources.Type.
func (Line) Schema() *resources.Schema {
	return &resources.Schema{
		Doc: "One line of a text file, present or absent, leaving the rest of the file alone (like Ansible's lineinfile): the tool for hardening settings in files that packages own. " +
			"With state = \"present\" and `regexp`, the LAST line matching the regexp is replaced by `line`; other matching lines are left as they are; when no line matches and no line equals `line` already, `line` is inserted. " +
			"With state = \"present\" and no `regexp`, `line` is inserted unless a line equal to it exists. " +
			"With state = \"absent\" and `regexp`, every matching line is removed; without `regexp`, every line equal to `line` is removed. " +
			"Lines are compared without their line terminator; regexps are Go RE2 syntax, evaluated on the controller, and match anywhere in a line unless anchored (^, $). " +
			"An inserted line uses the file's line ending (CRLF when the file's first line ends with CRLF, LF otherwise); a last line without a newline gets one before a line is added after it. " +
			"The plan shows the change as a unified diff of the file (with the lines around it; when `line` is sensitive, e.g. from secret(), the file is never shown). Mode and ownership are not managed (use a file resource without content for that). At apply time the file is read again and the edit is made to what is found then, so several line resources may edit one file in one run; " +
			"it is written atomically (a temporary file in the same directory renamed over it) keeping its mode, ownership, ACL and extended attributes, after a copy is kept in the run's backup directory, from which a rollback restores the exact previous bytes, mode and owner. " +
			"A symbolic link is followed: its target is edited. Files over 1 MiB are refused. Two line resources making the same edit (same file and same regexp, or same line without regexp) on a host are an error.",
		Attributes: []resources.Attribute{
			{Name: "path", Type: cty.String, Required: true, Doc: "Absolute path of the file."},
			{Name: "line", Type: cty.String, Doc: "The whole line, without newline. Required with state = \"present\"; with state = \"absent\", removes lines equal to it unless `regexp` is set."},
			{Name: "regexp", Type: cty.String, Doc: "A Go RE2 regular expression selecting the line to replace (present: the last match) or the lines to remove (absent). Write it to match both the old line and `line` itself, and anchor it so that it matches nothing else, e.g. \"^#?PermitRootLogin\\\\b\" (not \"PermitRootLogin\": the last match wins, and that may be an example in a comment)."},
			{Name: "state", Type: cty.String, Doc: "\"present\" (default) or \"absent\"."},
			{Name: "insert_after", Type: cty.String, Doc: "Where an inserted line goes: after the last line matching this regexp (the end of the file when none matches), or the keyword \"EOF\" (end, the default) or \"BOF\" (beginning)."},
			{Name: "insert_before", Type: cty.String, Doc: "Where an inserted line goes: before the last line matching this regexp (the end of the file when none matches), or the keyword \"BOF\" (beginning) or \"EOF\". Only one of insert_after and insert_before may be set."},
			{Name: "create", Type: cty.Bool, Doc: "Create the file (mode 0644, owned by the connecting user) when it does not exist. Default false: a missing file is a plan error (with state = \"absent\" a missing file is simply nothing to remove)."},
		},
	}
}

// Key implements resources.Type. Several lines of one file are normal, so
// the key names the edit: two resources with the same regexp (or the same
// line, without regexp) on one file would fight over it.
func (Line) Key(cfg cty.Value) (string, error) {
	p := resources.Str(cfg, "path", "")
	if !path.IsAbs(p) {
		return "", &resources.AttrError{Attr: "path", Msg: fmt.Sprintf("must be an absolute path, got %q", p)}
	}
	p = path.Clean(p)
	switch {
	case isSet(cfg, "regexp"):
		return "line " + p + " regexp " + keyValue(cfg.GetAttr("regexp")), nil
	case isSet(cfg, "line"):
		return "line " + p + " line " + keyValue(cfg.GetAttr("line")), nil
	}
	return "", &resources.AttrError{Attr: "line", Msg: "line or regexp is required"}
}

// keyValue quotes a value for a key; a sensitive one is shown as a digest,
// since keys appear in error messages.
func keyValue(v cty.Value) string {
	u, _ := v.Unmark()
	s := u.AsString()
	if v.IsMarked() {
		// Keyed: a plain digest of a short secret tells it.
		d := strings.TrimPrefix(redact.Keyed(s), redact.KeyedPrefix)
		return "(sensitive, hmac " + d[:12] + ")"
	}
	return strconv.Quote(s)
}

// Desired implements resources.Type. The content is computed from the
// current one by Resolve; the desired state carries the edit's parameters
// (Read carries the same values, so they never show as changes) because
// Apply receives only states.
func (Line) Desired(cfg cty.Value, env resources.Env) (*resources.State, error) {
	if _, err := (Line{}).Key(cfg); err != nil {
		return nil, err
	}
	st := &resources.State{Present: true, Attrs: editAttrs(cfg)}
	if _, err := editOf(st); err != nil {
		return nil, err
	}
	return st, nil
}

// editAttrs is the edit's parameters as state attributes.
func editAttrs(cfg cty.Value) map[string]cty.Value {
	m := map[string]cty.Value{
		"path":   cty.StringVal(resources.Str(cfg, "path", "")),
		"state":  cty.StringVal(resources.Str(cfg, "state", "present")),
		"create": cty.BoolVal(boolDef(cfg, "create", false)),
	}
	for _, a := range []string{"line", "regexp", "insert_after", "insert_before"} {
		if isSet(cfg, a) {
			m[a] = cfg.GetAttr(a)
		}
	}
	return m
}

// editOf builds the edit a state's attributes describe.
func editOf(st *resources.State) (*Edit, error) {
	has := func(a string) bool { v := st.Attr(a); return v != cty.NilVal && !v.IsNull() }
	return NewEdit(st.Str("line"), st.Str("regexp"), st.Str("state"), st.Str("insert_after"), st.Str("insert_before"), has("line"), has("regexp"))
}

// sensitive reports whether the line is a secret: the content is then
// never displayed.
func sensitive(st *resources.State) bool {
	v := st.Attr("line")
	return v != cty.NilVal && v.IsMarked()
}

// Occupies implements resources.Occupant: a line lives in its file, which
// follows the directory holding it.
func (Line) Occupies(st *resources.State) string { return st.Str("path") }

// Identity implements resources.Identifier.
func (Line) Identity() []string { return []string{"path"} }

// ContentBackup implements resources.ContentBackuper.
func (Line) ContentBackup(undo resources.Undo) string { return undo["backup"] }

// Probe implements resources.Type.
func (Line) Probe(cfg cty.Value, want *resources.State) string {
	return probeScript(resources.Str(cfg, "path", ""))
}

// probeScript prints the file's kind, mode, ownership, size and, up to
// MaxSize, its content: the edit is computed on the controller, so it
// needs the bytes. Two forks (stat, base64), whatever the file.
func probeScript(p string) string {
	return shell.NewScript().Set("p", p).Line(`if [ -L "$p" ]; then p=$(readlink -f -- "$p") || { echo "cannot resolve the symbolic link $p"; exit 1; }; out target "$(printf %s "$p" | b64)"; fi
if [ ! -e "$p" ]; then out type absent; exit 0; fi
if [ ! -f "$p" ]; then out type other; exit 0; fi
s=$(stat -c '%a %u %g %s' -- "$p") || exit 1
set -- $s
out mode $1; out uid $2; out gid $3; out size $4`).
		Raw(`if [ "$4" -gt `).Word("", strconv.Itoa(MaxSize), "").Line(` ]; then out type large; exit 0; fi
out type file
out content "$(b64 < "$p")"`).String()
}

// fileState is a parsed probe.
type fileState struct {
	Type           string // absent, file, other, large
	Target         string // the file edited, when path is a symlink
	Mode, UID, GID string
	Size           int64
	Data           []byte
}

func readProbe(p string, out resources.ProbeOutput) (*fileState, error) {
	fs := &fileState{Target: p}
	t, ok := out.Get("type")
	if !ok {
		msg := strings.TrimSpace(out.Other)
		if msg == "" {
			msg = "probe printed no state"
		}
		return nil, &resources.ProbeError{Msg: msg}
	}
	fs.Type = t
	if enc, ok := out.Get("target"); ok {
		b, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			return nil, fmt.Errorf("reading the link target of %s: %w", p, err)
		}
		fs.Target = string(b)
	}
	switch t {
	case "absent":
		return fs, nil
	case "other":
		return nil, fmt.Errorf("%s is not a regular file", fs.Target)
	}
	fs.Mode = normMode(out.Values["mode"])
	fs.UID, fs.GID = out.Values["uid"], out.Values["gid"]
	fs.Size, _ = strconv.ParseInt(out.Values["size"], 10, 64)
	if t == "large" {
		return nil, fmt.Errorf("%s is %d bytes; line edits files up to %d bytes (1 MiB): manage it with a file resource", fs.Target, fs.Size, MaxSize)
	}
	if t != "file" {
		return nil, fmt.Errorf("%s: unexpected probe output %q", p, t)
	}
	data, err := base64.StdEncoding.DecodeString(out.Values["content"])
	if err != nil {
		return nil, fmt.Errorf("reading the content of %s: %w", fs.Target, err)
	}
	if int64(len(data)) != fs.Size {
		return nil, fmt.Errorf("%s changed while it was read (%d bytes, then %d); plan again", fs.Target, fs.Size, len(data))
	}
	fs.Data = data
	return fs, nil
}

// Read implements resources.Type.
func (Line) Read(cfg cty.Value, out resources.ProbeOutput) (*resources.State, error) {
	fs, err := readProbe(resources.Str(cfg, "path", ""), out)
	if err != nil {
		return nil, err
	}
	st := &resources.State{Attrs: editAttrs(cfg)}
	if fs.Type == "absent" {
		return st, nil
	}
	st.Present = true
	st.Attrs["mode"] = cty.StringVal(fs.Mode)
	st.Attrs["uid"] = cty.StringVal(fs.UID)
	st.Attrs["gid"] = cty.StringVal(fs.GID)
	st.Content = content(fs.Data, sensitive(st))
	return st, nil
}

func content(data []byte, sensitive bool) *resources.Content {
	sum := sha256.Sum256(data)
	return &resources.Content{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data)), Data: data, Known: true, Sensitive: sensitive}
}

// Resolve implements resources.Resolver: the desired content is the
// current content with the edit made.
func (Line) Resolve(cfg cty.Value, current, desired *resources.State) (*resources.State, error) {
	e, err := editOf(desired)
	if err != nil {
		return nil, err
	}
	out := &resources.State{Present: true, Attrs: map[string]cty.Value{}}
	for k, v := range desired.Attrs {
		out.Attrs[k] = v
	}
	p := desired.Str("path")
	if !current.Present {
		if e.Absent {
			out.Present = false // nothing to remove from a file that is not there
			return out, nil
		}
		if desired.Attr("create") == cty.True {
			data, _ := e.Apply(nil)
			out.Content = content(data, sensitive(desired))
			return out, nil
		}
		return nil, fmt.Errorf("%s does not exist; set create = true to create it", p)
	}
	if current.Content == nil || !current.Content.Known {
		return nil, fmt.Errorf("the content of %s is unknown", p)
	}
	data, _ := e.Apply(current.Content.Data)
	out.Content = content(data, sensitive(desired))
	return out, nil
}

// Apply implements resources.Type. It reads the file again and makes the
// edit to what it finds, since other line resources of this run may have
// changed it since the plan; the write fails if the file changes between
// that read and the rename.
func (Line) Apply(ctx context.Context, h *resources.Host, before, after *resources.State) (resources.Undo, error) {
	if !after.Present {
		return nil, nil
	}
	e, err := editOf(after)
	if err != nil {
		return nil, err
	}
	p := after.Str("path")
	res, err := probe.Run(ctx, h.T, false, []probe.Fragment{{ID: "line", Script: probeScript(p)}})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	if msg, ok := res.Failed["line"]; ok {
		return nil, fmt.Errorf("reading %s: %s", p, msg)
	}
	fs, err := readProbe(p, res.Outputs["line"])
	if err != nil {
		return nil, err
	}
	var sb strings.Builder
	sb.WriteString("set -e\n")
	sb.WriteString(resources.FileFuncs)
	sb.WriteString(resources.PathCheckFunc)
	target := fs.Target
	if fs.Type == "absent" {
		if after.Attr("create") != cty.True {
			return nil, fmt.Errorf("%s does not exist; set create = true to create it", target)
		}
		data, _ := e.Apply(nil)
		sb.WriteString(shell.NewScript().Set("p", target).String())
		sb.WriteString(`[ ! -e "$p" ] || { ` + resources.CauseLine(`"it appeared while tend was creating it; plan again"`) + "; exit 1; }\n")
		sb.WriteString(resources.PathCheck(target, "file", "exit 1"))
		sb.WriteString(resources.WriteStdin(target, h.TempPrefix(), resources.Install{Mode: "0644"}))
		if err := resources.RunChange(ctx, h, "create", target, sb.String(), data); err != nil {
			return nil, err
		}
		return resources.Undo{"path": target, "created": "1"}, nil
	}
	data, changed := e.Apply(fs.Data)
	if !changed {
		// Another change of this run made it already.
		return resources.Undo{}, nil
	}
	sum := sha256.Sum256(fs.Data)
	b := h.NextBackup(target)
	sb.WriteString(shell.NewScript().Set("p", target).Set("w", hex.EncodeToString(sum[:])).Line(`h=$(sha256sum < "$p")`).String())
	sb.WriteString(`[ "${h%% *}" = "$w" ] || { ` + resources.CauseLine(`"it changed while tend was editing it; plan again"`) + "; exit 1; }\n")
	// The file keeps its mode, ownership, ACL and extended attributes;
	// one look for the last two serves the backup and the write.
	sb.WriteString(resources.MetaCheck(target))
	sb.WriteString(resources.BackupScript(target, b, "exit 1"))
	sb.WriteString(resources.PathCheck(target, "file", "exit 1"))
	sb.WriteString(resources.WriteStdin(target, h.TempPrefix(), resources.Install{Mode: fs.Mode, KeepUID: fs.UID, KeepGID: fs.GID, Meta: true}))
	if err := resources.RunChange(ctx, h, "update", target, sb.String(), data); err != nil {
		return nil, err
	}
	return resources.Undo{"path": target, "backup": b}, nil
}

// Revert implements resources.Type: the file is put back from the backup
// Apply kept (bytes, mode, ownership, times), or removed when Apply
// created it.
func (Line) Revert(ctx context.Context, h *resources.Host, before, after *resources.State, undo resources.Undo) error {
	p := undo["path"]
	switch {
	case p == "":
		return nil // Apply changed nothing
	case undo["created"] == "1":
		return resources.RunChange(ctx, h, "remove", p, shell.NewScript().Run(shell.Cmd("rm", "-f").Operands(p)).String(), nil)
	case undo["backup"] != "":
		script := "set -e\n" + resources.FileFuncs + shell.NewScript().Set("b", undo["backup"]).String() +
			"[ -f \"$b\" ] || { " + resources.CauseLine(`"its backup $b is missing"`) + "; exit 1; }\n" +
			resources.RestoreScript(p, undo["backup"], h.TempPrefix())
		return resources.RunChange(ctx, h, "restore", p, script, nil)
	}
	return fmt.Errorf("nothing in the journal says how to revert %s", p)
}

func boolDef(cfg cty.Value, name string, def bool) bool {
	v := cfg.GetAttr(name)
	if v.IsNull() || !v.IsKnown() {
		return def
	}
	v, _ = v.Unmark()
	return v.True()
}

func isSet(cfg cty.Value, name string) bool {
	v := cfg.GetAttr(name)
	return !v.IsNull() && v.IsKnown()
}

func normMode(m string) string {
	if len(m) == 3 {
		return "0" + m
	}
	return m
}
