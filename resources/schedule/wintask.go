package schedule

import (
	"context"
	"fmt"
	mbits "math/bits"
	"regexp"
	"strconv"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/shell"
)

// The Windows provider: Task Scheduler, tasks in the \tend\ folder. The
// cron schedule becomes one trigger; what is compared is the task's
// properties (action program and arguments, principal, the trigger in a
// canonical form), never its XML text, which Windows rewrites at will.
// A replaced or removed task's XML is kept in the undo record, so a
// rollback registers exactly the previous task again.

// TaskFolder is the Task Scheduler folder of tend's tasks.
const TaskFolder = `\tend\`

// windowsAttributes are the task attributes only Windows hosts use.
var windowsAttributes = []resources.Attribute{
	{Name: "arguments", Type: cty.String, OS: resources.OSWindows, Doc: "The action's arguments; `command` is then the program alone (`C:\\Tools\\backup.exe`). Unset: `command` is run by cmd.exe /c."},
}

var winUserRE = regexp.MustCompile(`^[A-Za-z0-9_.\\ -]{1,104}$`)

// winTrigger turns a cron schedule into the canonical trigger string the
// probe also prints: "daily HH:MM", "weekly DAYS HH:MM" (days as the Task
// Scheduler bitmask: Sunday 1 ... Saturday 64), "hourly", "boot".
func winTrigger(s *Schedule) (string, error) {
	switch s.Special {
	case "@reboot":
		return "boot", nil
	case "@hourly":
		return "hourly", nil
	case "@daily", "@midnight":
		return "daily 00:00", nil
	case "@weekly":
		return "weekly 1 00:00", nil
	case "":
	default:
		return "", fmt.Errorf("%s has no Task Scheduler equivalent in tend yet (use five cron fields)", s.Special)
	}
	one := func(set uint64, max int) (int, bool) {
		if mbits.OnesCount64(set) != 1 {
			return 0, false
		}
		v := mbits.TrailingZeros64(set)
		return v, v <= max
	}
	min, okm := one(s.Sets[0], 59)
	hour, okh := one(s.Sets[1], 23)
	if !okm || !okh || !s.DomStar || s.Sets[3] != fullSet(1, 12) {
		if s.Sets[0] == 1 && s.Sets[1] == fullSet(0, 23) && s.DomStar && s.DowStar && s.Sets[3] == fullSet(1, 12) {
			return "hourly", nil
		}
		return "", fmt.Errorf("%q has no Task Scheduler equivalent in tend yet: on Windows use one minute and one hour, every day of the month and month, and * or a list of days of the week (\"30 2 * * *\", \"0 6 * * 1-5\")", s.Spec)
	}
	at := fmt.Sprintf("%02d:%02d", hour, min)
	if s.DowStar {
		return "daily " + at, nil
	}
	mask := 0
	for d := 0; d < 7; d++ {
		if s.Sets[4]&(1<<d) != 0 {
			mask |= 1 << d
		}
	}
	return "weekly " + strconv.Itoa(mask) + " " + at, nil
}

func fullSet(lo, hi int) uint64 {
	var s uint64
	for i := lo; i <= hi; i++ {
		s |= 1 << i
	}
	return s
}

// winSpec is a validated Windows task.
type winSpec struct {
	name, trigger, execute, arguments, user string
}

func winTask(cfg cty.Value) (winSpec, bool, error) {
	var w winSpec
	w.name = resources.Str(cfg, "name", "")
	if !nameRE.MatchString(w.name) {
		return w, false, &resources.AttrError{Attr: "name", Msg: fmt.Sprintf("%q: use letters, digits, _ and - only", w.name)}
	}
	switch st := resources.Str(cfg, "state", "present"); st {
	case "absent":
		return w, false, nil
	case "present":
	default:
		return w, false, &resources.AttrError{Attr: "state", Msg: fmt.Sprintf("must be \"present\" or \"absent\", got %q", st)}
	}
	if !cfg.GetAttr("environment").IsNull() {
		return w, false, &resources.AttrError{Attr: "environment", Msg: "Task Scheduler actions have no environment of their own; set it in the program or a wrapper script"}
	}
	spec := resources.Str(cfg, "schedule", "")
	if spec == "" {
		return w, false, &resources.AttrError{Attr: "schedule", Msg: "schedule is required unless state is \"absent\""}
	}
	s, err := Parse(spec)
	if err != nil {
		return w, false, &resources.AttrError{Attr: "schedule", Msg: err.Error()}
	}
	if w.trigger, err = winTrigger(s); err != nil {
		return w, false, &resources.AttrError{Attr: "schedule", Msg: err.Error()}
	}
	cmd := resources.Str(cfg, "command", "")
	if cmd == "" || strings.ContainsAny(cmd, "\r\n") {
		return w, false, &resources.AttrError{Attr: "command", Msg: "one line, required unless state is \"absent\""}
	}
	if cfg.GetAttr("arguments").IsNull() {
		w.execute, w.arguments = "cmd.exe", "/c "+cmd
	} else {
		w.execute, w.arguments = cmd, resources.Str(cfg, "arguments", "")
	}
	w.user = resources.Str(cfg, "user", "SYSTEM")
	if !winUserRE.MatchString(w.user) {
		return w, false, &resources.AttrError{Attr: "user", Msg: fmt.Sprintf("%q is not a Windows account name", w.user)}
	}
	return w, true, nil
}

// WindowsKey implements resources.Windows.
func (Task) WindowsKey(cfg cty.Value) (string, error) {
	if !cfg.GetAttr("name").IsKnown() {
		return "", nil
	}
	n := resources.Str(cfg, "name", "")
	if !nameRE.MatchString(n) {
		return "", &resources.AttrError{Attr: "name", Msg: fmt.Sprintf("%q: use letters, digits, _ and - only", n)}
	}
	return "scheduled_task " + TaskFolder + strings.ToLower(n), nil
}

// WindowsDesired implements resources.Windows.
func (Task) WindowsDesired(cfg cty.Value, env resources.Env) (*resources.State, error) {
	w, present, err := winTask(cfg)
	if err != nil {
		return nil, err
	}
	st := &resources.State{Present: present, Attrs: map[string]cty.Value{"name": cty.StringVal(w.name)}}
	if present {
		st.Attrs["trigger"] = cty.StringVal(w.trigger)
		st.Attrs["execute"] = cty.StringVal(w.execute)
		st.Attrs["arguments"] = cty.StringVal(w.arguments)
		st.Attrs["user"] = cty.StringVal(w.user)
	}
	return st, nil
}

// WindowsProbe implements resources.Windows.
func (Task) WindowsProbe(cfg cty.Value, want *resources.State) string {
	return "$n = " + shell.PSQuote(resources.Str(cfg, "name", "")) + `
