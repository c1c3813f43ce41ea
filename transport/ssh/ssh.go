package ssh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"
	gossh "golang.org/x/crypto/ssh"

	"github.com/tendhq/tend/inventory"
	"github.com/tendhq/tend/transport"
)

var _ transport.Transport = (*Transport)(nil)

// Transport is one SSH connection to a host (through its jump hosts, if
// any), shared by every Run and SendFile of a tend run. It is safe
// for concurrent use; at most Options.MaxSessions commands run at once.
type Transport struct {
	name   string
	client *gossh.Client
	hops   []func() // close (or release, when shared) the jump host connections, nearest first
	become *become
	warn   io.Writer

	sem chan struct{}
	// lockPath is Options.LockPath.
	lockPath string
	// pool holds the workers that run scripts; nil with
	// Options.SessionPerRun.
	pool *pool

	connections atomic.Int64
	sessions    atomic.Int64
	workers     atomic.Int64
	scripts     atomic.Int64
	sftpOpened  atomic.Int64

	done      chan struct{}
	closeOnce sync.Once
	closeErr  error

	lostMu sync.Mutex
	lost   error         // why the connection died, when it did by itself
	lostc  chan struct{} // closed when lost is set

	sftpMu  sync.Mutex
	sftp    *sftp.Client
	sftpErr error // why sftp cannot be used on this host (cached)
}

// Stats counts what a Transport has opened, for tests and benchmarks.
type Stats struct {
	// Connections is the number of SSH connections made: one for the
	// target plus one per jump host (a jump connection shared through
	// Options.Jumps counts for the Transport that opened it).
	Connections int64
	// Sessions is the number of exec sessions opened: the workers, one
	// per Run that could not use a worker or was a OneShot with no worker
	// open, and one per cancelled script killed.
	Sessions int64
	// WorkerSessions is how many of Sessions were workers (at most
	// MaxSessions/2 at a time; usually one for a whole run).
	WorkerSessions int64
	// Scripts is the number of scripts run (every Run), whatever session
	// carried it.
	Scripts int64
	// SFTPSessions is the number of sftp subsystem sessions (at most one).
	SFTPSessions int64
}

// Stats returns the counters so far.
func (t *Transport) Stats() Stats {
	return Stats{
		Connections:    t.connections.Load(),
		Sessions:       t.sessions.Load(),
		WorkerSessions: t.workers.Load(),
		Scripts:        t.scripts.Load(),
		SFTPSessions:   t.sftpOpened.Load(),
	}
}

