package service

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/shell"
)

// The Windows provider: the Service Control Manager. State is read from
// Get-Service (running) and the service's registry key (Start,
// DelayedAutostart, ObjectName), changed with sc.exe config (start mode,
// which Set-Service cannot make delayed in Windows PowerShell 5.1) and
// Win32_Service.Change (logon account and password, the password read
// from stdin so it is in no script text, command line or log).

// windowsAttributes are the service attributes only Windows hosts use.
var windowsAttributes = []resources.Attribute{
	{Name: "start_mode", Type: cty.String, OS: resources.OSWindows, Doc: "How the service starts: \"auto\", \"delayed\" (automatic, delayed start), \"manual\" or \"disabled\". Unset: `enabled` = true means auto (a delayed service stays delayed), false disabled."},
	{Name: "logon_account", Type: cty.String, OS: resources.OSWindows, Doc: "The account the service runs as: \"LocalSystem\", \"NT AUTHORITY\\LocalService\", \"NT AUTHORITY\\NetworkService\", or a user (\".\\svc_app\", \"CORP\\svc_app\")."},
	{Name: "logon_password", Type: cty.String, Sensitive: true, OS: resources.OSWindows, Doc: "The logon account's password. Windows cannot show it back, so it is applied as `update_password` says; it travels on the script's stdin, never in a script or command line."},
	{Name: "update_password", Type: cty.String, OS: resources.OSWindows, Doc: "\"on_create\" (default): set the password only when the logon account is set or changed, so an unchanged service shows no change; \"always\": set it on every apply (the plan always shows it as a change: use it for a password rotation)."},
}

// winNameRE is what tend accepts as a Windows service name (the key
// name, not the display name).
var winNameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_ .\-]{0,255}$`)

func winName(cfg cty.Value) (string, error) {
	n := resources.Str(cfg, "name", "")
	if n == "" {
		if v := cfg.GetAttr("name"); !v.IsNull() && !v.IsKnown() {
			return "", nil
		}
		return "", &resources.AttrError{Attr: "name", Msg: "name is required"}
	}
	if !winNameRE.MatchString(n) {
		return "", &resources.AttrError{Attr: "name", Msg: fmt.Sprintf("%q is not a Windows service name", n)}
	}
	return n, nil
}

// WindowsKey implements resources.Windows: service names are
// case-insensitive on Windows.
func (Service) WindowsKey(cfg cty.Value) (string, error) {
	n, err := winName(cfg)
	if err != nil || n == "" {
		return "", err
	}
	return "service " + strings.ToLower(n), nil
}

// WindowsDesired implements resources.Windows.
func (Service) WindowsDesired(cfg cty.Value, env resources.Env) (*resources.State, error) {
	n, err := winName(cfg)
	if err != nil {
		return nil, err
	}
	st := &resources.State{Present: true, Attrs: map[string]cty.Value{"name": cty.StringVal(n)}}
	switch r := resources.Str(cfg, "refresh", Restart); r {
	case Restart:
	default:
		return nil, &resources.AttrError{Attr: "refresh", Msg: fmt.Sprintf("Windows services refresh by restarting: only \"restart\", got %q", r)}
	}
	if v := cfg.GetAttr("running"); !v.IsNull() {
		v, _ = v.Unmark()
		st.Attrs["running"] = v
	}
	switch m := resources.Str(cfg, "start_mode", ""); m {
	case "":
		if v := cfg.GetAttr("enabled"); !v.IsNull() {
			v, _ = v.Unmark()
			st.Attrs["enabled"] = v
		}
	case "auto", "delayed", "manual", "disabled":
		if !cfg.GetAttr("enabled").IsNull() {
			return nil, &resources.AttrError{Attr: "enabled", Msg: "set either enabled or start_mode, not both"}
		}
		st.Attrs["start_mode"] = cty.StringVal(m)
	default:
		return nil, &resources.AttrError{Attr: "start_mode", Msg: fmt.Sprintf("must be \"auto\", \"delayed\", \"manual\" or \"disabled\", got %q", m)}
	}
	switch u := resources.Str(cfg, "update_password", "on_create"); u {
	case "on_create", "always":
	default:
		return nil, &resources.AttrError{Attr: "update_password", Msg: fmt.Sprintf("must be \"on_create\" or \"always\", got %q", u)}
	}
	if a := resources.Str(cfg, "logon_account", ""); a != "" {
		st.Attrs["logon_account"] = cty.StringVal(a)
	}
	if pw := cfg.GetAttr("logon_password"); !pw.IsNull() {
		if resources.Str(cfg, "logon_account", "") == "" {
			return nil, &resources.AttrError{Attr: "logon_password", Msg: "logon_password needs logon_account"}
		}
		pw, _ = pw.Unmark()
		st.Attrs["logon_password"] = pw.Mark(resources.Sensitive)
	}
	return st, nil
}

// WindowsProbe implements resources.Windows.
func (Service) WindowsProbe(cfg cty.Value, want *resources.State) string {
	return "$n = " + shell.PSQuote(resources.Str(cfg, "name", "")) + `
