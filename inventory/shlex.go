package inventory

import "github.com/tendhq/tend/shell"

// shlexSplit splits a line as Python's shlex.split does in POSIX mode,
// which Ansible uses for INI host lines and ssh arguments.
func shlexSplit(s string, comments bool) ([]string, error) { return shell.Split(s, comments) }
