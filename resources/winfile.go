package resources

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/shell"
)

// The Windows providers of file and directory: content compared by
// SHA-256 (Get-FileHash), ownership by security identifier (an owner
// written "Administrators" and read back "BUILTIN\Administrators" is the
// same owner), writes through a temporary file in the target directory
// replaced into place, backups under the run's backup directory on the
// host (%ProgramData%\tend\backup\RUN-ID).

// winAbsPath matches an absolute Windows path: a drive letter and a
// separator, or a UNC path.
var winAbsPath = regexp.MustCompile(`^([A-Za-z]:[\\/]|\\\\[^\\/]+[\\/][^\\/]+)`)

// WindowsPathKey is the key of a resource managing a Windows path: Windows
// paths are case-insensitive and accept both separators.
func WindowsPathKey(cfg cty.Value) (string, error) {
	p := Str(cfg, "path", "")
	if !winAbsPath.MatchString(p) {
		return "", &AttrError{Attr: "path", Msg: fmt.Sprintf("must be an absolute Windows path (C:\\dir\\file or \\\\server\\share\\file), got %q", p)}
	}
	return "path " + strings.ToLower(strings.TrimRight(strings.ReplaceAll(p, "/", `\`), `\`)), nil
}

// WindowsBackup returns a backup name for Windows path p in the run's
// backup directory.
func WindowsBackup(h *Host, p string) string {
	return strings.ReplaceAll(h.NextBackup(strings.ReplaceAll(p, `\`, "/")), "/", `\`)
}

// psOwnerProbe reports a path's owner (owner, owner_sid) and, when want
// names an owner, that account's SID (want_owner_sid, "" when the account
// does not exist) so Read can compare identities, not spellings. A member
// of a method's result passed as a command argument is parenthesised:
// PowerShell reads it either way, tree-sitter's grammar only this way.
func psOwnerProbe(want string) string {
	s := "$acl = Get-Acl -LiteralPath $p\ntendOut owner $acl.Owner\ntendOut owner_sid ($acl.GetOwner([Security.Principal.SecurityIdentifier]).Value)\n"
	if want != "" {
		s += "try { tendOut want_owner_sid ((New-Object Security.Principal.NTAccount " + shell.PSQuote(want) + ").Translate([Security.Principal.SecurityIdentifier]).Value) } catch { tendOut want_owner_sid '' }\n"
	}
	return s
}

// psPathProbe sets $p and reports type: absent, file, directory, link.
func psPathProbe(p string) string {
	return "$p = " + shell.PSQuote(p) + `
$i = Get-Item -LiteralPath $p -Force -ErrorAction SilentlyContinue
if ($null -eq $i) { tendOut type 'absent'; return }
if ($i.Attributes -band [IO.FileAttributes]::ReparsePoint) { tendOut type 'link' } elseif ($i.PSIsContainer) { tendOut type 'directory' } else { tendOut type 'file'; tendOut size $i.Length }
`
}

// winOwnerAttr sets the current owner attribute: the configured spelling
// when it names the same account, else the host's.
func winOwnerAttr(st *State, cfg cty.Value, out ProbeOutput) {
	owner := out.Values["owner"]
	if want := Str(cfg, "owner", ""); want != "" {
		if sid := out.Values["want_owner_sid"]; sid != "" && strings.EqualFold(sid, out.Values["owner_sid"]) {
			owner = want
		}
	}
	st.Attrs["owner"] = cty.StringVal(owner)
	st.Attrs["owner_sid"] = cty.StringVal(out.Values["owner_sid"])
}

// psSetOwner sets the owner of the path in variable v.
func psSetOwner(v, owner string) string {
	return "$acl = Get-Acl -LiteralPath " + v + "\n$acl.SetOwner((New-Object Security.Principal.NTAccount " + shell.PSQuote(owner) + "))\nSet-Acl -LiteralPath " + v + " -AclObject $acl\n"
}

// psSetOwnerSID sets the owner of the path in variable v by SID.
func psSetOwnerSID(v, sid string) string {
	return "$acl = Get-Acl -LiteralPath " + v + "\n$acl.SetOwner((New-Object Security.Principal.SecurityIdentifier " + shell.PSQuote(sid) + "))\nSet-Acl -LiteralPath " + v + " -AclObject $acl\n"
}

func winPresence(cfg cty.Value) (*State, error) {
	st := &State{Attrs: map[string]cty.Value{"path": cty.StringVal(Str(cfg, "path", ""))}}
	switch s := Str(cfg, "state", "present"); s {
	case "present":
		st.Present = true
	case "absent":
	default:
		return nil, &AttrError{Attr: "state", Msg: fmt.Sprintf("must be \"present\" or \"absent\", got %q", s)}
	}
	if st.Present && isSet(cfg, "owner") {
		o := Str(cfg, "owner", "")
		if strings.TrimSpace(o) == "" || strings.ContainsAny(o, "\r\n") {
			return nil, &AttrError{Attr: "owner", Msg: fmt.Sprintf("%q is not a valid Windows account name", o)}
		}
		st.Attrs["owner"] = cty.StringVal(o)
	}
	return st, nil
}

// WindowsKey implements Windows.
func (File) WindowsKey(cfg cty.Value) (string, error) { return WindowsPathKey(cfg) }

// WindowsDesired implements Windows: content, source or template as on
// POSIX hosts, owner as a Windows account.
func (File) WindowsDesired(cfg cty.Value, env Env) (*State, error) {
	st, err := winPresence(cfg)
	if err != nil || !st.Present {
		return st, err
	}
	// Content is decided as on POSIX hosts; ownership is Windows'.
	full, err := File{}.Desired(withNull(cfg, "owner"), env)
	if err != nil {
		return nil, err
	}
	st.Content = full.Content
	return st, nil
}

// withNull returns cfg with the named attribute nulled.
func withNull(cfg cty.Value, name string) cty.Value {
	m := cfg.AsValueMap()
	if v, ok := m[name]; ok {
		m[name] = cty.NullVal(v.Type())
	}
	return cty.ObjectVal(m)
}

// WindowsProbe implements Windows.
func (File) WindowsProbe(cfg cty.Value, want *State) string {
	wantSum := "-"
	owner := ""
	if want != nil {
		if want.Content != nil {
			wantSum = want.Content.SHA256
		}
		owner = want.Str("owner")
	}
	return psPathProbe(Str(cfg, "path", "")) + psOwnerProbe(owner) + `if (-not $i.PSIsContainer) {
  $h = (Get-FileHash -LiteralPath $p -Algorithm SHA256).Hash.ToLowerInvariant()
  tendOut sha256 $h
  if ($h -ne '` + wantSum + `' -and $i.Length -le ` + strconv.Itoa(contentLimit) + `) { tendOut content (tendB64 $p) }
}
`
}

// WindowsRead implements Windows.
func (File) WindowsRead(cfg cty.Value, out ProbeOutput) (*State, error) {
	t, ok := out.Get("type")
	if !ok {
		return nil, ProbeFailed(out)
	}
	p := Str(cfg, "path", "")
	st := &State{Attrs: map[string]cty.Value{"path": cty.StringVal(p)}}
	switch t {
	case "absent":
		return st, nil
	case "file":
	case "link":
		return nil, fmt.Errorf("%s is a symbolic link or junction, not a regular file", p)
	default:
		return nil, fmt.Errorf("%s is a %s, not a regular file", p, t)
	}
	st.Present = true
	winOwnerAttr(st, cfg, out)
	size, _ := strconv.ParseInt(out.Values["size"], 10, 64)
	c := &Content{SHA256: out.Values["sha256"], Size: size}
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

// psBackup copies $p to backup b, creating the backup directory.
func psBackup(b string) string {
	return "$b = " + shell.PSQuote(b) + "\n$null = New-Item -ItemType Directory -Force -Path ([IO.Path]::GetDirectoryName($b))\nCopy-Item -LiteralPath $p -Destination $b -Force\n"
}

// psWriteStdin writes stdin to $p through a temporary file checked
// against sum, then sets owner (when not "") and replaces $p.
func psWriteStdin(sum, owner string) string {
	s := `$t = [IO.Path]::Combine([IO.Path]::GetDirectoryName($p), '.tend-' + [Guid]::NewGuid().ToString('N') + '.tmp')
$f = [IO.File]::Open($t, [IO.FileMode]::CreateNew, [IO.FileAccess]::Write, [IO.FileShare]::None)
try {
  $null = Copy-TendStdin $f
  $f.Dispose()
  if ((Get-FileHash -LiteralPath $t -Algorithm SHA256).Hash -ne '` + strings.ToUpper(sum) + `') { throw 'tend: content damaged in transit' }
`
	if owner != "" {
		s += indent(psSetOwner("$t", owner), "  ")
	}
	s += `  if ([IO.File]::Exists($p)) { [IO.File]::Replace($t, $p, [NullString]::Value) } else { [IO.File]::Move($t, $p) }
} catch {
  $f.Dispose()
  [IO.File]::Delete($t)
  throw
}
`
	return s
}

func indent(s, by string) string {
	lines := strings.SplitAfter(s, "\n")
	var b strings.Builder
	for _, l := range lines {
		if l != "" {
			b.WriteString(by + l)
		}
	}
	return b.String()
}

// WindowsApply implements Windows.
func (File) WindowsApply(ctx context.Context, h *Host, before, after *State) (Undo, error) {
	p := changePath(before, after)
	undo := Undo{}
	var sb strings.Builder
	sb.WriteString("$p = " + shell.PSQuote(p) + "\n")
	var stdin []byte
	switch {
	case !after.Present:
		undo["backup"] = WindowsBackup(h, p)
		sb.WriteString(psBackup(undo["backup"]))
		sb.WriteString("Remove-Item -LiteralPath $p -Force\n")
	case after.Content != nil && (!before.Present || before.Content == nil || before.Content.SHA256 != after.Content.SHA256):
		if before.Present {
			undo["backup"] = WindowsBackup(h, p)
			sb.WriteString(psBackup(undo["backup"]))
		}
		sb.WriteString(psWriteStdin(after.Content.SHA256, after.Str("owner")))
		if streamed(after.Content) {
			// Streamed from its source, never held in memory; the script
			// checks its SHA-256 before it replaces the file.
			r, err := openContent(after.Content)
			if err != nil {
				return undo, err
			}
			defer r.Close()
			_, err = powerShellStdin(ctx, h, sb.String(), r)
			return undo, err
		}
		stdin = after.Content.Data
	case !before.Present:
		e := newContent(nil, false)
		sb.WriteString(psWriteStdin(e.SHA256, after.Str("owner")))
	default:
		if o := after.Str("owner"); o != "" && o != before.Str("owner") {
			sb.WriteString(psSetOwner("$p", o))
		}
	}
	_, err := RunPowerShell(ctx, h, sb.String(), stdin)
	return undo, err
}

// WindowsRevert implements Windows.
func (File) WindowsRevert(ctx context.Context, h *Host, before, after *State, undo Undo) error {
	p := changePath(before, after)
	var sb strings.Builder
	sb.WriteString("$p = " + shell.PSQuote(p) + "\n")
	switch {
	case !before.Present:
		sb.WriteString("if (Test-Path -LiteralPath $p) { Remove-Item -LiteralPath $p -Force }\n")
	case undo["backup"] != "":
		// Copy next to p, then replace: the restore is atomic too. The
		// temporary name is new to every restore (a GUID), so two runs
		// restoring one file, or one left behind by a killed run, never
		// meet on it; a failed restore removes its own.
		sb.WriteString(`$t = [IO.Path]::Combine([IO.Path]::GetDirectoryName($p), '.tend-restore-' + [Guid]::NewGuid().ToString('N') + '.tmp')
try {
  Copy-Item -LiteralPath ` + shell.PSQuote(undo["backup"]) + ` -Destination $t
  if ([IO.File]::Exists($p)) { [IO.File]::Replace($t, $p, [NullString]::Value) } else { [IO.File]::Move($t, $p) }
} finally {
  if ([IO.File]::Exists($t)) { [IO.File]::Delete($t) }
}
`)
	default:
		if sid := before.Str("owner_sid"); sid != "" {
			sb.WriteString(psSetOwnerSID("$p", sid))
		}
	}
	_, err := RunPowerShell(ctx, h, sb.String(), nil)
	return err
}

// WindowsDoc documents the Windows provider.
func (File) WindowsDoc() string {
	return "`path` is a Windows path (in HCL: `path = \"C:\\\\ProgramData\\\\app.conf\"`); content is compared by SHA-256 and written through a temporary file in the same directory, checked against its SHA-256 and replaced into place; the previous content is kept in the run's backup directory (%ProgramData%\\tend\\backup) for rollback. `owner` is an account (`owner = \"BUILTIN\\\\Administrators\"`, a local or domain user), compared by security identifier, so any spelling of the same account is no change. `mode` and `group` do not apply."
}

// WindowsKey implements Windows.
func (Directory) WindowsKey(cfg cty.Value) (string, error) { return WindowsPathKey(cfg) }

// WindowsDesired implements Windows.
func (Directory) WindowsDesired(cfg cty.Value, env Env) (*State, error) { return winPresence(cfg) }

// WindowsProbe implements Windows.
func (Directory) WindowsProbe(cfg cty.Value, want *State) string {
	owner := ""
	if want != nil {
		owner = want.Str("owner")
	}
	return psPathProbe(Str(cfg, "path", "")) + psOwnerProbe(owner)
}

// WindowsRead implements Windows.
func (Directory) WindowsRead(cfg cty.Value, out ProbeOutput) (*State, error) {
	t, ok := out.Get("type")
	if !ok {
		return nil, ProbeFailed(out)
	}
	p := Str(cfg, "path", "")
	st := &State{Attrs: map[string]cty.Value{"path": cty.StringVal(p)}}
	switch t {
	case "absent":
		return st, nil
	case "directory":
	default:
		return nil, fmt.Errorf("%s is a %s, not a directory", p, t)
	}
	st.Present = true
	winOwnerAttr(st, cfg, out)
	return st, nil
}

// WindowsApply implements Windows. A removed directory is moved whole
// into the run's backup directory (same volume: a rename), so a rollback
// can put it back.
func (Directory) WindowsApply(ctx context.Context, h *Host, before, after *State) (Undo, error) {
	p := changePath(before, after)
	undo := Undo{}
	var sb strings.Builder
	sb.WriteString("$p = " + shell.PSQuote(p) + "\n")
	switch {
	case !after.Present:
		undo["backup"] = WindowsBackup(h, p)
		sb.WriteString("$b = " + shell.PSQuote(undo["backup"]) + "\n$null = New-Item -ItemType Directory -Force -Path ([IO.Path]::GetDirectoryName($b))\nMove-Item -LiteralPath $p -Destination $b\n")
	case !before.Present:
		sb.WriteString("$null = New-Item -ItemType Directory -Path $p\n")
		if o := after.Str("owner"); o != "" {
			sb.WriteString(psSetOwner("$p", o))
		}
	default:
		if o := after.Str("owner"); o != "" && o != before.Str("owner") {
			sb.WriteString(psSetOwner("$p", o))
		}
	}
	_, err := RunPowerShell(ctx, h, sb.String(), nil)
	return undo, err
}

// WindowsRevert implements Windows.
func (Directory) WindowsRevert(ctx context.Context, h *Host, before, after *State, undo Undo) error {
	p := changePath(before, after)
	var sb strings.Builder
	sb.WriteString("$p = " + shell.PSQuote(p) + "\n")
	switch {
	case !before.Present:
		sb.WriteString("if (Test-Path -LiteralPath $p) { Remove-Item -LiteralPath $p -Recurse -Force }\n")
	case undo["backup"] != "":
		sb.WriteString("Move-Item -LiteralPath " + shell.PSQuote(undo["backup"]) + " -Destination $p\n")
	default:
		if sid := before.Str("owner_sid"); sid != "" {
			sb.WriteString(psSetOwnerSID("$p", sid))
		}
	}
	_, err := RunPowerShell(ctx, h, sb.String(), nil)
	return err
}

// WindowsDoc documents the Windows provider.
func (Directory) WindowsDoc() string {
	return "`path` is a Windows path; `owner` is an account compared by security identifier; a removed directory is moved whole into the run's backup directory (%ProgramData%\\\\tend\\\\backup) so a rollback restores it. `mode` and `group` do not apply."
}
