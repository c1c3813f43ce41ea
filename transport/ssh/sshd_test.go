package ssh

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/tendhq/tend/inventory"
)

// The tests start their own OpenSSH servers on loopback, each with its own
// host key and authorized_keys, and stop them (by PID) when done. They
// skip when /usr/sbin/sshd is absent: integration/scripts/ssh-deps.sh
// installs it.

const sshdPath = "/usr/sbin/sshd"

func requireSSHD(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping tests against a real sshd")
	}
	if _, err := os.Stat(sshdPath); err != nil {
		t.Skipf("%s not found (run integration/scripts/ssh-deps.sh to install openssh-server): %v", sshdPath, err)
	}
	if os.Geteuid() == 0 {
		// OpenSSH's privilege separation directory; systemd makes it at
		// boot on a machine that runs sshd, a bare container lacks it.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Skipf("cannot create /run/sshd for sshd: %v", err)
		}
	}
}

// testKey is a generated key pair written in OpenSSH format.
type testKey struct {
	path   string
	signer gossh.Signer
	pub    gossh.PublicKey
	priv   ed25519.PrivateKey
}

func newTestKey(t *testing.T, dir, name string, passphrase string) *testKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	if passphrase != "" {
		block, err = gossh.MarshalPrivateKeyWithPassphrase(priv, name, []byte(passphrase))
	} else {
		block, err = gossh.MarshalPrivateKey(priv, name)
	}
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, _ := gossh.NewPublicKey(pub)
	if err := os.WriteFile(p+".pub", gossh.MarshalAuthorizedKey(sshPub), 0o644); err != nil {
		t.Fatal(err)
	}
	return &testKey{path: p, signer: signer, pub: sshPub, priv: priv}
}

// newECDSAKey writes an ECDSA P-256 private key for sshd.
func newECDSAKey(t *testing.T, dir string) (string, gossh.PublicKey) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := gossh.MarshalPrivateKey(priv, "host ecdsa")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "host_ecdsa")
	if err := os.WriteFile(p, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	pub, err := gossh.NewPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return p, pub
}

// sshd is a running test server.
type sshd struct {
	host    string
	port    int
	hostKey *testKey
	// ecdsaPub is the second host key, when the server has one.
	ecdsaPub gossh.PublicKey
	dir      string
	log      *sshdLog
	cmd      *exec.Cmd
}

func (s *sshd) addr() string { return net.JoinHostPort(s.host, strconv.Itoa(s.port)) }

// knownHostsLine is the known_hosts entry for the server.
func (s *sshd) knownHostsLine() string {
	return knownhosts.Line([]string{knownhosts.Normalize(s.addr())}, s.hostKey.pub) + "\n"
}

type sshdConfig struct {
	host string // loopback address; default 127.0.0.1
	// authorized are the client keys allowed in.
	authorized []gossh.PublicKey
	// extra is appended to sshd_config.
	extra string
	// noSFTP leaves the sftp subsystem out.
	noSFTP bool
	// ecdsaKey gives the server an ECDSA host key besides its Ed25519 one.
	ecdsaKey bool
	// users are extra accounts, visible only to this sshd (see
	// isolation).
	users []testUser
	// sudoers, when set, replaces /etc/sudoers for this sshd.
	sudoers string
	// shell is the login shell the current user gets; default /bin/sh.
	shell string
}

// testUser is an account that exists only inside a test sshd's mount
// namespace.
type testUser struct {
	name     string
	uid      int
	password string // hashed with crypt(3) SHA-512 through perl
	home     string
}

// sshdLog is the server's log file plus anything it printed.
type sshdLog struct {
	path string
	out  syncBuffer
}

