package patch

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/tendhq/tend/shell"
	"github.com/tendhq/tend/transport"
)

// Winget patches Windows hosts without Chocolatey through the Windows
// Package Manager: winget upgrade lists the pending upgrades (a table:
// winget has no machine-readable listing), one winget upgrade per
// package makes each at exactly the version shown, from the source
// shown, and the listing is read again after to tell what changed. Winget
// has no security metadata, so securityOnly is refused. A package's
// upgrade exiting 3010, 1641, or winget's "restart to finish" (0x8A150109)
// or "restart initiated" (0x8A15010B) asks for a reboot, as do Windows'
// pending-reboot records.
//
// Written from winget's documentation and source (the table it prints,
// its return codes), not run against a real winget.
type Winget struct {
	winReboot
	// sources: the source offering each package's upgrade, from the
	// last listing.
	sources map[string]string
}

var _ Manager = (*Winget)(nil)
var _ Rebooter = (*Winget)(nil)

// winget's return codes (HRESULTs, as the signed 32-bit exit status).
const (
	wingetNoPackages        = -1978335212 // 0x8A150014: no packages found
	wingetNoUpdate          = -1978335189 // 0x8A15002B: no applicable update
	wingetRebootToFinish    = -1978334967 // 0x8A150109: restart to finish
	wingetRebootToInstall   = -1978334966 // 0x8A15010A: restart, then try again
	wingetRebootInitiated   = -1978334965 // 0x8A15010B: the PC will restart
	wingetMissingMark       = "tend-winget-missing"
	wingetExitMark          = "tend-winget-exit "
	errWingetSecurityString = "winget has no security advisories to select upgrades by: run tend patch without --security-only on winget hosts"
)

// wingetFind sets $wg to winget.exe: on the PATH (the App Execution
// Alias of a user who has logged on), else the newest App Installer in
// Program Files\WindowsApps (which sessions without the alias, such as
// WinRM's, reach only that way). Without one it prints wingetMissingMark
// and ends the script. Output is read as UTF-8, as winget writes it.
const wingetFind = `$ErrorActionPreference = 'Continue'
try { [Console]::OutputEncoding = [Text.UTF8Encoding]::new($false) } catch { }
$wg = Get-Command -Name winget.exe -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1 -ExpandProperty Path
if (-not $wg) {
  $wg = Get-ChildItem -Path (Join-Path $env:ProgramFiles 'WindowsApps') -Filter 'Microsoft.DesktopAppInstaller_*_8wekyb3d8bbwe' -Directory -ErrorAction SilentlyContinue |
    Sort-Object -Property { [version](($_.Name -split '_')[1]) } -Descending |
    ForEach-Object { Join-Path $_.FullName 'winget.exe' } |
    Where-Object { Test-Path -LiteralPath $_ } | Select-Object -First 1
}
if (-not $wg) { [Console]::Out.WriteLine('` + wingetMissingMark + `'); exit 0 }
`

// wingetCall is one winget run with args, its output (stderr as text) on
// stdout, then a line with its exit status.
func wingetCall(args string) string {
	return "& $wg " + args + " 2>&1 | ForEach-Object { [Console]::Out.WriteLine([string]$_) }\n" +
		"[Console]::Out.WriteLine('" + wingetExitMark + "' + $LASTEXITCODE)\n"
}

// wingetListing lists the pending upgrades.
const wingetListing = "upgrade --accept-source-agreements --disable-interactivity"

// wingetRun is one script's output: each winget call's output and exit
// status, in order.
type wingetRun struct {
	out    [][]byte
	status []int
}

// parseWingetRun splits a script's output at the exit status lines.
// want is the number of winget calls the script makes.
func parseWingetRun(out []byte, want int) (*wingetRun, error) {
	if strings.TrimSpace(string(out)) == wingetMissingMark {
		return nil, errors.New("this host has neither choco.exe nor winget.exe (App Installer): tend patch upgrades Windows hosts through Chocolatey or winget")
	}
	r := &wingetRun{}
	var cur bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if rest, ok := strings.CutPrefix(line, wingetExitMark); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("winget's exit status %q is not a number", rest)
			}
			if n > 1<<31-1 { // an HRESULT read as unsigned
				n -= 1 << 32
			}
			r.out = append(r.out, append([]byte(nil), cur.Bytes()...))
			r.status = append(r.status, int(n))
			cur.Reset()
			continue
		}
		cur.WriteString(line + "\n")
	}
	if len(r.status) != want {
		return nil, fmt.Errorf("winget ran %d time(s) of %d; output: %s", len(r.status), want, tail(out, 10))
	}
	return r, nil
}

