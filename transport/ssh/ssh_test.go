package ssh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/tendhq/tend/transport"
	"github.com/tendhq/tend/transport/transporttest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	s := serverFor(t, c, sshdConfig{})
	transporttest.Run(t, func(t *testing.T) transport.Transport {
		return c.dial(t, c.host(s), c.options())
	})
}

func runOK(t *testing.T, tr transport.Transport, script string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := transport.Output(ctx, tr, transport.Command{Script: script})
	if err != nil {
		t.Fatalf("Run(%q): %v", script, err)
	}
	return string(out)
}

func TestStatsOneConnection(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	s := serverFor(t, c, sshdConfig{})
	tr := c.dial(t, c.host(s), c.options())
	if got := tr.Stats(); got != (Stats{Connections: 1}) {
		t.Fatalf("after Dial: %+v", got)
	}
	const n = 5
	for i := 0; i < n; i++ {
		runOK(t, tr, "echo "+strconv.Itoa(i))
	}
	// One worker session carries every script.
	if got := tr.Stats(); got != (Stats{Connections: 1, Sessions: 1, WorkerSessions: 1, Scripts: n}) {
		t.Fatalf("after %d Runs: %+v, want 1 connection, 1 worker session and %d scripts", n, got, n)
	}
	// Files go through the one sftp session, not exec sessions.
	ctx := context.Background()
	dir := strings.TrimSpace(runOK(t, tr, "mktemp -d"))
	defer runOK(t, tr, "rm -rf "+dir)
	for i := 0; i < 3; i++ {
		p, cleanup, err := tr.StageFile(ctx, dir, ".tend.")
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.SendFile(ctx, p, strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
		cleanup()
	}
	if got := tr.Stats(); got != (Stats{Connections: 1, Sessions: 1, WorkerSessions: 1, Scripts: n + 1, SFTPSessions: 1}) {
		t.Fatalf("after sending files: %+v", got)
	}
	// The server saw one connection, one exec session and one sftp
	// session (a channel on the same connection) too.
	log := s.log.String()
	if got := strings.Count(log, "Accepted publickey for "); got != 1 {
		t.Errorf("sshd logged %d logins, want 1", got)
	}
	if got := strings.Count(log, "Starting session: command"); got != 1 {
		t.Errorf("sshd logged %d exec sessions, want 1", got)
	}
	if got := strings.Count(log, "Starting session: subsystem 'sftp'"); got != 1 {
		t.Errorf("sshd logged %d sftp sessions, want 1", got)
	}
}

func TestStatsSessionPerRun(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	s := serverFor(t, c, sshdConfig{})
	opts := c.options()
	opts.SessionPerRun = true
	tr := c.dial(t, c.host(s), opts)
	const n = 5
	for i := 0; i < n; i++ {
		runOK(t, tr, "echo "+strconv.Itoa(i))
	}
	if got := tr.Stats(); got != (Stats{Connections: 1, Sessions: n, Scripts: n}) {
		t.Fatalf("after %d Runs: %+v, want 1 connection and %d sessions", n, got, n)
	}
}

func TestUnknownHostKeyRefused(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	s := startSSHD(t, sshdConfig{authorized: []gossh.PublicKey{c.key.pub}})
	start := time.Now()
	_, err := Dial(context.Background(), c.host(s), c.options())
	var unknown *UnknownHostKeyError
	if !errors.As(err, &unknown) {
		t.Fatalf("Dial to an unknown host: %v, want *UnknownHostKeyError", err)
	}
	msg := err.Error()
	for _, want := range []string{
		"ssh 127.0.0.1: dial: host key for [127.0.0.1]:" + strconv.Itoa(s.port) + " is unknown",
		fmt.Sprintf("`ssh-keyscan -p %d -t ed25519 127.0.0.1 >> %s`", s.port, c.knownHosts),
		"--accept-new-host-keys",
		gossh.FingerprintSHA256(s.hostKey.pub),
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q\nlacks %q", msg, want)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s", d)
	}
	if b, _ := os.ReadFile(c.knownHosts); len(b) != 0 {
		t.Errorf("strict checking wrote known_hosts: %q", b)
	}
}