// Dial connects to h, through h's jump hosts, verifying every host key and
// authenticating with the agent, identity files or h.Password. The
// connection lasts until Close. Errors name the host and the step that
// failed ("ssh web1: dial: ...") and wrap the cause; host key problems are
// *UnknownHostKeyError or *HostKeyChangedError.
func Dial(ctx context.Context, h *inventory.Host, opts Options) (*Transport, error) {
	opts = opts.withDefaults()
	name := h.Name
	if name == "" {
		name = h.Address
	}
	if name == "" {
		return nil, errors.New("ssh: dial: host has neither a name nor an address")
	}
	s, err := resolve(h, &opts)
	if err != nil {
		return nil, fmt.Errorf("ssh %s: config: %w", name, err)
	}
	t := &Transport{
		name:     name,
		warn:     opts.Stderr,
		sem:      make(chan struct{}, opts.MaxSessions),
		done:     make(chan struct{}),
		lostc:    make(chan struct{}),
		lockPath: opts.LockPath,
	}
	if !opts.SessionPerRun {
		// Half the session slots at most: Runs that cannot use a worker
		// (streamed stdin) still find a slot.
		t.pool = newPool(opts.MaxSessions / 2)
	}
	if err := checkShell(h); err != nil {
		return nil, fmt.Errorf("ssh %s: %w", name, err)
	}
	if h.Become {
		t.become = &become{method: h.BecomeMethod, user: h.BecomeUser, password: h.BecomePassword}
		if t.become.user == "" {
			t.become.user = "root"
		}
		switch t.become.method {
		case "", "sudo", "su":
		case "doas":
			if t.become.password != "" {
				return nil, fmt.Errorf("ssh %s: ansible_become_method = doas with a become password: doas reads a password only from a terminal, which tend does not use; give the login user a nopass rule in doas.conf, or become with sudo or su", name)
			}
		default:
			return nil, fmt.Errorf("ssh %s: ansible_become_method = %s is not supported over ssh: tend becomes another user with sudo, su or doas", name, t.become.method)
		}
	}
	keys := &hostKeys{
		userFiles:   s.knownHosts,
		globalFiles: s.globalKnown,
		mode:        s.strict,
		hash:        s.hashKnownHosts,
		warn:        opts.Stderr,
		home:        s.home,
	}
	creds := newCredentials(s.agentSocket)
	defer creds.Close()

	chain := append(append([]endpoint(nil), s.jumps...), s.target)
	var clients []*gossh.Client
	var closers []func() // one per client: Close, or a shared jump's release
	for i := range chain {
		var via *gossh.Client
		if i > 0 {
			via = clients[i-1]
		}
		var c *gossh.Client
		var closer func()
		jump := i < len(chain)-1
		if jump && opts.Jumps != nil {
			var opened bool
			c, closer, opened, err = opts.Jumps.acquire(ctx, jumpKey(chain[:i+1]), func() (*gossh.Client, error) {
				return connect(ctx, via, &chain[i], keys, creds, s)
			})
			if opened {
				t.connections.Add(1)
			}
		} else {
			c, err = connect(ctx, via, &chain[i], keys, creds, s)
			if err == nil {
				t.connections.Add(1)
				closer = func() { c.Close() }
			}
		}
		if err != nil {
			for j := len(closers) - 1; j >= 0; j-- {
				closers[j]()
			}
			if jump {
				return nil, fmt.Errorf("ssh %s: %s: %w", name, chain[i].label, err)
			}
			return nil, fmt.Errorf("ssh %s: %w", name, err)
		}
		clients = append(clients, c)
		closers = append(closers, closer)
	}
	t.client = clients[len(clients)-1]
	t.hops = closers[:len(closers)-1]

	go t.watch()
	if s.keepAlive > 0 {
		go t.keepAlive(s.keepAlive, s.keepAliveCount)
	}
	return t, nil
}

// connect opens one SSH connection to e, over via's direct-tcpip channel
// when via is set. ConnectTimeout covers the TCP connect, the handshake and
// authentication.
func connect(ctx context.Context, via *gossh.Client, e *endpoint, keys *hostKeys, creds *credentials, s *settings) (*gossh.Client, error) {
	methods, notes := creds.methods(e, s.identitiesOnly)
	if len(methods) == 0 {
		why := "no ssh-agent keys, no identity file (tried"
		for _, f := range e.identityFiles {
			why += " " + tildePath(f.path)
		}
		why += "), no password"
		if len(notes) > 0 {
			why = strings.Join(notes, "; ")
		}
		return nil, fmt.Errorf("authenticate as %s: nothing to authenticate with: %s", e.user, why)
	}

	cctx, cancel := context.WithTimeout(ctx, s.connectTimeout)
	defer cancel()
	var conn net.Conn
	var err error
	if via == nil {
		var d net.Dialer
		conn, err = d.DialContext(cctx, "tcp", e.addr())
	} else {
		conn, err = via.DialContext(cctx, "tcp", e.addr())
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("dial %s: %w", e.addr(), ctx.Err())
		}
		if cctx.Err() != nil && !strings.Contains(err.Error(), "timeout") {
			return nil, fmt.Errorf("dial %s: no connection within %s (%w)", e.addr(), s.connectTimeout, err)
		}
		return nil, fmt.Errorf("dial: %w", err)
	}

	// Close the socket if the deadline or the caller's context ends the
	// handshake early; x/crypto has no context of its own.
	stop := context.AfterFunc(cctx, func() { conn.Close() })
	cfg := &gossh.ClientConfig{
		User:              e.user,
		Auth:              methods,
		HostKeyCallback:   keys.callback(e.keyHost),
		HostKeyAlgorithms: keys.algorithms(e.keyHost),
		ClientVersion:     "SSH-2.0-tend",
	}
	sc, chans, reqs, err := gossh.NewClientConn(conn, e.addr(), cfg)
	if !stop() {
		if sc != nil {
			sc.Close()
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("handshake with %s: %w", e.addr(), ctx.Err())
		}
		return nil, fmt.Errorf("handshake with %s: no answer within %s (ConnectTimeout): %w", e.addr(), s.connectTimeout, context.DeadlineExceeded)
	}
	if err != nil {
		conn.Close()
		var unknown *UnknownHostKeyError
		var changed *HostKeyChangedError
		var revoked *RevokedHostKeyError
		switch {
		case errors.As(err, &unknown):
			return nil, fmt.Errorf("dial: %w", unknown)
		case errors.As(err, &changed):
			return nil, fmt.Errorf("dial: %w", changed)
		case errors.As(err, &revoked):
			return nil, fmt.Errorf("dial: %w", revoked)
		case strings.Contains(err.Error(), "unable to authenticate"):
			msg := fmt.Sprintf("authenticate as %s@%s", e.user, e.addr())
			if len(notes) > 0 {
				return nil, fmt.Errorf("%s: %w (%s)", msg, err, strings.Join(notes, "; "))
			}
			return nil, fmt.Errorf("%s: %w", msg, err)
		}
		return nil, fmt.Errorf("handshake with %s: %w", e.addr(), err)
	}
	return gossh.NewClient(sc, chans, reqs), nil
}

