# tend:probe
$ErrorActionPreference = 'Stop'
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
tendSection 'facts' {
$os = Get-CimInstance -ClassName Win32_OperatingSystem
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
}
tendSection '0' {
$p = 'C:\ProgramData\Contoso\app.conf'
tendOut type 'file'
}
tendSection '1' {
$n = 'W3SVC'
tendOut present 'true'
}
[Console]::Out.Write((ConvertTo-Json -InputObject ([ordered]@{ sections = $tendSections }) -Depth 4 -Compress))
