# probe
$n = 'W3SVC'
$s = Get-Service -Name ([WildcardPattern]::Escape($n)) -ErrorAction SilentlyContinue
if ($null -eq $s) { tendOut present 'false'; return }
tendOut present 'true'
tendOut running ($s.Status -eq 'Running')
$r = Get-ItemProperty -LiteralPath ('HKLM:\SYSTEM\CurrentControlSet\Services\' + $s.Name)
tendOut start ([int]$r.Start)
tendOut delayed ([int]$r.DelayedAutostart)
tendOut logon_account $r.ObjectName
# apply (stdin: 22 bytes)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$n = 'W3SVC'
function tendSc { $o = & sc.exe @args 2>&1 | Out-String; if ($LASTEXITCODE -ne 0) { throw ('sc.exe ' + ($args -join ' ') + ' failed (' + $LASTEXITCODE + '): ' + $o.Trim()) } }
tendSc config $n start= delayed-auto
$svc = Get-CimInstance -ClassName Win32_Service -Filter ('Name=''' + $n + '''')
$r = Invoke-CimMethod -InputObject $svc -MethodName Change -Arguments @{ StartName = '.\svc_web'; StartPassword = (Read-TendStdinText) }
if ($r.ReturnValue -ne 0) { throw ('Win32_Service.Change failed with return value ' + $r.ReturnValue + ' (see Change method of the Win32_Service class)') }
Start-Service -Name ([WildcardPattern]::Escape($n))
# revert (stdin: 0 bytes)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$n = 'W3SVC'
function tendSc { $o = & sc.exe @args 2>&1 | Out-String; if ($LASTEXITCODE -ne 0) { throw ('sc.exe ' + ($args -join ' ') + ' failed (' + $LASTEXITCODE + '): ' + $o.Trim()) } }
tendSc config $n start= demand
$svc = Get-CimInstance -ClassName Win32_Service -Filter ('Name=''' + $n + '''')
$r = Invoke-CimMethod -InputObject $svc -MethodName Change -Arguments @{ StartName = 'LocalSystem'; StartPassword = '' }
if ($r.ReturnValue -ne 0) { throw ('Win32_Service.Change failed with return value ' + $r.ReturnValue + ' (see Change method of the Win32_Service class)') }
Stop-Service -Name ([WildcardPattern]::Escape($n)) -Force
