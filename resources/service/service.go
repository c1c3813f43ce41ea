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

// Providers: the init systems a service can be managed through.
const (
	Systemd  = "systemd"
	SysVinit = "sysvinit"
	OpenRC   = "openrc"
)

// Refresh actions.
const (
	Restart = "restart"
	Reload  = "reload"
)

// Service manages a system service: running now, started at boot, and
// restarted or reloaded when a resource notifying it changes.
type Service struct{}

var (
	_ resources.Type      = Service{}
	_ resources.Refresher = Service{}
)

// Name implements resources.Type.
func (Service) Name() string { return "service" }

// Schema implements resources.Type.
func (Service) Schema() *resources.Schema {
	return &resources.Schema{
		Doc: "A system service: whether it runs now (`running`) and whether it starts at boot (`enabled`). " +
			"Attributes left unset are not managed, so a service block with neither is only a `notify` target. " +
			"A resource that changes and lists the service in its `notify` restarts it (or reloads it, with `refresh = \"reload\"`) " +
			"once, after all of its notifiers, and only if it is running; a service the same apply has just started is not restarted again. " +
			"The init system is detected on each host (systemd when /run/systemd/system exists, OpenRC when openrc or rc-service is installed, " +
			"System V init otherwise) unless `provider` says which. " +
			"A service the host does not have (no systemd unit, no /etc/init.d script) is a plan error for that host. " +
			"systemd: one `systemctl show` per service reads its state; apply runs `systemctl start/stop/enable/disable`; " +
			"a masked unit is never unmasked and a static unit (no [Install] section) cannot have `enabled`. " +
			"System V init: `/etc/init.d/NAME status` (LSB exit codes) tells whether it runs, start links in /etc/rc[2-5].d whether it is enabled; " +
			"apply runs the script with a clean environment and `update-rc.d NAME enable|disable` (or `chkconfig NAME on|off`). " +
			"OpenRC: `rc-service NAME status`, and a link in /etc/runlevels/default; apply runs `rc-service` and `rc-update add|del NAME default`. " +
			"A rollback restores exactly the running and enabled states probed before the change.",
		Attributes: append([]resources.Attribute{
			{Name: "name", Type: cty.String, Doc: "The service: a systemd unit (`nginx` or `nginx.service`; other unit types need their suffix), or the name of its /etc/init.d script. Defaults to the block's label."},
			{Name: "running", Type: cty.Bool, Doc: "true: the service must be running (it is started); false: stopped. Unset: not managed."},
			{Name: "enabled", Type: cty.Bool, Doc: "true: the service starts at boot; false: it does not. Unset: not managed."},
			{Name: "refresh", Type: cty.String, Doc: "What a notification does to a running service: \"restart\" (default) or \"reload\" (`systemctl reload`, the init script's or OpenRC's reload; an error if the service cannot reload). A stopped service is left stopped."},
			{Name: "provider", Type: cty.String, OS: resources.OSPOSIX, Doc: "The init system to use: \"systemd\", \"sysvinit\" or \"openrc\". Unset: detected on each host."},
		}, windowsAttributes...),
	}
}

// nameRE is what tend accepts as a service name: systemd unit names
// (with instance '@', escapes '\') and init script names. No '/', and no
// leading '-' or '.', so a name can never be a path or an option.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9_@][A-Za-z0-9_@.:+\\-]{0,254}$`)

// name returns the configured service name, validated.
func name(cfg cty.Value) (string, error) {
	v := cfg.GetAttr("name")
	if v.IsNull() {
		return "", &resources.AttrError{Attr: "name", Msg: "name is required"}
	}
	if !v.IsKnown() {
		return "", nil
	}
	v, _ = v.Unmark()
	n := v.AsString()
	if !nameRE.MatchString(n) {
		return "", &resources.AttrError{Attr: "name", Msg: fmt.Sprintf("%q is not a service name (letters, digits and _@.:+\\- only, not starting with . or -)", n)}
	}
	return n, nil
}

// Key implements resources.Type: one declaration per service and host;
// "cron" and "cron.service" are the same systemd unit.
func (Service) Key(cfg cty.Value) (string, error) {
	n, err := name(cfg)
	if err != nil || n == "" {
		return "", err
	}
	return "service " + strings.TrimSuffix(n, ".service"), nil
}

