package patch

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/tendhq/tend/shell"
	"github.com/tendhq/tend/transport"
)

// Chocolatey patches Windows hosts whose packages Chocolatey manages:
// choco outdated lists the pending upgrades, choco upgrade makes them,
// and the versions after come from the nuspec files of Chocolatey's lib
// directory (as the package resource reads them). Chocolatey has no
// security metadata, so securityOnly is refused. A host asks for a
// reboot when the upgrade exited 3010, 1641 or 1604, or when Windows
// records a pending reboot in the registry. One value patches one host:
// it remembers the upgrade's exit status for RebootRequired.
//
// Written from Chocolatey's documentation and source (its --limit-output
// formats and exit codes), not run against a real Chocolatey.
type Chocolatey struct {
	winReboot
}

var _ Manager = (*Chocolatey)(nil)
var _ Rebooter = (*Chocolatey)(nil)

// chocoRoot sets $root to Chocolatey's directory.
const chocoRoot = "$root = if ($env:ChocolateyInstall) { $env:ChocolateyInstall } else { Join-Path $env:ProgramData 'chocolatey' }\n"

// chocoRun is PowerShell running choco.exe with args: its output (stderr
// as text: Windows PowerShell turns a native program's stderr into error
// records) on stdout, and its exit status as the script's.
func chocoRun(args string) string {
	return "$ErrorActionPreference = 'Continue'\n" + chocoRoot +
		"& (Join-Path $root 'choco.exe') " + args + " 2>&1 | ForEach-Object { [Console]::Out.WriteLine([string]$_) }\n" +
		"exit $LASTEXITCODE\n"
}

var errChocoSecurity = fmt.Errorf("chocolatey has no security advisories to select upgrades by: run tend patch without --security-only on Chocolatey hosts")

