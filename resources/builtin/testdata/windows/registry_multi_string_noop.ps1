# probe
$b = [Microsoft.Win32.RegistryKey]::OpenBaseKey([Microsoft.Win32.RegistryHive]::LocalMachine, [Microsoft.Win32.RegistryView]::Registry64)
$k = $b.OpenSubKey('SYSTEM\CurrentControlSet\Services\LanmanServer\Parameters')
$n = 'NullSessionPipes'
if (-not $k -or ($n -ne '' -and $k.GetValueNames() -notcontains $n) -or ($n -eq '' -and $null -eq $k.GetValue(''))) { tendOut present 'false'; return }
tendOut present 'true'
$kind = $k.GetValueKind($n)
$v = $k.GetValue($n, $null, [Microsoft.Win32.RegistryValueOptions]::DoNotExpandEnvironmentNames)
tendOut kind $kind
switch ($kind) {
  'MultiString' { tendOut data (ConvertTo-Json -InputObject @($v) -Compress) }
  'Binary' { tendOut data (($v | ForEach-Object { $_.ToString('x2') }) -join '') }
  'DWord' { tendOut data ([BitConverter]::ToUInt32([BitConverter]::GetBytes([int32]$v), 0)) }
  'QWord' { tendOut data ([BitConverter]::ToUInt64([BitConverter]::GetBytes([int64]$v), 0)) }
  default { tendOut data $v }
}