// watch records why the connection ended when it ends by itself.
func (t *Transport) watch() {
	err := t.client.Wait()
	select {
	case <-t.done:
		return
	default:
	}
	if err == nil {
		err = io.EOF
	}
	t.setLost(fmt.Errorf("connection closed: %w", err))
}

func (t *Transport) setLost(err error) {
	t.lostMu.Lock()
	if t.lost == nil {
		t.lost = err
		close(t.lostc)
	}
	t.lostMu.Unlock()
}

func (t *Transport) lostErr() error {
	t.lostMu.Lock()
	defer t.lostMu.Unlock()
	return t.lost
}

// keepAlive sends keepalive@openssh.com every interval and closes the
// connection when no reply arrives within count intervals, so that a dead
// host fails its Runs instead of hanging them.
func (t *Transport) keepAlive(interval time.Duration, count int) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-t.done:
			return
		case <-ticker.C:
		}
		reply := make(chan error, 1)
		go func() {
			_, _, err := t.client.SendRequest("keepalive@openssh.com", true, nil)
			reply <- err
		}()
		timer := time.NewTimer(interval * time.Duration(count))
		select {
		case <-t.done:
			timer.Stop()
			return
		case err := <-reply:
			timer.Stop()
			if err != nil {
				t.setLost(fmt.Errorf("keepalive: %w", err))
				t.client.Close()
				return
			}
		case <-timer.C:
			t.setLost(fmt.Errorf("keepalive: no reply from the server in %s", interval*time.Duration(count)))
			t.client.Close()
			return
		}
	}
}

// Close closes the sftp session, the connection and its jump hosts. It is
// safe to call more than once; later calls return nil.
func (t *Transport) Close() error {
	first := false
	t.closeOnce.Do(func() {
		first = true
		close(t.done)
		t.sftpMu.Lock()
		if t.sftp != nil {
			t.sftp.Close()
		}
		t.sftpMu.Unlock()
		err := t.client.Close()
		for i := len(t.hops) - 1; i >= 0; i-- {
			t.hops[i]()
		}
		if err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.EOF) && t.lostErr() == nil {
			t.closeErr = fmt.Errorf("ssh %s: close: %w", t.name, err)
		}
	})
	if !first {
		return nil
	}
	return t.closeErr
}

// errClosed is returned by operations on a closed Transport.
var errClosed = fmt.Errorf("transport closed: %w", net.ErrClosed)

// connErr explains a failure to use the connection: closed by us, lost
// (with the keepalive's or the reader's reason, wrapping
// transport.ErrConnLost) or err itself.
//
// A channel fails a moment before the client's Wait returns when the
// connection drops, so a non-nil err waits briefly for watch to record
// the loss: only then can the caller tell a lost connection from a failed
// session.
func (t *Transport) connErr(err error) error {
	if err != nil {
		timer := time.NewTimer(connLostGrace)
		select {
		case <-t.done:
		case <-t.lostc:
		case <-timer.C:
		}
		timer.Stop()
	}
	select {
	case <-t.done:
		return errClosed
	default:
	}
	if lost := t.lostErr(); lost != nil {
		return fmt.Errorf("%w: %w", transport.ErrConnLost, lost)
	}
	return err
}

