package pkg

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/shell"
)

// The Windows provider: MSI packages, found by product code in the
// Uninstall registry keys (both registry views) and never through
// Win32_Product, whose every query runs a consistency check of every
// installed MSI and may repair them; and Chocolatey packages, read from
// the nuspec files of Chocolatey's lib directory (no choco process, and
// the same on Chocolatey 1 and 2). State "latest" asks Chocolatey's
// sources for the newest version (choco search --exact --limit-output,
// one query for the package); the plan shows it, and the apply installs
// exactly that version. A package pinned with choco pin (a .pin file in
// Chocolatey's package information store) is one Chocolatey refuses to
// upgrade or downgrade: the plan says so instead of a change that could
// not verify. msiexec's and Chocolatey's exit status 3010 (and 1641)
// mean success with a reboot required: the change succeeds and its undo
// record says reboot_required.

// windowsAttributes are the package attributes only Windows hosts use.
var windowsAttributes = []resources.Attribute{
	{Name: "product_code", Type: cty.String, OS: resources.OSWindows, Doc: "The MSI product code, `{GUID}`: with it the provider is `msi` and the package is installed when the product code is in the Uninstall registry keys."},
	{Name: "source", Type: cty.String, OS: resources.OSWindows, Doc: "The .msi to install (a path on the host or a UNC path); needed to install, and to put a removed package back on rollback."},
}

var (
	guidRE     = regexp.MustCompile(`^\{[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}$`)
	chocoRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._\-]{0,99}$`)
	winVerRE   = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z.+\-]{0,63}$`)
	winSrcBad  = "\"\r\n\t"
	winProvMSI = "msi"
	winChoco   = "chocolatey"
)

type winConfig struct {
	provider, name, product, source, state, version string
}

func readWinConfig(cfg cty.Value) (winConfig, error) {
	c := winConfig{name: resources.Str(cfg, "name", ""), product: resources.Str(cfg, "product_code", ""), source: resources.Str(cfg, "source", ""),
		state: resources.Str(cfg, "state", "present"), version: resources.Str(cfg, "version", "")}
	c.provider = resources.Str(cfg, "provider", "")
	if c.provider == "" {
		c.provider = winChoco
		if c.product != "" {
			c.provider = winProvMSI
		}
	}
	switch c.provider {
	case winProvMSI:
		if !guidRE.MatchString(c.product) {
			return c, &resources.AttrError{Attr: "product_code", Msg: fmt.Sprintf("the msi provider needs product_code = \"{GUID}\", got %q", c.product)}
		}
		c.product = strings.ToUpper(c.product)
		if strings.ContainsAny(c.source, winSrcBad) {
			return c, &resources.AttrError{Attr: "source", Msg: "a path without quotes, tabs or newlines"}
		}
	case winChoco:
		if c.product != "" || c.source != "" {
			return c, &resources.AttrError{Attr: "product_code", Msg: "product_code and source are for the msi provider"}
		}
		if !chocoRE.MatchString(c.name) {
			return c, &resources.AttrError{Attr: "name", Msg: fmt.Sprintf("%q is not a Chocolatey package id", c.name)}
		}
	default:
		return c, &resources.AttrError{Attr: "provider", Msg: fmt.Sprintf("on Windows hosts: \"msi\" or \"chocolatey\", got %q", c.provider)}
	}
	switch c.state {
	case "present", "absent":
	case "latest":
		if c.provider == winProvMSI {
			return c, &resources.AttrError{Attr: "state", Msg: "\"latest\" needs a package source: the msi provider has none; use the chocolatey provider, or a product_code and source per version"}
		}
	default:
		return c, &resources.AttrError{Attr: "state", Msg: fmt.Sprintf("must be \"present\", \"latest\" or \"absent\", got %q", c.state)}
	}
	if c.version != "" {
		if c.state != "present" {
			return c, &resources.AttrError{Attr: "version", Msg: "version only with state \"present\""}
		}
		if !winVerRE.MatchString(c.version) {
			return c, &resources.AttrError{Attr: "version", Msg: fmt.Sprintf("%q is not a version", c.version)}
		}
		if c.provider == winProvMSI {
			return c, &resources.AttrError{Attr: "version", Msg: "an MSI's version comes with its product code; leave version unset"}
		}
	}
	return c, nil
}

