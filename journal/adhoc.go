package journal

import "time"

// AdHoc is what an ad-hoc run (tend run) ran: a command line or a
// script. The journal keeps it for the audit trail; the known secret
// values it holds are redacted before it is recorded.
type AdHoc struct {
	// Command is the command as given (POSIX sh, or PowerShell on
	// WinRM hosts); empty when a script file ran.
	Command string `json:"command,omitempty"`
	// Script is the path of the script file that ran, and ScriptSHA256
	// the SHA-256 of its contents then.
	Script       string `json:"script,omitempty"`
	ScriptSHA256 string `json:"script_sha256,omitempty"`
	// Timeout bounded each host's connection and command (0: none).
	Timeout time.Duration `json:"timeout_ns,omitempty"`
	// Stdin says tend's standard input was given to the command.
	Stdin bool `json:"stdin,omitempty"`
	// Become says the run asked every host to become another user,
	// BecomeUser (root when empty), whatever its inventory says.
	Become     bool   `json:"become,omitempty"`
	BecomeUser string `json:"become_user,omitempty"`
	// ReadOnly says the operator declared the command only reads: the
	// run took no lease on its hosts.
	ReadOnly bool `json:"read_only,omitempty"`
}

// CommandResult is what an ad-hoc command left on one host. The output
// itself is not kept (it may hold secrets): its keyed digests tell
// which hosts answered alike and let a copy of it be checked.
type CommandResult struct {
	// ExitStatus is the command's, when it ran to its end.
	ExitStatus *int `json:"exit_status,omitempty"`
	// Root says the command ran as root (a root login or become).
	Root     bool         `json:"root,omitempty"`
	Stdout   OutputDigest `json:"stdout"`
	Stderr   OutputDigest `json:"stderr"`
	Started  time.Time    `json:"started,omitzero"`
	Finished time.Time    `json:"finished,omitzero"`
}

// OutputDigest describes one output stream by its length and its keyed
// digest ("hmac-sha256:HEX", under the user's digest key).
type OutputDigest struct {
	Bytes  int    `json:"bytes"`
	Digest string `json:"digest,omitempty"`
}
