package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tendhq/tend/journal"
	"github.com/tendhq/tend/transport/winrm/winrmtest"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// The Windows host of these tests is simulated: a WS-Management server
// (wsmantest) speaking the real protocol to tend's WinRM transport, with
// tend's PowerShell bootstrap played in Go (winrmtest). The scripts tend
// sends are compared with golden files; what they would print on Windows
// Server 2022 comes from testdata/windows/host.json: per resource (found
// by a line of its probe fragment) the probe values before and after
// tend's change. No PowerShell runs.

const (
	winrmPassword = "WinRM-Pa55!ops"
	svcPassword   = "svc-web-Secret-4711"
)

func loadWindowsFixture(t *testing.T) *winrmtest.Fixture {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "windows", "host.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fx winrmtest.Fixture
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	return &fx
}

// windowsConfig is one role for Windows using file, package, service,
// scheduled_task and registry_value.
const windowsConfig = `
role "baseline" {
  hosts = "os:windows"

  file "app_conf" {
    path    = "C:\\ProgramData\\Contoso\\app.conf"
    content = "listen = 8080\r\n"
    owner   = "BUILTIN\\Administrators"
    notify  = [service.W3SVC]
  }

  package "sevenzip" {
    name         = "7zip"
    product_code = "{23170F69-40C1-2702-2301-000001000000}"
    source       = "\\\\fs01\\packages\\7z2301-x64.msi"
  }

  service "W3SVC" {
    running        = true
    start_mode     = "delayed"
    logon_account  = ".\\svc_web"
    logon_password = secret("env:TEND_TEST_SVC_PASSWORD")
  }

  scheduled_task "backup" {
    schedule  = "30 2 * * 1-5"
    command   = "C:\\Tools\\backup.exe"
    arguments = "--target D:\\Backups"
  }

  registry_value "rdp_off" {
    hive = "HKLM"
    key  = "SYSTEM\\CurrentControlSet\\Control\\Terminal Server"
    name = "fDenyTSConnections"
    type = "dword"
    data = 1
  }
}
`

func windowsInventory(port string) string {
	return fmt.Sprintf(`host "win1" {
  address   = "127.0.0.1"
  port      = %s
  transport = "winrm"
  winrm {
    auth          = "ntlm"
    user          = "WIN-APP01\\ops"
    password      = secret("env:TEND_TEST_WINRM_PASSWORD")
  }
}
`, port)
}

