# probe
$n = 'backup'
$t = Get-ScheduledTask -TaskPath '\tend\' -TaskName $n -ErrorAction SilentlyContinue
if ($null -eq $t) { tendOut present 'false'; return }
tendOut present 'true'
$a = @($t.Actions)
tendOut actions $a.Count
if ($a.Count -ge 1) { tendOut execute $a[0].Execute; tendOut arguments $a[0].Arguments }
tendOut user $t.Principal.UserId
$tr = @($t.Triggers)
tendOut triggers $tr.Count
foreach ($x in $tr) {
  $at = if ($x.StartBoundary) { ([string]$x.StartBoundary).Substring(11, 5) } else { '' }
  $rep = if ($x.Repetition) { [string]$x.Repetition.Interval } else { '' }
  $k = switch ($x.CimClass.CimClassName) {
    'MSFT_TaskDailyTrigger' { if ($rep -eq 'PT1H') { 'hourly' } elseif ($x.DaysInterval -eq 1) { 'daily ' + $at } else { 'daily/' + $x.DaysInterval + ' ' + $at } }
    'MSFT_TaskWeeklyTrigger' { 'weekly ' + $x.DaysOfWeek + ' ' + $at }
    'MSFT_TaskBootTrigger' { 'boot' }
    'MSFT_TaskTimeTrigger' { if ($rep -eq 'PT1H') { 'hourly' } else { 'once ' + $at } }
    default { $x.CimClass.CimClassName }
  }
  if (-not $x.Enabled) { $k += ' (disabled)' }
  tendOut trigger $k
}
# apply (stdin: 0 bytes)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$n = 'backup'
$a = New-ScheduledTaskAction -Execute 'C:\Tools\backup.exe' -Argument '--target "D:\Backups"'
$tr = New-ScheduledTaskTrigger -Weekly -DaysOfWeek 'Monday','Tuesday','Wednesday','Thursday','Friday' -At '02:30'
$pr = New-ScheduledTaskPrincipal -UserId 'SYSTEM' -LogonType ServiceAccount -RunLevel Highest
$null = Register-ScheduledTask -TaskPath '\tend\' -TaskName $n -Action $a -Trigger $tr -Principal $pr -Description 'Managed by tend' -Force
# revert (stdin: 0 bytes)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$n = 'backup'
if (Get-ScheduledTask -TaskPath '\tend\' -TaskName $n -ErrorAction SilentlyContinue) { Unregister-ScheduledTask -TaskPath '\tend\' -TaskName $n -Confirm:$false }
