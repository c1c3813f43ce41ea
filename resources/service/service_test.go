package service

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/probe"
	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/resources/resourcetest"
	"github.com/tendhq/tend/shell"
	"github.com/tendhq/tend/transport"
	"github.com/tendhq/tend/transport/local"
)

func cfg(attrs map[string]cty.Value) cty.Value { return resourcetest.Object(Service{}, attrs) }

var (
	s = cty.StringVal
	b = cty.BoolVal
)

func TestDesired(t *testing.T) {
	tests := map[string]struct {
		cfg       map[string]cty.Value
		want      map[string]cty.Value
		attr, msg string
	}{
		"name only":    {cfg: map[string]cty.Value{"name": s("cron")}, want: map[string]cty.Value{"name": s("cron")}},
		"running":      {cfg: map[string]cty.Value{"name": s("cron"), "running": b(true)}, want: map[string]cty.Value{"name": s("cron"), "running": b(true)}},
		"both":         {cfg: map[string]cty.Value{"name": s("nginx.service"), "running": b(false), "enabled": b(true), "provider": s("systemd")}, want: map[string]cty.Value{"name": s("nginx.service"), "running": b(false), "enabled": b(true), "provider": s("systemd")}},
		"instance":     {cfg: map[string]cty.Value{"name": s(`getty@tty2`), "refresh": s("reload")}, want: map[string]cty.Value{"name": s("getty@tty2")}},
		"escaped unit": {cfg: map[string]cty.Value{"name": s(`systemd-fsck@dev-disk-by\x2dlabel-data`)}, want: map[string]cty.Value{"name": s(`systemd-fsck@dev-disk-by\x2dlabel-data`)}},
		"no name":      {cfg: map[string]cty.Value{}, attr: "name", msg: "name is required"},
		"path":         {cfg: map[string]cty.Value{"name": s("../../bin/sh")}, attr: "name", msg: "is not a service name"},
		"option":       {cfg: map[string]cty.Value{"name": s("-now")}, attr: "name", msg: "is not a service name"},
		"space":        {cfg: map[string]cty.Value{"name": s("a b")}, attr: "name", msg: "is not a service name"},
		"quote":        {cfg: map[string]cty.Value{"name": s("a'b")}, attr: "name", msg: "is not a service name"},
		"empty":        {cfg: map[string]cty.Value{"name": s("")}, attr: "name", msg: "is not a service name"},
		"provider":     {cfg: map[string]cty.Value{"name": s("x"), "provider": s("upstart")}, attr: "provider", msg: `must be "systemd", "sysvinit" or "openrc", got "upstart"`},
		"refresh":      {cfg: map[string]cty.Value{"name": s("x"), "refresh": s("kill")}, attr: "refresh", msg: `must be "restart" or "reload", got "kill"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			st, err := Service{}.Desired(cfg(tc.cfg), nil)
			if tc.attr != "" {
				var ae *resources.AttrError
				if !errors.As(err, &ae) || ae.Attr != tc.attr || !strings.Contains(ae.Msg, tc.msg) {
					t.Fatalf("err = %v, want an AttrError on %s containing %q", err, tc.attr, tc.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !st.Present {
				t.Error("a service's desired state is always present")
			}
			if diff := cmp.Diff(tc.want, st.Attrs, cmp.Comparer(func(a, b cty.Value) bool { return a.RawEquals(b) })); diff != "" {
				t.Errorf("attrs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestKey(t *testing.T) {
	a, err1 := Service{}.Key(cfg(map[string]cty.Value{"name": s("cron")}))
	c, err2 := Service{}.Key(cfg(map[string]cty.Value{"name": s("cron.service")}))
	if err1 != nil || err2 != nil || a != c || a != "service cron" {
		t.Errorf("keys %q (%v) and %q (%v), want both \"service cron\"", a, err1, c, err2)
	}
	if k, err := (Service{}).Key(cfg(map[string]cty.Value{"name": s("cron.timer")})); err != nil || k != "service cron.timer" {
		t.Errorf("timer unit key %q, %v", k, err)
	}
	if _, err := (Service{}).Key(cfg(map[string]cty.Value{})); err == nil {
		t.Error("a service without a name has a key")
	}
}

// systemctlShow holds `systemctl show -p LoadState,ActiveState,SubState,
// UnitFileState` output recorded on a Debian 12 lab host (properties come
// in systemd's order, not the order asked).
var systemctlShow = map[string]string{
	"cron":     "LoadState=loaded\nActiveState=active\nSubState=running\nUnitFileState=enabled\n",
	"stopped":  "LoadState=loaded\nActiveState=inactive\nSubState=dead\nUnitFileState=disabled\n",
	"failed":   "LoadState=loaded\nActiveState=failed\nSubState=failed\nUnitFileState=enabled\n",
	"crashing": "LoadState=loaded\nActiveState=activating\nSubState=auto-restart\nUnitFileState=enabled\n",
	"starting": "LoadState=loaded\nActiveState=activating\nSubState=start\nUnitFileState=enabled\n",
	"runtime":  "LoadState=loaded\nActiveState=inactive\nSubState=dead\nUnitFileState=enabled-runtime\n",
	"missing":  "LoadState=not-found\nActiveState=inactive\nSubState=dead\nUnitFileState=\n",
	"masked":   "LoadState=masked\nActiveState=inactive\nSubState=dead\nUnitFileState=masked\n",
	"journald": "LoadState=loaded\nActiveState=active\nSubState=running\nUnitFileState=static\n",
	"broken":   "LoadState=bad-setting\nActiveState=inactive\nSubState=dead\nUnitFileState=disabled\n",
	"sysv":     "LoadState=loaded\nActiveState=active\nSubState=running\nUnitFileState=generated\n",
}

// fakeBin writes executables into a temporary directory and returns a
// script prefix putting it first on PATH; calls are logged to log.
func fakeBin(t *testing.T, bins map[string]string) (prefix, log string) {
	t.Helper()
	dir := t.TempDir()
	log = filepath.Join(dir, "calls.log")
	for name, body := range bins {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\necho \""+name+" $*\" >> "+log+"\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return "PATH=" + dir + ":$PATH; export PATH\n", log
}

// probeFake runs the service's probe, as the systemd provider, against a
// fake systemctl printing recorded output.
func probeFake(t *testing.T, unit string, c cty.Value) (*resources.State, error) {
	t.Helper()
	prefix, _ := fakeBin(t, map[string]string{"systemctl": `case $1 in
show) printf '%s' '` + systemctlShow[unit] + `';;
is-enabled) echo enabled; echo "sysv is not a native service, redirecting to systemd-sysv-install." >&2;;
esac
`})
	res, err := probe.Run(context.Background(), local.New(), false, []probe.Fragment{{ID: "r", Script: prefix + (Service{}).Probe(c, nil)}})
	if err != nil {
		t.Fatal(err)
	}
	if msg, ok := res.Failed["r"]; ok {
		t.Fatalf("probe failed: %s", msg)
	}
	return Service{}.Read(c, res.Outputs["r"])
}

func TestReadSystemd(t *testing.T) {
	type st struct {
		Running, Enabled bool
		UFS              string
	}
	tests := map[string]struct {
		cfg  map[string]cty.Value
		want st
		err  string
	}{
		"cron":                     {want: st{true, true, "enabled"}},
		"stopped":                  {want: st{false, false, "disabled"}},
		"failed":                   {want: st{false, true, "enabled"}},
		"crashing":                 {want: st{false, true, "enabled"}},
		"starting":                 {want: st{true, true, "enabled"}},
		"runtime":                  {want: st{false, true, "enabled-runtime"}},
		"sysv":                     {want: st{true, true, "generated"}},
		"journald":                 {want: st{true, false, "static"}},
		"masked":                   {want: st{false, false, "masked"}},
		"missing":                  {err: "service missing not found: systemd has no unit missing.service"},
		"broken":                   {err: "systemd cannot load unit broken.service (LoadState=bad-setting)"},
		"masked, to run":           {cfg: map[string]cty.Value{"running": b(true)}, err: "service masked is masked: tend does not unmask units"},
		"masked, to enable":        {cfg: map[string]cty.Value{"enabled": b(true)}, err: "is masked"},
		"masked, to stop":          {cfg: map[string]cty.Value{"running": b(false), "enabled": b(false)}, want: st{false, false, "masked"}},
		"journald, to enable":      {cfg: map[string]cty.Value{"enabled": b(true)}, err: "service journald: unit journald.service is static (it has no [Install] section and starts when another unit needs it), so it cannot be enabled or disabled; remove `enabled`"},
		"journald, to stop":        {cfg: map[string]cty.Value{"running": b(false)}, want: st{true, false, "static"}},
		"stopped, provider forced": {cfg: map[string]cty.Value{"provider": s("systemd")}, want: st{false, false, "disabled"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			unit, _, _ := strings.Cut(name, ",")
			attrs := map[string]cty.Value{"name": s(unit), "provider": s("systemd")}
			for k, v := range tc.cfg {
				attrs[k] = v
			}
			got, err := probeFake(t, unit, cfg(attrs))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			r, _ := got.Bool("running")
			e, _ := got.Bool("enabled")
			if diff := cmp.Diff(tc.want, st{r, e, got.Str("unit_file_state")}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if got.Str("provider") != "systemd" || got.Str("name") != unit {
				t.Errorf("provider %q name %q", got.Str("provider"), got.Str("name"))
			}
		})
	}
}

func TestReadSysVinitAndOpenRC(t *testing.T) {
	tests := []struct {
		provider string
		out      map[string]string
		running  bool
		enabled  bool
		err      string
	}{
		{SysVinit, map[string]string{"status": "0", "enabled": "1"}, true, true, ""},
		{SysVinit, map[string]string{"status": "3", "enabled": "0"}, false, false, ""},
		{SysVinit, map[string]string{"status": "1", "enabled": "1"}, false, true, ""},
		{SysVinit, map[string]string{"status": "2", "enabled": "0"}, false, false, ""},
		{SysVinit, map[string]string{"status": "4", "enabled": "0"}, false, false, "cannot tell whether it runs: /etc/init.d/x status exited 4"},
		{SysVinit, map[string]string{"missing": "/etc/init.d/x"}, false, false, "service x not found: there is no init script /etc/init.d/x"},
		{OpenRC, map[string]string{"status": "0", "enabled": "1"}, true, true, ""},
		{OpenRC, map[string]string{"status": "3", "enabled": "0"}, false, false, ""},
		{OpenRC, map[string]string{"status": "32", "enabled": "1"}, false, true, ""},
		{OpenRC, map[string]string{"status": "8", "enabled": "1"}, true, true, ""},
		{OpenRC, map[string]string{"status": "16", "enabled": "0"}, false, false, ""},
		{OpenRC, map[string]string{"status": "1", "enabled": "0"}, false, false, ""},
		{OpenRC, map[string]string{"status": "5", "enabled": "0"}, false, false, "rc-service x status exited 5"},
		{OpenRC, map[string]string{"missing": "/etc/init.d/x"}, false, false, "there is no OpenRC service /etc/init.d/x"},
	}
	for _, tc := range tests {
		out := resources.ProbeOutput{Values: map[string]string{"provider": tc.provider}}
		for k, v := range tc.out {
			out.Values[k] = v
		}
		got, err := Service{}.Read(cfg(map[string]cty.Value{"name": s("x")}), out)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s %v: err = %v, want %q", tc.provider, tc.out, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s %v: %v", tc.provider, tc.out, err)
			continue
		}
		r, _ := got.Bool("running")
		e, _ := got.Bool("enabled")
		if r != tc.running || e != tc.enabled || got.Str("provider") != tc.provider {
			t.Errorf("%s %v: running %v enabled %v provider %s", tc.provider, tc.out, r, e, got.Str("provider"))
		}
	}
	if _, err := (Service{}).Read(cfg(map[string]cty.Value{"name": s("x")}), resources.ProbeOutput{Other: "sh: boom\n"}); err == nil || err.Error() != "sh: boom" {
		t.Errorf("a probe printing only an error: %v", err)
	}
}

func state(provider string, running, enabled bool) *resources.State {
	return &resources.State{Present: true, Attrs: map[string]cty.Value{"name": s("web 1"), "provider": s(provider), "running": b(running), "enabled": b(enabled)}}
}

func want(attrs map[string]cty.Value) *resources.State {
	attrs["name"] = s("web 1")
	return &resources.State{Present: true, Attrs: attrs}
}

// TestCommands pins the commands each provider runs for each change and
// its revert (the name is quoted: it reaches a shell).
func TestCommands(t *testing.T) {
	tests := []struct {
		provider      string
		before        *resources.State
		after         *resources.State
		apply, revert []string
	}{
		{Systemd, state(Systemd, false, false), want(map[string]cty.Value{"running": b(true), "enabled": b(true)}),
			[]string{"run systemctl enable --quiet -- \"$n\"", "run systemctl start -- \"$n\""},
			[]string{"run systemctl stop -- \"$n\"", "run systemctl disable --quiet -- \"$n\""}},
		{Systemd, state(Systemd, true, true), want(map[string]cty.Value{"running": b(false)}),
			[]string{"run systemctl stop -- \"$n\""},
			[]string{"run systemctl start -- \"$n\""}},
		{Systemd, state(Systemd, true, true), want(map[string]cty.Value{"running": b(true), "enabled": b(true)}), nil, nil},
		{OpenRC, state(OpenRC, false, true), want(map[string]cty.Value{"running": b(true), "enabled": b(false)}),
			[]string{"run rc-update del \"$n\" default", "run rc-service \"$n\" start"},
			[]string{"run rc-service \"$n\" stop", "run rc-update add \"$n\" default"}},
		{SysVinit, state(SysVinit, true, false), want(map[string]cty.Value{"running": b(false), "enabled": b(true)}),
			[]string{
				"run " + cleanEnv + "\"/etc/init.d/$n\" stop",
				"if command -v update-rc.d >/dev/null 2>&1; then run update-rc.d \"$n\" defaults; run update-rc.d \"$n\" enable\n" +
					"elif command -v chkconfig >/dev/null 2>&1; then run chkconfig \"$n\" on\n" +
					"else echo \"neither update-rc.d nor chkconfig is installed: cannot enable $n\" >&2; exit 1; fi"},
			[]string{
				"if command -v update-rc.d >/dev/null 2>&1; then run update-rc.d \"$n\" disable\n" +
					"elif command -v chkconfig >/dev/null 2>&1; then run chkconfig \"$n\" off\n" +
					"else echo \"neither update-rc.d nor chkconfig is installed: cannot disable $n\" >&2; exit 1; fi",
				"run " + cleanEnv + "\"/etc/init.d/$n\" start"}},
	}
	for _, tc := range tests {
		var got []string
		for _, st := range steps(tc.before, tc.after) {
			got = append(got, strings.TrimSuffix(command(tc.provider, st).String(), "\n"))
		}
		if diff := cmp.Diff(tc.apply, got); diff != "" {
			t.Errorf("%s apply (-want +got):\n%s", tc.provider, diff)
		}
		target := &resources.State{Attrs: map[string]cty.Value{}}
		for _, a := range []string{"running", "enabled"} {
			if _, ok := tc.after.Bool(a); ok {
				target.Attrs[a] = tc.before.Attr(a)
			}
		}
		got = nil
		for _, st := range steps(tc.after, target) {
			got = append(got, strings.TrimSuffix(command(tc.provider, st).String(), "\n"))
		}
		if diff := cmp.Diff(tc.revert, got); diff != "" {
			t.Errorf("%s revert (-want +got):\n%s", tc.provider, diff)
		}
	}
}

// TestApplyRevertRun runs Apply and Revert scripts against a fake
// systemctl: the right calls in the right order, enabled-runtime handled
// with --runtime both ways, and a failing command's output in the error.
func TestApplyRevertRun(t *testing.T) {
	prefix, log := fakeBin(t, map[string]string{"systemctl": `if [ "$1" = start ] && [ "$3" = bad ]; then echo "Job for bad.service failed." >&2; exit 1; fi
`})
	h := &resources.Host{Name: "local", T: prefixed{local.New(), prefix}}
	before := state(Systemd, false, true)
	before.Attrs["name"] = s("cron")
	before.Attrs["unit_file_state"] = s("enabled-runtime")
	after := &resources.State{Present: true, Attrs: map[string]cty.Value{"name": s("cron"), "running": b(true), "enabled": b(false)}}
	undo, err := Service{}.Apply(context.Background(), h, before, after)
	if err != nil {
		t.Fatal(err)
	}
	if err := (Service{}).Revert(context.Background(), h, before, after, undo); err != nil {
		t.Fatal(err)
	}
	calls, _ := os.ReadFile(log)
	wantCalls := "systemctl disable --runtime --quiet -- cron\nsystemctl start -- cron\nsystemctl stop -- cron\nsystemctl enable --runtime --quiet -- cron\n"
	if string(calls) != wantCalls {
		t.Errorf("calls:\n%s\nwant\n%s", calls, wantCalls)
	}
	bad := state(Systemd, false, false)
	bad.Attrs["name"] = s("bad")
	_, err = Service{}.Apply(context.Background(), h, bad, &resources.State{Present: true, Attrs: map[string]cty.Value{"name": s("bad"), "running": b(true)}})
	// The command's output goes under the error, not in it.
	if stderr, _ := resources.Detail(err); err == nil || err.Error() != "update service bad: systemctl start -- bad failed" || !strings.Contains(string(stderr), "Job for bad.service failed.") {
		t.Errorf("failing start: %v, stderr %q", err, stderr)
	}
}

// prefixed runs every script after a prefix (a PATH of fakes).
type prefixed struct {
	*local.Transport
	prefix string
}

func (p prefixed) Run(ctx context.Context, c transport.Command) (*transport.Result, error) {
	c.Script = p.prefix + c.Script
	return p.Transport.Run(ctx, c)
}

// TestRefresh: restart or reload only a running service, per provider
// (detected or forced).
func TestRefresh(t *testing.T) {
	for _, tc := range []struct {
		active  string // the fake's is-active exit status
		refresh string
		want    string
	}{
		{"0", "", "systemctl try-restart -- cron\n"},
		{"3", "", "systemctl try-restart -- cron\n"}, // try-restart leaves a stopped unit alone
		{"0", "reload", "systemctl -q is-active -- cron\nsystemctl reload -- cron\n"},
		{"3", "reload", "systemctl -q is-active -- cron\n"},
	} {
		prefix, log := fakeBin(t, map[string]string{"systemctl": "if [ \"$1\" = -q ]; then exit " + tc.active + "; fi\n"})
		h := &resources.Host{Name: "local", T: prefixed{local.New(), prefix}}
		attrs := map[string]cty.Value{"name": s("cron"), "provider": s("systemd")}
		if tc.refresh != "" {
			attrs["refresh"] = s(tc.refresh)
		}
		if err := (Service{}).Refresh(context.Background(), h, cfg(attrs)); err != nil {
			t.Fatal(err)
		}
		if calls, _ := os.ReadFile(log); string(calls) != tc.want {
			t.Errorf("active=%s refresh=%q: calls\n%s\nwant\n%s", tc.active, tc.refresh, calls, tc.want)
		}
	}
	// The other providers' refresh, as text.
	for _, tc := range []struct{ pv, action, name, want string }{
		{OpenRC, Restart, "n=cron\n", "if rc-service \"$n\" status >/dev/null 2>&1 </dev/null; then\nrun rc-service \"$n\" restart\nfi\n"},
		{SysVinit, Reload, "n=cron\n", "if " + cleanEnv + "\"/etc/init.d/$n\" status >/dev/null 2>&1 </dev/null; then\nrun " + cleanEnv + "\"/etc/init.d/$n\" reload\nfi\n"},
	} {
		if got := refreshScript(shell.NewScript().Set("pv", tc.pv), "cron", tc.action); !strings.Contains(got, tc.want) || !strings.Contains(got, tc.name) {
			t.Errorf("%s %s refresh script lacks %q:\n%s", tc.pv, tc.action, tc.want, got)
		}
	}
}

func TestRefreshSatisfied(t *testing.T) {
	for _, tc := range []struct {
		before, after *resources.State
		want          bool
	}{
		{state(Systemd, false, true), want(map[string]cty.Value{"running": b(true)}), true},
		{state(Systemd, false, false), want(map[string]cty.Value{"running": b(true), "enabled": b(true)}), true},
		{state(Systemd, true, false), want(map[string]cty.Value{"running": b(true), "enabled": b(true)}), false},
		{state(Systemd, true, true), want(map[string]cty.Value{"running": b(false)}), false},
		{state(Systemd, false, false), want(map[string]cty.Value{"enabled": b(true)}), false},
		{state(Systemd, false, false), want(map[string]cty.Value{}), false},
	} {
		if got := (Service{}).RefreshSatisfied(tc.before, tc.after); got != tc.want {
			t.Errorf("RefreshSatisfied(%v → %v) = %v", tc.before.Attrs, tc.after.Attrs, got)
		}
	}
}
