package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/transport"
)

// The Windows counterpart of the sh probe: facts and every probe of a
// Windows host are ONE PowerShell script, run as ONE command over the
// host's WinRM shell, answering with ONE JSON document:
//
//	{"sections":{"facts":{"values":{"KEY":"VALUE",...},"error":null},
//	             "0":{"values":{...},"error":"message at line:col"}, ...}}
//
// Each section is a script block run by tendSection, which gives it a
// fresh value table (filled by `tendOut KEY VALUE`, values turned into
// strings), discards whatever it writes to the output stream and turns a
// terminating error (every error: the bootstrap sets
// $ErrorActionPreference = 'Stop') into the section's error text with
// its position. Structure comes from JSON, not from markers in text, so
// no value can be mistaken for it and the script needs no nonce: the same
// resources give byte-identical scripts, pinned by golden files.

// WindowsPrelude defines the helpers every Windows probe fragment may use:
// tendOut KEY VALUE records a value ($null becomes ""; booleans "true" or
// "false"), tendB64 PATH returns a file's content in base64.
//
// The script runs as a script block (the bootstrap's), so its state lives
// in objects found by PowerShell's dynamic scoping ($tendSections,
// $tendState), never in $script: variables, which would name the
// bootstrap's scope.
const WindowsPrelude = `$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$tendSections = [ordered]@{}
$tendState = @{ values = $null }
function tendOut([string]$Key, $Value) {
  if ($null -eq $Value) { $Value = '' }
  elseif ($Value -is [bool]) { $Value = if ($Value) { 'true' } else { 'false' } }
  $tendState.values[$Key] = [string]$Value
}
function tendB64([string]$Path) { [Convert]::ToBase64String([IO.File]::ReadAllBytes($Path)) }
function tendSection([string]$Id, [scriptblock]$Body) {
  $tendState.values = [ordered]@{}
  $err = $null
  try { $null = & $Body } catch {
    $err = $_.Exception.Message
    if ($_.InvocationInfo -and $_.InvocationInfo.ScriptLineNumber) { $err += ' (line ' + $_.InvocationInfo.ScriptLineNumber + ')' }
  }
  $tendSections[$Id] = [ordered]@{ values = $tendState.values; error = $err }
}
`

// windowsFacts gathers the facts of a Windows host. One CIM query gives
// the OS; the registry gives the display version.
const windowsFacts = `$os = Get-CimInstance -ClassName Win32_OperatingSystem
$cv = Get-ItemProperty -LiteralPath 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion'
tendOut os_id 'windows'
tendOut os_version $os.Version
tendOut os_pretty $os.Caption
tendOut os_display_version $cv.DisplayVersion
tendOut kernel 'windows'
tendOut arch $env:PROCESSOR_ARCHITECTURE
tendOut hostname ([Environment]::MachineName)
tendOut cpus ([Environment]::ProcessorCount)
tendOut memory_kb $os.TotalVisibleMemorySize
tendOut init 'windows'
if (Get-Command -Name choco.exe -CommandType Application -ErrorAction SilentlyContinue) { tendOut pkg 'chocolatey' } else { tendOut pkg 'msi' }
$id = [Security.Principal.WindowsIdentity]::GetCurrent()
tendOut user $id.Name
tendOut admin ((New-Object Security.Principal.WindowsPrincipal $id).IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator))
tendOut home $env:USERPROFILE
tendOut backup_dir (Join-Path $env:ProgramData 'tend\backup')
`

// WindowsScript builds a Windows host's probe script: the prelude, the
// facts section (when withFacts), one section per fragment (numbered:
// addresses may hold any character), then the JSON answer on stdout.
func WindowsScript(withFacts bool, frags []Fragment) string {
	var sb strings.Builder
	sb.WriteString("# tend:probe\n")
	sb.WriteString(WindowsPrelude)
	section := func(id, body string) {
		fmt.Fprintf(&sb, "tendSection '%s' {\n%s}\n", id, strings.TrimRight(body, "\n")+"\n")
	}
	if withFacts {
		section("facts", windowsFacts)
	}
	for i, f := range frags {
		section(strconv.Itoa(i), f.Script)
	}
	sb.WriteString("[Console]::Out.Write((ConvertTo-Json -InputObject ([ordered]@{ sections = $tendSections }) -Depth 4 -Compress))\n")
	return sb.String()
}

// windowsAnswer is the JSON a Windows probe script prints.
type windowsAnswer struct {
	Sections map[string]struct {
		Values map[string]any `json:"values"`
		Error  *string        `json:"error"`
	} `json:"sections"`
}

// ParseWindows reads a Windows probe script's JSON answer.
func ParseWindows(withFacts bool, frags []Fragment, out []byte) (*Result, error) {
	out = bytes.TrimPrefix(out, []byte("\xef\xbb\xbf"))
	var ans windowsAnswer
	if err := json.Unmarshal(bytes.TrimSpace(out), &ans); err != nil {
		return nil, fmt.Errorf("probe answer is not the expected JSON: %w (%s)", err, clip(out))
	}
	res := &Result{Outputs: map[string]resources.ProbeOutput{}, Failed: map[string]string{}}
	get := func(id, name string) (resources.ProbeOutput, error) {
		s, ok := ans.Sections[id]
		if !ok {
			return resources.ProbeOutput{}, fmt.Errorf("probe answer has no section for %s", name)
		}
		po := resources.ProbeOutput{Values: map[string]string{}}
		for k, v := range s.Values {
			switch v := v.(type) {
			case string:
				po.Values[k] = v
			case nil:
				po.Values[k] = ""
			default:
				b, _ := json.Marshal(v)
				po.Values[k] = string(b)
			}
		}
		if s.Error != nil {
			po.Other = *s.Error
			res.Failed[name] = *s.Error
		}
		return po, nil
	}
	if withFacts {
		po, err := get("facts", "facts")
		if err != nil {
			return nil, err
		}
		res.Facts = parseFacts(po)
	}
	for i, f := range frags {
		po, err := get(strconv.Itoa(i), f.ID)
		if err != nil {
			return nil, err
		}
		res.Outputs[f.ID] = po
	}
	return res, nil
}

func clip(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	if s == "" {
		s = "empty output"
	}
	return s
}

// RunWindows builds, runs and parses a Windows host's probe script in one
// command.
func RunWindows(ctx context.Context, t transport.Transport, withFacts bool, frags []Fragment) (*Result, error) {
	res, err := t.Run(ctx, transport.Command{Script: WindowsScript(withFacts, frags), Stdin: bytes.NewReader(nil)})
	if err != nil {
		return nil, err
	}
	if res.ExitStatus != 0 {
		return nil, fmt.Errorf("probe script failed (exit status %d): %s", res.ExitStatus, strings.TrimSpace(string(res.Stderr)))
	}
	return ParseWindows(withFacts, frags, res.Stdout)
}

// RunOn runs the probe in the host's dialect: PowerShell on Windows hosts,
// sh elsewhere.
func RunOn(ctx context.Context, t transport.Transport, windows, withFacts bool, frags []Fragment) (*Result, error) {
	if windows {
		return RunWindows(ctx, t, withFacts, frags)
	}
	return Run(ctx, t, withFacts, frags)
}