func TestUnknownHostKeyMessagePort22(t *testing.T) {
	t.Parallel()
	pub := newTestKey(t, t.TempDir(), "k", "").pub
	err := &UnknownHostKeyError{Host: "127.0.10.3:22", Key: pub, KnownHostsFile: "/nonexistent/known_hosts"}
	want := "host key for 127.0.10.3 is unknown (ED25519 key fingerprint " + gossh.FingerprintSHA256(pub) +
		"); verify it and run `ssh-keyscan -t ed25519 127.0.10.3 >> /nonexistent/known_hosts`, or pass --accept-new-host-keys"
	if err.Error() != want {
		t.Errorf("got  %s\nwant %s", err.Error(), want)
	}
}

func TestChangedHostKeyRefused(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	s := startSSHD(t, sshdConfig{authorized: []gossh.PublicKey{c.key.pub}})
	impostor := newTestKey(t, t.TempDir(), "old", "")
	old := *s
	old.hostKey = impostor
	c.trust(t, &old) // the recorded key is not the one the server has
	before, _ := os.ReadFile(c.knownHosts)

	for _, acceptNew := range []bool{false, true} {
		opts := c.options()
		opts.AcceptNewHostKeys = acceptNew
		_, err := Dial(context.Background(), c.host(s), opts)
		var changed *HostKeyChangedError
		if !errors.As(err, &changed) {
			t.Fatalf("accept-new=%v: Dial to a host whose key changed: %v, want *HostKeyChangedError", acceptNew, err)
		}
		msg := err.Error()
		for _, want := range []string{
			"REMOTE HOST IDENTIFICATION HAS CHANGED",
			gossh.FingerprintSHA256(s.hostKey.pub),
			gossh.FingerprintSHA256(impostor.pub),
			c.knownHosts + ":1",
			"ssh-keygen -R [127.0.0.1]:" + strconv.Itoa(s.port),
		} {
			if !strings.Contains(msg, want) {
				t.Errorf("error %q\nlacks %q", msg, want)
			}
		}
		if len(changed.Want) != 1 || changed.Want[0].Line != 1 {
			t.Errorf("Want = %+v", changed.Want)
		}
	}
	// StrictHostKeyChecking=no in the inventory does not let it through
	// either.
	h := c.host(s)
	h.SSH.StrictHostKeyChecking = "no"
	if _, err := Dial(context.Background(), h, c.options()); !errors.As(err, new(*HostKeyChangedError)) {
		t.Fatalf("StrictHostKeyChecking=no: %v, want *HostKeyChangedError", err)
	}
	if after, _ := os.ReadFile(c.knownHosts); !bytes.Equal(before, after) {
		t.Errorf("known_hosts changed:\n%s", after)
	}
}

func TestHostKeyAlgorithmsFromKnownHosts(t *testing.T) {
	t.Parallel()
	// The server has Ed25519 and ECDSA keys; known_hosts records only the
	// Ed25519 one. x/crypto prefers ECDSA by default: without asking for
	// the algorithm we know, the server's ECDSA key would look changed.
	c := newClient(t)
	s := startSSHD(t, sshdConfig{authorized: []gossh.PublicKey{c.key.pub}, ecdsaKey: true})
	c.trust(t, s)
	tr := c.dial(t, c.host(s), c.options())
	runOK(t, tr, "true")
	if !strings.Contains(s.log.String(), "host key algorithm: ssh-ed25519") {
		t.Errorf("the server did not use its Ed25519 key")
	}
	// And the other way round.
	writeFile(t, c.knownHosts, knownhosts.Line([]string{knownhosts.Normalize(s.addr())}, s.ecdsaPub)+"\n")
	tr = c.dial(t, c.host(s), c.options())
	runOK(t, tr, "true")
}

