package account

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/shell"
)

// The Windows providers of user and group: local accounts, through the
// LocalAccounts cmdlets (New-LocalUser, Add-LocalGroupMember...) and, to
// read memberships, the WinNT ADSI provider (Get-LocalGroupMember fails on
// a group holding an orphaned SID). A password cannot be read back: it is
// applied as update_password says (on_create: when the user is created;
// always: on every apply), never shown as a change that is not one, and it
// travels on the script's stdin, never in a script or command line.

// userWindowsAttributes are the user attributes only Windows hosts use.
var userWindowsAttributes = []resources.Attribute{
	{Name: "password", Type: cty.String, Sensitive: true, OS: resources.OSWindows, Doc: "The local account's password, applied as `update_password` says (Windows cannot show it back)."},
	{Name: "update_password", Type: cty.String, OS: resources.OSWindows, Doc: "\"on_create\" (default): set the password only when creating the user; \"always\": on every apply (the plan always shows it as a change)."},
}

// userPOSIXOnly are the user attributes that mean nothing for a Windows
// local account.
var userPOSIXOnly = []string{"uid", "group", "shell", "home", "create_home", "system", "password_hash", "authorized_keys", "remove_home"}

var winAccountRE = regexp.MustCompile(`^[^"/\\\[\]:;|=,+*?<>@\x00-\x1f]{1,20}$`)

func winAccountName(cfg cty.Value) (string, error) {
	n, ok := cfgStr(cfg, "name")
	if !ok {
		return "", &resources.AttrError{Attr: "name", Msg: "name is required"}
	}
	if !winAccountRE.MatchString(n) || strings.TrimSpace(n) != n || strings.Trim(n, ".") == "" {
		return "", &resources.AttrError{Attr: "name", Msg: fmt.Sprintf("%q is not a Windows local account name (at most 20 characters, none of \"/\\[]:;|=,+*?<>@)", n)}
	}
	return n, nil
}

func rejectPOSIX(cfg cty.Value, names []string) error {
	for _, a := range names {
		if cfg.Type().HasAttribute(a) && !cfg.GetAttr(a).IsNull() {
			return &resources.AttrError{Attr: a, Msg: "has no meaning for a Windows local account; set it only for POSIX hosts"}
		}
	}
	return nil
}

