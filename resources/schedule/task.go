package schedule

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/shell"
)

// Kinds of scheduled task.
const (
	Cron  = "cron"
	Timer = "systemd_timer"
)

// Where the files go. tend owns every file named tend-* there.
const (
	CronDir = "/etc/cron.d"
	UnitDir = "/etc/systemd/system"
)

// readLimit is the largest cron file whose content the probe returns;
// larger ones (not tend's) are compared by digest.
const readLimit = 256 << 10

// Task manages a command run on a schedule.
type Task struct{}

var _ resources.Type = Task{}

// Name implements resources.Type.
func (Task) Name() string { return "scheduled_task" }

// Schema implements resources.Type.
func (Task) Schema() *resources.Schema {
	return &resources.Schema{
		Doc: "A command run on a schedule, as cron does. " +
			"With kind = \"cron\" (the default) it is the file /etc/cron.d/tend-NAME (root:root, mode 0644, or 0600 when its command or environment comes from a secret): a header saying tend manages it, " +
			"the environment as NAME=\"value\" lines, then one line `SCHEDULE USER COMMAND` (`%` and `\\` in the command escaped for cron); " +
			"a command that comes from a secret is written `SCHEDULE USER /bin/sh%COMMAND` (`%` escaped), so that cron gives it to the shell on standard input and it is never on a command line. " +
			"With kind = \"systemd_timer\" it is /etc/systemd/system/tend-NAME.service (Type=oneshot, User=, WorkingDirectory=-~ like cron, Environment=, " +
			"ExecStart=/bin/sh -c \"COMMAND\") and tend-NAME.timer (OnCalendar= translated from the schedule, WantedBy=timers.target), " +
			"followed by `systemctl daemon-reload` (both files 0644, the service's 0600 when the command or environment comes from a secret; systemd still shows the unit's settings to every local user through `systemctl show`), " +
			" and the timer enabled and started. " +
			"The schedule is validated at plan time as Debian's cron reads it, so cron never skips a line tend wrote; " +
			"its translation to OnCalendar= fires at exactly the same minutes (`*/15 * * * *` → `*-*-* *:00/15:00`, `0 9-17 * * 1-5` → `Mon..Fri *-*-* 09..17:00:00`, " +
			"`@weekly` → `Sun *-*-* 00:00:00`, cron's week starting on Sunday), and schedules without an exact translation are refused: `@reboot`, and " +
			"restricting both the day of month and the day of week (cron runs when either matches, systemd only when both do). " +
			"The files are compared by content, so a hand edit shows as a diff and is undone by the next apply; the timer's enabled and active states are compared too. " +
			"Replaced files are kept under the run's backup directory and a rollback restores them byte for byte, with the timer's previous states. " +
			"Changing kind does not remove the other kind's files: declare the old one with state = \"absent\" (and an explicit name) to move a task.",
		Attributes: append([]resources.Attribute{
			{Name: "name", Type: cty.String, Doc: "The task's name, in its file names (tend-NAME): letters, digits, _ and - only (cron ignores other file names in /etc/cron.d). Defaults to the block's label."},
			{Name: "schedule", Type: cty.String, Doc: "When to run: five cron fields (minute hour day-of-month month day-of-week, e.g. `\"30 2 * * *\"`) or `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`, `@reboot` (cron only). Required unless state is \"absent\"."},
			{Name: "command", Type: cty.String, Doc: "The command, run with /bin/sh -c. One line. Required unless state is \"absent\"."},
			{Name: "user", Type: cty.String, Doc: "The user the command runs as. Default \"root\"."},
			{Name: "environment", Type: cty.Map(cty.String), Doc: "Environment variables for the command (names are letters, digits and _). Otherwise the command gets the scheduler's default environment, which differs: cron's PATH is /usr/bin:/bin, a systemd service's includes the sbin directories."},
			{Name: "kind", Type: cty.String, OS: resources.OSPOSIX, Doc: "\"cron\" (default) or \"systemd_timer\" (needs systemd on the host)."},
			{Name: "state", Type: cty.String, Doc: "\"present\" (default) or \"absent\": remove the task's files (and stop and disable its timer)."},
		}, windowsAttributes...),
	}
}

