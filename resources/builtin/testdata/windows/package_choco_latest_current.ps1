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
