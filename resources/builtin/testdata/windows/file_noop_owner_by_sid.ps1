# probe
$p = 'C:\ProgramData\Contoso\app.conf'
$i = Get-Item -LiteralPath $p -Force -ErrorAction SilentlyContinue
if ($null -eq $i) { tendOut type 'absent'; return }
if ($i.Attributes -band [IO.FileAttributes]::ReparsePoint) { tendOut type 'link' } elseif ($i.PSIsContainer) { tendOut type 'directory' } else { tendOut type 'file'; tendOut size $i.Length }
$acl = Get-Acl -LiteralPath $p
tendOut owner $acl.Owner
tendOut owner_sid ($acl.GetOwner([Security.Principal.SecurityIdentifier]).Value)
try { tendOut want_owner_sid ((New-Object Security.Principal.NTAccount 'Administrators').Translate([Security.Principal.SecurityIdentifier]).Value) } catch { tendOut want_owner_sid '' }
if (-not $i.PSIsContainer) {
  $h = (Get-FileHash -LiteralPath $p -Algorithm SHA256).Hash.ToLowerInvariant()
  tendOut sha256 $h
  if ($h -ne 'f37c6e2fbff0441017bd01bb7d47e00e4d9303db26e0b865a529e56d8a77bfb1' -and $i.Length -le 262144) { tendOut content (tendB64 $p) }
}