// Desired implements resources.Type.
func (Service) Desired(cfg cty.Value, env resources.Env) (*resources.State, error) {
	n, err := name(cfg)
	if err != nil {
		return nil, err
	}
	st := &resources.State{Present: true, Attrs: map[string]cty.Value{"name": cty.StringVal(n)}}
	switch p := resources.Str(cfg, "provider", ""); p {
	case "":
	case Systemd, SysVinit, OpenRC:
		st.Attrs["provider"] = cty.StringVal(p)
	default:
		return nil, &resources.AttrError{Attr: "provider", Msg: fmt.Sprintf("must be \"systemd\", \"sysvinit\" or \"openrc\", got %q", p)}
	}
	switch r := resources.Str(cfg, "refresh", Restart); r {
	case Restart, Reload:
	default:
		return nil, &resources.AttrError{Attr: "refresh", Msg: fmt.Sprintf("must be \"restart\" or \"reload\", got %q", r)}
	}
	for _, a := range []string{"running", "enabled"} {
		if v := cfg.GetAttr(a); !v.IsNull() {
			v, _ = v.Unmark()
			st.Attrs[a] = v
		}
	}
	return st, nil
}

// detectScript sets $pv to the host's init system, as the facts do:
// only shell builtins, no process is started.
const detectScript = `if [ -d /run/systemd/system ]; then pv=systemd
elif command -v openrc >/dev/null 2>&1 || command -v rc-service >/dev/null 2>&1; then pv=openrc
else pv=sysvinit; fi
`

// providerScript sets $pv: the configured provider, or the detected one.
func providerScript(cfg cty.Value) *shell.Script {
	if p := resources.Str(cfg, "provider", ""); p != "" {
		return shell.NewScript().Set("pv", p)
	}
	return shell.NewScript().Raw(detectScript)
}

// cleanEnv runs an init script the way service(8) does: with an empty
// environment but for PATH and LANG, so nothing of tend's session leaks
// into the daemon.
const cleanEnv = "env -i LANG=C " + cleanPath + " "

// cleanPath is the PATH cleanEnv sets.
const cleanPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// statusFunc defines svc_status, which runs a status command and outputs
// its exit code. An LSB init script that has just been started can still
// answer 1 (dead, pid file exists) for a moment: its start returns once
// the daemon has forked, before the daemon has replaced the stale pid
// file of the previous instance. Only that answer is asked again, for up
// to two seconds; a daemon that really died answers 1 all along.
const statusFunc = `svc_status() {
  i=0
  while :; do
    "$@" >/dev/null 2>&1 </dev/null; c=$?
    if [ "$c" != 1 ] || [ "$i" -ge 10 ]; then out status "$c"; return 0; fi
    i=$((i + 1)); sleep 0.2 2>/dev/null || sleep 1
  done
}
`

// Probe implements resources.Type. On systemd it runs one `systemctl
// show` (plus `systemctl is-enabled` for units generated from init
// scripts, whose enablement systemd does not know itself); elsewhere the
// init script's status and a test for boot links.
func (Service) Probe(cfg cty.Value, want *resources.State) string {
	n, _ := name(cfg)
	return shell.NewScript().Set("n", n).Append(providerScript(cfg)).String() + statusFunc + `out provider "$pv"
case $pv in
systemd)
  s=$(systemctl show -p LoadState,ActiveState,SubState,UnitFileState -- "$n") || return 1
  while IFS= read -r l; do case $l in ?*=*) out "${l%%=*}" "${l#*=}";; esac; done <<EOF
$s
EOF
  case $s in *UnitFileState=generated*) out IsEnabled "$(systemctl is-enabled -- "$n" 2>/dev/null)";; esac
  ;;
openrc)
  if [ ! -f "/etc/init.d/$n" ]; then out missing "/etc/init.d/$n"; return 0; fi
  command -v rc-service >/dev/null 2>&1 || { echo "rc-service not found: is this an OpenRC host?"; return 1; }
  svc_status rc-service "$n" status
  if [ -e "/etc/runlevels/default/$n" ]; then out enabled 1; else out enabled 0; fi
  ;;
*)
  if [ ! -f "/etc/init.d/$n" ]; then out missing "/etc/init.d/$n"; return 0; fi
  svc_status ` + cleanEnv + `"/etc/init.d/$n" status
  e=0
  for f in /etc/rc[2345].d/S[0-9][0-9]"$n" /etc/rc.d/rc[2345].d/S[0-9][0-9]"$n"; do
    if [ -e "$f" ]; then e=1; break; fi
  done
  out enabled $e
  ;;
esac
`
}

// ProbeInShell implements resources.InShellProber.
func (Service) ProbeInShell(cty.Value) bool { return true }

