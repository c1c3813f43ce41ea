# tend:upload
$p = 'C:\ProgramData\tend\it''s ‘‘quoted’’ $(x) `n.txt'
$d = [IO.Path]::GetDirectoryName($p)
if (-not $d -or -not [IO.Directory]::Exists($d)) { [Console]::Error.WriteLine('tend: no such directory: ' + $d); exit 3 }
$t = [IO.Path]::Combine($d, '.tend-' + [Guid]::NewGuid().ToString('N') + '.tmp')
$f = [IO.File]::Open($t, [IO.FileMode]::CreateNew, [IO.FileAccess]::Write, [IO.FileShare]::None)
try {
    $null = Copy-TendStdin $f
    $f.Dispose()
    if ([IO.File]::Exists($p)) { [IO.File]::Replace($t, $p, [NullString]::Value) } else { [IO.File]::Move($t, $p) }
} catch {
    $f.Dispose()
    [IO.File]::Delete($t)
    throw
}
