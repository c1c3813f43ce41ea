//go:build !unix

package winrm

import "os/exec"

// ownProcessGroup does nothing without Unix process groups.
func ownProcessGroup(*exec.Cmd) {}

// killGroup kills cmd's process; WaitDelay bounds the wait for its
// children.
func killGroup(cmd *exec.Cmd) { _ = cmd.Process.Kill() }