// WindowsKey implements resources.Windows.
func (Package) WindowsKey(cfg cty.Value) (string, error) {
	c, err := readWinConfig(cfg)
	if err != nil {
		return "", err
	}
	if c.provider == winProvMSI {
		return "msi " + c.product, nil
	}
	return "package " + strings.ToLower(c.name), nil
}

// WindowsDesired implements resources.Windows.
func (Package) WindowsDesired(cfg cty.Value, env resources.Env) (*resources.State, error) {
	c, err := readWinConfig(cfg)
	if err != nil {
		return nil, err
	}
	st := &resources.State{Present: c.state != "absent", Attrs: map[string]cty.Value{"name": cty.StringVal(c.name), "provider": cty.StringVal(c.provider)}}
	if c.provider == winProvMSI {
		st.Attrs["product_code"] = cty.StringVal(c.product)
		if c.source != "" {
			st.Attrs["source"] = cty.StringVal(c.source)
		}
		if st.Present && c.source == "" {
			return nil, &resources.AttrError{Attr: "source", Msg: "the msi provider needs source to install the package"}
		}
	}
	if c.version != "" {
		st.Attrs["version"] = cty.StringVal(c.version)
	}
	return st, nil
}

// WindowsProbe implements resources.Windows.
func (Package) WindowsProbe(cfg cty.Value, want *resources.State) string {
	c, _ := readWinConfig(cfg)
	if c.provider == winProvMSI {
		return "$pc = " + shell.PSQuote(c.product) + `
$k = $null
foreach ($v in @([Microsoft.Win32.RegistryView]::Registry64, [Microsoft.Win32.RegistryView]::Registry32)) {
  $b = [Microsoft.Win32.RegistryKey]::OpenBaseKey([Microsoft.Win32.RegistryHive]::LocalMachine, $v)
  $k = $b.OpenSubKey('SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\' + $pc)
  if ($k) { break }
}
if (-not $k) { tendOut installed 'false'; return }
tendOut installed 'true'
tendOut version $k.GetValue('DisplayVersion')
tendOut display_name $k.GetValue('DisplayName')
`
	}
	var sb strings.Builder
	sb.WriteString("$n = " + shell.PSQuote(c.name) + `
$root = if ($env:ChocolateyInstall) { $env:ChocolateyInstall } else { Join-Path $env:ProgramData 'chocolatey' }
if (-not (Test-Path -LiteralPath (Join-Path $root 'choco.exe'))) { tendOut choco 'false'; return }
tendOut choco 'true'
`)
	if c.state == "latest" {
		// Chocolatey's answer, line by line, and its exit status (2 is
		// "no results" under its enhanced exit codes). Native stderr
		// becomes text, not a terminating error.
		sb.WriteString(`$q = & { $ErrorActionPreference = 'Continue'; & (Join-Path $root 'choco.exe') search $n --exact --limit-output 2>&1 | ForEach-Object { [string]$_ } }
tendOut search.rc $LASTEXITCODE
$i = 0
foreach ($l in $q) { $i++; tendOut ('search.' + $i) $l }
`)
	}
	sb.WriteString(`$d = Get-ChildItem -LiteralPath (Join-Path $root 'lib') -Directory | Where-Object { $_.Name -eq $n } | Select-Object -First 1
$ns = if ($d) { Join-Path $d.FullName ($d.Name + '.nuspec') }
if (-not $ns -or -not (Test-Path -LiteralPath $ns)) { tendOut installed 'false'; return }
$x = New-Object Xml.XmlDocument
$x.Load($ns)
tendOut installed 'true'
$v = $x.DocumentElement.metadata.version
tendOut version $v
tendOut pinned (Test-Path -LiteralPath (Join-Path $root ('.chocolatey\' + $d.Name + '.' + $v + '\.pin')))
`)
	return sb.String()
}