var (
	nameRE    = regexp.MustCompile(`^[A-Za-z0-9_-]{1,100}$`)
	userRE    = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$`)
	envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// ident returns the task's name and kind, validated.
func ident(cfg cty.Value) (name, kind string, err error) {
	v := cfg.GetAttr("name")
	if v.IsNull() {
		return "", "", &resources.AttrError{Attr: "name", Msg: "name is required"}
	}
	name = resources.Str(cfg, "name", "")
	if !nameRE.MatchString(name) {
		return "", "", &resources.AttrError{Attr: "name", Msg: fmt.Sprintf("%q is not usable in a file name: use letters, digits, _ and - only (cron ignores files in /etc/cron.d named otherwise)", name)}
	}
	switch kind = resources.Str(cfg, "kind", Cron); kind {
	case Cron, Timer:
	default:
		return "", "", &resources.AttrError{Attr: "kind", Msg: fmt.Sprintf("must be \"cron\" or \"systemd_timer\", got %q", kind)}
	}
	return name, kind, nil
}

// CronPath is the cron file of task name.
func CronPath(name string) string { return CronDir + "/tend-" + name }

// UnitPaths are the service and timer unit files of task name.
func UnitPaths(name string) (service, timer string) {
	return UnitDir + "/tend-" + name + ".service", UnitDir + "/tend-" + name + ".timer"
}

// mainPath is the file that names a task of a kind.
func mainPath(kind, name string) string {
	if kind == Timer {
		_, t := UnitPaths(name)
		return t
	}
	return CronPath(name)
}

// Key implements resources.Type: the task's (main) file.
func (Task) Key(cfg cty.Value) (string, error) {
	if !cfg.GetAttr("name").IsKnown() || !cfg.GetAttr("kind").IsKnown() {
		return "", nil
	}
	name, kind, err := ident(cfg)
	if err != nil {
		return "", err
	}
	return "path " + mainPath(kind, name), nil
}

// spec is a validated present task.
type spec struct {
	name, kind, user, command string
	sched                     *Schedule
	env                       [][2]string // sorted by name
	sensitive                 bool
	// secretCommand says the command itself comes from a secret: cron
	// then gives it to the shell on standard input (cronFile).
	secretCommand bool
}

// Desired implements resources.Type.
func (Task) Desired(cfg cty.Value, env resources.Env) (*resources.State, error) {
	name, kind, err := ident(cfg)
	if err != nil {
		return nil, err
	}
	st := &resources.State{Attrs: map[string]cty.Value{
		"name": cty.StringVal(name), "kind": cty.StringVal(kind), "path": cty.StringVal(mainPath(kind, name)),
	}}
	switch s := resources.Str(cfg, "state", "present"); s {
	case "present":
		st.Present = true
	case "absent":
		return st, nil
	default:
		return nil, &resources.AttrError{Attr: "state", Msg: fmt.Sprintf("must be \"present\" or \"absent\", got %q", s)}
	}
	sp, err := parseSpec(cfg, name, kind)
	if err != nil {
		return nil, err
	}
	var data []byte
	switch kind {
	case Cron:
		data, err = cronFile(sp)
		st.Attrs["mode"] = cty.StringVal(fileMode(sp.sensitive))
		st.Attrs["owner"] = cty.StringVal("root")
	case Timer:
		var svc, tmr []byte
		if svc, tmr, err = unitFiles(sp); err == nil {
			data = joinUnits(name, svc, tmr, true, true)
		}
		st.Attrs["enabled"] = cty.True
		st.Attrs["active"] = cty.True
	}
	if err != nil {
		return nil, err
	}
	st.Content = newContent(data, sp.sensitive)
	return st, nil
}

// parseSpec validates a present task's attributes.
func parseSpec(cfg cty.Value, name, kind string) (*spec, error) {
	sp := &spec{name: name, kind: kind, user: resources.Str(cfg, "user", "root")}
	if cfg.GetAttr("schedule").IsNull() {
		return nil, &resources.AttrError{Attr: "schedule", Msg: "a present scheduled task needs a schedule, such as \"30 2 * * *\" or \"@daily\""}
	}
	sched, err := Parse(resources.Str(cfg, "schedule", ""))
	if err != nil {
		return nil, &resources.AttrError{Attr: "schedule", Msg: err.Error()}
	}
	sp.sched = sched
	if kind == Timer {
		if _, err := sched.OnCalendar(); err != nil {
			return nil, &resources.AttrError{Attr: "schedule", Msg: err.Error()}
		}
	}
	cmd := cfg.GetAttr("command")
	if cmd.IsNull() || strings.TrimSpace(resources.Str(cfg, "command", "")) == "" {
		return nil, &resources.AttrError{Attr: "command", Msg: "a present scheduled task needs a command"}
	}
	sp.sensitive = cmd.IsMarked()
	sp.secretCommand = cmd.IsMarked()
	sp.command = resources.Str(cfg, "command", "")
	if err := oneLine(sp.command); err != nil {
		return nil, &resources.AttrError{Attr: "command", Msg: err.Error() + "; put longer programs in a script and run that"}
	}
	if !userRE.MatchString(sp.user) {
		return nil, &resources.AttrError{Attr: "user", Msg: fmt.Sprintf("%q is not a user name", sp.user)}
	}
	if ev := cfg.GetAttr("environment"); !ev.IsNull() {
		if ev.ContainsMarked() {
			sp.sensitive = true
		}
		ev, _ = ev.UnmarkDeep()
		for it := ev.ElementIterator(); it.Next(); {
			k, v := it.Element()
			key := k.AsString()
			if !envNameRE.MatchString(key) {
				return nil, &resources.AttrError{Attr: "environment", Msg: fmt.Sprintf("%q is not a variable name (letters, digits and _, not starting with a digit)", key)}
			}
			if v.IsNull() {
				return nil, &resources.AttrError{Attr: "environment", Msg: fmt.Sprintf("%s is null", key)}
			}
			val := v.AsString()
			if err := oneLine(val); err != nil {
				return nil, &resources.AttrError{Attr: "environment", Msg: key + ": " + err.Error()}
			}
			if kind == Cron && strings.Contains(val, `"`) && strings.Contains(val, "'") {
				return nil, &resources.AttrError{Attr: "environment", Msg: key + ": cron cannot hold a value with both ' and \" in it; use kind = \"systemd_timer\""}
			}
			sp.env = append(sp.env, [2]string{key, val})
		}
		sort.Slice(sp.env, func(i, j int) bool { return sp.env[i][0] < sp.env[j][0] })
	}
	return sp, nil
}

