package pkg

import (
	"context"
	"fmt"
	"regexp"
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
// the same on Chocolatey 1 and 2). msiexec's and Chocolatey's exit status
// 3010 (and 1641) mean success with a reboot required: the change
// succeeds and its undo record says reboot_required.

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
		return c, &resources.AttrError{Attr: "state", Msg: "\"latest\" is not supported on Windows hosts yet; pin a version"}
	default:
		return c, &resources.AttrError{Attr: "state", Msg: fmt.Sprintf("must be \"present\" or \"absent\", got %q", c.state)}
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
	st := &resources.State{Present: c.state == "present", Attrs: map[string]cty.Value{"name": cty.StringVal(c.name), "provider": cty.StringVal(c.provider)}}
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
	return "$n = " + shell.PSQuote(c.name) + `
$root = if ($env:ChocolateyInstall) { $env:ChocolateyInstall } else { Join-Path $env:ProgramData 'chocolatey' }
if (-not (Test-Path -LiteralPath (Join-Path $root 'choco.exe'))) { tendOut choco 'false'; return }
tendOut choco 'true'
$d = Get-ChildItem -LiteralPath (Join-Path $root 'lib') -Directory | Where-Object { $_.Name -eq $n } | Select-Object -First 1
$ns = if ($d) { Join-Path $d.FullName ($d.Name + '.nuspec') }
if (-not $ns -or -not (Test-Path -LiteralPath $ns)) { tendOut installed 'false'; return }
$x = New-Object Xml.XmlDocument
$x.Load($ns)
tendOut installed 'true'
tendOut version $x.DocumentElement.metadata.version
`
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
	}
	return st, nil
}

// psExit runs a program and judges its exit status: 0 is success,
// 3010 and 1641 success with a reboot required (printed as the output
// "reboot_required"), anything else an error with the program's words.
const psExit = `function tendCheck([string]$What, [int]$Code, [string]$Out) {
  if ($Code -eq 0) { return }
  if ($Code -in 3010, 1641) { [Console]::Out.Write('reboot_required'); return }
  throw ($What + ' failed with exit status ' + $Code + ': ' + $Out.Trim())
}
function tendExec([string]$What, [scriptblock]$Run) {
  $o = & $Run 2>&1 | Out-String
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
	return "`provider` is `msi` (the default when `product_code` is set: installed means the product code is in the Uninstall registry keys, 64- or 32-bit; installed from `source` with msiexec /qn; Win32_Product is never queried) or `chocolatey` (the default otherwise; `version` pins). Exit status 3010 or 1641 is success with a reboot required, recorded in the run journal. `latest` and `update_cache` do not apply."
}