// TestWindowsPlanApply: plan and apply against a simulated Windows
// Server 2022 host. The plan runs ONE shell and ONE command for facts
// and every probe (counted by the server); the scripts tend sends match
// the golden files; the fixture's answers give the expected plan; apply
// changes each resource with one script, verifies with one more probe,
// and no password appears in any output, journal or golden file.
func TestWindowsPlanApply(t *testing.T) {
	t.Setenv("TEND_TEST_WINRM_PASSWORD", winrmPassword)
	t.Setenv("TEND_TEST_SVC_PASSWORD", svcPassword)
	fx0 := loadWindowsFixture(t)
	respond0, rollingBack := restoredByRollback(fx0, fx0.Responder())
	host := winrmtest.Start(t, "ops", winrmPassword, respond0)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"main.hcl": windowsConfig, "inventory.hcl": windowsInventory(host.Port())})

	out, errOut, code := tend(t, "plan", "-C", dir, "-detailed-exitcode")
	if code != 2 {
		t.Fatalf("plan exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	st := host.Stats()
	if st.ShellsCreated != 1 || st.Commands != 1 {
		t.Errorf("plan: %d shells, %d commands; want 1 and 1 (facts and every probe in one script)", st.ShellsCreated, st.Commands)
	}
	// Plain HTTP to a listener configured as Windows is by default
	// (AllowUnencrypted false): every message encrypted with the NTLM
	// session, none refused, nothing to warn about.
	if st.Encrypted == 0 || st.Refused != 0 {
		t.Errorf("plan: %d requests decrypted, %d refused by the host", st.Encrypted, st.Refused)
	}
	if strings.Contains(errOut, "warning") {
		t.Errorf("a warning on stderr:\n%s", errOut)
	}
	scripts := host.Scripts()
	if len(scripts) != 1 || !winrmtest.IsProbe(scripts[0].Text) {
		t.Fatalf("plan sent %d scripts, want one probe script", len(scripts))
	}
	golden(t, "windows/plan-probe.ps1", scripts[0].Text)
	golden(t, "windows/plan.txt", out)

	out2, errOut2, code := tend(t, "apply", "-C", dir, "-y")
	if code != 0 {
		t.Fatalf("apply exit %d\nstdout:\n%s\nstderr:\n%s", code, out2, errOut2)
	}
	if st := host.Stats(); st.ShellsCreated != 2 {
		t.Errorf("apply opened %d shells, want 1 (one per run)", st.ShellsCreated-1)
	}
	run := lastRun(t, dir)
	applied := host.Scripts()[1:]
	// A probe, a script per change (5), the service's refresh (notified
	// by the file), the verifying probe.
	if len(applied) != 8 || !winrmtest.IsProbe(applied[0].Text) || !winrmtest.IsProbe(applied[7].Text) {
		t.Fatalf("apply sent %d scripts, want probe + 5 changes + refresh + verify", len(applied))
	}
	var all strings.Builder
	pwOnStdin := false
	for i, s := range applied[1:7] {
		fmt.Fprintf(&all, "# script %d (stdin: %d bytes)\n%s", i+1, len(s.Stdin), winrmtest.Normalize(s.Text, run.ID))
		if strings.Contains(string(s.Stdin), svcPassword) {
			pwOnStdin = true
		}
	}
	golden(t, "windows/apply-changes.ps1", all.String())
	golden(t, "windows/apply-verify.ps1", applied[7].Text)
	if !pwOnStdin {
		t.Error("the service password never reached the host on stdin")
	}
	for _, s := range host.Scripts() {
		for _, pw := range []string{winrmPassword, svcPassword} {
			if strings.Contains(s.Text, pw) {
				t.Errorf("a password is in a script's text:\n%s", s.Text)
			}
		}
	}
	for _, pw := range []string{winrmPassword, svcPassword} {
		for what, text := range map[string]string{"plan stdout": out, "plan stderr": errOut, "apply stdout": out2, "apply stderr": errOut2} {
			if strings.Contains(text, pw) {
				t.Errorf("a password is in the %s", what)
			}
		}
		filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				if b, _ := os.ReadFile(p); strings.Contains(string(b), pw) {
					t.Errorf("a password is in %s", p)
				}
			}
			return nil
		})
		filepath.Walk("testdata/windows", func(p string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				if b, _ := os.ReadFile(p); strings.Contains(string(b), pw) {
					t.Errorf("a password is in golden file %s", p)
				}
			}
			return nil
		})
	}
	a := journal.Applied
	if d := cmp.Diff(map[string]journal.Status{"file.app_conf": a, "package.sevenzip": a, "service.W3SVC": a,
		"scheduled_task.backup": a, "registry_value.rdp_off": a}, statuses(run)); d != "" {
		t.Errorf("journal (-want +got):\n%s", d)
	}

	// tend rollback RUN-ID reverts the run from the journal alone, with
	// the Windows providers' revert scripts, newest change first.
	before := len(host.Scripts())
	rollingBack()
	out3, errOut3, code := tend(t, "rollback", "-C", dir, "-y", run.ID)
	if code != 0 {
		t.Fatalf("rollback exit %d\nstdout:\n%s\nstderr:\n%s", code, out3, errOut3)
	}
	var reverts strings.Builder
	i := 0
	for _, s := range host.Scripts()[before:] {
		if winrmtest.IsProbe(s.Text) {
			continue // the reads before and after the reverts
		}
		i++
		fmt.Fprintf(&reverts, "# revert %d (stdin: %d bytes)\n%s", i, len(s.Stdin), winrmtest.Normalize(s.Text, run.ID))
	}
	golden(t, "windows/rollback.ps1", reverts.String())
	if strings.Contains(out3+errOut3, svcPassword) || strings.Contains(reverts.String(), svcPassword) {
		t.Error("a password is in the rollback's output or scripts")
	}

	// tend facts: the Windows host's facts, from the facts section alone.
	out4, _, code := tend(t, "facts", "-C", dir, "win1")
	var facts map[string]struct {
		Facts struct {
			OS   struct{ Family, Version string }
			Arch string
		}
	}
	if err := json.Unmarshal([]byte(out4), &facts); code != 0 || err != nil {
		t.Fatalf("facts: exit %d, %v\n%s", code, err, out4)
	}
	if f := facts["win1"].Facts; f.OS.Family != "windows" || f.OS.Version != "10.0.20348" || f.Arch != "x86_64" {
		t.Errorf("facts = %+v", f)
	}
}

