// Package line is the line resource type: one line of a text file present
// or absent, the rest of the file untouched (Ansible's lineinfile). The
// edit is computed on the controller with Go regexps: the probe returns
// the file's bytes, Resolve makes the desired content the current one
// with the edit applied (so the plan shows a diff), and Apply reads the
// file again and edits what it finds, so several line resources can edit
// one file in a run.
package line
