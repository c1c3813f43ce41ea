# script
$ErrorActionPreference = 'Continue'
$root = if ($env:ChocolateyInstall) { $env:ChocolateyInstall } else { Join-Path $env:ProgramData 'chocolatey' }
& (Join-Path $root 'choco.exe') outdated --limit-output --ignore-unfound --ignore-pinned 2>&1 | ForEach-Object { [Console]::Out.WriteLine([string]$_) }
exit $LASTEXITCODE
# script
$ErrorActionPreference = 'Continue'
$root = if ($env:ChocolateyInstall) { $env:ChocolateyInstall } else { Join-Path $env:ProgramData 'chocolatey' }
& (Join-Path $root 'choco.exe') upgrade '7zip' 'git' -y --no-progress --limit-output 2>&1 | ForEach-Object { [Console]::Out.WriteLine([string]$_) }
exit $LASTEXITCODE
# script
$root = if ($env:ChocolateyInstall) { $env:ChocolateyInstall } else { Join-Path $env:ProgramData 'chocolatey' }
foreach ($n in @('7zip', 'git')) {
  $d = Get-ChildItem -LiteralPath (Join-Path $root 'lib') -Directory | Where-Object { $_.Name -eq $n } | Select-Object -First 1
  if (-not $d) { continue }
  $ns = Join-Path $d.FullName ($d.Name + '.nuspec')
  if (-not (Test-Path -LiteralPath $ns)) { continue }
  $x = New-Object Xml.XmlDocument
  $x.Load($ns)
  [Console]::Out.WriteLine($n + '|' + $x.DocumentElement.metadata.version)
}
# script
$cv = 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion'
$r = (Test-Path -LiteralPath ($cv + '\Component Based Servicing\RebootPending')) -or (Test-Path -LiteralPath ($cv + '\WindowsUpdate\Auto Update\RebootRequired'))
$f = (Get-ItemProperty -LiteralPath 'HKLM:\SYSTEM\CurrentControlSet\Control\Session Manager' -Name PendingFileRenameOperations -ErrorAction SilentlyContinue).PendingFileRenameOperations
if (@($f | Where-Object { $_ }).Count -gt 0) { $r = $true }
foreach ($k in 'HKLM:\SOFTWARE\Microsoft\Updates', 'HKLM:\SOFTWARE\Wow6432Node\Microsoft\Updates') {
  $u = (Get-ItemProperty -LiteralPath $k -Name UpdateExeVolatile -ErrorAction SilentlyContinue).UpdateExeVolatile
  if ($u -and [string]$u -ne '0') { $r = $true }
}
$cn = 'HKLM:\SYSTEM\CurrentControlSet\Control\ComputerName\'
$active = (Get-ItemProperty -LiteralPath ($cn + 'ActiveComputerName') -Name ComputerName -ErrorAction SilentlyContinue).ComputerName
$next = (Get-ItemProperty -LiteralPath ($cn + 'ComputerName') -Name ComputerName -ErrorAction SilentlyContinue).ComputerName
if ($active -and $next -and $active -ne $next) { $r = $true }
[Console]::Out.Write($(if ($r) { 'true' } else { 'false' }))
