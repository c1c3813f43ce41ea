package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tendhq/tend/integration/lab"
	"github.com/tendhq/tend/journal"
	"github.com/tendhq/tend/transport/winrm/winrmtest"
)

// mixedConfig is ONE role for a mixed fleet: each resource is the same
// declaration on every host, with per-OS values from inventory vars
// (known before facts, so every host still probes in one round trip).
const mixedConfig = `
role "baseline" {
  hosts = "all"

  file "motd" {
    path    = lookup(host.vars, "motd_path", "/etc/motd")
    content = "Managed by tend. Hands off ${host.name}.\n"
  }

  package "tool" {
    name = lookup(host.vars, "tool_package", "procps")
  }

  service "scheduler" {
    name    = lookup(host.vars, "scheduler_service", "cron")
    running = true
  }

  scheduled_task "cleanup" {
    schedule = "15 3 * * *"
    command  = lookup(host.vars, "cleanup_command", "/usr/bin/find /tmp -mtime +7 -delete")
  }
}
`

// windowsHost is the Windows Server 2022 host of the mixed fleet, as the
// fixture says it would answer: none of the role's file, package and task
// there yet, the Spooler service stopped.
const windowsHost = `{
  "facts": {"os_id": "windows", "os_version": "10.0.20348", "os_pretty": "Microsoft Windows Server 2022 Standard", "kernel": "windows",
            "arch": "AMD64", "hostname": "WIN-LAB01", "cpus": "2", "memory_kb": "4193848", "init": "windows", "pkg": "chocolatey",
            "user": "WIN-LAB01\\Administrator", "admin": "true", "home": "C:\\Users\\Administrator", "backup_dir": "C:\\ProgramData\\tend\\backup"},
  "resources": [
    {"match": "$p = 'C:\\ProgramData\\tend-motd.txt'",
     "before": {"type": "absent"},
     "after": {"type": "file", "size": "39", "owner": "BUILTIN\\Administrators", "owner_sid": "S-1-5-32-544", "sha256": "SHA"}},
    {"match": "$n = '7zip'",
     "before": {"choco": "true", "installed": "false"},
     "after": {"choco": "true", "installed": "true", "version": "23.1.0"}},
    {"match": "$n = 'Spooler'",
     "before": {"present": "true", "running": "false", "start": "3", "delayed": "0", "logon_account": "LocalSystem"},
     "after": {"present": "true", "running": "true", "start": "3", "delayed": "0", "logon_account": "LocalSystem"}},
    {"match": "$n = 'cleanup'",
     "before": {"present": "false"},
     "after": {"present": "true", "actions": "1", "execute": "cmd.exe", "arguments": "/c forfiles /p C:\\Temp /d -7 /c \"cmd /c del @path\"",
               "user": "SYSTEM", "triggers": "1", "trigger": "daily 03:15"}}
  ]
}`