// Read implements resources.Type.
func (Service) Read(cfg cty.Value, out resources.ProbeOutput) (*resources.State, error) {
	n, err := name(cfg)
	if err != nil {
		return nil, err
	}
	pv, ok := out.Get("provider")
	if !ok {
		return nil, resources.ProbeFailed(out)
	}
	var ps providerState
	switch pv {
	case Systemd:
		ps, err = readSystemd(n, out)
	case OpenRC:
		ps, err = readOpenRC(n, out)
	case SysVinit:
		ps, err = readSysVinit(n, out)
	default:
		return nil, fmt.Errorf("service %s: unknown provider %q", n, pv)
	}
	if err != nil {
		return nil, err
	}
	if err := ps.check(n, cfg); err != nil {
		return nil, err
	}
	st := &resources.State{Present: true, Attrs: map[string]cty.Value{
		"name":     cty.StringVal(n),
		"provider": cty.StringVal(pv),
		"running":  cty.BoolVal(ps.running),
		"enabled":  cty.BoolVal(ps.enabled),
	}}
	if ps.unitFileState != "" {
		// Kept so a revert can restore "enabled-runtime" as such, and so
		// the pre-state's fingerprint notices if it does not.
		st.Attrs["unit_file_state"] = cty.StringVal(ps.unitFileState)
	}
	return st, nil
}

// providerState is what a provider's probe output says.
type providerState struct {
	running, enabled bool
	// unitFileState is systemd's UnitFileState.
	unitFileState string
	// fixedEnabled explains why enabled cannot be managed ("" if it can).
	fixedEnabled string
	// masked is a masked systemd unit: it can be neither started nor
	// enabled until someone unmasks it.
	masked bool
}

// check refuses configurations the service's state makes impossible,
// at plan time rather than half-way through an apply.
func (ps providerState) check(n string, cfg cty.Value) error {
	wants := func(a string) bool { v := cfg.GetAttr(a); return !v.IsNull() && v.IsKnown() && v.True() }
	if ps.masked && (wants("running") || wants("enabled")) {
		return fmt.Errorf("service %s is masked: tend does not unmask units; run `systemctl unmask %s` or stop asking for running/enabled", n, n)
	}
	if ps.fixedEnabled != "" && !cfg.GetAttr("enabled").IsNull() {
		return fmt.Errorf("service %s: %s, so it cannot be enabled or disabled; remove `enabled`", n, ps.fixedEnabled)
	}
	return nil
}

// readSystemd interprets `systemctl show` properties.
func readSystemd(n string, out resources.ProbeOutput) (providerState, error) {
	var ps providerState
	load, ok := out.Get("LoadState")
	if !ok {
		return ps, resources.ProbeFailed(out)
	}
	switch load {
	case "loaded":
	case "masked":
		ps.masked = true
	case "not-found":
		return ps, &resources.NotYetError{Err: fmt.Errorf("service %s not found: systemd has no unit %s", n, unitName(n))}
	default:
		return ps, fmt.Errorf("service %s: systemd cannot load unit %s (LoadState=%s)", n, unitName(n), load)
	}
	active, sub := out.Values["ActiveState"], out.Values["SubState"]
	// "activating" is a start in progress; "auto-restart" is a crashed
	// service waiting to be started again, which does not run.
	ps.running = active == "active" || active == "reloading" || (active == "activating" && sub != "auto-restart")
	ps.unitFileState = out.Values["UnitFileState"]
	switch ps.unitFileState {
	case "enabled", "enabled-runtime", "alias":
		ps.enabled = true
	case "generated":
		// A unit systemd-sysv-generator made from an init script: its
		// boot links decide, and `systemctl is-enabled` reads them.
		ps.enabled = out.Values["IsEnabled"] == "enabled"
	case "static":
		ps.fixedEnabled = "unit " + unitName(n) + " is static (it has no [Install] section and starts when another unit needs it)"
	case "indirect":
		ps.fixedEnabled = "unit " + unitName(n) + " is indirect (enabling it enables other units)"
	case "transient":
		ps.fixedEnabled = "unit " + unitName(n) + " is transient (created at runtime)"
	case "":
		if !ps.masked {
			ps.fixedEnabled = "unit " + unitName(n) + " has no unit file"
		}
	}
	return ps, nil
}

// unitName is the unit systemctl acts on for a service name.
func unitName(n string) string {
	for _, suf := range []string{".service", ".socket", ".timer", ".path", ".target", ".mount", ".automount", ".swap", ".slice", ".scope", ".device"} {
		if strings.HasSuffix(n, suf) {
			return n
		}
	}
	return n + ".service"
}

