# revert 1 (stdin: 0 bytes)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$b = [Microsoft.Win32.RegistryKey]::OpenBaseKey([Microsoft.Win32.RegistryHive]::LocalMachine, [Microsoft.Win32.RegistryView]::Registry64)
$k = $b.CreateSubKey('SYSTEM\CurrentControlSet\Control\Terminal Server')
$k.SetValue('fDenyTSConnections', [int32]0, [Microsoft.Win32.RegistryValueKind]::DWord)
# revert 2 (stdin: 0 bytes)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$n = 'backup'
if (Get-ScheduledTask -TaskPath '\tend\' -TaskName $n -ErrorAction SilentlyContinue) { Unregister-ScheduledTask -TaskPath '\tend\' -TaskName $n -Confirm:$false }
# revert 3 (stdin: 0 bytes)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$n = 'W3SVC'
function tendSc { $o = & sc.exe @args 2>&1 | Out-String; if ($LASTEXITCODE -ne 0) { throw ('sc.exe ' + ($args -join ' ') + ' failed (' + $LASTEXITCODE + '): ' + $o.Trim()) } }
tendSc config $n start= auto
$svc = Get-CimInstance -ClassName Win32_Service -Filter ('Name=''' + $n + '''')
$r = Invoke-CimMethod -InputObject $svc -MethodName Change -Arguments @{ StartName = 'LocalSystem'; StartPassword = '' }
if ($r.ReturnValue -ne 0) { throw ('Win32_Service.Change failed with return value ' + $r.ReturnValue + ' (see Change method of the Win32_Service class)') }
# revert 4 (stdin: 0 bytes)
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
# revert 5 (stdin: 0 bytes)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$p = 'C:\ProgramData\Contoso\app.conf'
if (Test-Path -LiteralPath $p) { Remove-Item -LiteralPath $p -Force }
