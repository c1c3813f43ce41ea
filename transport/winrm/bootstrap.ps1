# tend's PowerShell bootstrap: the fixed program behind -EncodedCommand.
# It reads the framed script from standard input (see launch.go), prints
# the run marker, and runs the script; the script reads what follows, the
# caller's stdin, with Read-TendStdin, Read-TendStdinText or
# Copy-TendStdin. Comment lines and indentation are stripped before
# encoding; names starting with "tend" are reserved.
$ProgressPreference = 'SilentlyContinue'
$ErrorActionPreference = 'Stop'
$tendUTF8 = New-Object Text.UTF8Encoding $false
# The shell's code page is 65001 already (WINRS_CODEPAGE); a process
# without a console cannot set it, which must not stop the bootstrap.
try { [Console]::OutputEncoding = $tendUTF8 } catch { }
$OutputEncoding = $tendUTF8
$tendIn = $input
function tendLine {
    if (-not $tendIn.MoveNext()) { [Console]::Error.WriteLine('tend-bootstrap: script stream truncated'); exit 125 }
    [string]$tendIn.Current
}
function tendHex([byte[]]$b) { ([BitConverter]::ToString($b) -replace '-', '').ToLowerInvariant() }
# Header: tend:NONCE:script:LENGTH:SHA256, then the script in base64 lines,
# then tend:NONCE:stdin.
$tendHead = (tendLine).Split(':')
if ($tendHead.Count -ne 5 -or $tendHead[0] -ne 'tend' -or $tendHead[2] -ne 'script') { [Console]::Error.WriteLine('tend-bootstrap: script stream truncated'); exit 125 }
$tendNonce = $tendHead[1]
$tendBuf = New-Object IO.MemoryStream
while (($tendL = tendLine) -ne "tend:${tendNonce}:stdin") { $tendB = [Convert]::FromBase64String($tendL); $tendBuf.Write($tendB, 0, $tendB.Length) }
$tendBytes = $tendBuf.ToArray()
if ($tendBytes.Length -ne [int64]$tendHead[3] -or (tendHex ([Security.Cryptography.SHA256]::Create().ComputeHash($tendBytes))) -ne $tendHead[4]) { [Console]::Error.WriteLine('tend-bootstrap: script stream truncated'); exit 125 }
# The caller's stdin: base64 lines, then tend:NONCE:eof:LENGTH:SHA256.
$tendStdin = @{ Done = $false; N = [int64]0; Hash = [Security.Cryptography.SHA256]::Create() }
function Read-TendStdinChunk {
    if ($tendStdin.Done) { return $null }
    $l = tendLine
    if ($l.StartsWith("tend:${tendNonce}:eof:")) {
        $tendStdin.Done = $true
        $f = $l.Split(':')
        $null = $tendStdin.Hash.TransformFinalBlock((New-Object byte[] 0), 0, 0)
        if ($tendStdin.N -ne [int64]$f[3] -or (tendHex $tendStdin.Hash.Hash) -ne $f[4]) { throw 'tend: stdin was damaged in transit (length or SHA-256 mismatch)' }
        return $null
    }
    $b = [Convert]::FromBase64String($l)
    $null = $tendStdin.Hash.TransformBlock($b, 0, $b.Length, $null, 0)
    $tendStdin.N += $b.Length
    , $b
}
function Copy-TendStdin([IO.Stream]$To) {
    $n = [int64]0
    while ($null -ne ($b = Read-TendStdinChunk)) { $To.Write($b, 0, $b.Length); $n += $b.Length }
    $n
}
function Read-TendStdin { $m = New-Object IO.MemoryStream; $null = Copy-TendStdin $m; , $m.ToArray() }
function Read-TendStdinText { $tendUTF8.GetString((Read-TendStdin)) }
[Console]::Out.Write('tend:' + $tendNonce + ':run:')
try {
    $tendScript = [ScriptBlock]::Create($tendUTF8.GetString($tendBytes))
    & $tendScript
} catch {
    [Console]::Error.WriteLine(($_.Exception.Message + "`n" + $_.InvocationInfo.PositionMessage).Trim())
    exit 1
}
exit 0