// TestWindowsOnlyAttributes: tend validate refuses, with the position,
// an attribute of the other OS.
func TestWindowsOnlyAttributes(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"main.hcl": `
service "cron" {
  running    = true
  start_mode = "delayed"
}
`})
	_, errOut, code := tend(t, "validate", "-C", dir)
	if code != 1 || !strings.Contains(errOut, "applies only to Windows hosts") || !strings.Contains(errOut, "main.hcl:4") {
		t.Errorf("validate: exit %d\n%s", code, errOut)
	}
	t.Setenv("TEND_TEST_WINRM_PASSWORD", winrmPassword)
	writeFiles(t, dir, map[string]string{"main.hcl": `
symlink "current" {
  path   = "C:\\app\\current"
  target = "C:\\app\\v2"
}
file "conf" {
  path = "C:\\app\\app.conf"
  mode = "0644"
}
`, "inventory.hcl": windowsInventory("5985")})
	_, errOut, code = tend(t, "validate", "-C", dir)
	if code != 1 || !strings.Contains(errOut, "symlink has no Windows provider") || !strings.Contains(errOut, "has no meaning on Windows hosts") || !strings.Contains(errOut, "main.hcl:8") {
		t.Errorf("validate: exit %d\n%s", code, errOut)
	}
}

// golden compares got with testdata/NAME, rewriting it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", filepath.FromSlash(name))
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
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if d := cmp.Diff(string(want), got); d != "" {
		t.Errorf("%s differs (-golden +got; go test -update rewrites it):\n%s", path, d)
	}
}

