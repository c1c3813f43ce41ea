host "web1" {
  address = "10.0.0.11"
  groups  = ["linux"]
}

host "win1" {
  address   = "win1.corp.example"
  transport = "winrm"
  groups    = ["windows"]
  winrm {
    https    = true
    auth     = "ntlm"
    user     = "CORP\\ops"
    password = secret("env:WINRM_PASSWORD")
  }
}

group "linux" {
  vars = {
    motd_path       = "/etc/motd"
    editor_package  = "vim"
    time_service    = "chrony"
    cleanup_command = "/usr/bin/find /tmp -mtime +7 -delete"
  }
}

group "windows" {
  vars = {
    motd_path       = "C:\\ProgramData\\motd.txt"
    editor_package  = "vim"
    time_service    = "W32Time"
    cleanup_command = "forfiles /p C:\\Temp /d -7 /c \"cmd /c del @path\""
  }
}
