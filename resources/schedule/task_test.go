package schedule

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/resources/resourcetest"
)

var s = cty.StringVal

func cfg(attrs map[string]cty.Value) cty.Value { return resourcetest.Object(Task{}, attrs) }

func base(extra map[string]cty.Value) map[string]cty.Value {
	m := map[string]cty.Value{"name": s("backup"), "schedule": s("30 2 * * *"), "command": s("/usr/local/bin/backup")}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func TestDesiredErrors(t *testing.T) {
	tests := map[string]struct {
		cfg       map[string]cty.Value
		attr, msg string
	}{
		"no name":          {map[string]cty.Value{"schedule": s("@daily"), "command": s("x")}, "name", "name is required"},
		"dotted name":      {base(map[string]cty.Value{"name": s("a.b")}), "name", `"a.b" is not usable in a file name`},
		"slash name":       {base(map[string]cty.Value{"name": s("../x")}), "name", "not usable in a file name"},
		"empty name":       {base(map[string]cty.Value{"name": s("")}), "name", "not usable"},
		"kind":             {base(map[string]cty.Value{"kind": s("anacron")}), "kind", `must be "cron" or "systemd_timer", got "anacron"`},
		"state":            {base(map[string]cty.Value{"state": s("gone")}), "state", `must be "present" or "absent"`},
		"no schedule":      {map[string]cty.Value{"name": s("x"), "command": s("x")}, "schedule", "needs a schedule"},
		"bad schedule":     {base(map[string]cty.Value{"schedule": s("61 * * * *")}), "schedule", "minute field \"61\": 61 is out of range 0-59"},
		"six fields":       {base(map[string]cty.Value{"schedule": s("0 0 * * * *")}), "schedule", "has 6 fields"},
		"timer reboot":     {base(map[string]cty.Value{"schedule": s("@reboot"), "kind": s("systemd_timer")}), "schedule", "@reboot has no systemd timer equivalent"},
		"timer dom or dow": {base(map[string]cty.Value{"schedule": s("0 0 13 * 5"), "kind": s("systemd_timer")}), "schedule", "EITHER"},
		"no command":       {map[string]cty.Value{"name": s("x"), "schedule": s("@daily")}, "command", "needs a command"},
		"blank command":    {base(map[string]cty.Value{"command": s("  ")}), "command", "needs a command"},
		"two lines":        {base(map[string]cty.Value{"command": s("a\nb")}), "command", "must be one line"},
		"user":             {base(map[string]cty.Value{"user": s("bad user")}), "user", `"bad user" is not a user name`},
		"env name":         {base(map[string]cty.Value{"environment": cty.MapVal(map[string]cty.Value{"1X": s("v")})}), "environment", `"1X" is not a variable name`},
		"env newline":      {base(map[string]cty.Value{"environment": cty.MapVal(map[string]cty.Value{"X": s("a\nb")})}), "environment", "X: must be one line"},
		"env both quotes":  {base(map[string]cty.Value{"environment": cty.MapVal(map[string]cty.Value{"X": s(`'"`)})}), "environment", "cron cannot hold a value with both"},
	}
	for name, tc := range tests {
		_, err := Task{}.Desired(cfg(tc.cfg), nil)
		var ae *resources.AttrError
		if !errors.As(err, &ae) || ae.Attr != tc.attr || !strings.Contains(ae.Msg, tc.msg) {
			t.Errorf("%s: err = %v, want an AttrError on %s containing %q", name, err, tc.attr, tc.msg)
		}
	}
	// Both quotes are fine in a unit file.
	if _, err := (Task{}).Desired(cfg(base(map[string]cty.Value{"kind": s("systemd_timer"), "environment": cty.MapVal(map[string]cty.Value{"X": s(`'"`)})})), nil); err != nil {
		t.Errorf("timer with both quotes: %v", err)
	}
}

func TestKey(t *testing.T) {
	for kind, want := range map[string]string{"": "path /etc/cron.d/tend-backup", "cron": "path /etc/cron.d/tend-backup", "systemd_timer": "path /etc/systemd/system/tend-backup.timer"} {
		m := base(nil)
		if kind != "" {
			m["kind"] = s(kind)
		}
		if got, err := (Task{}).Key(cfg(m)); err != nil || got != want {
			t.Errorf("kind %q: key %q, %v; want %q", kind, got, err, want)
		}
	}
}

// TestFiles pins the generated files: deterministic, escaped for each
// format (cron: % and \ in the command, quotes around values; systemd:
// C escapes, %% and $$).
func TestFiles(t *testing.T) {
	env := cty.MapVal(map[string]cty.Value{"PATH": s("/usr/local/bin:/usr/bin:/bin"), "MSG": s(`say "hi" 100% $HOME \o/`), "Q": s(`it's`)})
	command := `date +%F >> "$HOME/log" \; echo \\`
	st, err := Task{}.Desired(cfg(base(map[string]cty.Value{"command": s(command), "environment": env, "user": s("ops"), "schedule": s("*/5  *\t* * 1-5")})), nil)
	if err != nil {
		t.Fatal(err)
	}
	wantCron := `# Managed by tend: scheduled_task "backup". Changes made here are undone by the next tend apply.
MSG='say "hi" 100% $HOME \o/'
PATH="/usr/local/bin:/usr/bin:/bin"
Q="it's"
*/5 * * * 1-5 ops date +\%F >> "$HOME/log" \\; echo \\\\
`
	if diff := cmp.Diff(wantCron, string(st.Content.Data)); diff != "" {
		t.Errorf("cron file (-want +got):\n%s", diff)
	}
	if st.Content.Sensitive {
		t.Error("content marked sensitive without a sensitive value")
	}
	if diff := cmp.Diff([]string{"kind", "mode", "name", "owner", "path"}, st.AttrNames()); diff != "" {
		t.Errorf("cron attrs (-want +got):\n%s", diff)
	}

	st, err = Task{}.Desired(cfg(base(map[string]cty.Value{"command": s(command), "environment": env, "user": s("ops"), "kind": s("systemd_timer"), "schedule": s("0 9-17 * * 1-5")})), nil)
	if err != nil {
		t.Fatal(err)
	}
	wantUnits := `### /etc/systemd/system/tend-backup.service
# Managed by tend: scheduled_task "backup". Changes made here are undone by the next tend apply.
[Unit]
Description=tend scheduled task backup

[Service]
Type=oneshot
User=ops
WorkingDirectory=-~
Environment="MSG=say \"hi\" 100%% $HOME \\o/"
Environment="PATH=/usr/local/bin:/usr/bin:/bin"
Environment="Q=it's"
ExecStart=/bin/sh -c "date +%%F >> \"$$HOME/log\" \\; echo \\\\"
### /etc/systemd/system/tend-backup.timer
# Managed by tend: scheduled_task "backup". Changes made here are undone by the next tend apply.
# schedule: 0 9-17 * * 1-5
[Unit]
Description=tend scheduled task backup (0 9-17 * * 1-5)

[Timer]
OnCalendar=Mon..Fri *-*-* 09..17:00:00

[Install]
WantedBy=timers.target
`
	if diff := cmp.Diff(wantUnits, string(st.Content.Data)); diff != "" {
		t.Errorf("unit files (-want +got):\n%s", diff)
	}
	svc, tmr, err := splitUnits("backup", st.Content.Data)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(joinUnits("backup", svc, tmr, true, true)); got != wantUnits {
		t.Errorf("split and joined again:\n%s", got)
	}
	if !strings.HasPrefix(string(tmr), "# Managed by tend") || !strings.HasSuffix(string(svc), `echo \\\\"`+"\n") {
		t.Errorf("split wrong:\nservice %q\ntimer %q", svc, tmr)
	}
	if diff := cmp.Diff([]string{"active", "enabled", "kind", "name", "path"}, st.AttrNames()); diff != "" {
		t.Errorf("timer attrs (-want +got):\n%s", diff)
	}
}

func TestSensitive(t *testing.T) {
	mark := resources.Sensitive
	for name, c := range map[string]map[string]cty.Value{
		"command":     base(map[string]cty.Value{"command": s("curl -H 'token: x' http://x").Mark(mark)}),
		"environment": base(map[string]cty.Value{"environment": cty.MapVal(map[string]cty.Value{"TOKEN": s("x").Mark(mark)})}),
	} {
		st, err := Task{}.Desired(cfg(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Content.Sensitive {
			t.Errorf("%s: a sensitive %s does not make the content sensitive", name, name)
		}
	}
}

// TestSecretCommand: a command from a secret goes to the shell on its
// standard input (after cron's first %, with % escaped), never as an
// argument; one from the configuration stays an argument of sh -c.
func TestSecretCommand(t *testing.T) {
	for name, tc := range map[string]struct {
		command cty.Value
		want    string
	}{
		"secret":   {s(`printf '100%s\n' "$PW" > /x`).Mark(resources.Sensitive), `30 2 * * * root /bin/sh%printf '100\%s\n' "$PW" > /x` + "\n"},
		"variable": {s(`printf '100%s\n' "$PW" > /x`), `30 2 * * * root printf '100\%s\\n' "$PW" > /x` + "\n"},
	} {
		st, err := Task{}.Desired(cfg(base(map[string]cty.Value{"command": tc.command})), nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(st.Content.Data); !strings.HasSuffix(got, "\n"+tc.want) {
			t.Errorf("%s: the cron file is\n%s\nwant it to end with\n%s", name, got, tc.want)
		}
	}
}

func TestAbsent(t *testing.T) {
	st, err := Task{}.Desired(cfg(map[string]cty.Value{"name": s("old"), "state": s("absent"), "kind": s("systemd_timer")}), nil)
	if err != nil || st.Present || st.Content != nil || st.Str("path") != "/etc/systemd/system/tend-old.timer" {
		t.Errorf("absent: %+v, %v", st, err)
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// TestRead: states from probe outputs as the fragments print them.
func TestRead(t *testing.T) {
	cron := cfg(base(nil))
	timer := cfg(base(map[string]cty.Value{"kind": s("systemd_timer")}))
	tests := map[string]struct {
		cfg     cty.Value
		out     map[string]string
		present bool
		attrs   map[string]string
		content string
		err     string
	}{
		"cron absent":              {cfg: cron, out: map[string]string{"absent": "1"}},
		"no cron.d":                {cfg: cron, out: map[string]string{"absent": "1", "nocrond": "1"}, err: "this host has no /etc/cron.d: install cron"},
		"no cron.d, absent wanted": {cfg: cfg(map[string]cty.Value{"name": s("backup"), "state": s("absent")}), out: map[string]string{"absent": "1", "nocrond": "1"}},
		"cron present":             {cfg: cron, out: map[string]string{"mode": "644", "owner": "root", "content": b64("x\n")}, present: true, attrs: map[string]string{"mode": "0644", "owner": "root"}, content: "x\n"},
		"cron empty":               {cfg: cron, out: map[string]string{"mode": "600", "owner": "ops", "content": ""}, present: true, attrs: map[string]string{"mode": "0600", "owner": "ops"}, content: ""},
		"cron owned by no account": {cfg: cron, out: map[string]string{"mode": "644", "owner": "UNKNOWN", "uid": "4242", "content": b64("x\n")}, present: true, attrs: map[string]string{"mode": "0644", "owner": "4242"}, content: "x\n"},
		"timer absent":             {cfg: timer, out: map[string]string{"UnitFileState": "", "ActiveState": "inactive"}},
		"timer no sd":              {cfg: timer, out: map[string]string{"nosystemd": "1"}, err: "needs systemd, which does not run on this host"},
		"timer present":            {cfg: timer, out: map[string]string{"service": b64("S\n"), "timer": b64("T\n"), "UnitFileState": "enabled", "ActiveState": "active"}, present: true, attrs: map[string]string{"files": "service,timer"}, content: "### /etc/systemd/system/tend-backup.service\nS\n### /etc/systemd/system/tend-backup.timer\nT\n"},
		"timer half":               {cfg: timer, out: map[string]string{"timer": b64("T\n"), "UnitFileState": "disabled", "ActiveState": "inactive"}, present: true, attrs: map[string]string{"files": "timer"}, content: "### /etc/systemd/system/tend-backup.service\n### (missing)\n### /etc/systemd/system/tend-backup.timer\nT\n"},
		"probe error":              {cfg: cron, out: map[string]string{}, err: "boom"},
	}
	for name, tc := range tests {
		st, err := Task{}.Read(tc.cfg, resources.ProbeOutput{Values: tc.out, Other: "boom\n"})
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err = %v, want %q", name, err, tc.err)
			}
			// The caller names the resource (scheduled_task.backup: ...).
			if err != nil && strings.HasPrefix(err.Error(), "scheduled_task") {
				t.Errorf("%s: err %q names the resource again", name, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if st.Present != tc.present {
			t.Errorf("%s: present = %v", name, st.Present)
		}
		for k, v := range tc.attrs {
			if st.Str(k) != v {
				t.Errorf("%s: %s = %q, want %q", name, k, st.Str(k), v)
			}
		}
		if tc.present && string(st.Content.Data) != tc.content {
			t.Errorf("%s: content %q, want %q", name, st.Content.Data, tc.content)
		}
	}
}