// readSysVinit interprets an LSB init script's status exit code: 0 runs;
// 1, 2, 3 do not (dead with a pid file, dead with a lock file, stopped).
func readSysVinit(n string, out resources.ProbeOutput) (providerState, error) {
	var ps providerState
	if p, ok := out.Get("missing"); ok {
		return ps, &resources.NotYetError{Err: fmt.Errorf("service %s not found: there is no init script %s", n, p)}
	}
	code, ok := out.Get("status")
	if !ok {
		return ps, resources.ProbeFailed(out)
	}
	switch code {
	case "0":
		ps.running = true
	case "1", "2", "3":
	default:
		return ps, fmt.Errorf("service %s: cannot tell whether it runs: /etc/init.d/%s status exited %s (LSB: 4 means unknown)", n, n, code)
	}
	ps.enabled = out.Values["enabled"] == "1"
	return ps, nil
}

// readOpenRC interprets `rc-service NAME status` (openrc-run's exit codes:
// 0 started, 3 stopped, 4 stopping, 8 starting, 16 inactive, 32 crashed;
// an LSB script run by rc-service answers with LSB's: 1 dead with a pid
// file, 2 dead with a lock file).
func readOpenRC(n string, out resources.ProbeOutput) (providerState, error) {
	var ps providerState
	if p, ok := out.Get("missing"); ok {
		return ps, &resources.NotYetError{Err: fmt.Errorf("service %s not found: there is no OpenRC service %s", n, p)}
	}
	code, ok := out.Get("status")
	if !ok {
		return ps, resources.ProbeFailed(out)
	}
	switch code {
	case "0", "8":
		ps.running = true
	case "1", "2", "3", "4", "16", "32":
	default:
		return ps, fmt.Errorf("service %s: cannot tell whether it runs: rc-service %s status exited %s", n, n, code)
	}
	ps.enabled = out.Values["enabled"] == "1"
	return ps, nil
}

// step is one change to a service: enable or disable, start or stop.
type step struct {
	attr string // "running" or "enabled"
	on   bool
	// runtime enables or disables a systemd unit in /run only (it was
	// "enabled-runtime" before).
	runtime bool
}

// steps returns what takes from to to, for the attributes to sets:
// a service to stop is stopped first, one to start is started last
// (after it is enabled, when it is).
func steps(from, to *resources.State) []step {
	var out []step
	for _, a := range []string{"enabled", "running"} {
		want, ok := to.Bool(a)
		if have, _ := from.Bool(a); !ok || have == want {
			continue
		}
		out = append(out, step{attr: a, on: want})
	}
	if len(out) == 2 && !out[1].on { // stop first
		out[0], out[1] = out[1], out[0]
	}
	return out
}

// runPrelude defines run: it runs a command with no terminal, its output
// in a temporary file shown only when it fails. A daemon an init script
// starts inherits that file, not the session's pipes, so it cannot keep
// the session open.
const runPrelude = `set -e
t=$(mktemp)
trap 'rm -f "$t"' EXIT
run() { if ! "$@" </dev/null >"$t" 2>&1; then cat "$t" >&2; printf 'tend-cause: %s\n' "$* failed" >&2; exit 1; fi; }
`

// changeScript returns the script making steps on service n.
func changeScript(pv, n string, ss []step) string {
	s := shell.NewScript().Raw(runPrelude)
	s.Set("n", n)
	for _, st := range ss {
		s.Append(command(pv, st))
	}
	return s.String()
}

// initScript is the init script of service $n run as service(8) runs it.
func initScript() *shell.Command {
	return shell.Cmd("run", "env", "-i", "LANG=C", cleanPath, `"/etc/init.d/$n"`)
}

// command is one step on service $n.
func command(pv string, st step) *shell.Script {
	s := shell.NewScript()
	running := st.attr == "running"
	switch pv {
	case Systemd:
		c := shell.Cmd("run", "systemctl")
		switch {
		case running && st.on:
			c.Flag("start")
		case running:
			c.Flag("stop")
		case st.on:
			c.Flag("enable")
		default:
			c.Flag("disable")
		}
		if !running {
			if st.runtime {
				c.Flag("--runtime")
			}
			c.Flag("--quiet")
		}
		s.Run(c.VarOperand("n"))
	case OpenRC:
		switch {
		case running && st.on:
			s.Run(shell.Cmd("run", "rc-service").Var("n").Flag("start"))
		case running:
			s.Run(shell.Cmd("run", "rc-service").Var("n").Flag("stop"))
		case st.on:
			s.Run(shell.Cmd("run", "rc-update", "add").Var("n").Flag("default"))
		default:
			s.Run(shell.Cmd("run", "rc-update", "del").Var("n").Flag("default"))
		}
	default:
		switch {
		case running && st.on:
			s.Run(initScript().Flag("start"))
		case running:
			s.Run(initScript().Flag("stop"))
		case st.on:
			// defaults creates the links of a script that has none;
			// enable turns existing stop links into start links.
			s.Line(`if command -v update-rc.d >/dev/null 2>&1; then run update-rc.d "$n" defaults; run update-rc.d "$n" enable
elif command -v chkconfig >/dev/null 2>&1; then run chkconfig "$n" on
else echo "neither update-rc.d nor chkconfig is installed: cannot enable $n" >&2; exit 1; fi`)
		default:
			s.Line(`if command -v update-rc.d >/dev/null 2>&1; then run update-rc.d "$n" disable
elif command -v chkconfig >/dev/null 2>&1; then run chkconfig "$n" off
else echo "neither update-rc.d nor chkconfig is installed: cannot disable $n" >&2; exit 1; fi`)
		}
	}
	return s
}

