package builtin_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/resources/account"
	"github.com/tendhq/tend/resources/builtin"
	"github.com/tendhq/tend/resources/pkg"
	"github.com/tendhq/tend/resources/registry"
	"github.com/tendhq/tend/resources/resourcetest"
	"github.com/tendhq/tend/resources/schedule"
	"github.com/tendhq/tend/resources/service"
	"github.com/tendhq/tend/transport"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/windows")

// recorder is a transport that records the scripts it is given and
// answers them with reply (nil: exit 0, no output).
type recorder struct {
	mu      sync.Mutex
	scripts []string
	stdins  [][]byte
	reply   func(script string) *transport.Result
}

func (r *recorder) Run(ctx context.Context, cmd transport.Command) (*transport.Result, error) {
	in, _ := io.ReadAll(cmd.Stdin)
	r.mu.Lock()
	r.scripts = append(r.scripts, cmd.Script)
	r.stdins = append(r.stdins, in)
	r.mu.Unlock()
	if r.reply != nil {
		if res := r.reply(cmd.Script); res != nil {
			return res, nil
		}
	}
	return &transport.Result{}, nil
}
func (r *recorder) Close() error { return nil }

const secret = "Winter-2026!pässwörd"

// windowsCases are realistic Windows Server 2022 states (the probe
// values the Windows providers' fragments would report) and what tend
// makes of them.
var windowsCases = map[string]struct {
	typ     resources.Type
	cfg     map[string]cty.Value
	values  map[string]string
	act     plan.Action
	changed []string
	reply   string // stdout of the apply script
	undo    resources.Undo
}{
	"file_create": {
		typ:    resources.File{},
		cfg:    map[string]cty.Value{"path": cty.StringVal(`C:\ProgramData\Contoso\app.conf`), "content": cty.StringVal("listen = 8080\r\n"), "owner": cty.StringVal("BUILTIN\\Administrators")},
		values: map[string]string{"type": "absent"},
		act:    plan.Create,
	},
	"file_noop_owner_by_sid": {
		typ: resources.File{},
		cfg: map[string]cty.Value{"path": cty.StringVal(`C:\ProgramData\Contoso\app.conf`), "content": cty.StringVal("listen = 8080\r\n"), "owner": cty.StringVal("Administrators")},
		values: map[string]string{"type": "file", "size": "15", "owner": `BUILTIN\Administrators`, "owner_sid": "S-1-5-32-544", "want_owner_sid": "S-1-5-32-544",
			"sha256": "f37c6e2fbff0441017bd01bb7d47e00e4d9303db26e0b865a529e56d8a77bfb1"},
		act: plan.NoOp,
	},
	"file_update_content": {
		typ: resources.File{},
		cfg: map[string]cty.Value{"path": cty.StringVal(`C:\ProgramData\Contoso\app.conf`), "content": cty.StringVal("listen = 8080\r\n")},
		values: map[string]string{"type": "file", "size": "15", "owner": `NT AUTHORITY\SYSTEM`, "owner_sid": "S-1-5-18",
			"sha256": "0000000000000000000000000000000000000000000000000000000000000000", "content": "bGlzdGVuID0gODA4MA0K"},
		act: plan.Update, changed: []string{"content"},
	},
	"directory_create": {
		typ:    resources.Directory{},
		cfg:    map[string]cty.Value{"path": cty.StringVal(`C:\ProgramData\Contoso`), "owner": cty.StringVal(`BUILTIN\Administrators`)},
		values: map[string]string{"type": "absent"},
		act:    plan.Create,
	},
	"package_msi_install_reboot": {
		typ:    pkg.Package{},
		cfg:    map[string]cty.Value{"name": cty.StringVal("7zip"), "product_code": cty.StringVal("{23170F69-40C1-2702-2301-000001000000}"), "source": cty.StringVal(`\\fs01\packages\7z2301-x64.msi`)},
		values: map[string]string{"installed": "false"},
		act:    plan.Create,
		reply:  "reboot_required",
		undo:   resources.Undo{"reboot_required": "true"},
	},
	"package_msi_present": {
		typ:    pkg.Package{},
		cfg:    map[string]cty.Value{"name": cty.StringVal("7zip"), "product_code": cty.StringVal("{23170f69-40c1-2702-2301-000001000000}"), "source": cty.StringVal(`\\fs01\packages\7z2301-x64.msi`)},
		values: map[string]string{"installed": "true", "version": "23.01.00.0", "display_name": "7-Zip 23.01 (x64 edition)"},
		act:    plan.NoOp,
	},
	"package_choco_version": {
		typ:     pkg.Package{},
		cfg:     map[string]cty.Value{"name": cty.StringVal("git"), "provider": cty.StringVal("chocolatey"), "version": cty.StringVal("2.43.0")},
		values:  map[string]string{"choco": "true", "installed": "true", "version": "2.42.0"},
		act:     plan.Update,
		changed: []string{"version"},
	},
	// Chocolatey's answers are written from its documentation (choco
	// search --exact --limit-output prints "id|version" per source that
	// offers the package), not recorded from a real Chocolatey.
	"package_choco_latest_upgrade_reboot": {
		typ: pkg.Package{},
		cfg: map[string]cty.Value{"name": cty.StringVal("git"), "state": cty.StringVal("latest")},
		values: map[string]string{"choco": "true", "installed": "true", "version": "2.42.0", "pinned": "false",
			"search.rc": "0", "search.1": "git|2.43.0", "search.2": "git|2.47.1"},
		act:     plan.Update,
		changed: []string{"version"},
		reply:   "reboot_required",
		undo:    resources.Undo{"reboot_required": "true"},
	},
	"package_choco_latest_install": {
		typ:    pkg.Package{},
		cfg:    map[string]cty.Value{"name": cty.StringVal("git"), "state": cty.StringVal("latest")},
		values: map[string]string{"choco": "true", "installed": "false", "search.rc": "0", "search.1": "git|2.47.1"},
		act:    plan.Create,
	},
	"package_choco_latest_current": {
		typ: pkg.Package{},
		cfg: map[string]cty.Value{"name": cty.StringVal("git"), "state": cty.StringVal("latest")},
		values: map[string]string{"choco": "true", "installed": "true", "version": "2.47.1.0", "pinned": "true",
			"search.rc": "0", "search.1": "git|2.47.1"},
		act: plan.NoOp,
	},
	"service_mode_account": {
		typ: service.Service{},
		cfg: map[string]cty.Value{"name": cty.StringVal("W3SVC"), "running": cty.True, "start_mode": cty.StringVal("delayed"),
			"logon_account": cty.StringVal(`.\svc_web`), "logon_password": cty.StringVal(secret).Mark(resources.Sensitive)},
		values:  map[string]string{"present": "true", "running": "false", "start": "3", "delayed": "0", "logon_account": "LocalSystem"},
		act:     plan.Update,
		changed: []string{"logon_account", "logon_password", "running", "start_mode"},
	},
	"service_password_on_create_noop": {
		typ: service.Service{},
		cfg: map[string]cty.Value{"name": cty.StringVal("W3SVC"), "running": cty.True, "enabled": cty.True,
			"logon_account": cty.StringVal(`.\svc_web`), "logon_password": cty.StringVal(secret).Mark(resources.Sensitive)},
		values: map[string]string{"present": "true", "running": "true", "start": "2", "delayed": "1", "logon_account": `.\svc_web`},
		act:    plan.NoOp,
	},
	"service_password_always": {
		typ: service.Service{},
		cfg: map[string]cty.Value{"name": cty.StringVal("W3SVC"), "logon_account": cty.StringVal(`.\svc_web`),
			"logon_password": cty.StringVal(secret).Mark(resources.Sensitive), "update_password": cty.StringVal("always")},
		values:  map[string]string{"present": "true", "running": "true", "start": "2", "delayed": "0", "logon_account": `.\svc_web`},
		act:     plan.Update,
		changed: []string{"logon_password"},
	},
	"scheduled_task_create": {
		typ:    schedule.Task{},
		cfg:    map[string]cty.Value{"name": cty.StringVal("backup"), "schedule": cty.StringVal("30 2 * * 1-5"), "command": cty.StringVal(`C:\Tools\backup.exe`), "arguments": cty.StringVal(`--target "D:\Backups"`)},
		values: map[string]string{"present": "false"},
		act:    plan.Create,
	},
	"scheduled_task_update": {
		typ: schedule.Task{},
		cfg: map[string]cty.Value{"name": cty.StringVal("backup"), "schedule": cty.StringVal("30 2 * * *"), "command": cty.StringVal(`C:\Tools\backup.cmd`)},
		values: map[string]string{"present": "true", "actions": "1", "execute": "cmd.exe", "arguments": `/c C:\Tools\backup.cmd`,
			"user": "SYSTEM", "triggers": "1", "trigger": "daily 03:00"},
		act: plan.Update, changed: []string{"trigger"},
		reply: `<?xml version="1.0" encoding="UTF-16"?><Task version="1.4" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task"><Triggers><CalendarTrigger><StartBoundary>2026-01-01T03:00:00</StartBoundary><ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay></CalendarTrigger></Triggers></Task>`,
	},
	"user_create": {
		typ: account.User{},
		cfg: map[string]cty.Value{"name": cty.StringVal("svc_web"), "comment": cty.StringVal("IIS app pool"), "groups": cty.ListVal([]cty.Value{cty.StringVal("IIS_IUSRS")}),
			"password": cty.StringVal(secret).Mark(resources.Sensitive)},
		values: map[string]string{"present": "false"},
		act:    plan.Create,
	},
	"user_noop_password_on_create": {
		typ: account.User{},
		cfg: map[string]cty.Value{"name": cty.StringVal("svc_web"), "groups": cty.ListVal([]cty.Value{cty.StringVal("IIS_IUSRS")}),
			"password": cty.StringVal(secret).Mark(resources.Sensitive)},
		values: map[string]string{"present": "true", "comment": "IIS app pool", "sid": "S-1-5-21-3623811015-3361044348-30300820-1013", "groups": `["IIS_IUSRS","Users"]`},
		act:    plan.NoOp,
	},
	"user_groups_exclusive": {
		typ:    account.User{},
		cfg:    map[string]cty.Value{"name": cty.StringVal("svc_web"), "groups": cty.ListVal([]cty.Value{cty.StringVal("IIS_IUSRS")}), "groups_exclusive": cty.True},
		values: map[string]string{"present": "true", "comment": "", "sid": "S-1-5-21-3623811015-3361044348-30300820-1013", "groups": `["IIS_IUSRS","Users"]`},
		act:    plan.Update, changed: []string{"groups"},
	},
	"group_members": {
		typ:     account.Group{},
		cfg:     map[string]cty.Value{"name": cty.StringVal("Remote Desktop Users"), "members": cty.ListVal([]cty.Value{cty.StringVal(`CORP\ops`), cty.StringVal("svc_web")})},
		values:  map[string]string{"present": "true", "sid": "S-1-5-32-555", "members": `["CORP\\ops","olduser"]`},
		act:     plan.Update,
		changed: []string{"members"},
	},
	"registry_dword_create": {
		typ:    registry.Value{},
		cfg:    map[string]cty.Value{"hive": cty.StringVal("HKLM"), "key": cty.StringVal(`SOFTWARE\Policies\Microsoft\Windows NT\Terminal Services`), "name": cty.StringVal("fDenyTSConnections"), "type": cty.StringVal("dword"), "data": cty.NumberIntVal(4294967295)},
		values: map[string]string{"present": "false"},
		act:    plan.Create,
	},
	"registry_multi_string_noop": {
		typ:    registry.Value{},
		cfg:    map[string]cty.Value{"hive": cty.StringVal("HKLM"), "key": cty.StringVal(`SYSTEM\CurrentControlSet\Services\LanmanServer\Parameters`), "name": cty.StringVal("NullSessionPipes"), "type": cty.StringVal("multi_string"), "data": cty.TupleVal([]cty.Value{cty.StringVal("netlogon"), cty.StringVal("lsarpc")}), "view": cty.StringVal("64")},
		values: map[string]string{"present": "true", "kind": "MultiString", "data": `["netlogon","lsarpc"]`},
		act:    plan.NoOp,
	},
	"registry_string_32bit_update": {
		typ:     registry.Value{},
		cfg:     map[string]cty.Value{"hive": cty.StringVal("HKLM"), "key": cty.StringVal(`SOFTWARE\Contoso\Agent`), "name": cty.StringVal("Server"), "data": cty.StringVal("agent.corp.example"), "view": cty.StringVal("32")},
		values:  map[string]string{"present": "true", "kind": "ExpandString", "data": "%COMPUTERNAME%.corp.example"},
		act:     plan.Update,
		changed: []string{"data", "type"},
	},
}