func (l *sshdLog) String() string {
	b, _ := os.ReadFile(l.path)
	return l.out.String() + string(b)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startSSHD(t *testing.T, c sshdConfig) *sshd {
	t.Helper()
	requireSSHD(t)
	if c.host == "" {
		c.host = "127.0.0.1"
	}
	dir := t.TempDir()
	s := &sshd{host: c.host, dir: dir, hostKey: newTestKey(t, dir, "host_ed25519", "")}
	var auth bytes.Buffer
	for _, k := range c.authorized {
		auth.Write(gossh.MarshalAuthorizedKey(k))
	}
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), auth.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	hostKeys := "HostKey " + s.hostKey.path + "\n"
	if c.ecdsaKey {
		p, pub := newECDSAKey(t, dir)
		s.ecdsaPub = pub
		hostKeys += "HostKey " + p + "\n"
	}

	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port := freePort(t, c.host)
		cfg := fmt.Sprintf(`Port %d
ListenAddress %s
%sPidFile none
AuthorizedKeysFile %s
StrictModes no
UsePAM no
PermitRootLogin yes
PubkeyAuthentication yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
AllowTcpForwarding yes
MaxSessions 10
MaxStartups 100:30:200
PrintMotd no
PrintLastLog no
LogLevel DEBUG1
%s
`, port, c.host, hostKeys, filepath.Join(dir, "authorized_keys"), c.extra)
		if !c.noSFTP {
			cfg += "Subsystem sftp internal-sftp\n"
		}
		cfgPath := filepath.Join(dir, "sshd_config")
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		// -E: a log file, not stderr, which the session children would
		// inherit and send debug lines to clients with.
		logPath := filepath.Join(dir, fmt.Sprintf("sshd-%d.log", attempt))
		var cmd *exec.Cmd
		if ns := isolation(t, dir, c); ns != "" {
			script := ns + "\nexec " + sshdPath + " -D -E " + logPath + " -f " + cfgPath
			cmd = exec.Command("unshare", "--mount", "--propagation", "private", "/bin/sh", "-ec", script)
		} else {
			cmd = exec.Command(sshdPath, "-D", "-E", logPath, "-f", cfgPath)
		}
		log := &sshdLog{path: logPath}
		cmd.Stdout = &log.out
		cmd.Stderr = &log.out
		if err := cmd.Start(); err != nil {
			t.Fatalf("start sshd: %v", err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		s.port, s.log, s.cmd = port, log, cmd
		if err := waitListening(s, exited); err != nil {
			lastErr = err
			stopProcess(cmd, exited)
			if strings.Contains(log.String(), "Address already in use") {
				continue
			}
			t.Fatalf("sshd did not start: %v\n%s", err, log.String())
		}
		t.Cleanup(func() {
			stopProcess(cmd, exited)
			if t.Failed() {
				t.Logf("sshd %s log:\n%s", s.addr(), lastLines(log.String(), 60))
			}
		})
		return s
	}
	t.Fatalf("sshd did not start: %v", lastErr)
	return nil
}

var (
	nsOnce sync.Once
	nsErr  error
)

// canIsolate reports whether sshd can run in a mount namespace of its
// own, where the tests give it a private /etc/passwd (and shadow, group,
// sudoers) without touching the machine's.
func canIsolate() error {
	nsOnce.Do(func() {
		if os.Geteuid() != 0 {
			nsErr = fmt.Errorf("not root")
			return
		}
		out, err := exec.Command("unshare", "--mount", "--propagation", "private", "/bin/sh", "-c",
			"mount --bind /etc/passwd /etc/passwd").CombinedOutput()
		if err != nil {
			nsErr = fmt.Errorf("unshare --mount: %v: %s", err, out)
		}
	})
	return nsErr
}

// isolation returns the shell commands that set up sshd's mount
// namespace: a copy of /etc/passwd in which the current user has a clean
// home (no shell startup files of the developer's: a pyenv init in
// ~/.bashrc costs a second per session) and c.shell, plus c.users and
// c.sudoers. It returns "" when namespaces are unavailable and nothing
// needs them; tests that need them skip.
func isolation(t *testing.T, dir string, c sshdConfig) string {
	t.Helper()
	if err := canIsolate(); err != nil {
		if len(c.users) > 0 || c.sudoers != "" {
			t.Skipf("this test needs a private mount namespace for sshd: %v", err)
		}
		return ""
	}
	shell := c.shell
	if shell == "" {
		shell = "/bin/sh"
	}
	me := currentUser(t)
	home := filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}

	files := map[string]string{}
	for _, name := range []string{"passwd", "shadow", "group"} {
		b, err := os.ReadFile("/etc/" + name)
		if err != nil {
			t.Fatal(err)
		}
		files[name] = string(b)
	}
	var passwd strings.Builder
	for _, line := range strings.SplitAfter(files["passwd"], "\n") {
		f := strings.Split(strings.TrimRight(line, "\n"), ":")
		if len(f) == 7 && f[0] == me {
			f[5], f[6] = home, shell
			line = strings.Join(f, ":") + "\n"
		}
		passwd.WriteString(line)
	}
	files["passwd"] = passwd.String()
	for _, u := range c.users {
		files["passwd"] += fmt.Sprintf("%s:x:%d:%d:tend test:%s:/bin/sh\n", u.name, u.uid, u.uid, u.home)
		files["shadow"] += fmt.Sprintf("%s:%s:19000:0:99999:7:::\n", u.name, cryptPassword(t, u.password))
		files["group"] += fmt.Sprintf("%s:x:%d:\n", u.name, u.uid)
	}
	var script strings.Builder
	for _, name := range []string{"passwd", "shadow", "group"} {
		p := filepath.Join(dir, "etc-"+name)
		mode := os.FileMode(0o644)
		if name == "shadow" {
			mode = 0o640
		}
		if err := os.WriteFile(p, []byte(files[name]), mode); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&script, "mount --bind %s /etc/%s\n", p, name)
	}
	if c.sudoers != "" {
		p := filepath.Join(dir, "etc-sudoers")
		if err := os.WriteFile(p, []byte(c.sudoers), 0o440); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&script, "mount --bind %s /etc/sudoers\n", p)
	}
	return script.String()
}