// oneLine refuses line breaks and other control characters but tab.
func oneLine(s string) error {
	for _, c := range s {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return fmt.Errorf("must be one line without control characters (found %q)", c)
		}
	}
	return nil
}

// header is the first line of every file tend writes for a task.
func header(name string) string {
	return "# Managed by tend: scheduled_task \"" + name + "\". Changes made here are undone by the next tend apply.\n"
}

// cronFile is the /etc/cron.d file for a task.
func cronFile(sp *spec) ([]byte, error) {
	var b strings.Builder
	b.WriteString(header(sp.name))
	for _, kv := range sp.env {
		// cron takes a quoted value verbatim, without escapes.
		q := `"`
		if strings.Contains(kv[1], `"`) {
			q = "'"
		}
		b.WriteString(kv[0] + "=" + q + kv[1] + q + "\n")
	}
	if sp.secretCommand {
		// cron runs `/bin/sh -c /bin/sh` and writes what follows the
		// first % to its standard input: the command reaches the shell
		// without ever being an argument, which every local user could
		// read in /proc/PID/cmdline while it runs.
		fmt.Fprintf(&b, "%s %s /bin/sh%%%s\n", sp.sched.Spec, sp.user, cronInput(sp.command))
	} else {
		fmt.Fprintf(&b, "%s %s %s\n", sp.sched.Spec, sp.user, cronCommand(sp.command))
	}
	return []byte(b.String()), nil
}

// cronInput escapes a command for the standard input part of a cron line
// (after the first %): there cron turns an unescaped % into a line break
// and \% into %, and keeps every other backslash.
func cronInput(c string) string { return strings.ReplaceAll(c, "%", `\%`) }