// winList returns a config list of strings, sorted case-insensitively,
// with a local account's "COMPUTER\" or ".\" prefix dropped.
func winList(cfg cty.Value, attr string) ([]string, bool) {
	v := cfg.GetAttr(attr)
	if v.IsNull() || !v.IsKnown() {
		return nil, false
	}
	v, _ = v.UnmarkDeep()
	out := []string{}
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if !e.IsNull() {
			out = append(out, strings.TrimPrefix(e.AsString(), `.\`))
		}
	}
	sortFold(out)
	return out, true
}

func sortFold(s []string) {
	sort.Slice(s, func(i, j int) bool { return strings.ToLower(s[i]) < strings.ToLower(s[j]) })
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// currentList reads a JSON list from the probe, names with a computer
// prefix reduced to the bare name when want lists the bare name.
func currentList(raw string, want []string) []string {
	var got []string
	_ = json.Unmarshal([]byte(raw), &got)
	out := []string{}
	for _, g := range got {
		if i := strings.LastIndex(g, `\`); i >= 0 && containsFold(want, g[i+1:]) && !containsFold(want, g) {
			g = g[i+1:]
		}
		for _, w := range want {
			if strings.EqualFold(w, g) {
				g = w
			}
		}
		out = append(out, g)
	}
	sortFold(out)
	return out
}

// membership is the current list as compared with want: with exclusive
// false only membership in want matters, so when every wanted name is
// there the current list "is" want.
func membership(cur, want []string, exclusive bool) []string {
	if exclusive {
		return cur
	}
	for _, w := range want {
		if !containsFold(cur, w) {
			return cur
		}
	}
	return want
}

// WindowsKey implements resources.Windows.
func (User) WindowsKey(cfg cty.Value) (string, error) {
	n, err := winAccountName(cfg)
	if err != nil {
		return "", err
	}
	return "user " + strings.ToLower(n), nil
}

// WindowsDesired implements resources.Windows.
func (User) WindowsDesired(cfg cty.Value, env resources.Env) (*resources.State, error) {
	n, err := winAccountName(cfg)
	if err != nil {
		return nil, err
	}
	if err := rejectPOSIX(cfg, userPOSIXOnly); err != nil {
		return nil, err
	}
	st := &resources.State{Attrs: map[string]cty.Value{"name": cty.StringVal(n)}}
	switch s, _ := cfgStr(cfg, "state"); s {
	case "", "present":
		st.Present = true
	case "absent":
		return st, nil
	default:
		return nil, &resources.AttrError{Attr: "state", Msg: fmt.Sprintf("must be \"present\" or \"absent\", got %q", s)}
	}
	if c, ok := cfgStr(cfg, "comment"); ok {
		st.Attrs["comment"] = cty.StringVal(c)
	}
	if g, ok := winList(cfg, "groups"); ok {
		st.Attrs["groups"] = resources.StringList(g)
	}
	if exclusive(cfg) {
		// Configuration, not state: Read carries it too, so apply knows.
		st.Attrs["groups_exclusive"] = cty.True
	}
	switch u, _ := cfgStr(cfg, "update_password"); u {
	case "", "on_create", "always":
	default:
		return nil, &resources.AttrError{Attr: "update_password", Msg: fmt.Sprintf("must be \"on_create\" or \"always\", got %q", u)}
	}
	if pw := cfg.GetAttr("password"); !pw.IsNull() {
		pw, _ = pw.Unmark()
		st.Attrs["password"] = pw.Mark(resources.Sensitive)
	}
	return st, nil
}

// WindowsProbe implements resources.Windows.
func (User) WindowsProbe(cfg cty.Value, want *resources.State) string {
	n, _ := cfgStr(cfg, "name")
	return "$n = " + shell.PSQuote(n) + `
$u = Get-LocalUser -Name ([WildcardPattern]::Escape($n)) -ErrorAction SilentlyContinue
if ($null -eq $u) { tendOut present 'false'; return }
tendOut present 'true'
tendOut comment $u.Description
tendOut sid $u.SID.Value
$a = [ADSI]('WinNT://' + $env:COMPUTERNAME + '/' + $u.Name + ',user')
$g = @($a.psbase.Invoke('Groups') | ForEach-Object { $_.GetType().InvokeMember('Name', 'GetProperty', $null, $_, $null) })
tendOut groups (ConvertTo-Json -InputObject $g -Compress)
`
}

// WindowsRead implements resources.Windows.
func (User) WindowsRead(cfg cty.Value, out resources.ProbeOutput) (*resources.State, error) {
	n, err := winAccountName(cfg)
	if err != nil {
		return nil, err
	}
	p, ok := out.Get("present")
	if !ok {
		return nil, fmt.Errorf("user probe printed no state: %s", strings.TrimSpace(out.Other))
	}
	st := &resources.State{Present: p == "true", Attrs: map[string]cty.Value{"name": cty.StringVal(n)}}
	if !st.Present {
		return st, nil
	}
	st.Attrs["comment"] = cty.StringVal(out.Values["comment"])
	want, _ := winList(cfg, "groups")
	st.Attrs["groups"] = resources.StringList(membership(currentList(out.Values["groups"], want), want, exclusive(cfg)))
	if exclusive(cfg) {
		st.Attrs["groups_exclusive"] = cty.True
	}
	if pw := cfg.GetAttr("password"); !pw.IsNull() {
		if u, _ := cfgStr(cfg, "update_password"); u != "always" {
			pw, _ = pw.Unmark()
			st.Attrs["password"] = pw.Mark(resources.Sensitive)
		}
	}
	return st, nil
}

func pwChanged(before, after *resources.State) bool {
	a := after.Attr("password")
	if a == cty.NilVal || a.IsNull() {
		return false
	}
	b := before.Attr("password")
	if b == cty.NilVal || b.IsNull() {
		return true
	}
	a, _ = a.Unmark()
	b, _ = b.Unmark()
	return !a.Equals(b).True()
}

// winGroupsScript changes memberships from cur to want, for the member
// in $n (user) or of the group in $n (group).
func winGroupsScript(sb *strings.Builder, cur, want []string, exclusive, ofGroup bool) {
	for _, g := range want {
		if !containsFold(cur, g) {
			if ofGroup {
				fmt.Fprintf(sb, "Add-LocalGroupMember -Group $n -Member %s\n", shell.PSQuote(g))
			} else {
				fmt.Fprintf(sb, "Add-LocalGroupMember -Group %s -Member $n\n", shell.PSQuote(g))
			}
		}
	}
	if !exclusive {
		return
	}
	for _, g := range cur {
		if !containsFold(want, g) {
			if ofGroup {
				fmt.Fprintf(sb, "Remove-LocalGroupMember -Group $n -Member %s\n", shell.PSQuote(g))
			} else {
				fmt.Fprintf(sb, "Remove-LocalGroupMember -Group %s -Member $n\n", shell.PSQuote(g))
			}
		}
	}
}

func userScript(before, after *resources.State, exclusive bool) (string, []byte) {
	var sb strings.Builder
	n := after.Str("name")
	if n == "" {
		n = before.Str("name")
	}
	sb.WriteString("$n = " + shell.PSQuote(n) + "\n")
	var stdin []byte
	pw := func() {
		v, _ := after.Attr("password").Unmark()
		stdin = []byte(v.AsString())
		sb.WriteString("$pw = ConvertTo-SecureString -String (Read-TendStdinText) -AsPlainText -Force\n")
	}
	switch {
	case !after.Present:
		sb.WriteString("Remove-LocalUser -Name $n\n")
		return sb.String(), nil
	case !before.Present:
		if v := after.Attr("password"); v != cty.NilVal && !v.IsNull() {
			pw()
			sb.WriteString("$null = New-LocalUser -Name $n -Password $pw")
		} else {
			sb.WriteString("$null = New-LocalUser -Name $n -NoPassword")
		}
		sb.WriteString(" -Description " + shell.PSQuote(after.Str("comment")) + "\n")
	default:
		if c := after.Attr("comment"); c != cty.NilVal && after.Str("comment") != before.Str("comment") {
			sb.WriteString("Set-LocalUser -Name $n -Description " + shell.PSQuote(after.Str("comment")) + "\n")
		}
		if pwChanged(before, after) {
			pw()
			sb.WriteString("Set-LocalUser -Name $n -Password $pw\n")
		}
	}
	if g := after.Attr("groups"); g != cty.NilVal {
		winGroupsScript(&sb, resources.Strings(before.Attr("groups")), resources.Strings(g), exclusive, false)
	}
	return sb.String(), stdin
}

func exclusive(cfg cty.Value) bool {
	v := cfg.GetAttr("groups_exclusive")
	if v.IsNull() || !v.IsKnown() {
		return false
	}
	v, _ = v.Unmark()
	return v.True()
}

// WindowsApply implements resources.Windows.
func (User) WindowsApply(ctx context.Context, h *resources.Host, before, after *resources.State) (resources.Undo, error) {
	ex := after.Attr("groups_exclusive")
	script, stdin := userScript(before, after, ex != cty.NilVal && !ex.IsNull() && ex.True())
	_, err := resources.RunPowerShell(ctx, h, script, stdin)
	return resources.Undo{}, err
}

// WindowsRevert implements resources.Windows: a created user is
// removed; an updated one gets its description and memberships back.
func (User) WindowsRevert(ctx context.Context, h *resources.Host, before, after *resources.State, undo resources.Undo) error {
	if !after.Present && before.Present {
		return fmt.Errorf("user %s was deleted: a Windows account cannot be restored (its SID and password are gone)", before.Str("name"))
	}
	back := &resources.State{Present: before.Present, Attrs: map[string]cty.Value{"name": cty.StringVal(before.Str("name"))}}
	if before.Present {
		back.Attrs["comment"] = before.Attr("comment")
		if g := before.Attr("groups"); g != cty.NilVal {
			back.Attrs["groups"] = g
		}
	}
	script, _ := userScript(after, back, true)
	_, err := resources.RunPowerShell(ctx, h, script, nil)
	return err
}

// WindowsIrreversible implements resources.WindowsIrreversibler.
func (User) WindowsIrreversible(before, after *resources.State) string {
	switch {
	case before.Present && !after.Present:
		return "a deleted Windows account cannot be restored (its SID and password are gone)"
	case before.Present && pwChanged(before, after):
		return "the previous password is not known to tend"
	}
	return ""
}

// WindowsDoc documents the Windows provider.
func (User) WindowsDoc() string {
	return "local accounts (New-LocalUser, Set-LocalUser, Add-LocalGroupMember). `comment` is the description; `groups` are local groups (`groups_exclusive` as on POSIX hosts); `password` with `update_password` sets the password, sent on stdin. uid, group, shell, home, create_home, system, password_hash, authorized_keys and remove_home do not apply."
}

// WindowsKey implements resources.Windows.
func (Group) WindowsKey(cfg cty.Value) (string, error) {
	n, err := winAccountName(cfg)
	if err != nil {
		return "", err
	}
	return "group " + strings.ToLower(n), nil
}

// WindowsDesired implements resources.Windows.
func (Group) WindowsDesired(cfg cty.Value, env resources.Env) (*resources.State, error) {
	n, err := winAccountName(cfg)
	if err != nil {
		return nil, err
	}
	if err := rejectPOSIX(cfg, []string{"gid", "system"}); err != nil {
		return nil, err
	}
	st := &resources.State{Attrs: map[string]cty.Value{"name": cty.StringVal(n)}}
	switch s, _ := cfgStr(cfg, "state"); s {
	case "", "present":
		st.Present = true
	case "absent":
		return st, nil
	default:
		return nil, &resources.AttrError{Attr: "state", Msg: fmt.Sprintf("must be \"present\" or \"absent\", got %q", s)}
	}
	if m, ok := winList(cfg, "members"); ok {
		st.Attrs["members"] = resources.StringList(m)
	}
	return st, nil
}

// WindowsProbe implements resources.Windows.
func (Group) WindowsProbe(cfg cty.Value, want *resources.State) string {
	n, _ := cfgStr(cfg, "name")
	return "$n = " + shell.PSQuote(n) + `
$g = Get-LocalGroup -Name ([WildcardPattern]::Escape($n)) -ErrorAction SilentlyContinue
if ($null -eq $g) { tendOut present 'false'; return }
tendOut present 'true'
tendOut sid $g.SID.Value
$a = [ADSI]('WinNT://' + $env:COMPUTERNAME + '/' + $g.Name + ',group')
$m = @($a.psbase.Invoke('Members') | ForEach-Object {
  $p = $_.GetType().InvokeMember('ADsPath', 'GetProperty', $null, $_, $null)
  $parts = $p.Substring(8).Split('/')
  if ($parts.Count -ge 3) { $parts[-1] } else { $parts -join '\' }
})
tendOut members (ConvertTo-Json -InputObject $m -Compress)
`
}

// WindowsRead implements resources.Windows.
func (Group) WindowsRead(cfg cty.Value, out resources.ProbeOutput) (*resources.State, error) {
	n, err := winAccountName(cfg)
	if err != nil {
		return nil, err
	}
	p, ok := out.Get("present")
	if !ok {
		return nil, fmt.Errorf("group probe printed no state: %s", strings.TrimSpace(out.Other))
	}
	st := &resources.State{Present: p == "true", Attrs: map[string]cty.Value{"name": cty.StringVal(n)}}
	if st.Present {
		want, _ := winList(cfg, "members")
		st.Attrs["members"] = resources.StringList(currentList(out.Values["members"], want))
	}
	return st, nil
}

func groupScript(before, after *resources.State) string {
	var sb strings.Builder
	n := after.Str("name")
	if n == "" {
		n = before.Str("name")
	}
	sb.WriteString("$n = " + shell.PSQuote(n) + "\n")
	switch {
	case !after.Present:
		sb.WriteString("Remove-LocalGroup -Name $n\n")
		return sb.String()
	case !before.Present:
		sb.WriteString("$null = New-LocalGroup -Name $n\n")
	}
	if m := after.Attr("members"); m != cty.NilVal {
		winGroupsScript(&sb, resources.Strings(before.Attr("members")), resources.Strings(m), true, true)
	}
	return sb.String()
}

// WindowsApply implements resources.Windows.
func (Group) WindowsApply(ctx context.Context, h *resources.Host, before, after *resources.State) (resources.Undo, error) {
	_, err := resources.RunPowerShell(ctx, h, groupScript(before, after), nil)
	return resources.Undo{}, err
}

// WindowsRevert implements resources.Windows.
func (Group) WindowsRevert(ctx context.Context, h *resources.Host, before, after *resources.State, undo resources.Undo) error {
	if before.Present && !after.Present {
		return fmt.Errorf("group %s was deleted: a Windows group cannot be restored (its SID is gone)", before.Str("name"))
	}
	_, err := resources.RunPowerShell(ctx, h, groupScript(after, before), nil)
	return err
}

// WindowsIrreversible implements resources.WindowsIrreversibler.
func (Group) WindowsIrreversible(before, after *resources.State) string {
	if before.Present && !after.Present {
		return "a deleted Windows group cannot be restored (its SID is gone)"
	}
	return ""
}

// WindowsDoc documents the Windows provider.
func (Group) WindowsDoc() string {
	return "local groups (New-LocalGroup, Add-LocalGroupMember, Remove-LocalGroupMember); `members` are exactly the group's members, local (`ops`) or domain (`CORP\\ops`). gid and system do not apply."
}
