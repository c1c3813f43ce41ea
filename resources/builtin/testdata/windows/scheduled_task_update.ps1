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
$old = Get-ScheduledTask -TaskPath '\tend\' -TaskName $n -ErrorAction SilentlyContinue
if ($old) { [Console]::Out.Write((Export-ScheduledTask -TaskPath '\tend\' -TaskName $n)) }
$a = New-ScheduledTaskAction -Execute 'cmd.exe' -Argument '/c C:\Tools\backup.cmd'
$tr = New-ScheduledTaskTrigger -Daily -At '02:30'
$pr = New-ScheduledTaskPrincipal -UserId 'SYSTEM' -LogonType ServiceAccount -RunLevel Highest
$null = Register-ScheduledTask -TaskPath '\tend\' -TaskName $n -Action $a -Trigger $tr -Principal $pr -Description 'Managed by tend' -Force
# revert (stdin: 0 bytes)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$n = 'backup'
$null = Register-ScheduledTask -TaskPath '\tend\' -TaskName $n -Xml '<?xml version="1.0" encoding="UTF-16"?><Task version="1.4" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task"><Triggers><CalendarTrigger><StartBoundary>2026-01-01T03:00:00</StartBoundary><ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay></CalendarTrigger></Triggers></Task>' -Force