// Pending implements Manager: winget upgrade's table of pending upgrades.
func (w *Winget) Pending(ctx context.Context, t transport.Transport, securityOnly bool) ([]Upgrade, error) {
	if securityOnly {
		return nil, errors.New(errWingetSecurityString)
	}
	ws, err := w.pending(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("listing upgrades: %w", err)
	}
	ups := make([]Upgrade, len(ws))
	for i, u := range ws {
		ups[i] = u.Upgrade
	}
	return ups, nil
}

// wingetUpgrade is a pending upgrade and the source offering it.
type wingetUpgrade struct {
	Upgrade
	Source string
}

func (w *Winget) pending(ctx context.Context, t transport.Transport) ([]wingetUpgrade, error) {
	res, err := t.Run(ctx, transport.Command{Script: wingetFind + wingetCall(wingetListing)})
	if err != nil {
		return nil, err
	}
	r, err := parseWingetRun(res.Stdout, 1)
	if err != nil {
		return nil, err
	}
	ups, err := parseWingetTable(r.out[0], r.status[0])
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	w.sources = map[string]string{}
	for _, u := range ups {
		w.sources[u.Name] = u.Source
	}
	w.mu.Unlock()
	return ups, nil
}

// wingetIDRE is a package identifier whole (winget's Publisher.Package,
// or a Microsoft Store id); a cut one ends in "..." or "…" and fails.
var wingetIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.+_\-]*[A-Za-z0-9+_\-]$`)

// parseWingetTable reads winget upgrade's table: a header of five
// columns (Name, Id, Version, Available, Source; the words are
// localized), a rule of dashes, then one row per package, each column
// padded to the same width in characters and followed by at least one
// space. Rows end at the first line that does not fit the columns (the
// "N upgrades available." footer, notes about packages of unknown
// version or pinned, a second table of packages needing explicit
// targeting). A cell too wide for winget's 120-character table is cut
// and ends in "…": a cut id or version is an error, as the package
// could not be named exactly. Exit status 0, or winget's "no packages
// found" or "no applicable update" with no table.
func parseWingetTable(out []byte, status int) ([]wingetUpgrade, error) {
	lines := strings.Split(string(out), "\n")
	for i, l := range lines {
		l = strings.TrimRight(l, "\r")
		// A progress spinner or bar is overwritten in place with \r.
		if k := strings.LastIndexByte(l, '\r'); k >= 0 {
			l = l[k+1:]
		}
		lines[i] = l
	}
	rule := -1
	for i := 1; i < len(lines); i++ {
		if t := strings.TrimSpace(lines[i]); len(t) >= 10 && strings.Trim(t, "-") == "" {
			rule = i
			break
		}
	}
	if rule < 0 {
		if status == 0 || status == wingetNoPackages || status == wingetNoUpdate {
			return nil, nil
		}
		return nil, fmt.Errorf("winget upgrade failed (exit status %d, %#x): %s", status, uint32(status), tail(out, 10))
	}
	if status != 0 {
		return nil, fmt.Errorf("winget upgrade failed (exit status %d, %#x): %s", status, uint32(status), tail(out, 10))
	}
	header := []rune(lines[rule-1])
	var starts []int
	for i, r := range header {
		if r != ' ' && (i == 0 || header[i-1] == ' ') {
			starts = append(starts, i)
		}
	}
	if len(starts) != 5 {
		return nil, fmt.Errorf("winget upgrade's table header %q has %d columns, want 5 (name, id, version, available, source)", lines[rule-1], len(starts))
	}
	var ups []wingetUpgrade
	var cut []string
	for _, l := range lines[rule+1:] {
		cells, ok := wingetCells([]rune(l), starts)
		if !ok {
			break
		}
		id, from, to, src := cells[1], cells[2], cells[3], cells[4]
		if wingetCut(id) || wingetCut(to) || wingetCut(src) {
			cut = append(cut, strings.TrimSpace(l))
			continue
		}
		if !wingetIDRE.MatchString(id) {
			return nil, fmt.Errorf("winget upgrade's row %q: %q is not a package id", strings.TrimSpace(l), id)
		}
		ups = append(ups, wingetUpgrade{Upgrade{Name: id, From: from, To: to}, src})
	}
	if len(cut) > 0 {
		return nil, fmt.Errorf("winget cut the id, version or source of %d package(s) to fit its 120-character table, so they cannot be named exactly: %s", len(cut), strings.Join(cut, "; "))
	}
	sort.Slice(ups, func(i, j int) bool { return ups[i].Name < ups[j].Name })
	return ups, nil
}

// wingetCells splits a row at the header's column starts: every column
// but the last is followed by a space, and the id, version, available
// and source cells are not empty.
func wingetCells(row []rune, starts []int) ([]string, bool) {
	if len(row) <= starts[len(starts)-1] {
		return nil, false
	}
	cells := make([]string, len(starts))
	for i, s := range starts {
		end := len(row)
		if i+1 < len(starts) {
			end = starts[i+1]
			if row[end-1] != ' ' {
				return nil, false
			}
		}
		cells[i] = strings.TrimSpace(string(row[s:end]))
		if i > 0 && cells[i] == "" {
			return nil, false
		}
	}
	return cells, true
}

// wingetCut tells whether winget cut a cell to fit its table.
func wingetCut(s string) bool {
	return strings.HasSuffix(s, "…") || strings.HasSuffix(s, "...")
}

// Upgrade implements Manager: one winget upgrade per pending package, by
// exact id, at the version and from the source listed, silent and
// accepting the source's and package's agreements; then the listing
// again. A package counts as upgraded when its upgrade succeeded and the
// listing no longer offers it from its old version. When upgrades fail,
// what was upgraded is returned with an error naming each failure.
func (w *Winget) Upgrade(ctx context.Context, t transport.Transport, pending []Upgrade, securityOnly bool) ([]Upgrade, error) {
	if securityOnly {
		return nil, errors.New(errWingetSecurityString)
	}
	if len(pending) == 0 {
		return nil, nil
	}
	// The sources come from Pending's listing, or a fresh one.
	w.mu.Lock()
	source := w.sources
	w.mu.Unlock()
	if source == nil {
		if _, err := w.pending(ctx, t); err != nil {
			return nil, fmt.Errorf("listing upgrades: %w", err)
		}
		w.mu.Lock()
		source = w.sources
		w.mu.Unlock()
	}
	script := wingetFind
	var todo []Upgrade
	for _, u := range pending {
		src, ok := source[u.Name]
		if !ok {
			continue // not offered by the last listing
		}
		todo = append(todo, u)
		script += wingetCall("upgrade --id " + shell.PSQuote(u.Name) + " --exact --version " + shell.PSQuote(u.To) +
			" --source " + shell.PSQuote(src) + " --silent --accept-source-agreements --accept-package-agreements --disable-interactivity")
	}
	if len(todo) == 0 {
		return nil, nil
	}
	res, err := t.Run(ctx, transport.Command{Script: script})
	if err != nil {
		return nil, fmt.Errorf("upgrading: %w", err)
	}
	r, err := parseWingetRun(res.Stdout, len(todo))
	if err != nil {
		return nil, fmt.Errorf("upgrading: %w", err)
	}
	var failed []string
	var maybe []Upgrade
	for i, u := range todo {
		switch st := r.status[i]; st {
		case 0:
		case 3010, 1641, wingetRebootToFinish, wingetRebootInitiated:
			w.ask()
		case wingetNoUpdate:
			continue
		case wingetRebootToInstall:
			failed = append(failed, fmt.Sprintf("%s: Windows must restart before it can be installed (exit status %d, %#x): reboot the host (tend patch --reboot always) and patch again", u.Name, st, uint32(st)))
			continue
		default:
			failed = append(failed, fmt.Sprintf("%s: winget upgrade failed (exit status %d, %#x): %s", u.Name, st, uint32(st), tail(r.out[i], 5)))
			continue
		}
		maybe = append(maybe, u)
	}
	after, err := w.pending(ctx, t)
	if err != nil {
		failed = append(failed, "listing upgrades after: "+err.Error())
		after = nil
	}
	still := map[string]string{}
	for _, u := range after {
		still[u.Name] = u.From
	}
	var done []Upgrade
	for _, u := range maybe {
		if from, ok := still[u.Name]; ok && from == u.From {
			failed = append(failed, fmt.Sprintf("%s: winget upgrade succeeded but %s is still at %s", u.Name, u.Name, from))
			continue
		}
		done = append(done, u)
	}
	if len(failed) > 0 {
		return done, fmt.Errorf("upgrading: %s", strings.Join(failed, "; "))
	}
	return done, nil
}