// Apply implements resources.Type.
func (Service) Apply(ctx context.Context, h *resources.Host, before, after *resources.State) (resources.Undo, error) {
	ss := steps(before, after)
	if len(ss) == 0 {
		return nil, nil
	}
	if before.Str("unit_file_state") == "enabled-runtime" {
		for i := range ss {
			if ss[i].attr == "enabled" && !ss[i].on {
				ss[i].runtime = true // its links are in /run: remove those
			}
		}
	}
	return nil, resources.RunChange(ctx, h, "update", "service "+before.Str("name"), changeScript(before.Str("provider"), before.Str("name"), ss), nil)
}

// Revert implements resources.Type: it puts back the running and enabled
// states probed before the change, for the attributes the change set.
func (Service) Revert(ctx context.Context, h *resources.Host, before, after *resources.State, undo resources.Undo) error {
	// Only what the change touched: the attributes after sets.
	target := &resources.State{Attrs: map[string]cty.Value{}}
	for _, a := range []string{"running", "enabled"} {
		if _, ok := after.Bool(a); ok {
			target.Attrs[a] = before.Attr(a)
		}
	}
	ss := steps(after, target)
	if len(ss) == 0 {
		return nil
	}
	if before.Str("unit_file_state") == "enabled-runtime" {
		for i := range ss {
			if ss[i].attr == "enabled" && ss[i].on {
				ss[i].runtime = true
			}
		}
	}
	return resources.RunChange(ctx, h, "restore", "service "+before.Str("name"), changeScript(before.Str("provider"), before.Str("name"), ss), nil)
}

// Refresh implements resources.Refresher: restart or reload the service
// if it runs. A stopped service stays stopped: starting is `running`'s
// business, not a notification's.
func (Service) Refresh(ctx context.Context, h *resources.Host, cfg cty.Value) error {
	n, err := name(cfg)
	if err != nil {
		return err
	}
	r := resources.Str(cfg, "refresh", Restart)
	return resources.RunChange(ctx, h, r, "service "+n, refreshScript(providerScript(cfg), n, r), nil)
}

// refreshScript restarts or reloads service n if it runs; pv sets $pv.
func refreshScript(pv *shell.Script, n, action string) string {
	s := shell.NewScript().Raw(runPrelude).Set("n", n).Append(pv)
	s.Line("case $pv in\nsystemd)")
	if action == Reload {
		s.Line(`  if systemctl -q is-active -- "$n"; then run systemctl reload -- "$n"; fi`)
	} else {
		s.Line(`  run systemctl try-restart -- "$n"`)
	}
	s.Line("  ;;\nopenrc)")
	s.IfElse(shell.Cmd("rc-service").Var("n").Flag("status").Redirect(">/dev/null 2>&1 </dev/null"), func(s *shell.Script) {
		if action == Reload {
			s.Run(shell.Cmd("run", "rc-service").Var("n").Flag("reload"))
		} else {
			s.Run(shell.Cmd("run", "rc-service").Var("n").Flag("restart"))
		}
	}, nil)
	s.Line("  ;;\n*)")
	s.IfElse(shell.Cmd("env", "-i", "LANG=C", cleanPath, `"/etc/init.d/$n"`, "status").Redirect(">/dev/null 2>&1 </dev/null"), func(s *shell.Script) {
		if action == Reload {
			s.Run(initScript().Flag("reload"))
		} else {
			s.Run(initScript().Flag("restart"))
		}
	}, nil)
	s.Line("  ;;\nesac")
	return s.String()
}

// RefreshSatisfied tells apply that a change which started the service
// (running false → true) already gave it its new configuration: a
// notification from the same apply must not restart it a second time.
func (Service) RefreshSatisfied(before, after *resources.State) bool {
	was, _ := before.Bool("running")
	want, ok := after.Bool("running")
	return ok && want && !was
}