// TestWindowsProviders runs each Windows provider through desired, probe
// (golden), read (fixture), diff, apply and revert (golden), with no
// Windows: the scripts are pinned, the states come from the fixtures.
func TestWindowsProviders(t *testing.T) {
	for name, c := range windowsCases {
		t.Run(name, func(t *testing.T) {
			typ := resources.OnHost(c.typ, true)
			if !resources.IsWindows(typ) {
				t.Fatal("not a Windows provider")
			}
			cfg := resourcetest.Object(c.typ, c.cfg)
			if err := resources.CheckOS(typ, cfg, true); err != nil {
				t.Fatal(err)
			}
			if _, err := typ.Key(cfg); err != nil {
				t.Fatal(err)
			}
			want, err := typ.Desired(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			var golden strings.Builder
			golden.WriteString("# probe\n" + typ.Probe(cfg, want))
			cur, err := typ.Read(cfg, resources.ProbeOutput{Values: c.values})
			if err != nil {
				t.Fatal(err)
			}
			if rs, ok := typ.(resources.Resolver); ok {
				if want, err = rs.Resolve(cfg, cur, want); err != nil {
					t.Fatal(err)
				}
			}
			act, changed := plan.Diff(cur, want)
			if act != c.act || !cmp.Equal(changed, c.changed) {
				t.Fatalf("diff = %s %v, want %s %v\nbefore %#v\nafter %#v", act, changed, c.act, c.changed, cur.Attrs, want.Attrs)
			}
			if act != plan.NoOp {
				rec := &recorder{reply: func(string) *transport.Result { return &transport.Result{Stdout: []byte(c.reply)} }}
				h := &resources.Host{Name: "win1", T: rec, RunID: "RUN-ID", BackupDir: `C:\ProgramData\tend\backup\RUN-ID`}
				undo, err := typ.Apply(context.Background(), h, cur, want)
				if err != nil {
					t.Fatal(err)
				}
				if c.undo != nil && !cmp.Equal(undo, c.undo) {
					t.Errorf("undo = %v, want %v", undo, c.undo)
				}
				if err := typ.Revert(context.Background(), h, cur, want, undo); err != nil {
					golden.WriteString("# revert refused: " + err.Error() + "\n")
				}
				if ir, ok := typ.(resources.Irreversibler); ok {
					if why := ir.Irreversible(cur, want); why != "" {
						golden.WriteString("# irreversible: " + why + "\n")
					}
				}
				for i, s := range rec.scripts {
					step := "apply"
					if i > 0 {
						step = "revert"
					}
					fmt.Fprintf(&golden, "# %s (stdin: %d bytes)\n%s", step, len(rec.stdins[i]), s)
					if bytes.Contains(rec.stdins[i], []byte(secret)) && !strings.Contains(s, "Read-TendStdinText") {
						t.Errorf("the password is on stdin but the script does not read it")
					}
				}
			}
			got := golden.String()
			if strings.Contains(got, secret) {
				t.Fatalf("the password is in a script:\n%s", got)
			}
			checkGolden(t, filepath.Join("testdata", "windows", name+".ps1"), got)
		})
	}
}

func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if d := cmp.Diff(string(want), got); d != "" {
		t.Errorf("%s differs (-golden +got; go test -update rewrites it):\n%s", path, d)
	}
}