$t = Get-ScheduledTask -TaskPath '` + TaskFolder + `' -TaskName $n -ErrorAction SilentlyContinue
if ($null -eq $t) { tendOut present 'false'; return }
tendOut present 'true'
$a = @($t.Actions)
tendOut actions $a.Count
if ($a.Count -ge 1) { tendOut execute $a[0].Execute; tendOut arguments $a[0].Arguments }
tendOut user $t.Principal.UserId
$tr = @($t.Triggers)
tendOut triggers $tr.Count
foreach ($x in $tr) {
  $at = if ($x.StartBoundary) { ([string]$x.StartBoundary).Substring(11, 5) } else { '' }
  $rep = if ($x.Repetition) { [string]$x.Repetition.Interval } else { '' }
  $k = switch ($x.CimClass.CimClassName) {
    'MSFT_TaskDailyTrigger' { if ($rep -eq 'PT1H') { 'hourly' } elseif ($x.DaysInterval -eq 1) { 'daily ' + $at } else { 'daily/' + $x.DaysInterval + ' ' + $at } }
    'MSFT_TaskWeeklyTrigger' { 'weekly ' + $x.DaysOfWeek + ' ' + $at }
    'MSFT_TaskBootTrigger' { 'boot' }
    'MSFT_TaskTimeTrigger' { if ($rep -eq 'PT1H') { 'hourly' } else { 'once ' + $at } }
    default { $x.CimClass.CimClassName }
  }
  if (-not $x.Enabled) { $k += ' (disabled)' }
  tendOut trigger $k
}
`
}

// WindowsRead implements resources.Windows.
func (Task) WindowsRead(cfg cty.Value, out resources.ProbeOutput) (*resources.State, error) {
	p, ok := out.Get("present")
	if !ok {
		return nil, fmt.Errorf("scheduled task probe printed no state: %s", strings.TrimSpace(out.Other))
	}
	n := resources.Str(cfg, "name", "")
	st := &resources.State{Present: p == "true", Attrs: map[string]cty.Value{"name": cty.StringVal(n)}}
	if !st.Present {
		return st, nil
	}
	trig := out.Values["trigger"]
	if c := out.Values["triggers"]; c != "1" {
		trig = c + " triggers"
	}
	exe := out.Values["execute"]
	if c := out.Values["actions"]; c != "1" {
		exe = c + " actions"
	}
	user := out.Values["user"]
	if want := resources.Str(cfg, "user", "SYSTEM"); sameWinUser(user, want) {
		user = want
	}
	st.Attrs["trigger"] = cty.StringVal(trig)
	st.Attrs["execute"] = cty.StringVal(exe)
	st.Attrs["arguments"] = cty.StringVal(out.Values["arguments"])
	st.Attrs["user"] = cty.StringVal(user)
	return st, nil
}

func sameWinUser(a, b string) bool {
	norm := func(s string) string {
		s = strings.ToLower(s)
		switch s {
		case "system", "nt authority\\system", "localsystem":
			return "system"
		}
		return strings.TrimPrefix(s, ".\\")
	}
	return norm(a) == norm(b)
}

// psTrigger is the New-ScheduledTaskTrigger call for a canonical trigger.
func psTrigger(t string) string {
	f := strings.Fields(t)
	switch {
	case t == "boot":
		return "New-ScheduledTaskTrigger -AtStartup"
	case t == "hourly":
		return "New-ScheduledTaskTrigger -Once -At '00:00' -RepetitionInterval (New-TimeSpan -Hours 1)"
	case len(f) == 2 && f[0] == "daily":
		return "New-ScheduledTaskTrigger -Daily -At " + shell.PSQuote(f[1])
	case len(f) == 3 && f[0] == "weekly":
		mask, _ := strconv.Atoi(f[1])
		names := []string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
		var days []string
		for d := 0; d < 7; d++ {
			if mask&(1<<d) != 0 {
				days = append(days, shell.PSQuote(names[d]))
			}
		}
		// Quoted: a list of barewords is an argument PowerShell
		// accepts and tree-sitter's grammar does not.
		return "New-ScheduledTaskTrigger -Weekly -DaysOfWeek " + strings.Join(days, ",") + " -At " + shell.PSQuote(f[2])
	}
	return "throw 'tend: unknown trigger'"
}

// psRegister registers the task of state st, replacing any.
func psRegister(st *resources.State) string {
	var sb strings.Builder
	sb.WriteString("$a = New-ScheduledTaskAction -Execute " + shell.PSQuote(st.Str("execute")))
	if args := st.Str("arguments"); args != "" {
		sb.WriteString(" -Argument " + shell.PSQuote(args))
	}
	sb.WriteString("\n$tr = " + psTrigger(st.Str("trigger")) + "\n")
	user := st.Str("user")
	logon := "S4U"
	if sameWinUser(user, "SYSTEM") || sameWinUser(user, "NT AUTHORITY\\LocalService") || sameWinUser(user, "NT AUTHORITY\\NetworkService") {
		logon = "ServiceAccount"
	}
	sb.WriteString("$pr = New-ScheduledTaskPrincipal -UserId " + shell.PSQuote(user) + " -LogonType " + logon + " -RunLevel Highest\n")
	sb.WriteString("$null = Register-ScheduledTask -TaskPath '" + TaskFolder + "' -TaskName $n -Action $a -Trigger $tr -Principal $pr -Description 'Managed by tend' -Force\n")
	return sb.String()
}

const psExport = "$old = Get-ScheduledTask -TaskPath '" + TaskFolder + "' -TaskName $n -ErrorAction SilentlyContinue\nif ($old) { [Console]::Out.Write((Export-ScheduledTask -TaskPath '" + TaskFolder + "' -TaskName $n)) }\n"

// WindowsApply implements resources.Windows.
func (Task) WindowsApply(ctx context.Context, h *resources.Host, before, after *resources.State) (resources.Undo, error) {
	var sb strings.Builder
	sb.WriteString("$n = " + shell.PSQuote(after.Str("name")) + "\n")
	if before.Present {
		sb.WriteString(psExport)
	}
	if after.Present {
		sb.WriteString(psRegister(after))
	} else {
		sb.WriteString("Unregister-ScheduledTask -TaskPath '" + TaskFolder + "' -TaskName $n -Confirm:$false\n")
	}
	out, err := resources.RunPowerShell(ctx, h, sb.String(), nil)
	undo := resources.Undo{}
	if before.Present && len(out) > 0 {
		undo["xml"] = string(out)
	}
	return undo, err
}

// WindowsRevert implements resources.Windows.
func (Task) WindowsRevert(ctx context.Context, h *resources.Host, before, after *resources.State, undo resources.Undo) error {
	var sb strings.Builder
	n := before.Str("name")
	if n == "" {
		n = after.Str("name")
	}
	sb.WriteString("$n = " + shell.PSQuote(n) + "\n")
	switch {
	case !before.Present:
		sb.WriteString("if (Get-ScheduledTask -TaskPath '" + TaskFolder + "' -TaskName $n -ErrorAction SilentlyContinue) { Unregister-ScheduledTask -TaskPath '" + TaskFolder + "' -TaskName $n -Confirm:$false }\n")
	case undo["xml"] != "":
		sb.WriteString("$null = Register-ScheduledTask -TaskPath '" + TaskFolder + "' -TaskName $n -Xml " + shell.PSQuote(undo["xml"]) + " -Force\n")
	default:
		sb.WriteString(psRegister(before))
	}
	_, err := resources.RunPowerShell(ctx, h, sb.String(), nil)
	return err
}

// WindowsDoc documents the Windows provider.
func (Task) WindowsDoc() string {
	return "Task Scheduler, tasks in the `\\tend\\` folder. `schedule` becomes one trigger: one minute and hour every day (`\"30 2 * * *\"`), on days of the week (`\"0 6 * * 1-5\"`), `@hourly`, `@daily`, `@weekly` or `@reboot` (at startup); other cron schedules are refused. `command` runs with cmd.exe /c, or is the program when `arguments` is set; `user` (default SYSTEM) is the principal, with highest privileges, logged on as a service account or S4U (no stored password). The action, principal and trigger are compared as properties, not XML; a replaced task's XML is kept for rollback. `kind` and `environment` do not apply."
}
