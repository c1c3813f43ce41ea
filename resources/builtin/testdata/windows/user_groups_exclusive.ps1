# probe
$n = 'svc_web'
$u = Get-LocalUser -Name ([WildcardPattern]::Escape($n)) -ErrorAction SilentlyContinue
if ($null -eq $u) { tendOut present 'false'; return }
tendOut present 'true'
tendOut comment $u.Description
tendOut sid $u.SID.Value
$a = [ADSI]('WinNT://' + $env:COMPUTERNAME + '/' + $u.Name + ',user')
$g = @($a.psbase.Invoke('Groups') | ForEach-Object { $_.GetType().InvokeMember('Name', 'GetProperty', $null, $_, $null) })
tendOut groups (ConvertTo-Json -InputObject $g -Compress)
# apply (stdin: 0 bytes)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$n = 'svc_web'
Remove-LocalGroupMember -Group 'Users' -Member $n
# revert (stdin: 0 bytes)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$n = 'svc_web'
Add-LocalGroupMember -Group 'Users' -Member $n