// TestWindowsAttributeChecks: attributes of the other OS are refused
// with the attribute named, and every built-in type either has a Windows
// provider or says so.
func TestWindowsAttributeChecks(t *testing.T) {
	cases := []struct {
		typ     resources.Type
		cfg     map[string]cty.Value
		windows bool
		attr    string
	}{
		{resources.File{}, map[string]cty.Value{"path": cty.StringVal(`C:\x`), "mode": cty.StringVal("0644")}, true, "mode"},
		{service.Service{}, map[string]cty.Value{"name": cty.StringVal("nginx"), "start_mode": cty.StringVal("auto")}, false, "start_mode"},
		{registry.Value{}, map[string]cty.Value{"hive": cty.StringVal("HKLM"), "key": cty.StringVal("SOFTWARE")}, false, "hive"},
		{schedule.Task{}, map[string]cty.Value{"name": cty.StringVal("b"), "kind": cty.StringVal("cron")}, true, "kind"},
	}
	for _, c := range cases {
		err := resources.CheckOS(c.typ, resourcetest.Object(c.typ, c.cfg), c.windows)
		var ae *resources.AttrError
		if err == nil || !errorsAs(err, &ae) || ae.Attr != c.attr {
			t.Errorf("%s on windows=%v: got %v, want an error at %s", c.typ.Name(), c.windows, err, c.attr)
		}
	}
	_, err := resources.OnHost(resources.Symlink{}, true).Desired(resourcetest.Object(resources.Symlink{}, nil), nil)
	if err == nil || !strings.Contains(err.Error(), "no Windows provider") {
		t.Errorf("symlink on Windows: %v", err)
	}
	var with []string
	for _, typ := range builtin.Types() {
		if _, ok := typ.(resources.Windows); ok {
			with = append(with, typ.Name())
		}
	}
	if d := cmp.Diff([]string{"file", "directory", "package", "service", "scheduled_task", "user", "group", "registry_value"}, with); d != "" {
		t.Errorf("types with a Windows provider (-want +got):\n%s", d)
	}
}

func errorsAs(err error, ae **resources.AttrError) bool {
	e, ok := err.(*resources.AttrError)
	if ok {
		*ae = e
	}
	return ok
}
