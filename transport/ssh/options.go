package ssh

import (
	"io"
	"time"
)

const (
	defaultConnectTimeout = 10 * time.Second
	defaultKeepAlive      = 15 * time.Second
	// defaultMaxSessions stays under sshd's MaxSessions (10) with room for
	// the sftp subsystem's channel.
	defaultMaxSessions = 8
)

// Options tune a Dial. The zero value is the safe default: host keys
// checked strictly against known_hosts, ~/.ssh/config honoured.
type Options struct {
	// ConnectTimeout bounds TCP connect plus SSH handshake and
	// authentication, per hop. Zero means ssh config's ConnectTimeout, else
	// 10s.
	ConnectTimeout time.Duration
	// KeepAlive is the interval between keepalive@openssh.com requests; the
	// connection is closed when KeepAliveCountMax intervals pass without a
	// reply. Zero means ssh config's ServerAliveInterval, else 15s;
	// negative disables keepalives.
	KeepAlive time.Duration
	// KeepAliveCountMax is how many intervals a reply may take. Zero means
	// ssh config's ServerAliveCountMax, else 3.
	KeepAliveCountMax int
	// MaxSessions bounds the exec sessions open at once on the connection
	// (workers included: at most MaxSessions/2 of them). Zero means 8;
	// keep it below the server's MaxSessions (OpenSSH: 10), which also
	// counts the sftp channel.
	MaxSessions int
	// SessionPerRun runs every script in an exec session of its own, as
	// tend did before workers: each Run then costs the server a session
	// (a fork, PAM, sudo with become) instead of a round trip on a worker.
	SessionPerRun bool
	// AcceptNewHostKeys records the keys of hosts not yet in known_hosts
	// (StrictHostKeyChecking=accept-new). Changed keys are still refused.
	AcceptNewHostKeys bool
	// SSHConfigPath replaces ~/.ssh/config and /etc/ssh/ssh_config, like
	// ssh -F; "none" reads no config at all.
	SSHConfigPath string
	// KnownHostsPath replaces the user known_hosts file(s) (default
	// ~/.ssh/known_hosts, or UserKnownHostsFile from ssh config).
	KnownHostsPath string
	// AgentSocket is the ssh-agent socket; empty means ssh config's
	// IdentityAgent, else $SSH_AUTH_SOCK; "none" disables the agent.
	AgentSocket string
	// Home is where ~ points for config, known_hosts and default identity
	// files; empty means the current user's home directory.
	Home string
	// LockPath is the host's run lock file (see Transport.Lock); empty
	// means tend.lock in the first of /run/lock, /var/lock and /tmp that
	// the host has. Every run locking a host must use the same path.
	LockPath string
	// Jumps, when set, shares jump host connections with the other
	// Transports dialled with the same JumpHosts (one connection per
	// bastion instead of one per host). Nil gives each Transport its own.
	Jumps *JumpHosts
	// Stderr receives warnings and notices (host keys recorded). Nil
	// discards them.
	Stderr io.Writer
}

func (o Options) withDefaults() Options {
	if o.MaxSessions <= 0 {
		o.MaxSessions = defaultMaxSessions
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	return o
}