// chocoIDRE is a Chocolatey package id.
var chocoIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._\-]{0,99}$`)

// Pending implements Manager: choco outdated, which asks the sources
// itself (there is no index to refresh). Pinned packages are left out,
// as choco upgrade skips them, and so are packages no source offers.
func (c *Chocolatey) Pending(ctx context.Context, t transport.Transport, securityOnly bool) ([]Upgrade, error) {
	if securityOnly {
		return nil, errChocoSecurity
	}
	res, err := t.Run(ctx, transport.Command{Script: chocoRun("outdated --limit-output --ignore-unfound --ignore-pinned")})
	if err != nil {
		return nil, fmt.Errorf("listing upgrades: %w", err)
	}
	return parseChocoOutdated(res.Stdout, res.ExitStatus)
}

// parseChocoOutdated reads choco outdated --limit-output: one
// "name|current|available|pinned" line per outdated package; a package
// no source offers shows its current version as the available one. Exit
// status 0, or 2 when there are outdated packages (Chocolatey's enhanced
// exit codes); anything else is an error with Chocolatey's words. Lines
// of another shape (notices) are skipped.
func parseChocoOutdated(out []byte, status int) ([]Upgrade, error) {
	if status != 0 && status != 2 {
		return nil, fmt.Errorf("listing upgrades: choco outdated failed (exit status %d): %s", status, tail(out, 10))
	}
	var ups []Upgrade
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(strings.TrimSpace(sc.Text()), "|")
		if len(f) != 4 || !chocoIDRE.MatchString(f[0]) || f[1] == "" || f[2] == "" || (f[3] != "true" && f[3] != "false") {
			continue
		}
		if f[3] == "true" || f[1] == f[2] {
			continue
		}
		ups = append(ups, Upgrade{Name: f[0], From: f[1], To: f[2]})
	}
	sort.Slice(ups, func(i, j int) bool { return ups[i].Name < ups[j].Name })
	return ups, nil
}

// Upgrade implements Manager: one choco upgrade of the pending packages
// (not "all": exactly what was shown), then their versions from the
// nuspec files. When the upgrade fails, what it did upgrade is returned
// with the error.
func (c *Chocolatey) Upgrade(ctx context.Context, t transport.Transport, pending []Upgrade, securityOnly bool) ([]Upgrade, error) {
	if securityOnly {
		return nil, errChocoSecurity
	}
	if len(pending) == 0 {
		return nil, nil
	}
	names := make([]string, len(pending))
	for i, u := range pending {
		names[i] = shell.PSQuote(u.Name)
	}
	res, err := t.Run(ctx, transport.Command{Script: chocoRun("upgrade " + strings.Join(names, " ") + " -y --no-progress --limit-output")})
	if err != nil {
		return nil, fmt.Errorf("upgrading: %w", err)
	}
	var failed error
	switch res.ExitStatus {
	case 0, 2: // 2: nothing to do (enhanced exit codes)
	case 3010, 1641, 1604:
		// 3010 and 1641: an installer asked for a reboot; 1604: Chocolatey
		// stopped for one (exitOnRebootDetected), packages after it wait.
		c.ask()
	case 350:
		return nil, fmt.Errorf("upgrading: Windows has a reboot pending and Chocolatey (exitOnRebootDetected) refuses to work before it (exit status 350): reboot the host (tend patch --reboot always) and patch again")
	default:
		failed = fmt.Errorf("upgrading: choco upgrade failed (exit status %d): %s", res.ExitStatus, tail(res.Stdout, 10))
	}
	out, err := transport.Output(ctx, t, transport.Command{Script: chocoVersions(pending)})
	if err != nil {
		if failed != nil {
			return nil, failed
		}
		return nil, fmt.Errorf("reading versions after the upgrade: %w", err)
	}
	now := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if name, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "|"); ok {
			now[strings.ToLower(name)] = v
		}
	}
	var done []Upgrade
	for _, u := range pending {
		if v := now[strings.ToLower(u.Name)]; v != "" && v != u.From {
			done = append(done, Upgrade{Name: u.Name, From: u.From, To: v})
		}
	}
	return done, failed
}

// chocoVersions is PowerShell printing "name|version" for each package
// of ups that is installed, from its nuspec in Chocolatey's lib directory.
func chocoVersions(ups []Upgrade) string {
	names := make([]string, len(ups))
	for i, u := range ups {
		names[i] = shell.PSQuote(u.Name)
	}
	return chocoRoot + "foreach ($n in @(" + strings.Join(names, ", ") + `)) {
  $d = Get-ChildItem -LiteralPath (Join-Path $root 'lib') -Directory | Where-Object { $_.Name -eq $n } | Select-Object -First 1
  if (-not $d) { continue }
  $ns = Join-Path $d.FullName ($d.Name + '.nuspec')
  if (-not (Test-Path -LiteralPath $ns)) { continue }
  $x = New-Object Xml.XmlDocument
  $x.Load($ns)
  [Console]::Out.WriteLine($n + '|' + $x.DocumentElement.metadata.version)
}
`
}

// windowsRebootPending is PowerShell printing whether Windows records a
// pending reboot, from the registry values Chocolatey's own check reads:
// Component Based Servicing's RebootPending key, Windows Update's
// RebootRequired key, pending file renames, the package installer's
// UpdateExeVolatile, and a computer rename waiting for the reboot.
const windowsRebootPending = `$cv = 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion'
$r = (Test-Path -LiteralPath ($cv + '\Component Based Servicing\RebootPending')) -or (Test-Path -LiteralPath ($cv + '\WindowsUpdate\Auto Update\RebootRequired'))
$f = (Get-ItemProperty -LiteralPath 'HKLM:\SYSTEM\CurrentControlSet\Control\Session Manager' -Name PendingFileRenameOperations -ErrorAction SilentlyContinue).PendingFileRenameOperations
if (@($f | Where-Object { $_ }).Count -gt 0) { $r = $true }
foreach ($k in 'HKLM:\SOFTWARE\Microsoft\Updates', 'HKLM:\SOFTWARE\Wow6432Node\Microsoft\Updates') {
  $u = (Get-ItemProperty -LiteralPath $k -Name UpdateExeVolatile -ErrorAction SilentlyContinue).UpdateExeVolatile
  if ($u -and [string]$u -ne '0') { $r = $true }
}
$cn = 'HKLM:\SYSTEM\CurrentControlSet\Control\ComputerName\'
$active = (Get-ItemProperty -LiteralPath ($cn + 'ActiveComputerName') -Name ComputerName -ErrorAction SilentlyContinue).ComputerName
$next = (Get-ItemProperty -LiteralPath ($cn + 'ComputerName') -Name ComputerName -ErrorAction SilentlyContinue).ComputerName
if ($active -and $next -and $active -ne $next) { $r = $true }
[Console]::Out.Write($(if ($r) { 'true' } else { 'false' }))
`

// winReboot is the reboot half of a Windows manager: whether an
// upgrade's exit status asked for a reboot, Windows' own pending-reboot
// records, the boot time, and shutdown.exe. One value serves one host.
type winReboot struct {
	mu sync.Mutex
	// asked: an upgrade's exit status asked for a reboot.
	asked bool
}

// ask records that an upgrade asked for a reboot.
func (w *winReboot) ask() {
	w.mu.Lock()
	w.asked = true
	w.mu.Unlock()
}

// RebootRequired implements Manager: the upgrade's exit status asked
// for a reboot, or Windows has one pending.
func (w *winReboot) RebootRequired(ctx context.Context, t transport.Transport) (bool, error) {
	w.mu.Lock()
	asked := w.asked
	w.mu.Unlock()
	if asked {
		return true, nil
	}
	out, err := transport.Output(ctx, t, transport.Command{Script: windowsRebootPending})
	if err != nil {
		return false, fmt.Errorf("checking whether a reboot is required: %w", err)
	}
	switch strings.TrimSpace(string(out)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("checking whether a reboot is required: unexpected answer %q", clip(out))
}

// BootID implements Rebooter: the time Windows last booted, in UTC.
func (w *winReboot) BootID(ctx context.Context, t transport.Transport) (string, error) {
	out, err := transport.Output(ctx, t, transport.Command{Script: "[Console]::Out.Write((Get-CimInstance -ClassName Win32_OperatingSystem).LastBootUpTime.ToUniversalTime().ToString('o'))\n"})
	if err != nil {
		return "", err
	}
	id := strings.TrimSpace(string(out))
	if id == "" {
		return "", fmt.Errorf("the host gave no boot time")
	}
	return id, nil
}

// RebootScript implements Rebooter: shutdown.exe restarts Windows five
// seconds after the command returns, so its WinRM session ends cleanly.
func (w *winReboot) RebootScript() string {
	return "$o = & shutdown.exe /r /t 5 /d p:0:0 /c 'tend patch' 2>&1 | Out-String\nif ($LASTEXITCODE -ne 0) { throw ('shutdown.exe failed (' + $LASTEXITCODE + '): ' + $o.Trim()) }\n"
}

// tail returns the last n non-empty lines of out, for error messages.
func tail(out []byte, n int) string {
	var keep []string
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimRight(l, " \r\t"); strings.TrimSpace(l) != "" {
			keep = append(keep, l)
		}
	}
	if len(keep) > n {
		keep = keep[len(keep)-n:]
	}
	if len(keep) == 0 {
		return "no output"
	}
	return strings.Join(keep, "\n")
}

func clip(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