// WindowsRead implements resources.Windows.
func (Package) WindowsRead(cfg cty.Value, out resources.ProbeOutput) (*resources.State, error) {
	c, err := readWinConfig(cfg)
	if err != nil {
		return nil, err
	}
	if out.Values["choco"] == "false" {
		return nil, fmt.Errorf("chocolatey is not installed on this host (no choco.exe under %%ChocolateyInstall%% or %%ProgramData%%\\chocolatey)")
	}
	inst, ok := out.Get("installed")
	if !ok {
		return nil, fmt.Errorf("package probe printed no state: %s", strings.TrimSpace(out.Other))
	}
	st := &resources.State{Present: inst == "true", Attrs: map[string]cty.Value{"name": cty.StringVal(c.name), "provider": cty.StringVal(c.provider)}}
	if c.provider == winProvMSI {
		st.Attrs["product_code"] = cty.StringVal(c.product)
		if c.source != "" {
			// Configuration, not state: carried so a rollback can
			// reinstall what it removed.
			st.Attrs["source"] = cty.StringVal(c.source)
		}
	}
	if st.Present {
		st.Attrs["version"] = cty.StringVal(out.Values["version"])
		// State, never desired, so never compared: Resolve reads it.
		st.Attrs["pinned"] = cty.BoolVal(out.Values["pinned"] == "true")
	}
	if rc, ok := out.Get("search.rc"); ok {
		cand, err := parseChocoSearch(c.name, rc, numbered(out, "search"))
		if err != nil {
			return nil, err
		}
		st.Attrs["candidate"] = cty.StringVal(cand)
	}
	return st, nil
}

// numbered collects the values PREFIX.1, PREFIX.2... a probe printed.
func numbered(out resources.ProbeOutput, prefix string) []string {
	var ls []string
	for i := 1; ; i++ {
		l, ok := out.Get(prefix + "." + strconv.Itoa(i))
		if !ok {
			return ls
		}
		ls = append(ls, l)
	}
}

// parseChocoSearch reads the answer of choco search NAME --exact
// --limit-output: one "id|version" line per package a source offers
// (several sources may offer the id, in versions of their own), nothing
// when none does; exit status 0, or 2 for no results under Chocolatey's
// enhanced exit codes. It returns the newest version offered, "" for
// none. Lines that are not the package's (notices from NuGet) are
// skipped; a failed search is an error with Chocolatey's words.
func parseChocoSearch(name, rc string, lines []string) (string, error) {
	status, err := strconv.Atoi(strings.TrimSpace(rc))
	if err != nil || (status != 0 && status != 2) {
		return "", fmt.Errorf("choco search %s failed (exit status %s): %s", name, rc, words(strings.Join(lines, "\n"), 5))
	}
	best := ""
	for _, l := range lines {
		id, v, ok := strings.Cut(strings.TrimSpace(l), "|")
		if !ok || !strings.EqualFold(id, name) || !winVerRE.MatchString(v) {
			continue
		}
		if best == "" || nugetCompare(v, best) > 0 {
			best = v
		}
	}
	return best, nil
}

