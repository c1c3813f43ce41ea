# probe
$p = 'C:\ProgramData\Contoso\app.conf'
$i = Get-Item -LiteralPath $p -Force -ErrorAction SilentlyContinue
if ($null -eq $i) { tendOut type 'absent'; return }
if ($i.Attributes -band [IO.FileAttributes]::ReparsePoint) { tendOut type 'link' } elseif ($i.PSIsContainer) { tendOut type 'directory' } else { tendOut type 'file'; tendOut size $i.Length }
$acl = Get-Acl -LiteralPath $p
tendOut owner $acl.Owner
tendOut owner_sid ($acl.GetOwner([Security.Principal.SecurityIdentifier]).Value)
if (-not $i.PSIsContainer) {
  $h = (Get-FileHash -LiteralPath $p -Algorithm SHA256).Hash.ToLowerInvariant()
  tendOut sha256 $h
  if ($h -ne 'f37c6e2fbff0441017bd01bb7d47e00e4d9303db26e0b865a529e56d8a77bfb1' -and $i.Length -le 262144) { tendOut content (tendB64 $p) }
}
# apply (stdin: 15 bytes)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$p = 'C:\ProgramData\Contoso\app.conf'
$b = 'C:\ProgramData\tend\backup\RUN-ID\001-dc33263b-app.conf'
$null = New-Item -ItemType Directory -Force -Path ([IO.Path]::GetDirectoryName($b))
Copy-Item -LiteralPath $p -Destination $b -Force
$t = [IO.Path]::Combine([IO.Path]::GetDirectoryName($p), '.tend-' + [Guid]::NewGuid().ToString('N') + '.tmp')
$f = [IO.File]::Open($t, [IO.FileMode]::CreateNew, [IO.FileAccess]::Write, [IO.FileShare]::None)
try {
  $null = Copy-TendStdin $f
  $f.Dispose()
  if ((Get-FileHash -LiteralPath $t -Algorithm SHA256).Hash -ne 'F37C6E2FBFF0441017BD01BB7D47E00E4D9303DB26E0B865A529E56D8A77BFB1') { throw 'tend: content damaged in transit' }
  if ([IO.File]::Exists($p)) { [IO.File]::Replace($t, $p, [NullString]::Value) } else { [IO.File]::Move($t, $p) }
} catch {
  $f.Dispose()
  [IO.File]::Delete($t)
  throw
}
# revert (stdin: 0 bytes)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$p = 'C:\ProgramData\Contoso\app.conf'
$t = [IO.Path]::Combine([IO.Path]::GetDirectoryName($p), '.tend-restore-' + [Guid]::NewGuid().ToString('N') + '.tmp')
try {
  Copy-Item -LiteralPath 'C:\ProgramData\tend\backup\RUN-ID\001-dc33263b-app.conf' -Destination $t
  if ([IO.File]::Exists($p)) { [IO.File]::Replace($t, $p, [NullString]::Value) } else { [IO.File]::Move($t, $p) }
} finally {
  if ([IO.File]::Exists($t)) { [IO.File]::Delete($t) }
}