func TestAcceptNewRecordsKey(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	s := startSSHD(t, sshdConfig{authorized: []gossh.PublicKey{c.key.pub}})
	os.Remove(c.knownHosts) // also checks that the file gets created

	// Many dials at once, as a run over many hosts does: one line results.
	opts := c.options()
	opts.AcceptNewHostKeys = true
	var notices syncBuffer
	opts.Stderr = &notices
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr, err := Dial(context.Background(), c.host(s), opts)
			if err != nil {
				errs <- err
				return
			}
			tr.Close()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Dial with AcceptNewHostKeys: %v", err)
	}
	b, err := os.ReadFile(c.knownHosts)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != s.knownHostsLine() {
		t.Errorf("known_hosts = %q\nwant %q", b, s.knownHostsLine())
	}
	if !strings.Contains(notices.String(), "permanently added ED25519 key") {
		t.Errorf("no notice on Stderr: %q", notices.String())
	}
	if st, err := os.Stat(c.knownHosts); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("known_hosts mode: %v %v", st.Mode(), err)
	}

	// Next time, strict checking accepts it.
	tr := c.dial(t, c.host(s), c.options())
	if got := runOK(t, tr, "echo ok"); got != "ok\n" {
		t.Errorf("got %q", got)
	}
}

func TestAcceptNewFromSSHConfigHashed(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	s := startSSHD(t, sshdConfig{authorized: []gossh.PublicKey{c.key.pub}})
	writeFile(t, c.config, "Host *\n  StrictHostKeyChecking accept-new\n  HashKnownHosts yes\n")
	tr := c.dial(t, c.host(s), c.options())
	runOK(t, tr, "true")
	b, _ := os.ReadFile(c.knownHosts)
	if !strings.HasPrefix(string(b), "|1|") || !strings.Contains(string(b), " ssh-ed25519 ") || strings.Contains(string(b), "127.0.0.1") {
		t.Errorf("want one hashed line, got %q", b)
	}
	// The hashed entry verifies.
	writeFile(t, c.config, "")
	c.dial(t, c.host(s), c.options())
}

func TestEncryptedKeyWithoutPassphrase(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	enc := newTestKey(t, c.home, "encrypted_ed25519", "secret passphrase")
	s := serverFor(t, c, sshdConfig{authorized: []gossh.PublicKey{enc.pub}})

	// The encrypted key alone: a clear error naming it, no prompt, no hang.
	h := c.host(s)
	h.IdentityFile = enc.path
	os.Remove(c.key.path) // so the default-file fallback has nothing either
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	_, err := Dial(ctx, h, c.options())
	if err == nil {
		t.Fatal("Dial with only an encrypted key succeeded")
	}
	for _, want := range []string{enc.path, "encrypted", "ssh-add " + enc.path} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s", d)
	}

	// Encrypted key plus a working one from ssh config: skipped silently.
	other := newTestKey(t, c.home, "other_ed25519", "")
	s2 := serverFor(t, c, sshdConfig{authorized: []gossh.PublicKey{other.pub}})
	writeFile(t, c.config, "Host *\n  IdentityFile "+other.path+"\n")
	h2 := c.host(s2)
	h2.IdentityFile = enc.path
	tr := c.dial(t, h2, c.options())
	runOK(t, tr, "true")

	// Encrypted key whose key is in the agent: used through the agent.
	sock := startAgent(t, enc.priv)
	s3 := serverFor(t, c, sshdConfig{authorized: []gossh.PublicKey{enc.pub}})
	writeFile(t, c.config, "Host *\n  IdentitiesOnly yes\n")
	h3 := c.host(s3)
	h3.IdentityFile = enc.path
	opts := c.options()
	opts.AgentSocket = sock
	tr = c.dial(t, h3, opts)
	runOK(t, tr, "true")
}

// startAgent serves an in-process ssh-agent holding keys on a socket.
func startAgent(t *testing.T, keys ...any) string {
	t.Helper()
	keyring := agent.NewKeyring()
	for _, k := range keys {
		if err := keyring.Add(agent.AddedKey{PrivateKey: k}); err != nil {
			t.Fatal(err)
		}
	}
	dir, err := os.MkdirTemp("", "agent") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				agent.ServeAgent(keyring, conn)
			}()
		}
	}()
	return sock
}

