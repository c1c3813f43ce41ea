// Package ssh is tend's SSH transport: one connection per host for a whole
// run, on golang.org/x/crypto/ssh, configured like OpenSSH.
//
// # Connecting
//
// Dial merges the inventory host, Options and ~/.ssh/config (Host,
// HostName, User, Port, IdentityFile, ProxyJump, StrictHostKeyChecking,
// UserKnownHostsFile, HostKeyAlias, IdentitiesOnly, IdentityAgent,
// ConnectTimeout, ServerAliveInterval/CountMax, HashKnownHosts), in that
// order of precedence. The ssh config is matched against the host's address
// (its name when it has none), as `ssh ADDRESS` would. ProxyJump chains are
// dialled hop by hop through direct-tcpip channels; every hop's key is
// checked against known_hosts and every hop counts in Stats.Connections.
//
// Host keys are verified against known_hosts by default. An unknown key is
// an *UnknownHostKeyError whose message gives the ssh-keyscan command that
// records it; accept-new (Options.AcceptNewHostKeys or the ssh config)
// records unknown keys instead, under a lock. A changed key is always a
// *HostKeyChangedError, whatever the mode, StrictHostKeyChecking=no
// included. The client asks for the host key algorithms of the recorded
// keys, so a server with several keys shows the one we know.
//
// Authentication tries identity files named by the inventory or ssh
// config, then ssh-agent keys, then ~/.ssh/id_ed25519, id_ecdsa and id_rsa,
// then the inventory password (password and keyboard-interactive). tend
// never prompts: an encrypted key is skipped (or used through the agent
// when its public key is there) and, if authentication fails, the error
// says which files were skipped and why.
//
// # Running scripts
//
// Scripts run on workers: a worker is one exec session running a small
// POSIX sh loop (workerProgram) that reads framed scripts, runs them one
// after another and answers with their exit status, stdout and stderr.
// The first Run starts a worker, its script written right behind the
// worker program, so it costs one session and one round trip like a Run
// of its own; every later Run on the connection is a frame on that
// session, a round trip without the server's fork, session setup and
// bootstrap (and with become, sudo runs once, for the worker). A Run
// marked OneShot (the probe: a plan's only script, and an apply's when
// nothing is to change) takes a session of its own while no worker is
// open instead: the worker would add its own processes on the host
// (mktemp, dd, setsid, cat, rm) to a run that sends no second script; an
// apply with changes then starts the worker for them, two sessions in
// all. Concurrent Runs each take
// a worker of their own, started as needed, up to Options.MaxSessions/2;
// beyond that they wait for one to be free. Stats counts worker sessions
// and scripts.
//
// The worker copies each script and its stdin, exactly, into files of a
// private temporary directory (mode 0700, in /dev/shm when it can, removed
// when the worker ends), and runs `setsid /bin/sh SCRIPT` with stdin from
// that file (or /dev/null) and stdout and stderr to files, which it sends
// back with their lengths once the script ends. So:
//
//   - a script sees its own stdin and EOF after it, never the frames that
//     follow, and a fresh shell: nothing of an earlier script (variables,
//     directory, traps) but the host's state;
//   - each script is a process group and session of its own, whose PID the
//     worker reports when it starts: cancelling a Run kills exactly that
//     group, from a second session (see below), and the worker takes the
//     next script once it is gone;
//   - a process a script leaves behind writes into files already removed,
//     never into a later script's output;
//   - a worker that dies (killed, connection lost) fails the Run it was
//     running with the reason, never hangs it; the next Run starts another;
//   - a script never outlives its controller: the frames reach the worker
//     through a relay (cat into a FIFO), the only reader of the session's
//     input, which sshd closes when the controller dies or the connection
//     drops; the relay then kills the running script's process group, and
//     the worker ends and removes its directory. A Run that fails because
//     the connection dropped returns an error wrapping
//     transport.ErrConnLost.
//
// A Run whose stdin is streamed (a reader that does not know its length)
// or larger than 16 MiB, and every Run with Options.SessionPerRun (or a OneShot while no worker is
// open), take an exec session of their own,
// as described next; so do all Runs on a host that lacks setsid, dd or
// head, or a writable temporary directory (the worker says so and tend
// warns once).
//
// An exec session carries only a fixed one-line bootstrap
// (`/bin/sh -c '...'`, behind `sudo` with become); the script itself
// travels on stdin, framed by a random header line and its length, ahead
// of the caller's stdin (a worker is started the same way, its script
// being the worker program):
//
//   - argv cannot carry large scripts (Linux limits one argument to
//     128 KiB, and sshd hands the whole command to the login shell as one);
//   - a temporary file would cost a second round trip and leave files behind
//     when the connection drops;
//   - plain `sh -s` cannot tell the script from the script's own stdin.
//
// The bootstrap reads the header, then exactly LENGTH bytes with
// single-read `dd` calls (each read(2) returns at most what is asked, so
// nothing after the script is consumed), and evals them; the script then
// reads the caller's bytes, binary or not, to EOF. Scripts may not contain
// NUL bytes. The bootstrap first prints a per-run marker on stdout, which
// Run strips: when it is missing, the shell never started (sudo refused,
// nologin account) and Run returns an error rather than an exit status.
//
// With become, scripts run as
//
//	sudo -S -p '' -u USER -- /bin/sh -c 'BOOTSTRAP'
//
// with the password as the first line of stdin (never in argv or the
// environment; `sudo -n` without a password). Two empty lines follow it so
// that a wrong password ends with sudo's "incorrect password attempts"
// instead of sudo reading the script; the bootstrap skips whatever sudo did
// not read. A refusal is a *BecomeError whose message
// never contains the password.
//
// Inventory's BecomeMethod "su" runs `su USER -c '/bin/sh -c ...'` with
// the password alone on the first line of stdin (su reads it there when
// there is no terminal, and a wrong one ends it at once); "doas" runs
// `doas -n -u USER /bin/sh -c ...` and needs a nopass rule, since doas
// reads a password only from a terminal. Dial refuses doas with a
// password, any other method, and a host whose ShellType is powershell
// or cmd, naming the Ansible variable.
//
// Cancelling a Run's context returns the context's error at once; in the
// background the transport kills the script's process group from a second
// session (TERM, then KILL after two seconds): the group the worker
// reported, or for a session of its own the one the bootstrap reported
// next to its marker, after sending TERM through the channel (sshd
// honours it for non-root logins only) and closing it. Children of the
// script die with it, under sudo too.
//
// # Run lock
//
// Lock (transport.Locker) takes the host's run lock: an exec session of
// its own runs a shell that opens the lock file (Options.LockPath, else
// tend.lock in /run/lock, /var/lock or /tmp, whichever exists first;
// created 0644, opened read-only so that root and unprivileged logins
// lock the same file), takes an flock with flock(1) (polling every 0.2 s
// up to the wait), writes the holder record next to it (tend.lock.holder:
// "key=value" lines, see transport.LockInfo.MarshalText, plus host_pid)
// and then blocks reading its input. Release closes that input; so does
// sshd when the controller dies or the connection drops: the shell exits
// and the host's kernel releases the flock. A busy lock is a
// *transport.LockedError naming the holder from its record. The session
// counts in MaxSessions (which must then be 2 or more).
//
// # Files
//
// SendFile (transport.FileSender) uses one sftp session per transport, a
// subsystem channel on the connection opened on first use (no new login):
// it writes the stream into a new file in a private staging directory
// (mode 0700, made before the file) next to the target, or, with become
// (sftp runs as the login user), in the login user's home; the caller's
// script, run with become, verifies the file and renames or moves it into
// place. When the server has no sftp, SendFile says so (ErrNoSFTP, which
// wraps errors.ErrUnsupported) and the caller streams the content on a
// script's stdin instead.
package ssh
