# script
$ErrorActionPreference = 'Continue'
try { [Console]::OutputEncoding = [Text.UTF8Encoding]::new($false) } catch { }
$wg = Get-Command -Name winget.exe -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1 -ExpandProperty Path
if (-not $wg) {
  $wg = Get-ChildItem -Path (Join-Path $env:ProgramFiles 'WindowsApps') -Filter 'Microsoft.DesktopAppInstaller_*_8wekyb3d8bbwe' -Directory -ErrorAction SilentlyContinue |
    Sort-Object -Property { [version](($_.Name -split '_')[1]) } -Descending |
    ForEach-Object { Join-Path $_.FullName 'winget.exe' } |
    Where-Object { Test-Path -LiteralPath $_ } | Select-Object -First 1
}
if (-not $wg) { [Console]::Out.WriteLine('tend-winget-missing'); exit 0 }
& $wg upgrade --accept-source-agreements --disable-interactivity 2>&1 | ForEach-Object { [Console]::Out.WriteLine([string]$_) }
[Console]::Out.WriteLine('tend-winget-exit ' + $LASTEXITCODE)
# script
$ErrorActionPreference = 'Continue'
try { [Console]::OutputEncoding = [Text.UTF8Encoding]::new($false) } catch { }
$wg = Get-Command -Name winget.exe -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1 -ExpandProperty Path
if (-not $wg) {
  $wg = Get-ChildItem -Path (Join-Path $env:ProgramFiles 'WindowsApps') -Filter 'Microsoft.DesktopAppInstaller_*_8wekyb3d8bbwe' -Directory -ErrorAction SilentlyContinue |
    Sort-Object -Property { [version](($_.Name -split '_')[1]) } -Descending |
    ForEach-Object { Join-Path $_.FullName 'winget.exe' } |
    Where-Object { Test-Path -LiteralPath $_ } | Select-Object -First 1
}
if (-not $wg) { [Console]::Out.WriteLine('tend-winget-missing'); exit 0 }
& $wg upgrade --id '9N0DX20HK701' --exact --version '1.21.2911.0' --source 'msstore' --silent --accept-source-agreements --accept-package-agreements --disable-interactivity 2>&1 | ForEach-Object { [Console]::Out.WriteLine([string]$_) }
[Console]::Out.WriteLine('tend-winget-exit ' + $LASTEXITCODE)
& $wg upgrade --id 'Git.Git' --exact --version '2.47.1' --source 'winget' --silent --accept-source-agreements --accept-package-agreements --disable-interactivity 2>&1 | ForEach-Object { [Console]::Out.WriteLine([string]$_) }
[Console]::Out.WriteLine('tend-winget-exit ' + $LASTEXITCODE)
& $wg upgrade --id 'Microsoft.VCRedist.2015+.x64' --exact --version '14.42.34433.0' --source 'winget' --silent --accept-source-agreements --accept-package-agreements --disable-interactivity 2>&1 | ForEach-Object { [Console]::Out.WriteLine([string]$_) }
[Console]::Out.WriteLine('tend-winget-exit ' + $LASTEXITCODE)
& $wg upgrade --id 'Notepad++.Notepad++' --exact --version '8.7.4' --source 'winget' --silent --accept-source-agreements --accept-package-agreements --disable-interactivity 2>&1 | ForEach-Object { [Console]::Out.WriteLine([string]$_) }
[Console]::Out.WriteLine('tend-winget-exit ' + $LASTEXITCODE)
& $wg upgrade --id 'Tencent.WeChat' --exact --version '3.9.12.17' --source 'winget' --silent --accept-source-agreements --accept-package-agreements --disable-interactivity 2>&1 | ForEach-Object { [Console]::Out.WriteLine([string]$_) }
[Console]::Out.WriteLine('tend-winget-exit ' + $LASTEXITCODE)
# script
$ErrorActionPreference = 'Continue'
try { [Console]::OutputEncoding = [Text.UTF8Encoding]::new($false) } catch { }
$wg = Get-Command -Name winget.exe -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1 -ExpandProperty Path
if (-not $wg) {
  $wg = Get-ChildItem -Path (Join-Path $env:ProgramFiles 'WindowsApps') -Filter 'Microsoft.DesktopAppInstaller_*_8wekyb3d8bbwe' -Directory -ErrorAction SilentlyContinue |
    Sort-Object -Property { [version](($_.Name -split '_')[1]) } -Descending |
    ForEach-Object { Join-Path $_.FullName 'winget.exe' } |
    Where-Object { Test-Path -LiteralPath $_ } | Select-Object -First 1
}
if (-not $wg) { [Console]::Out.WriteLine('tend-winget-missing'); exit 0 }
& $wg upgrade --accept-source-agreements --disable-interactivity 2>&1 | ForEach-Object { [Console]::Out.WriteLine([string]$_) }
[Console]::Out.WriteLine('tend-winget-exit ' + $LASTEXITCODE)