func TestAgentAuth(t *testing.T) {
	c := newClient(t)
	agentKey := newTestKey(t, t.TempDir(), "agent_key", "")
	s := serverFor(t, c, sshdConfig{authorized: []gossh.PublicKey{agentKey.pub}})
	h := c.host(s)
	h.IdentityFile = "" // nothing on disk that the server accepts
	os.Remove(c.key.path)
	opts := c.options()
	opts.AgentSocket = startAgent(t, agentKey.priv)
	tr := c.dial(t, h, opts)
	runOK(t, tr, "true")

	// Through $SSH_AUTH_SOCK when no socket is given.
	t.Setenv("SSH_AUTH_SOCK", opts.AgentSocket)
	opts.AgentSocket = ""
	tr = c.dial(t, h, opts)
	runOK(t, tr, "true")
}

func TestNoCredentials(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	s := serverFor(t, c, sshdConfig{})
	h := c.host(s)
	h.IdentityFile = ""
	os.Remove(c.key.path)
	_, err := Dial(context.Background(), h, c.options())
	if err == nil || !strings.Contains(err.Error(), "nothing to authenticate with") {
		t.Fatalf("Dial with no credentials: %v", err)
	}
	// A key the server does not accept: the server's refusal.
	h.IdentityFile = newTestKey(t, c.home, "stranger", "").path
	_, err = Dial(context.Background(), h, c.options())
	if err == nil || !strings.Contains(err.Error(), "unable to authenticate") || !strings.Contains(err.Error(), "authenticate as "+c.user+"@") {
		t.Fatalf("Dial with a wrong key: %v", err)
	}
}

func TestSSHConfig(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	s := serverFor(t, c, sshdConfig{})
	// The inventory names an alias; ssh config says where and how.
	writeFile(t, c.config, fmt.Sprintf(`Host other
  HostName 127.0.0.9
Host web1
  HostName %s
  Port %d
  User %s
  IdentityFile %s
`, s.host, s.port, c.user, c.key.path))
	h := c.host(s)
	h.Name, h.Address, h.Port, h.User, h.IdentityFile = "web1", "", 0, "", ""
	tr := c.dial(t, h, c.options())
	runOK(t, tr, "true")

	// Inventory settings win over ssh config: a wrong port in the config
	// does not matter when the inventory has the right one.
	writeFile(t, c.config, fmt.Sprintf("Host web1\n  HostName %s\n  Port 1\n  User nobody-here\n", s.host))
	h = c.host(s)
	h.Name, h.Address = "web1", "web1"
	tr = c.dial(t, h, c.options())
	runOK(t, tr, "true")
}

func TestProxyJump(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	bastion := serverFor(t, c, sshdConfig{host: "127.0.0.1"})
	target := serverFor(t, c, sshdConfig{host: "127.0.0.2"})

	h := c.host(target)
	h.SSH.ProxyJump = fmt.Sprintf("%s@%s:%d", c.user, bastion.host, bastion.port)
	tr := c.dial(t, h, c.options())
	if got := runOK(t, tr, "echo via-bastion"); got != "via-bastion\n" {
		t.Errorf("got %q", got)
	}
	if st := tr.Stats(); st.Connections != 2 || st.Sessions != 1 {
		t.Errorf("Stats = %+v, want 2 connections (bastion and target), 1 session", st)
	}
	// The bastion forwarded the connection; the target saw it come from
	// the bastion's side.
	if want := fmt.Sprintf("target %s port %d", target.host, target.port); !strings.Contains(bastion.log.String(), want) {
		t.Errorf("bastion log lacks direct-tcpip %q", want)
	}
	transporttest.Run(t, func(t *testing.T) transport.Transport { return c.dial(t, h, c.options()) })

	// A chain of two jumps, from ssh config (bastion jumping to itself).
	writeFile(t, c.config, fmt.Sprintf("Host bastion\n  HostName %s\n  Port %d\n  User %s\n  IdentityFile %s\nHost %s\n  ProxyJump bastion,bastion\n",
		bastion.host, bastion.port, c.user, c.key.path, target.host))
	h2 := c.host(target)
	tr = c.dial(t, h2, c.options())
	runOK(t, tr, "true")
	if st := tr.Stats(); st.Connections != 3 {
		t.Errorf("two jumps: Stats = %+v, want 3 connections", st)
	}

	// An unknown jump host key is refused, naming the jump host.
	writeFile(t, c.knownHosts, target.knownHostsLine())
	writeFile(t, c.config, "")
	_, err := Dial(context.Background(), h, c.options())
	if !errors.As(err, new(*UnknownHostKeyError)) || !strings.Contains(err.Error(), "jump host") {
		t.Errorf("unknown bastion key: %v", err)
	}
}