// WindowsResolve implements resources.WindowsResolver. For state latest
// the desired version is the newest Chocolatey's sources offer, or the
// installed one when it is that version or newer (compared as NuGet
// does, so 2.43.0.0 and 2.43.0 are one version). A package pinned with
// choco pin that would change version is refused: Chocolatey skips
// pinned packages, and the change could never verify.
func (Package) WindowsResolve(cfg cty.Value, current, desired *resources.State) (*resources.State, error) {
	c, err := readWinConfig(cfg)
	if err != nil || c.provider != winChoco {
		return desired, err
	}
	installed := ""
	if current.Present {
		installed = current.Str("version")
	}
	want := desired.Str("version")
	if c.state == "latest" {
		cand := current.Str("candidate")
		switch {
		case cand == "" && installed == "":
			return nil, fmt.Errorf("no package %s in Chocolatey's sources (choco search %s --exact found nothing)", c.name, c.name)
		case cand == "" || (installed != "" && nugetCompare(installed, cand) >= 0):
			want = installed
		default:
			want = cand
		}
		d := &resources.State{Present: true, Attrs: map[string]cty.Value{}}
		for k, v := range desired.Attrs {
			d.Attrs[k] = v
		}
		d.Attrs["version"] = cty.StringVal(want)
		desired = d
	}
	if installed != "" && want != "" && want != installed && boolState(current, "pinned") {
		return nil, fmt.Errorf("%s is pinned at %s in Chocolatey (choco pin), which refuses to change it to %s: remove the pin (choco pin remove --name %s) or declare version = %q", c.name, installed, want, c.name, installed)
	}
	return desired, nil
}

// nugetCompare orders two Chocolatey (NuGet) package versions: up to
// four numeric parts (missing ones are 0), then a release after its
// pre-releases, pre-release labels part by part (numbers before words,
// numbers by value, words without regard to case); build metadata after
// "+" is ignored. Versions that are not numeric compare as strings.
func nugetCompare(a, b string) int {
	split := func(v string) (nums []int, pre string, ok bool) {
		v, _, _ = strings.Cut(v, "+")
		v, pre, _ = strings.Cut(v, "-")
		for _, p := range strings.Split(v, ".") {
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 {
				return nil, "", false
			}
			nums = append(nums, n)
		}
		for len(nums) < 4 {
			nums = append(nums, 0)
		}
		return nums, pre, true
	}
	na, pa, oka := split(a)
	nb, pb, okb := split(b)
	if !oka || !okb {
		return strings.Compare(strings.ToLower(a), strings.ToLower(b))
	}
	for i := 0; i < len(na) || i < len(nb); i++ {
		x, y := 0, 0
		if i < len(na) {
			x = na[i]
		}
		if i < len(nb) {
			y = nb[i]
		}
		if x != y {
			return cmpInt(x, y)
		}
	}
	switch {
	case strings.EqualFold(pa, pb):
		return 0
	case pa == "":
		return 1
	case pb == "":
		return -1
	}
	xs, ys := strings.Split(pa, "."), strings.Split(pb, ".")
	for i := 0; i < len(xs) && i < len(ys); i++ {
		x, errx := strconv.Atoi(xs[i])
		y, erry := strconv.Atoi(ys[i])
		switch {
		case errx == nil && erry == nil:
			if x != y {
				return cmpInt(x, y)
			}
		case errx == nil:
			return -1
		case erry == nil:
			return 1
		default:
			if c := strings.Compare(strings.ToLower(xs[i]), strings.ToLower(ys[i])); c != 0 {
				return c
			}
		}
	}
	return cmpInt(len(xs), len(ys))
}

func cmpInt(x, y int) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// psExit runs a program and judges its exit status: 0 is success,
// 3010 and 1641 success with a reboot required (printed as the output
// "reboot_required"), anything else an error with the program's words.
// tendExec runs the program with $ErrorActionPreference = 'Continue' in
// its own scope: Windows PowerShell turns a native program's redirected
// stderr into error records, which 'Stop' would make fatal before the
// exit status is read.
const psExit = `function tendCheck([string]$What, [int]$Code, [string]$Out) {
  if ($Code -eq 0) { return }
  if ($Code -in 3010, 1641) { [Console]::Out.Write('reboot_required'); return }
  throw ($What + ' failed with exit status ' + $Code + ': ' + $Out.Trim())
}
function tendExec([string]$What, [scriptblock]$Run) {
  $ErrorActionPreference = 'Continue'
  $o = & $Run 2>&1 | ForEach-Object { [string]$_ } | Out-String
  tendCheck $What $LASTEXITCODE $o
}
function tendMsiexec([string]$Arguments) {
  $p = Start-Process -FilePath msiexec.exe -ArgumentList $Arguments -Wait -PassThru
  tendCheck ('msiexec ' + $Arguments) $p.ExitCode ''
}
`