// cronCommand escapes a command for a cron line: cron turns an unescaped
// % into a line break (the rest going to stdin), and reads \% and \\ as
// % and \.
func cronCommand(c string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`).Replace(c)
}

// unitFiles returns the service and timer unit files for a task.
func unitFiles(sp *spec) (service, timer []byte, err error) {
	cal, err := sp.sched.OnCalendar()
	if err != nil {
		return nil, nil, &resources.AttrError{Attr: "schedule", Msg: err.Error()}
	}
	var s strings.Builder
	s.WriteString(header(sp.name))
	s.WriteString("[Unit]\nDescription=tend scheduled task " + sp.name + "\n\n[Service]\nType=oneshot\n")
	s.WriteString("User=" + sp.user + "\n")
	// Like cron: start in the user's home directory, if it has one.
	s.WriteString("WorkingDirectory=-~\n")
	for _, kv := range sp.env {
		s.WriteString("Environment=" + unitQuote(kv[0]+"="+kv[1], false) + "\n")
	}
	s.WriteString("ExecStart=/bin/sh -c " + unitQuote(sp.command, true) + "\n")
	var t strings.Builder
	t.WriteString(header(sp.name))
	t.WriteString("# schedule: " + sp.sched.Spec + "\n")
	t.WriteString("[Unit]\nDescription=tend scheduled task " + sp.name + " (" + sp.sched.Spec + ")\n\n[Timer]\n")
	t.WriteString("OnCalendar=" + cal + "\n\n[Install]\nWantedBy=timers.target\n")
	return []byte(s.String()), []byte(t.String()), nil
}

// unitQuote quotes s as one word of a unit file setting: in double
// quotes, with C escapes for \ " and tab, %% for a literal % (specifiers)
// and, in ExecStart= (exec), $$ for a literal $ (variable expansion).
func unitQuote(s string, exec bool) string {
	r := []string{`\`, `\\`, `"`, `\"`, "\t", `\t`, "%", "%%"}
	if exec {
		r = append(r, "$", "$$")
	}
	return `"` + strings.NewReplacer(r...).Replace(s) + `"`
}

// unitMark heads each unit file in the combined content of a timer task.
func unitMark(p string) string { return "### " + p + "\n" }

// joinUnits combines the two unit files into the content the plan
// compares and shows as one diff.
func joinUnits(name string, svc, tmr []byte, hasSvc, hasTmr bool) []byte {
	sp, tp := UnitPaths(name)
	var b []byte
	for _, f := range []struct {
		p    string
		data []byte
		ok   bool
	}{{sp, svc, hasSvc}, {tp, tmr, hasTmr}} {
		b = append(b, unitMark(f.p)...)
		if !f.ok {
			b = append(b, "### (missing)\n"...)
			continue
		}
		b = append(b, f.data...)
	}
	return b
}

// splitUnits takes joinUnits' output for desired files apart.
func splitUnits(name string, data []byte) (svc, tmr []byte, err error) {
	sp, tp := UnitPaths(name)
	s := string(data)
	i := strings.LastIndex(s, "\n"+unitMark(tp))
	if !strings.HasPrefix(s, unitMark(sp)) || i < 0 {
		return nil, nil, fmt.Errorf("internal error: unit files of %s not in the expected form", name)
	}
	return []byte(s[len(unitMark(sp)) : i+1]), []byte(s[i+1+len(unitMark(tp)):]), nil
}

func newContent(data []byte, sensitive bool) *resources.Content {
	sum := sha256.Sum256(data)
	return &resources.Content{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data)), Data: data, Known: true, Sensitive: sensitive}
}

// regularFile is a probe snippet failing when $p exists as anything but a
// regular file: tend replaces only files.
const regularFile = `if [ -L "$p" ] || { [ -e "$p" ] && [ ! -f "$p" ]; }; then echo "$p exists and is not a regular file; tend does not replace it"; exit 1; fi
`