// TestWindowsRollback: a change fails on the Windows host (its error
// comes back as PowerShell's CLIXML and is shown as text); the changes
// made before it are reverted, newest first, each with its own revert
// script; a 1 MB file content travels on stdin (no command-line limit).
func TestWindowsRollback(t *testing.T) {
	t.Setenv("TEND_TEST_WINRM_PASSWORD", winrmPassword)
	t.Setenv("TEND_TEST_SVC_PASSWORD", svcPassword)
	fx := loadWindowsFixture(t)
	big := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
	fx.Resources = append(fx.Resources, fx.Resources[0])
	fx.Resources[len(fx.Resources)-1].Match = `$p = 'C:\ProgramData\Contoso\big.txt'`
	fixture := fx.Responder()
	respond := func(s winrmtest.Script) winrmtest.Answer {
		if !winrmtest.IsProbe(s.Text) && strings.Contains(s.Text, "$n = 'W3SVC'") && strings.Contains(s.Text, "Invoke-CimMethod") {
			return winrmtest.Answer{Status: 1, Stderr: "#< CLIXML\r\n<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\">" +
				"<S S=\"Error\">Win32_Service.Change failed with return value 22 (see Change method of the Win32_Service class)_x000D__x000A_</S>" +
				"<S S=\"Error\">At line:7 char:69_x000D__x000A_</S></Objs>"}
		}
		return fixture(s)
	}
	respond, _ = restoredByRollback(fx, respond)
	host := winrmtest.Start(t, "ops", winrmPassword, respond)
	dir := t.TempDir()
	cfg := strings.Replace(windowsConfig, `  package "sevenzip" {`, `  file "big" {
    path   = "C:\\ProgramData\\Contoso\\big.txt"
    source = "big.txt"
  }

  package "sevenzip" {`, 1)
	writeFiles(t, dir, map[string]string{"main.hcl": cfg, "inventory.hcl": windowsInventory(host.Port()), "big.txt": big})

	out, errOut, code := tend(t, "apply", "-C", dir, "-y")
	if code != 1 {
		t.Fatalf("apply exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	both := out + errOut
	if !strings.Contains(both, "Win32_Service.Change failed with return value 22") || strings.Contains(both, "CLIXML") || strings.Contains(both, "_x000D_") {
		t.Errorf("the host's error is not shown as text:\n%s", both)
	}
	run := lastRun(t, dir)
	r, f, sk := journal.Reverted, journal.Failed, journal.Skipped
	if d := cmp.Diff(map[string]journal.Status{"file.app_conf": r, "file.big": r, "package.sevenzip": r, "service.W3SVC": f,
		"scheduled_task.backup": sk, "registry_value.rdp_off": sk}, statuses(run)); d != "" {
		t.Errorf("journal (-want +got):\n%s", d)
	}
	var changes, reverts []string
	for _, s := range host.Scripts() {
		if winrmtest.IsProbe(s.Text) {
			continue
		}
		if strings.Contains(s.Text, "Copy-TendStdin") && strings.Contains(s.Text, "big.txt") {
			if string(s.Stdin) != big {
				t.Errorf("the 1 MiB content arrived as %d bytes", len(s.Stdin))
			}
		}
		switch {
		case strings.Contains(s.Text, "Remove-Item -LiteralPath $p"), strings.Contains(s.Text, "msiexec ' + $Arguments") && strings.Contains(s.Text, "'/x '"):
			reverts = append(reverts, firstLine(s.Text))
		default:
			changes = append(changes, firstLine(s.Text))
		}
	}
	if len(changes) != 4 {
		t.Errorf("%d change scripts, want 4 (file, file, package, the failing service): %q", len(changes), changes)
	}
	// The package's revert script begins with its helper functions.
	if d := cmp.Diff([]string{"function tendCheck([string]$What, [int]$Code, [string]$Out) {", "$p = 'C:\\ProgramData\\Contoso\\big.txt'", "$p = 'C:\\ProgramData\\Contoso\\app.conf'"}, reverts); d != "" {
		t.Errorf("revert scripts, newest change first (-want +got):\n%s", d)
	}
}

// restoredByRollback answers as inner does until rollingBack is called
// (or, during an apply, until its automatic rollback starts reverting):
// from the first revert script on, probes answer fx's state before any
// change, as the host a rollback restored would.
func restoredByRollback(fx *winrmtest.Fixture, inner func(winrmtest.Script) winrmtest.Answer) (respond func(winrmtest.Script) winrmtest.Answer, rollingBack func()) {
	var mu sync.Mutex
	rolling, reverted := false, false
	pristine := fx.Responder()
	respond = func(s winrmtest.Script) winrmtest.Answer {
		mu.Lock()
		revert := strings.Contains(s.Text, "Remove-Item -LiteralPath $p") || strings.Contains(s.Text, "'/x '")
		if !winrmtest.IsProbe(s.Text) && (rolling || revert) {
			reverted = true
		}
		r := reverted
		mu.Unlock()
		if r && winrmtest.IsProbe(s.Text) {
			return pristine(s)
		}
		return inner(s)
	}
	return respond, func() {
		mu.Lock()
		defer mu.Unlock()
		rolling = true
	}
}

func firstLine(script string) string {
	s := strings.TrimPrefix(script, "$ErrorActionPreference = 'Stop'\n$ProgressPreference = 'SilentlyContinue'\n")
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// TestMixedFleetExample: the documented mixed-fleet example validates
// for both its Linux and its Windows host.
func TestMixedFleetExample(t *testing.T) {
	t.Setenv("WINRM_PASSWORD", "example")
	out, errOut, code := tend(t, "validate", "-C", "../examples/mixed-fleet")
	if code != 0 || !strings.Contains(out, "2 hosts") {
		t.Errorf("validate: exit %d\n%s%s", code, out, errOut)
	}
}
