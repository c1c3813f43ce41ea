//go:build !unix

package inventory

import "os/exec"

// isExecFormatError reports whether the system refused to execute a
// file because it is not a program. Outside Unix executable mode bits do
// not mark scripts, so this is never reported.
func isExecFormatError(error) bool { return false }

// killProcessGroup leaves cancellation to exec's default (killing the
// process); Cmd.WaitDelay bounds the wait for its children.
func killProcessGroup(*exec.Cmd) {}
