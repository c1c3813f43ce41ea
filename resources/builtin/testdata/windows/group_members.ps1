# probe
$n = 'Remote Desktop Users'
$g = Get-LocalGroup -Name ([WildcardPattern]::Escape($n)) -ErrorAction SilentlyContinue
if ($null -eq $g) { tendOut present 'false'; return }
tendOut present 'true'
tendOut sid $g.SID.Value
$a = [ADSI]('WinNT://' + $env:COMPUTERNAME + '/' + $g.Name + ',group')
$m = @($a.psbase.Invoke('Members') | ForEach-Object {
  $p = $_.GetType().InvokeMember('ADsPath', 'GetProperty', $null, $_, $null)
  $parts = $p.Substring(8).Split('/')
  if ($parts.Count -ge 3) { $parts[-1] } else { $parts -join '\' }
})
tendOut members (ConvertTo-Json -InputObject $m -Compress)
# apply (stdin: 0 bytes)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$n = 'Remote Desktop Users'
Add-LocalGroupMember -Group $n -Member 'svc_web'
Remove-LocalGroupMember -Group $n -Member 'olduser'
# revert (stdin: 0 bytes)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$n = 'Remote Desktop Users'
Add-LocalGroupMember -Group $n -Member 'olduser'
Remove-LocalGroupMember -Group $n -Member 'svc_web'
