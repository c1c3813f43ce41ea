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
