# probe
$b = [Microsoft.Win32.RegistryKey]::OpenBaseKey([Microsoft.Win32.RegistryHive]::LocalMachine, [Microsoft.Win32.RegistryView]::Registry64)
$k = $b.OpenSubKey('SOFTWARE\Policies\Microsoft\Windows NT\Terminal Services')
$n = 'fDenyTSConnections'
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
# apply (stdin: 0 bytes)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$b = [Microsoft.Win32.RegistryKey]::OpenBaseKey([Microsoft.Win32.RegistryHive]::LocalMachine, [Microsoft.Win32.RegistryView]::Registry64)
$k = $b.CreateSubKey('SOFTWARE\Policies\Microsoft\Windows NT\Terminal Services')
$k.SetValue('fDenyTSConnections', [int32]-1, [Microsoft.Win32.RegistryValueKind]::DWord)
# revert (stdin: 0 bytes)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$b = [Microsoft.Win32.RegistryKey]::OpenBaseKey([Microsoft.Win32.RegistryHive]::LocalMachine, [Microsoft.Win32.RegistryView]::Registry64)
$k = $b.OpenSubKey('SOFTWARE\Policies\Microsoft\Windows NT\Terminal Services')
if ($k) { $k.Close(); $k = $b.OpenSubKey('SOFTWARE\Policies\Microsoft\Windows NT\Terminal Services', $true); $k.DeleteValue('fDenyTSConnections', $false) }