// connLostGrace bounds connErr's wait for watch.
const connLostGrace = 300 * time.Millisecond

// Run runs cmd.Script with /bin/sh on the host (through sudo when the host
// has become set), with cmd.Stdin as its standard input. It runs on one of
// the connection's workers when cmd.Stdin is nil or a reader of known
// length up to 16 MiB, else in an exec session of its own, streaming
// cmd.Stdin. See the package doc.
func (t *Transport) Run(ctx context.Context, cmd transport.Command) (*transport.Result, error) {
	if t.pool != nil {
		fail := func(err error) error { return fmt.Errorf("ssh %s: run: %w", t.name, err) }
		if err := ctx.Err(); err != nil {
			return nil, fail(err)
		}
		select {
		case <-t.done:
			return nil, fail(errClosed)
		default:
		}
		if strings.IndexByte(cmd.Script, 0) >= 0 {
			return nil, fail(errors.New("script contains a NUL byte, which POSIX sh cannot run"))
		}
		data, ok, err := sizedStdin(cmd.Stdin)
		if err != nil {
			return nil, fail(err)
		}
		if ok {
			// A OneShot, most likely the run's only script, costs the host
			// fewer processes in a session of its own than in a worker
			// started for it (mktemp, dd, setsid, cat, rm).
			if !cmd.OneShot || t.pool.alive() {
				res, err := t.runWorker(ctx, cmd.Script, data)
				if err != nil {
					return nil, fail(err)
				}
				if res != nil {
					return res, nil
				}
				// The host cannot run workers.
			}
			cmd.Stdin = bytes.NewReader(data)
		}
	}
	var stdout bytes.Buffer
	status, stderr, err := t.run(ctx, "run", cmd.Script, cmd.Stdin, &stdout)
	if err != nil {
		return nil, err
	}
	return &transport.Result{Stdout: stdout.Bytes(), Stderr: stderr, ExitStatus: status}, nil
}

// checkShell refuses a host whose inventory says its shell is not a
// POSIX one: tend's scripts over ssh are sh.
func checkShell(h *inventory.Host) error {
	switch h.ShellType {
	case "powershell", "pwsh", "cmd":
		return fmt.Errorf("ansible_shell_type = %s: tend runs POSIX sh over ssh and cannot manage a Windows host through it; reach this host over WinRM (ansible_connection=winrm)", h.ShellType)
	}
	return nil
}

// BecomeError reports that sudo (or su, doas) refused to run a script as
// another user: wrong or missing password, user not in sudoers,
// requiretty, ... Message is the program's own words; it never contains
// the password.
type BecomeError struct {
	// Method is the program: sudo, su or doas.
	Method string
	// User is the user the script was to run as.
	User string
	// Status is the program's exit status.
	Status int
	// Message is what sudo (or the login shell) printed, on one line.
	Message string
}

func (e *BecomeError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = fmt.Sprintf("exit status %d", e.Status)
	}
	method := e.Method
	if method == "" {
		method = "sudo"
	}
	return fmt.Sprintf("become %s with %s failed: %s", e.User, method, msg)
}

// run is Run with the stdout sink chosen by the caller. It returns the exit status and stderr.
func (t *Transport) run(ctx context.Context, op, script string, stdin io.Reader, stdout io.Writer) (int, []byte, error) {
	return t.exec(ctx, op, script, stdin, stdout, true)
}

