# probe
$p = 'C:\ProgramData\Contoso'
$i = Get-Item -LiteralPath $p -Force -ErrorAction SilentlyContinue
if ($null -eq $i) { tendOut type 'absent'; return }
if ($i.Attributes -band [IO.FileAttributes]::ReparsePoint) { tendOut type 'link' } elseif ($i.PSIsContainer) { tendOut type 'directory' } else { tendOut type 'file'; tendOut size $i.Length }
$acl = Get-Acl -LiteralPath $p
tendOut owner $acl.Owner
tendOut owner_sid ($acl.GetOwner([Security.Principal.SecurityIdentifier]).Value)
try { tendOut want_owner_sid ((New-Object Security.Principal.NTAccount 'BUILTIN\Administrators').Translate([Security.Principal.SecurityIdentifier]).Value) } catch { tendOut want_owner_sid '' }
# apply (stdin: 0 bytes)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$p = 'C:\ProgramData\Contoso'
$null = New-Item -ItemType Directory -Path $p
$acl = Get-Acl -LiteralPath $p
$acl.SetOwner((New-Object Security.Principal.NTAccount 'BUILTIN\Administrators'))
Set-Acl -LiteralPath $p -AclObject $acl
# revert (stdin: 0 bytes)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$p = 'C:\ProgramData\Contoso'
if (Test-Path -LiteralPath $p) { Remove-Item -LiteralPath $p -Recurse -Force }