func TestProxyJumpShared(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	bastion := serverFor(t, c, sshdConfig{host: "127.0.0.1"})
	target := serverFor(t, c, sshdConfig{host: "127.0.0.2"})
	accepted := func() int { return strings.Count(bastion.log.String(), "Accepted publickey for ") }
	jump := fmt.Sprintf("%s@%s:%d", c.user, bastion.host, bastion.port)

	// 12 hosts (more than the bastion's MaxSessions) behind one bastion,
	// dialled at once: one connection to the bastion carries them all.
	const n = 12
	jumps := NewJumpHosts()
	opts := c.options()
	opts.Jumps = jumps
	trs := make([]*Transport, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range trs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := c.host(target)
			h.Name = fmt.Sprintf("web%d", i)
			h.SSH.ProxyJump = jump
			trs[i], errs[i] = Dial(context.Background(), h, opts)
		}()
	}
	wg.Wait()
	var conns int64
	for i, tr := range trs {
		if errs[i] != nil {
			t.Fatalf("host %d: %v", i, errs[i])
		}
		defer tr.Close()
		if got := runOK(t, tr, "echo via-bastion"); got != "via-bastion\n" {
			t.Errorf("host %d: got %q", i, got)
		}
		conns += tr.Stats().Connections
	}
	if got := accepted(); got != 1 {
		t.Errorf("bastion accepted %d logins for %d hosts, want 1", got, n)
	}
	if jumps.Dials() != 1 || conns != n+1 {
		t.Errorf("%d jump dials, %d connections in Stats; want 1 and %d", jumps.Dials(), conns, n+1)
	}

	// The bastion connection lives while one host uses it, and closes
	// with the last: the next host dials it again.
	for _, tr := range trs[:n-1] {
		tr.Close()
	}
	runOK(t, trs[n-1], "true")
	trs[n-1].Close()
	h := c.host(target)
	h.SSH.ProxyJump = jump
	tr := c.dial(t, h, opts)
	runOK(t, tr, "true")
	if got := accepted(); got != 2 || jumps.Dials() != 2 {
		t.Errorf("after every host closed: bastion accepted %d logins, %d jump dials; want 2 and 2", got, jumps.Dials())
	}
	tr.Close()

	// Without a shared set, each host opens its own bastion connection.
	before := accepted()
	for i := 0; i < 3; i++ {
		runOK(t, c.dial(t, h, c.options()), "true")
	}
	if got := accepted() - before; got != 3 {
		t.Errorf("unshared: bastion accepted %d logins for 3 hosts, want 3", got)
	}
}

func TestDialErrors(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	// Connection refused: a port nothing listens on.
	port := freePort(t, "127.0.0.1")
	h := c.host(&sshd{host: "127.0.0.1", port: port})
	_, err := Dial(context.Background(), h, c.options())
	if err == nil || !strings.Contains(err.Error(), "ssh 127.0.0.1: dial: ") || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("refused: %v", err)
	}

	// A server that accepts and never speaks: the connect timeout.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			defer conn.Close()
		}
	}()
	h = c.host(&sshd{host: "127.0.0.1", port: l.Addr().(*net.TCPAddr).Port})
	opts := c.options()
	opts.ConnectTimeout = 500 * time.Millisecond
	start := time.Now()
	_, err = Dial(context.Background(), h, opts)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "ConnectTimeout") {
		t.Errorf("silent server: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("connect timeout of 500ms took %s", d)
	}

	// The caller's context ends the handshake too.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	opts.ConnectTimeout = time.Minute
	_, err = Dial(ctx, h, opts)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cancelled handshake: %v", err)
	}
}