func winPkgScript(before, after *resources.State) string {
	var sb strings.Builder
	sb.WriteString(psExit)
	prov := after.Str("provider")
	if prov == "" {
		prov = before.Str("provider")
	}
	if prov == winProvMSI {
		pc := after.Str("product_code")
		if pc == "" {
			pc = before.Str("product_code")
		}
		switch {
		case after.Present:
			// msiexec is a GUI program: Start-Process -Wait waits for it
			// and gives its exit status. The source has no quotes.
			sb.WriteString("tendMsiexec ('/i \"' + " + shell.PSQuote(after.Str("source")) + " + '\" /qn /norestart')\n")
		default:
			sb.WriteString("tendMsiexec ('/x ' + " + shell.PSQuote(pc) + " + ' /qn /norestart')\n")
		}
		return sb.String()
	}
	n := shell.PSQuote(after.Str("name"))
	switch {
	case !after.Present:
		sb.WriteString("tendExec 'choco uninstall' { choco.exe uninstall " + n + " -y --no-progress --limit-output }\n")
	case before.Present:
		sb.WriteString("tendExec 'choco upgrade' { choco.exe upgrade " + n + " -y --no-progress --limit-output --allow-downgrade --version " + shell.PSQuote(after.Str("version")) + " }\n")
	default:
		v := ""
		if after.Str("version") != "" {
			v = " --version " + shell.PSQuote(after.Str("version"))
		}
		sb.WriteString("tendExec 'choco install' { choco.exe install " + n + " -y --no-progress --limit-output" + v + " }\n")
	}
	return sb.String()
}

// WindowsApply implements resources.Windows.
func (Package) WindowsApply(ctx context.Context, h *resources.Host, before, after *resources.State) (resources.Undo, error) {
	out, err := resources.RunPowerShell(ctx, h, winPkgScript(before, after), nil)
	undo := resources.Undo{}
	if strings.Contains(string(out), "reboot_required") {
		undo["reboot_required"] = "true"
	}
	return undo, err
}

// WindowsRevert implements resources.Windows.
func (Package) WindowsRevert(ctx context.Context, h *resources.Host, before, after *resources.State, undo resources.Undo) error {
	if before.Present && before.Str("provider") == winProvMSI && before.Str("source") == "" {
		return fmt.Errorf("cannot reinstall MSI %s: no source", before.Str("product_code"))
	}
	_, err := resources.RunPowerShell(ctx, h, winPkgScript(after, before), nil)
	return err
}

// WindowsIrreversible implements resources.WindowsIrreversibler.
func (Package) WindowsIrreversible(before, after *resources.State) string {
	if before.Present && !after.Present && before.Str("provider") == winProvMSI && before.Str("source") == "" {
		return "a removed MSI can be reinstalled only from its source, which is not set"
	}
	return ""
}

// WindowsDoc documents the Windows provider.
func (Package) WindowsDoc() string {
	return "`provider` is `msi` (the default when `product_code` is set: installed means the product code is in the Uninstall registry keys, 64- or 32-bit; installed from `source` with msiexec /qn; Win32_Product is never queried) or `chocolatey` (the default otherwise; `version` pins; `latest` asks Chocolatey's sources for the newest version with `choco search --exact` at plan time and installs exactly that one; a package held with `choco pin` that would change version is a plan error). Exit status 3010 or 1641 is success with a reboot required, recorded in the run journal. `update_cache` does not apply, nor `latest` to `msi`."
}
