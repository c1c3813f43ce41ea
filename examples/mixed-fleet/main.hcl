# One baseline for Linux and Windows hosts: every resource below is the
# same declaration on both, and each host gets the provider of its OS
# (sh over SSH on Linux, PowerShell over WinRM on Windows). Values that
# differ per OS come from inventory group vars (inventory.hcl), which are
# known before facts, so each host is still probed in one round trip.
#
#   WINRM_PASSWORD=... tend validate -C examples/mixed-fleet   # no connection
#   WINRM_PASSWORD=... tend plan -C examples/mixed-fleet

role "baseline" {
  hosts = "all"

  file "motd" {
    path    = host.vars.motd_path
    content = "Managed by tend. Hands off ${host.name}.\n"
  }

  package "editor" {
    name = host.vars.editor_package # apt on Debian, Chocolatey on Windows
  }

  service "time" {
    name    = host.vars.time_service # chrony / W32Time
    running = true
  }

  scheduled_task "cleanup" { # cron on Linux, Task Scheduler on Windows
    schedule = "15 3 * * *"
    command  = host.vars.cleanup_command
  }
}

# Windows only: registry_value is a plan error on other hosts.
role "windows_hardening" {
  hosts = "os:windows"

  registry_value "no_autorun" {
    hive = "HKLM"
    key  = "SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\Explorer"
    name = "NoDriveTypeAutoRun"
    type = "dword"
    data = 255
  }

  service "spooler" {
    name       = "Spooler"
    running    = false
    start_mode = "disabled"
  }
}
