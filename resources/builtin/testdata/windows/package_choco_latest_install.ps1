# probe
$n = 'git'
$root = if ($env:ChocolateyInstall) { $env:ChocolateyInstall } else { Join-Path $env:ProgramData 'chocolatey' }
if (-not (Test-Path -LiteralPath (Join-Path $root 'choco.exe'))) { tendOut choco 'false'; return }
tendOut choco 'true'
$q = & { $ErrorActionPreference = 'Continue'; & (Join-Path $root 'choco.exe') search $n --exact --limit-output 2>&1 | ForEach-Object { [string]$_ } }
tendOut search.rc $LASTEXITCODE
$i = 0
foreach ($l in $q) { $i++; tendOut ('search.' + $i) $l }
$d = Get-ChildItem -LiteralPath (Join-Path $root 'lib') -Directory | Where-Object { $_.Name -eq $n } | Select-Object -First 1
$ns = if ($d) { Join-Path $d.FullName ($d.Name + '.nuspec') }
if (-not $ns -or -not (Test-Path -LiteralPath $ns)) { tendOut installed 'false'; return }
$x = New-Object Xml.XmlDocument
$x.Load($ns)
tendOut installed 'true'
$v = $x.DocumentElement.metadata.version
tendOut version $v
tendOut pinned (Test-Path -LiteralPath (Join-Path $root ('.chocolatey\' + $d.Name + '.' + $v + '\.pin')))
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
tendExec 'choco install' { choco.exe install 'git' -y --no-progress --limit-output --version '2.47.1' }
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
tendExec 'choco uninstall' { choco.exe uninstall 'git' -y --no-progress --limit-output }
