# tend:download
$p = 'C:\ProgramData\tend\it''s ‘‘quoted’’ $(x) `n.txt'
if ([IO.Directory]::Exists($p)) { [Console]::Error.WriteLine('tend: is a directory: ' + $p); exit 4 }
if (-not [IO.File]::Exists($p)) { [Console]::Error.WriteLine('tend: no such file: ' + $p); exit 3 }
$f = [IO.File]::Open($p, [IO.FileMode]::Open, [IO.FileAccess]::Read, [IO.FileShare]::ReadWrite)
try {
    $h = [Security.Cryptography.SHA256]::Create()
    $b = New-Object byte[] 49152
    $o = [Console]::Out
    while (($n = $f.Read($b, 0, $b.Length)) -gt 0) {
        $null = $h.TransformBlock($b, 0, $n, $null, 0)
        $o.Write([Convert]::ToBase64String($b, 0, $n))
        $o.Write("`n")
    }
    $null = $h.TransformFinalBlock($b, 0, 0)
    $o.Write('sha256:' + ([BitConverter]::ToString($h.Hash) -replace '-', '').ToLowerInvariant() + "`n")
} finally {
    $f.Dispose()
}