// cryptPassword hashes pw for /etc/shadow with the C library's crypt(3),
// through perl (Essential on Debian): SHA-512, as passwd(1) does.
func cryptPassword(t *testing.T, pw string) string {
	t.Helper()
	salt := make([]byte, 12)
	rand.Read(salt)
	const alphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	for i := range salt {
		salt[i] = alphabet[int(salt[i])%len(alphabet)]
	}
	out, err := exec.Command("perl", "-e", "print crypt($ARGV[0], $ARGV[1])", pw, "$6$"+string(salt)+"$").Output()
	if err != nil || !bytes.HasPrefix(out, []byte("$6$")) {
		t.Skipf("cannot hash a password with perl's crypt: %v %q", err, out)
	}
	return string(out)
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// stopProcess ends sshd by its own PID: TERM, then KILL.
func stopProcess(cmd *exec.Cmd, exited chan struct{}) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

func freePort(t *testing.T, host string) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("find a free port on %s: %v", host, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitListening waits until the server sends its SSH banner.
func waitListening(s *sshd, exited chan struct{}) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("sshd exited")
		default:
		}
		conn, err := net.DialTimeout("tcp", s.addr(), time.Second)
		if err == nil {
			conn.SetDeadline(time.Now().Add(2 * time.Second))
			line, err := bufio.NewReader(conn).ReadString('\n')
			conn.Close()
			if err == nil && strings.HasPrefix(line, "SSH-2.0-") {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("no SSH banner on %s", s.addr())
}

// client is what a test connects with: a home of its own (no ~/.ssh of
// the machine's user leaks in), a key, known_hosts and ssh config files.
type client struct {
	home       string
	key        *testKey
	knownHosts string
	config     string
	user       string
}

func newClient(t *testing.T) *client {
	t.Helper()
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	c := &client{
		home:       home,
		key:        newTestKey(t, home, "client_ed25519", ""),
		knownHosts: filepath.Join(home, ".ssh", "known_hosts"),
		config:     filepath.Join(home, ".ssh", "config"),
		user:       currentUser(t),
	}
	writeFile(t, c.config, "")
	return c
}

func currentUser(t *testing.T) string {
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, p, content string) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
}

// trust records s's host key in c's known_hosts.
func (c *client) trust(t *testing.T, s *sshd) {
	appendFile(t, c.knownHosts, s.knownHostsLine())
}

func (c *client) options() Options {
	return Options{
		Home:           c.home,
		SSHConfigPath:  c.config,
		KnownHostsPath: c.knownHosts,
		AgentSocket:    "none",
		ConnectTimeout: 10 * time.Second,
	}
}

func (c *client) host(s *sshd) *inventory.Host {
	return &inventory.Host{
		Name:         s.host,
		Address:      s.host,
		Port:         s.port,
		User:         c.user,
		Transport:    "ssh",
		IdentityFile: c.key.path,
	}
}

func (c *client) dial(t *testing.T, h *inventory.Host, opts Options) *Transport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr, err := Dial(ctx, h, opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// serverFor starts an sshd that lets c in and that c trusts.
func serverFor(t *testing.T, c *client, cfg sshdConfig) *sshd {
	t.Helper()
	cfg.authorized = append(cfg.authorized, c.key.pub)
	s := startSSHD(t, cfg)
	c.trust(t, s)
	return s
}