// exec is run, taking a session slot from the semaphore when slot is set.
func (t *Transport) exec(ctx context.Context, op, script string, stdin io.Reader, stdout io.Writer, slot bool) (int, []byte, error) {
	fail := func(err error) error { return fmt.Errorf("ssh %s: %s: %w", t.name, op, err) }
	if err := ctx.Err(); err != nil {
		return 0, nil, fail(err)
	}
	l, err := newLaunch(script, t.become)
	if err != nil {
		return 0, nil, fail(err)
	}

	release := func() {}
	if slot {
		select {
		case t.sem <- struct{}{}:
		case <-ctx.Done():
			return 0, nil, fail(ctx.Err())
		case <-t.done:
			return 0, nil, fail(errClosed)
		}
		release = func() { <-t.sem }
	}

	sess, err := t.newSession(ctx)
	if err != nil {
		release()
		return 0, nil, fail(t.connErr(err))
	}
	t.sessions.Add(1)
	if op != "cancel" {
		t.scripts.Add(1)
	}

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var stderr bytes.Buffer
	mw := &markerWriter{w: stdout, marker: []byte(l.marker)}
	out := &sink{w: mw, cancel: cancel}
	emw := &markerWriter{w: &stderr, marker: []byte(l.marker)}
	errw := &sink{w: emw, cancel: cancel}
	sess.Stdout = out
	sess.Stderr = errw
	in, err := sess.StdinPipe()
	if err != nil {
		sess.Close()
		release()
		return 0, nil, fail(err)
	}
	if err := sess.Start(l.command); err != nil {
		sess.Close()
		release()
		return 0, nil, fail(t.connErr(err))
	}
	// Stdin is fed by a goroutine that Run does not wait for: a script may
	// exit without reading its input, and then the writes fail and the
	// goroutine ends when the channel closes.
	go func() {
		if _, err := in.Write(l.prelude); err == nil && stdin != nil {
			_, _ = io.Copy(in, stdin)
		}
		in.Close()
	}()

	waitc := make(chan error, 1)
	go func() { waitc <- sess.Wait() }()
	var werr error
	select {
	case werr = <-waitc:
	case <-runCtx.Done():
		select {
		case werr = <-waitc: // it finished anyway
		default:
			out.stop()
			errw.stop()
			go t.abandon(sess, waitc, release, l.nonce, int(mw.pid.Load()), int(mw.pgid.Load()))
			if err := out.failed(); err != nil {
				return 0, nil, fail(err) // the caller's writer failed
			}
			return 0, nil, fail(ctx.Err())
		}
	}
	sess.Close()
	release()

	status := 0
	var exitErr *gossh.ExitError
	switch {
	case werr == nil:
	case errors.As(werr, &exitErr):
		status = exitErr.ExitStatus()
	default:
		return 0, nil, fail(t.connErr(werr))
	}
	if err := out.failed(); err != nil {
		return 0, nil, fail(err) // the caller's writer failed
	}
	if !mw.found {
		return 0, nil, fail(t.launchError(status, mw.pending, emw.pending))
	}
	if !emw.found {
		stderr.Write(emw.pending) // cannot happen but by a kill between two printfs
	}
	if status == exitTruncated && bytes.Contains(stderr.Bytes(), []byte(truncatedMsg)) {
		return 0, nil, fail(t.connErr(errors.New("the script did not arrive whole")))
	}
	return status, stderr.Bytes(), nil
}

// newSession opens a session channel, retrying while the server refuses
// it: OpenSSH frees a finished session only on its next loop iteration, so
// a session opened right after another one closed can find MaxSessions
// still full.
func (t *Transport) newSession(ctx context.Context) (*gossh.Session, error) {
	delay := 5 * time.Millisecond
	deadline := time.Now().Add(5 * time.Second)
	for {
		sess, err := t.client.NewSession()
		var refused *gossh.OpenChannelError
		if err == nil || !errors.As(err, &refused) || time.Now().After(deadline) {
			return sess, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.done:
			return nil, errClosed
		case <-time.After(delay):
		}
		if delay < 200*time.Millisecond {
			delay *= 2
		}
	}
}