// Probe implements resources.Type: the task's files, and for a timer one
// `systemctl show` of its states.
func (Task) Probe(cfg cty.Value, want *resources.State) string {
	name, kind, err := ident(cfg)
	if err != nil {
		return shell.NewScript().Run(shell.Cmd("echo").Arg(err.Error())).Line("exit 1").String()
	}
	if kind == Cron {
		s := shell.NewScript().Set("p", CronPath(name)).Raw(regularFile)
		s.Line(`if [ ! -f "$p" ]; then out absent 1; [ -d ` + CronDir + ` ] || out nocrond 1; exit 0; fi
s=$(stat -c '%a %U %s %u' -- "$p") || exit 1
set -- $s
out mode $1; out owner $2; out uid $4`)
		s.Raw("if [ $3 -le ").Word("", strconv.Itoa(readLimit), "").
			Line(` ]; then out content "$(b64 < "$p")"; else h=$(sha256sum < "$p") || exit 1; out sha256 "${h%% *}"; out size $3; fi`)
		return s.String()
	}
	sp, tp := UnitPaths(name)
	s := shell.NewScript().Set("u", "tend-"+name+".timer")
	s.Raw("for x in ").Word("service:", sp, "").Word(" timer:", tp, "").Raw(`; do
  p=${x#*:}
  ` + regularFile + `  if [ -f "$p" ]; then out "${x%%:*}" "$(b64 < "$p")"; fi
done
if [ ! -d /run/systemd/system ]; then out nosystemd 1; exit 0; fi
s=$(systemctl show -p UnitFileState,ActiveState -- "$u") || exit 1
while IFS= read -r l; do case $l in ?*=*) out "${l%%=*}" "${l#*=}";; esac; done <<EOF
$s
EOF
`)
	return s.String()
}

// ProbePath implements resources.PathProber: a cron task's file is
// stat'ed and hashed with every other path of the host at once.
func (Task) ProbePath(cfg cty.Value, _ *resources.State) (string, bool) {
	if name, kind, err := ident(cfg); err == nil && kind == Cron {
		return CronPath(name), true
	}
	return "", false
}

// ProbeInline implements resources.InlineProber: a cron file that is
// absent, or a regular file with the desired content, is answered from
// the prefetched values without a process; one whose content differs
// runs the fragment, which sends the content for the plan's diff.
func (Task) ProbeInline(cfg cty.Value, want *resources.State) string {
	name, kind, err := ident(cfg)
	if err != nil || kind != Cron {
		return ""
	}
	wantSum := "-"
	if want != nil && want.Content != nil && want.Content.Known {
		wantSum = want.Content.SHA256
	}
	s := shell.NewScript().Raw("_tok= ").Set("_tp", CronPath(name))
	s.Line(`eval "_tn=\${_tn_${_ti:-x}-} _ts=\${_ts_${_ti:-x}-} _th=\${_th_${_ti:-x}-}"
if [ ! -e "$_tp" ] && [ ! -L "$_tp" ]; then out absent 1; [ -d ` + CronDir + ` ] || out nocrond 1; _tok=1`)
	s.Raw(`elif [ -f "$_tp" ] && [ ! -L "$_tp" ] && [ "$_tn" = "$_tp" ] && [ -n "$_ts" ] && [ "$_th" = `).Word("", wantSum, "").Raw(` ]; then
  set -f; set -- $_ts; set +f
  out mode $1; out owner $4; out uid $2; out sha256 $_th; out size $6; _tok=1
fi
`)
	return s.String()
}