$s = Get-Service -Name ([WildcardPattern]::Escape($n)) -ErrorAction SilentlyContinue
if ($null -eq $s) { tendOut present 'false'; return }
tendOut present 'true'
tendOut running ($s.Status -eq 'Running')
$r = Get-ItemProperty -LiteralPath ('HKLM:\SYSTEM\CurrentControlSet\Services\' + $s.Name)
tendOut start ([int]$r.Start)
tendOut delayed ([int]$r.DelayedAutostart)
tendOut logon_account $r.ObjectName
`
}

// startMode maps the registry's Start and DelayedAutostart values.
func startMode(start, delayed string) string {
	switch start {
	case "0":
		return "boot"
	case "1":
		return "system"
	case "2":
		if delayed == "1" {
			return "delayed"
		}
		return "auto"
	case "3":
		return "manual"
	case "4":
		return "disabled"
	}
	return "unknown"
}

// sameAccount compares logon accounts as the SCM spells them: case
// aside, ".\name" is the local computer's account and LocalSystem has
// several names.
func sameAccount(a, b string) bool {
	norm := func(s string) string {
		s = strings.ToLower(s)
		switch s {
		case "localsystem", "nt authority\\system", "system", ".\\localsystem":
			return "localsystem"
		case "localservice", "nt authority\\localservice", "nt authority\\local service":
			return "localservice"
		case "networkservice", "nt authority\\networkservice", "nt authority\\network service":
			return "networkservice"
		}
		return strings.TrimPrefix(s, ".\\")
	}
	return norm(a) == norm(b)
}

// WindowsRead implements resources.Windows.
func (Service) WindowsRead(cfg cty.Value, out resources.ProbeOutput) (*resources.State, error) {
	p, ok := out.Get("present")
	if !ok {
		return nil, fmt.Errorf("service probe printed no state: %s", strings.TrimSpace(out.Other))
	}
	n := resources.Str(cfg, "name", "")
	if p != "true" {
		return nil, fmt.Errorf("service %q is not installed on this host (tend manages existing Windows services; install it with a package resource it depends on)", n)
	}
	mode := startMode(out.Values["start"], out.Values["delayed"])
	st := &resources.State{Present: true, Attrs: map[string]cty.Value{
		"name":       cty.StringVal(n),
		"running":    cty.BoolVal(out.Values["running"] == "true"),
		"start_mode": cty.StringVal(mode),
	}}
	if resources.Str(cfg, "start_mode", "") == "" && !cfg.GetAttr("enabled").IsNull() {
		st.Attrs["enabled"] = cty.BoolVal(mode == "auto" || mode == "delayed" || mode == "boot" || mode == "system")
	}
	acct := out.Values["logon_account"]
	want := resources.Str(cfg, "logon_account", "")
	if want != "" && sameAccount(acct, want) {
		acct = want
	}
	st.Attrs["logon_account"] = cty.StringVal(acct)
	// The password cannot be read back: it is "as desired" unless the
	// account changes (on_create) or the configuration asks for it to be
	// set on every apply (always).
	if pw := cfg.GetAttr("logon_password"); !pw.IsNull() {
		if resources.Str(cfg, "update_password", "on_create") == "on_create" && sameAccount(out.Values["logon_account"], want) {
			pw, _ = pw.Unmark()
			st.Attrs["logon_password"] = pw.Mark(resources.Sensitive)
		}
	}
	return st, nil
}

// scStart is sc.exe's spelling of a start mode.
func scStart(mode string) string {
	switch mode {
	case "delayed":
		return "delayed-auto"
	case "manual":
		return "demand"
	case "boot", "system", "auto", "disabled":
		return mode
	}
	return ""
}

// winChange builds the script taking the service from before to after,
// and the stdin it needs (the password).
func winChange(before, after *resources.State) (string, []byte) {
	var sb strings.Builder
	sb.WriteString("$n = " + shell.PSQuote(after.Str("name")) + "\n")
	sb.WriteString("function tendSc { $o = & sc.exe @args 2>&1 | Out-String; if ($LASTEXITCODE -ne 0) { throw ('sc.exe ' + ($args -join ' ') + ' failed (' + $LASTEXITCODE + '): ' + $o.Trim()) } }\n")
	mode := after.Str("start_mode")
	if v := after.Attr("enabled"); mode == "" && v != cty.NilVal && !v.IsNull() {
		cur := before.Str("start_mode")
		switch {
		case v.True() && (cur == "auto" || cur == "delayed"):
		case v.True():
			mode = "auto"
		default:
			mode = "disabled"
		}
	}
	if mode != "" && mode != before.Str("start_mode") {
		sb.WriteString("tendSc config $n start= " + scStart(mode) + "\n")
	}
	var stdin []byte
	acct := after.Str("logon_account")
	pwChange := after.Attr("logon_password") != cty.NilVal && !equalAttr(before.Attr("logon_password"), after.Attr("logon_password"))
	if acct != "" && (!sameAccount(acct, before.Str("logon_account")) || pwChange) {
		sb.WriteString("$svc = Get-CimInstance -ClassName Win32_Service -Filter ('Name=''' + $n + '''')\n")
		args := "StartName = " + shell.PSQuote(acct)
		if pw := after.Attr("logon_password"); pw != cty.NilVal && !pw.IsNull() {
			pw, _ = pw.Unmark()
			stdin = []byte(pw.AsString())
			args += "; StartPassword = (Read-TendStdinText)"
		} else if builtinAccount(acct) {
			// The built-in accounts have no password: Change wants "".
			args += "; StartPassword = ''"
		}
		sb.WriteString("$r = Invoke-CimMethod -InputObject $svc -MethodName Change -Arguments @{ " + args + " }\n")
		sb.WriteString("if ($r.ReturnValue -ne 0) { throw ('Win32_Service.Change failed with return value ' + $r.ReturnValue + ' (see Change method of the Win32_Service class)') }\n")
	}
	if v := after.Attr("running"); v != cty.NilVal && !v.IsNull() {
		was := before.Attr("running")
		if was == cty.NilVal || was.IsNull() || was.True() != v.True() {
			if v.True() {
				sb.WriteString("Start-Service -Name ([WildcardPattern]::Escape($n))\n")
			} else {
				sb.WriteString("Stop-Service -Name ([WildcardPattern]::Escape($n)) -Force\n")
			}
		}
	}
	return sb.String(), stdin
}

func equalAttr(a, b cty.Value) bool {
	if a == cty.NilVal || b == cty.NilVal {
		return a == b
	}
	a, _ = a.Unmark()
	b, _ = b.Unmark()
	if a.IsNull() || b.IsNull() {
		return a.IsNull() == b.IsNull()
	}
	return a.Equals(b).True()
}

// WindowsApply implements resources.Windows.
func (Service) WindowsApply(ctx context.Context, h *resources.Host, before, after *resources.State) (resources.Undo, error) {
	script, stdin := winChange(before, after)
	_, err := resources.RunPowerShell(ctx, h, script, stdin)
	return resources.Undo{}, err
}

// WindowsRevert implements resources.Windows: start mode, running state
// and a built-in logon account come back; a user account's password is
// not known, which WindowsIrreversible says at plan time.
func (Service) WindowsRevert(ctx context.Context, h *resources.Host, before, after *resources.State, undo resources.Undo) error {
	back := &resources.State{Present: true, Attrs: map[string]cty.Value{"name": cty.StringVal(after.Str("name"))}}
	for _, a := range []string{"start_mode", "running"} {
		if v := before.Attr(a); v != cty.NilVal {
			back.Attrs[a] = v
		}
	}
	if a := before.Str("logon_account"); a != "" && !sameAccount(a, after.Str("logon_account")) && builtinAccount(a) {
		back.Attrs["logon_account"] = cty.StringVal(a)
	}
	script, _ := winChange(after, back)
	_, err := resources.RunPowerShell(ctx, h, script, nil)
	return err
}

func builtinAccount(a string) bool {
	return sameAccount(a, "LocalSystem") || sameAccount(a, "LocalService") || sameAccount(a, "NetworkService")
}

// WindowsIrreversible implements resources.WindowsIrreversibler.
func (Service) WindowsIrreversible(before, after *resources.State) string {
	a := before.Str("logon_account")
	if after.Str("logon_account") != "" && !sameAccount(a, after.Str("logon_account")) && !builtinAccount(a) {
		return fmt.Sprintf("the previous logon account %s needs its password, which Windows does not reveal", a)
	}
	return ""
}

// WindowsRefresh implements resources.WindowsRefresher: a notified
// running service restarts; a stopped one stays stopped.
func (Service) WindowsRefresh(ctx context.Context, h *resources.Host, cfg cty.Value) error {
	_, err := resources.RunPowerShell(ctx, h, "$s = Get-Service -Name ([WildcardPattern]::Escape("+shell.PSQuote(resources.Str(cfg, "name", ""))+"))\nif ($s.Status -eq 'Running') { Restart-Service -InputObject $s -Force }\n", nil)
	return err
}

// WindowsDoc documents the Windows provider.
func (Service) WindowsDoc() string {
	return "the Service Control Manager. `running`, `start_mode` (or `enabled`), `logon_account` and `logon_password` (per `update_password`) are managed on existing services; tend does not create Windows services. `refresh` is always a restart; `provider` does not apply."
}