// launchError explains why the bootstrap never started: sudo refused, the
// account has no usable shell, /bin/sh is missing...
func (t *Transport) launchError(status int, stdout, stderr []byte) error {
	msg := strings.TrimSpace(string(stderr))
	if o := strings.TrimSpace(string(stdout)); o != "" {
		msg = strings.TrimSpace(o + "\n" + msg)
	}
	if len(msg) > 2000 {
		msg = msg[:2000] + "..."
	}
	msg = strings.ReplaceAll(msg, "\n", "; ")
	if t.become != nil {
		if t.become.password != "" {
			msg = strings.ReplaceAll(msg, t.become.password, "(sensitive)")
		}
		if t.become.method == "su" && t.become.password == "" {
			msg += " (su asks for " + t.become.user + "'s password unless the login user is root: set ansible_become_password or become_password)"
		}
		return &BecomeError{Method: t.become.methodName(), User: t.become.user, Status: status, Message: msg}
	}
	if msg == "" {
		msg = "no output"
	}
	return fmt.Errorf("the login shell did not start /bin/sh (exit status %d): %s", status, msg)
}

// abandon stops a session whose Run was cancelled; Run has already
// returned. It sends TERM through the channel (sshd signals the session's
// process group, for non-root logins only), closes the channel and kills
// the script's process group from a new session (see killScript).
func (t *Transport) abandon(sess *gossh.Session, waitc <-chan error, release func(), nonce string, pid, pgid int) {
	defer release()
	_ = sess.Signal(gossh.SIGTERM)
	exited := false
	timer := time.NewTimer(200 * time.Millisecond)
	select {
	case <-waitc:
		exited = true
	case <-timer.C:
	}
	timer.Stop()
	sess.Close()
	if pid > 0 {
		// The kill session bypasses the semaphore (this Run still holds
		// its slot), so it may find the server's MaxSessions full: retry.
		var err error
		for attempt := 0; attempt < 5; attempt++ {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			_, _, err = t.exec(ctx, "cancel", killScript(nonce, pid, pgid), nil, io.Discard, false)
			cancel()
			if err == nil || t.connErr(nil) != nil {
				break
			}
			time.Sleep(time.Duration(attempt+1) * 300 * time.Millisecond)
		}
		if err != nil {
			fmt.Fprintf(t.warn, "tend: %s: could not stop a cancelled script (pid %d): %v\n", t.name, pid, err)
		}
	}
	if !exited {
		<-waitc
	}
}

// sink guards an output writer: once stopped (the Run returned early) it
// drops everything, and when the writer fails it cancels the Run instead
// of leaving the remote process blocked on a full channel.
type sink struct {
	mu      sync.Mutex
	w       io.Writer
	stopped bool
	err     error
	cancel  context.CancelCauseFunc
}

func (s *sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return len(p), nil
	}
	if _, err := s.w.Write(p); err != nil {
		s.stopped = true
		s.err = err
		s.cancel(err)
	}
	return len(p), nil
}

func (s *sink) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *sink) stop() {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
}

// markerWriter passes on what the script writes after the bootstrap's
// marker, PID and process group ("tend:NONCE:run1234.1230:"). Anything before the marker (a
// chatty .bashrc, a banner) is kept apart in pending, for the error when
// the marker never comes.
type markerWriter struct {
	w       io.Writer
	marker  []byte
	found   bool
	pid     atomic.Int64
	pgid    atomic.Int64
	pending []byte
	noise   []byte
}

// maxPending bounds what is kept before the marker.
const maxPending = 64 << 10

func (m *markerWriter) Write(p []byte) (int, error) {
	if m.found {
		return m.w.Write(p)
	}
	m.pending = append(m.pending, p...)
	i := bytes.Index(m.pending, m.marker)
	if i < 0 {
		if len(m.pending) > maxPending {
			keep := len(m.marker) - 1
			m.pending = append(m.pending[:0:0], m.pending[len(m.pending)-keep:]...)
		}
		return len(p), nil
	}
	after := m.pending[i+len(m.marker):]
	end := bytes.IndexByte(after, ':')
	if end < 0 {
		return len(p), nil // the PID is not all here yet
	}
	m.found = true
	ids := strings.SplitN(string(after[:end]), ".", 2)
	pid, _ := strconv.Atoi(ids[0])
	m.pid.Store(int64(pid))
	if len(ids) == 2 {
		pgid, _ := strconv.Atoi(ids[1])
		m.pgid.Store(int64(pgid))
	}
	m.noise = m.pending[:i]
	rest := after[end+1:]
	m.pending = nil
	if len(rest) > 0 {
		if _, err := m.w.Write(rest); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}