// Read implements resources.Type.
func (Task) Read(cfg cty.Value, out resources.ProbeOutput) (*resources.State, error) {
	name, kind, err := ident(cfg)
	if err != nil {
		return nil, err
	}
	st := &resources.State{Attrs: map[string]cty.Value{
		"name": cty.StringVal(name), "kind": cty.StringVal(kind), "path": cty.StringVal(mainPath(kind, name)),
	}}
	if len(out.Values) == 0 {
		return nil, resources.ProbeFailed(out)
	}
	if kind == Cron {
		if _, ok := out.Get("nocrond"); ok && resources.Str(cfg, "state", "present") == "present" {
			return nil, fmt.Errorf("this host has no %s: install cron (a package resource) or use kind = \"systemd_timer\"", CronDir)
		}
		if _, ok := out.Get("absent"); ok {
			return st, nil
		}
		mode, ok := out.Get("mode")
		if !ok {
			return nil, resources.ProbeFailed(out)
		}
		if len(mode) == 3 {
			mode = "0" + mode
		}
		st.Present = true
		st.Attrs["mode"] = cty.StringVal(mode)
		owner := out.Values["owner"]
		if owner == "UNKNOWN" && out.Values["uid"] != "" {
			// stat names an id no account has "UNKNOWN": the id is what
			// is known.
			owner = out.Values["uid"]
		}
		st.Attrs["owner"] = cty.StringVal(owner)
		if enc, ok := out.Get("content"); ok {
			data, err := base64.StdEncoding.DecodeString(enc)
			if err != nil {
				return nil, fmt.Errorf("reading %s: %w", CronPath(name), err)
			}
			st.Content = newContent(data, false)
		} else {
			size, _ := strconv.ParseInt(out.Values["size"], 10, 64)
			st.Content = &resources.Content{SHA256: out.Values["sha256"], Size: size}
		}
		return st, nil
	}
	svcEnc, hasSvc := out.Get("service")
	tmrEnc, hasTmr := out.Get("timer")
	if _, ok := out.Get("nosystemd"); ok && resources.Str(cfg, "state", "present") == "present" {
		return nil, errors.New("kind = \"systemd_timer\" needs systemd, which does not run on this host; use kind = \"cron\"")
	}
	if !hasSvc && !hasTmr {
		return st, nil
	}
	svc, err := base64.StdEncoding.DecodeString(svcEnc)
	if err != nil {
		return nil, fmt.Errorf("reading the service unit of %s: %w", name, err)
	}
	tmr, err := base64.StdEncoding.DecodeString(tmrEnc)
	if err != nil {
		return nil, fmt.Errorf("reading the timer unit of %s: %w", name, err)
	}
	st.Present = true
	st.Content = newContent(joinUnits(name, svc, tmr, hasSvc, hasTmr), false)
	ufs := out.Values["UnitFileState"]
	st.Attrs["enabled"] = cty.BoolVal(ufs == "enabled" || ufs == "enabled-runtime")
	st.Attrs["active"] = cty.BoolVal(out.Values["ActiveState"] == "active")
	// Which files exist: apply backs up exactly those, and a revert
	// removes the others.
	st.Attrs["files"] = cty.StringVal(fileList(hasSvc, hasTmr))
	return st, nil
}

func fileList(svc, tmr bool) string {
	switch {
	case svc && tmr:
		return "service,timer"
	case svc:
		return "service"
	default:
		return "timer"
	}
}

// scriptPrelude starts every change script: stop at the first error,
// remove a half-written temporary file, and run commands with their
// output shown only when they fail.
var scriptPrelude = `set -e
t=
o=$(mktemp)
trap 'rm -f "$o" $t' EXIT
run() { if ! "$@" </dev/null >"$o" 2>&1; then cat "$o" >&2; ` + resources.CauseLine(`"$* failed"`) + `; exit 1; fi; }
` + resources.PathCheckFunc + resources.FileFuncs

// fileMode is the mode of a task's files: 0600 when they hold a secret
// (cron and systemd read root's files whatever their mode), else 0644.
func fileMode(sensitive bool) string {
	if sensitive {
		return "0600"
	}
	return "0644"
}

// writeFile appends commands writing data to p atomically (see
// resources.Install), root:root, with the given mode.
func writeFile(sb *strings.Builder, h *resources.Host, p string, data []byte, mode string) {
	sb.WriteString(resources.PathCheck(p, "file", "exit 1"))
	sb.WriteString(resources.TempFile("t", p, h.TempPrefix(), "exit 1"))
	sb.WriteString(shell.NewScript().Inline(shell.Cmd("printf", "'%s'").Arg(base64.StdEncoding.EncodeToString(data)).Pipe(shell.Cmd("base64", "-d").Redirect(`> "$t"`))).
		Line(` || { rm -f -- "$t"; exit 1; }`).String())
	sb.WriteString(resources.Install{Temp: "t", Path: p, Owner: "0", Group: "0", Mode: mode, Meta: true, Fail: "exit 1"}.Script())
	sb.WriteString("t=\n")
}

