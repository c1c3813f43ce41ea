# probe
$pc = '{23170F69-40C1-2702-2301-000001000000}'
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
# apply (stdin: 0 bytes)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
function tendCheck([string]$What, [int]$Code, [string]$Out) {
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
tendMsiexec ('/i "' + '\\fs01\packages\7z2301-x64.msi' + '" /qn /norestart')
# revert (stdin: 0 bytes)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
function tendCheck([string]$What, [int]$Code, [string]$Out) {
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
tendMsiexec ('/x ' + '{23170F69-40C1-2702-2301-000001000000}' + ' /qn /norestart')