// TestMixedFleet: lab Linux hosts (real Debian over SSH) and a Windows
// host (wsmantest over HTTPS, NTLM, certificate checked against the
// inventory's CA file, from an Ansible INI inventory with
// ansible_connection=winrm) in one inventory; one role with file,
// package, service and scheduled_task plans each resource with the
// provider of its host's OS, applies, and plans clean again.
func TestMixedFleet(t *testing.T) {
	l := lab.StartT(t, lab.Options{Hosts: 2})
	dir := t.TempDir()
	if err := l.WriteInventory(filepath.Join(dir, "inventory.hcl")); err != nil {
		t.Fatal(err)
	}

	var fx winrmtest.Fixture
	content := "Managed by tend. Hands off win1.\n"
	fixture := strings.ReplaceAll(windowsHost, `"SHA"`, fmt.Sprintf("%q", sha256hex(content)))
	fixture = strings.ReplaceAll(fixture, `"size": "39"`, fmt.Sprintf(`"size": "%d"`, len(content)))
	if err := json.Unmarshal([]byte(fixture), &fx); err != nil {
		t.Fatal(err)
	}
	const pw = "Adm1n-Secret-Mixed!"
	win, caPEM := winrmtest.StartTLS(t, "Administrator", pw, fx.Responder())
	write(t, filepath.Join(dir, "ca.pem"), string(caPEM))
	write(t, filepath.Join(dir, "windows.ini"), fmt.Sprintf(`[windows]
win1 ansible_host=127.0.0.1 ansible_port=%s

[windows:vars]
ansible_connection=winrm
ansible_winrm_scheme=https
ansible_winrm_transport=ntlm
ansible_winrm_ca_trust_path=%s
ansible_user=WIN-LAB01\Administrator
ansible_password=%s
motd_path=C:\ProgramData\tend-motd.txt
tool_package=7zip
scheduler_service=Spooler
cleanup_command=forfiles /p C:\Temp /d -7 /c "cmd /c del @path"
`, win.Port(), filepath.Join(dir, "ca.pem"), pw))
	write(t, filepath.Join(dir, "main.hcl"), mixedConfig)
	inv := []string{"-i", filepath.Join(dir, "inventory.hcl"), "-i", filepath.Join(dir, "windows.ini")}

	out, errOut, code := tend(t, append([]string{"plan", "-C", dir, "-json-document"}, inv...)...)
	if code != 0 {
		t.Fatalf("plan -json-document: exit %d\n%s", code, errOut)
	}
	var p struct {
		Hosts []struct {
			Name    string
			Error   string
			Changes []struct {
				Address, Action string
				After           struct {
					Attrs map[string]any
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// What each host's plan says about its providers.
	got := map[string]map[string]string{}
	for _, h := range p.Hosts {
		if h.Error != "" {
			t.Fatalf("%s: %s", h.Name, h.Error)
		}
		got[h.Name] = map[string]string{}
		for _, c := range h.Changes {
			a := map[string]any{}
			for k, v := range c.After.Attrs {
				if m, ok := v.(map[string]any); ok {
					a[k] = m["value"]
				}
			}
			var what string
			switch c.Address {
			case "file.motd":
				what = fmt.Sprint(a["path"])
			case "package.tool":
				what = fmt.Sprint(a["name"], " ", a["provider"])
			case "service.scheduler":
				what = fmt.Sprint(a["name"])
			case "scheduled_task.cleanup":
				if tr, ok := a["trigger"]; ok {
					what = fmt.Sprint("Task Scheduler ", tr)
				} else {
					what = fmt.Sprint(a["kind"], " ", a["path"])
				}
			}
			got[h.Name][c.Address] = c.Action + ": " + what
		}
	}
	linux := func(motd string) map[string]string {
		return map[string]string{
			"file.motd":              motd + ": /etc/motd",
			"package.tool":           "no-op: procps <nil>",
			"service.scheduler":      "no-op: cron",
			"scheduled_task.cleanup": "create: cron /etc/cron.d/tend-cleanup",
		}
	}
	want := map[string]map[string]string{
		"win1": {
			"file.motd":              `create: C:\ProgramData\tend-motd.txt`,
			"package.tool":           "create: 7zip chocolatey",
			"service.scheduler":      "update: Spooler",
			"scheduled_task.cleanup": "create: Task Scheduler daily 03:15",
		},
	}
	for _, h := range l.Hosts {
		want[h.Name] = linux("update")
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("per-host plan (-want +got):\n%s", d)
	}
	if st := win.Stats(); st.ShellsCreated != 1 || st.Commands != 1 {
		t.Errorf("Windows host: %d shells, %d commands for the plan; want 1 and 1", st.ShellsCreated, st.Commands)
	}
	probe := win.Scripts()[0].Text
	for _, must := range []string{"Get-Service -Name", "Get-ScheduledTask -TaskPath", "chocolatey", "Get-FileHash", "tendSection 'facts'"} {
		if !strings.Contains(probe, must) {
			t.Errorf("the Windows probe script lacks %q", must)
		}
	}

	out, errOut, code = tend(t, append([]string{"apply", "-C", dir, "-y"}, inv...)...)
	if code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	for i, h := range l.Hosts {
		if got := read(t, filepath.Join(h.Root, "etc/motd")); got != "Managed by tend. Hands off "+h.Name+".\n" {
			t.Errorf("%s: /etc/motd = %q", h.Name, got)
		}
		if got := mustExec(t, l, i+1, "cat /etc/cron.d/tend-cleanup"); !strings.Contains(got, "15 3 * * *") {
			t.Errorf("%s: cron file:\n%s", h.Name, got)
		}
	}
	var changes []string
	for _, s := range win.Scripts() {
		if !winrmtest.IsProbe(s.Text) {
			first := strings.SplitN(strings.TrimPrefix(s.Text, "$ErrorActionPreference = 'Stop'\n$ProgressPreference = 'SilentlyContinue'\n"), "\n", 2)[0]
			changes = append(changes, first)
		}
	}
	if d := cmp.Diff([]string{`$p = 'C:\ProgramData\tend-motd.txt'`, "function tendCheck([string]$What, [int]$Code, [string]$Out) {", "$n = 'Spooler'", "$n = 'cleanup'"}, changes); d != "" {
		t.Errorf("change scripts on the Windows host (-want +got):\n%s", d)
	}
	run := lastRunOf(t, dir)
	for _, h := range run.Hosts {
		if h.Outcome != "success" {
			t.Errorf("%s: %s %s", h.Name, h.Outcome, h.Error)
		}
	}
	for what, text := range map[string]string{"apply stdout": out, "apply stderr": errOut, "journal": readDir(t, journal.Dir(dir))} {
		if strings.Contains(text, pw) {
			t.Errorf("the WinRM password is in the %s", what)
		}
	}

	// Second plan: every host clean (the Windows fixture now answers
	// with its after state).
	_, _, code = tend(t, append([]string{"plan", "-C", dir, "-detailed-exitcode"}, inv...)...)
	if code != 0 {
		t.Errorf("second plan: exit %d, want 0 (no changes anywhere)", code)
	}
}

func lastRunOf(t *testing.T, dir string) *journal.Run {
	t.Helper()
	runs, err := journal.List(dir)
	if err != nil || len(runs) == 0 {
		t.Fatalf("no journaled run: %v", err)
	}
	return runs[len(runs)-1]
}

func readDir(t *testing.T, dir string) string {
	t.Helper()
	var sb strings.Builder
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			b, _ := os.ReadFile(p)
			sb.Write(b)
		}
		return nil
	})
	return sb.String()
}

func sha256hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