// Apply implements resources.Type.
func (Task) Apply(ctx context.Context, h *resources.Host, before, after *resources.State) (resources.Undo, error) {
	name, kind := after.Str("name"), after.Str("kind")
	var sb strings.Builder
	sb.WriteString(scriptPrelude)
	undo := resources.Undo{}
	if kind == Cron {
		p := CronPath(name)
		if before.Present {
			undo["backup"] = h.NextBackup(p)
			sb.WriteString(resources.BackupScript(p, undo["backup"], "exit 1"))
		}
		if after.Present {
			if after.Content == nil || !after.Content.Known {
				return nil, fmt.Errorf("internal error: the content of %s is not known", p)
			}
			writeFile(&sb, h, p, after.Content.Data, cronMode(after))
		} else {
			sb.WriteString(resources.RemoveScript(p))
		}
		return undo, resources.RunChange(ctx, h, resources.ChangeAction(before, after), p, sb.String(), nil)
	}
	timer := "tend-" + name + ".timer"
	unit := func(c *shell.Command) string { return shell.NewScript().Run(c.Operands(timer)).String() }
	sp, tp := UnitPaths(name)
	have := map[string]bool{}
	if before.Present {
		for _, f := range strings.Split(before.Str("files"), ",") {
			have[f] = true
		}
	}
	for _, f := range []struct{ key, p string }{{"service", sp}, {"timer", tp}} {
		if have[f.key] {
			undo[f.key+"_backup"] = h.NextBackup(f.p)
			sb.WriteString(resources.BackupScript(f.p, undo[f.key+"_backup"], "exit 1"))
		}
	}
	if !after.Present {
		if have["timer"] {
			sb.WriteString(unit(shell.Cmd("run", "systemctl", "disable", "--now", "--quiet")))
		}
		sb.WriteString(shell.NewScript().Run(shell.Cmd("rm", "-f").Operands(sp, tp)).Line("run systemctl daemon-reload").String())
		return undo, resources.RunChange(ctx, h, "remove", timer, sb.String(), nil)
	}
	if after.Content == nil || !after.Content.Known {
		return nil, fmt.Errorf("internal error: the unit files of %s are not known", name)
	}
	if !before.Present || before.Content == nil || before.Content.SHA256 != after.Content.SHA256 {
		svc, tmr, err := splitUnits(name, after.Content.Data)
		if err != nil {
			return nil, err
		}
		// The timer unit holds only the schedule.
		writeFile(&sb, h, sp, svc, fileMode(after.Content.Sensitive))
		writeFile(&sb, h, tp, tmr, "0644")
		// An active timer takes a changed schedule at the reload.
		sb.WriteString("run systemctl daemon-reload\n")
	}
	if en, _ := before.Bool("enabled"); !en {
		sb.WriteString(unit(shell.Cmd("run", "systemctl", "enable", "--quiet")))
	}
	if active, _ := before.Bool("active"); !active {
		sb.WriteString(unit(shell.Cmd("run", "systemctl", "start")))
	}
	return undo, resources.RunChange(ctx, h, resources.ChangeAction(before, after), timer, sb.String(), nil)
}

// ApplyBatch implements resources.Batcher: a host's cron files are
// written by the file type's batch, in one script; timers, which also
// talk to systemd, go one by one. Items keep their order, and the batch
// stops at the first failure.
func (t Task) ApplyBatch(ctx context.Context, h *resources.Host, items []resources.BatchItem) []resources.BatchResult {
	res := make([]resources.BatchResult, len(items))
	for i := 0; i < len(items); {
		if items[i].After.Str("kind") != Cron {
			res[i].Undo, res[i].Err = t.Apply(ctx, h, items[i].Before, items[i].After)
			if res[i].Err != nil {
				resources.NotAttempted(res, i+1)
				return res
			}
			i++
			continue
		}
		j := i
		var files []resources.BatchItem
		for ; j < len(items) && items[j].After.Str("kind") == Cron; j++ {
			files = append(files, cronChange(items[j]))
		}
		for k, r := range (resources.File{}).ApplyBatch(ctx, h, files) {
			res[i+k] = r
			if r.Err != nil {
				resources.NotAttempted(res, i+k+1)
				return res
			}
		}
		i = j
	}
	return res
}