// freezer is a TCP proxy that can stop forwarding, to play a host that
// vanished without closing its connections.
type freezer struct {
	l      net.Listener
	mu     sync.Mutex
	frozen bool
	conns  []net.Conn
}

func newFreezer(t *testing.T, to string) *freezer {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{l: l}
	t.Cleanup(func() {
		l.Close()
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, c := range f.conns {
			c.Close()
		}
	})
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", to)
			if err != nil {
				in.Close()
				continue
			}
			f.mu.Lock()
			f.conns = append(f.conns, in, out)
			f.mu.Unlock()
			go f.pipe(in, out)
			go f.pipe(out, in)
		}
	}()
	return f
}

// cut closes every connection through f at once, without a word to
// either side's SSH layer: a controller that died or a network that
// dropped, as the server sees it.
func (f *freezer) cut() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		c.Close()
	}
	f.conns = nil
}

func (f *freezer) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		f.mu.Lock()
		frozen := f.frozen
		f.mu.Unlock()
		if frozen {
			continue // swallow: the peer hears nothing
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

func TestKeepAliveDetectsDeadHost(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	s := serverFor(t, c, sshdConfig{})
	f := newFreezer(t, s.addr())
	h := c.host(s)
	h.Port = f.l.Addr().(*net.TCPAddr).Port
	appendFile(t, c.knownHosts, strings.Replace(s.knownHostsLine(), strconv.Itoa(s.port), strconv.Itoa(h.Port), 1))
	opts := c.options()
	opts.KeepAlive = 200 * time.Millisecond
	opts.KeepAliveCountMax = 2
	tr := c.dial(t, h, opts)
	runOK(t, tr, "true")

	// A Run in flight when the host vanishes fails instead of hanging.
	f.mu.Lock()
	f.frozen = true
	f.mu.Unlock()
	start := time.Now()
	_, err := tr.Run(context.Background(), transport.Command{Script: "echo never"})
	if err == nil || !strings.Contains(err.Error(), "keepalive") {
		t.Fatalf("Run on a vanished host: %v, want a keepalive error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s", d)
	}
}

func TestRunErrorsNameHost(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	s := serverFor(t, c, sshdConfig{})
	tr := c.dial(t, c.host(s), c.options())
	_, err := tr.Run(context.Background(), transport.Command{Script: "echo \x00"})
	if err == nil || !strings.HasPrefix(err.Error(), "ssh 127.0.0.1: run: ") {
		t.Errorf("NUL in script: %v", err)
	}
	tr.Close()
	_, err = tr.Run(context.Background(), transport.Command{Script: "true"})
	if !errors.Is(err, net.ErrClosed) {
		t.Errorf("Run after Close: %v", err)
	}
	if _, _, err := tr.StageFile(context.Background(), "/tmp", ".tend."); !errors.Is(err, net.ErrClosed) {
		t.Errorf("StageFile after Close: %v", err)
	}
}

func TestShellFallbackWithoutSFTP(t *testing.T) {
	t.Parallel()
	// A server without the sftp subsystem: files go through the shell,
	// with the same guarantees (the conformance suite passes).
	c := newClient(t)
	s := serverFor(t, c, sshdConfig{noSFTP: true})
	var warn syncBuffer
	opts := c.options()
	opts.Stderr = &warn
	transporttest.Run(t, func(t *testing.T) transport.Transport { return c.dial(t, c.host(s), opts) })
	if !strings.Contains(warn.String(), "sftp unavailable") {
		t.Errorf("no warning about sftp: %q", warn.String())
	}
}
