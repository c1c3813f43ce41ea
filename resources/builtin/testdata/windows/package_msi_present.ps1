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