// cronChange is a cron task's change as the file change Apply would make:
// the whole file written, root:root with its mode (cronMode), or removed; a previous file
// backed up (the undo's "backup", as Revert expects).
func cronChange(it resources.BatchItem) resources.BatchItem {
	name := it.After.Str("name")
	if name == "" {
		name = it.Before.Str("name")
	}
	p := CronPath(name)
	before := &resources.State{Present: it.Before.Present, Attrs: map[string]cty.Value{"path": cty.StringVal(p)}}
	if it.Before.Present {
		before.Attrs["mode"] = cty.StringVal(it.Before.Str("mode"))
		// Never equal to the desired content: Apply always rewrites a
		// task's file, mode and owner included.
		before.Content = &resources.Content{SHA256: "rewrite"}
	}
	after := &resources.State{Present: it.After.Present, Attrs: map[string]cty.Value{"path": cty.StringVal(p)}}
	if it.After.Present {
		after.Attrs["mode"] = cty.StringVal(cronMode(it.After))
		after.Attrs["owner"] = cty.StringVal("0")
		after.Attrs["group"] = cty.StringVal("0")
		after.Content = it.After.Content
	}
	return resources.BatchItem{Config: it.Config, Before: before, After: after}
}

// cronMode is the mode of a present cron task's file: the desired
// state's (0600 for a secret), or 0644 for a state recorded without one.
func cronMode(st *resources.State) string {
	if m := st.Str("mode"); m != "" {
		return m
	}
	return fileMode(st.Content != nil && st.Content.Sensitive)
}

// Revert implements resources.Type: the previous files byte for byte from
// the backups (or none), and the timer's previous enabled and active
// states.
func (Task) Revert(ctx context.Context, h *resources.Host, before, after *resources.State, undo resources.Undo) error {
	name, kind := before.Str("name"), before.Str("kind")
	var sb strings.Builder
	sb.WriteString(scriptPrelude)
	if kind == Cron {
		p := CronPath(name)
		if before.Present {
			if undo["backup"] == "" {
				return fmt.Errorf("no backup of %s was recorded", p)
			}
			sb.WriteString(resources.RestoreScript(p, undo["backup"], h.TempPrefix()))
		} else {
			sb.WriteString(resources.RemoveScript(p))
		}
		return resources.RunChange(ctx, h, resources.RevertAction(before), p, sb.String(), nil)
	}
	timer := "tend-" + name + ".timer"
	unit := func(c *shell.Command) *shell.Command { return c.Operands(timer) }
	sp, tp := UnitPaths(name)
	hadTimer := undo["timer_backup"] != ""
	if !hadTimer {
		// Stop and disable the timer while its unit file still says how
		// (disable reads its [Install] section).
		sb.WriteString(shell.NewScript().If(shell.Test("-f", tp), func(s *shell.Script) {
			s.Run(unit(shell.Cmd("run", "systemctl", "disable", "--now", "--quiet")))
		}).String())
	}
	if before.Present != after.Present || before.Content == nil || after.Content == nil || before.Content.SHA256 != after.Content.SHA256 {
		for _, f := range []struct{ key, p string }{{"service", sp}, {"timer", tp}} {
			if b := undo[f.key+"_backup"]; b != "" {
				sb.WriteString(resources.RestoreScript(f.p, b, h.TempPrefix()))
			} else {
				sb.WriteString(shell.NewScript().Run(shell.Cmd("rm", "-f").Operands(f.p)).String())
			}
		}
		// The reload also gives an active timer its old schedule back.
		sb.WriteString("run systemctl daemon-reload\n")
	}
	if hadTimer {
		// Apply left the timer enabled and active (or, removing it,
		// neither): put back the states it had.
		if en, _ := before.Bool("enabled"); en != after.Present {
			c := shell.Cmd("run", "systemctl", "disable", "--quiet")
			if en {
				c = shell.Cmd("run", "systemctl", "enable", "--quiet")
			}
			sb.WriteString(shell.NewScript().Run(unit(c)).String())
		}
		if active, _ := before.Bool("active"); active != after.Present {
			c := shell.Cmd("run", "systemctl", "stop")
			if active {
				c = shell.Cmd("run", "systemctl", "start")
			}
			sb.WriteString(shell.NewScript().Run(unit(c)).String())
		}
	}
	return resources.RunChange(ctx, h, resources.RevertAction(before), timer, sb.String(), nil)
}
