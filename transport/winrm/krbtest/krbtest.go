//go:build linux

// Package krbtest runs a throwaway MIT Kerberos realm for tests: its own
// krb5.conf and kdc.conf in a temporary directory (selected with
// KRB5_CONFIG and KRB5_KDC_PROFILE, never the system's), a database made
// with kdb5_util, principals and keytabs made with kadmin.local, and
// krb5kdc listening on a free 127.0.0.1 port (UDP and TCP), started by
// Start and killed, by its pid, when the test ends. kinit fills credential
// caches as an operator would.
//
// It needs Debian's krb5-kdc, krb5-admin-server and krb5-user
// (integration/scripts/winrm-deps.sh) and is gated by lab.Required: with
// TEND_LAB=1 a missing tool fails the test, it never skips.
package krbtest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/integration/lab"
)

// Realm is a running test realm.
type Realm struct {
	// Name is the realm, e.g. TEND.TEST.
	Name string
	// Domain is the DNS domain mapped to the realm (tend.test).
	Domain string
	// Dir holds the configuration, the database, keytabs and logs.
	Dir string
	// KRB5Config is the krb5.conf clients use (KRB5_CONFIG).
	KRB5Config string
	// KDCAddr is the KDC's host:port, on 127.0.0.1.
	KDCAddr string

	t       testing.TB
	kdcConf string
	mu      sync.Mutex
	kdc     *exec.Cmd
	done    chan struct{}
}

// Tools are the programs the realm needs.
var Tools = []string{"krb5kdc", "kdb5_util", "kadmin.local", "kinit", "kdestroy", "klist"}

// Required gates a test on the lab (TEND_LAB=1) and on MIT Kerberos'
// tools: a missing one fails the test.
func Required(t testing.TB) {
	t.Helper()
	lab.Required(t)
	var missing []string
	for _, tool := range Tools {
		if _, err := lookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("TEND_LAB=1 but %v not installed: run integration/scripts/winrm-deps.sh", missing)
	}
}

// lookPath finds a tool on PATH or in /usr/sbin (where Debian puts the
// KDC's programs).
func lookPath(tool string) (string, error) {
	if p, err := exec.LookPath(tool); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/bin"} {
		p := filepath.Join(dir, tool)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found", tool)
}

// Start creates realm TEND.TEST (domain tend.test) and starts its KDC.
func Start(t testing.TB) *Realm {
	t.Helper()
	Required(t)
	dir := t.TempDir()
	r := &Realm{Name: "TEND.TEST", Domain: "tend.test", Dir: dir, t: t}
	r.KRB5Config = filepath.Join(dir, "krb5.conf")
	r.kdcConf = filepath.Join(dir, "kdc.conf")
	t.Cleanup(r.StopKDC)

	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		r.KDCAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		r.writeConfig(port)
		if attempt == 0 {
			r.run("kdb5_util", "create", "-s", "-r", r.Name, "-P", "tend-master-key")
		}
		if lastErr = r.StartKDC(); lastErr == nil {
			return r
		}
		t.Logf("krbtest: KDC on port %d: %v; trying another port", port, lastErr)
	}
	t.Fatalf("krbtest: the KDC does not start: %v", lastErr)
	return nil
}

// freePort returns a port free on 127.0.0.1 for both TCP and UDP a moment
// ago.
func freePort() (int, error) {
	for i := 0; i < 20; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		pc, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		pc.Close()
		return port, nil
	}
	return 0, fmt.Errorf("no port free for both TCP and UDP on 127.0.0.1")
}

func (r *Realm) writeConfig(port int) {
	krb5 := fmt.Sprintf(`[libdefaults]
	default_realm = %[1]s
	dns_lookup_kdc = false
	dns_lookup_realm = false
	dns_canonicalize_hostname = false
	rdns = false
	ignore_acceptor_hostname = false
	noaddresses = true
	forwardable = false
	ticket_lifetime = 1h
	default_ccache_name = FILE:%[3]s/ccache-default
	default_keytab_name = FILE:%[3]s/default.keytab
	permitted_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96
	default_tkt_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96
	default_tgs_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96

[realms]
	%[1]s = {
		kdc = 127.0.0.1:%[2]d
	}

[domain_realm]
	.%[4]s = %[1]s
	%[4]s = %[1]s
`, r.Name, port, r.Dir, r.Domain)
	kdc := fmt.Sprintf(`[kdcdefaults]
	kdc_listen = 127.0.0.1:%[2]d
	kdc_tcp_listen = 127.0.0.1:%[2]d

[realms]
	%[1]s = {
		database_name = %[3]s/principal
		key_stash_file = %[3]s/stash
		acl_file = %[3]s/kadm5.acl
		kdc_listen = 127.0.0.1:%[2]d
		kdc_tcp_listen = 127.0.0.1:%[2]d
		default_principal_flags = +preauth
		max_life = 10h
		max_renewable_life = 1d
		master_key_type = aes256-cts-hmac-sha1-96
		supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
	}

[logging]
	kdc = FILE:%[3]s/kdc.log
	admin_server = FILE:%[3]s/kadmin.log
	default = FILE:%[3]s/krb5.log
`, r.Name, port, r.Dir)
	for path, text := range map[string]string{r.KRB5Config: krb5, r.kdcConf: kdc, filepath.Join(r.Dir, "kadm5.acl"): ""} {
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			r.t.Fatal(err)
		}
	}
}

// Env is the environment that points MIT's tools at the realm.
func (r *Realm) Env() []string {
	return []string{"KRB5_CONFIG=" + r.KRB5Config, "KRB5_KDC_PROFILE=" + r.kdcConf}
}

func (r *Realm) command(ctx context.Context, tool string, args ...string) *exec.Cmd {
	p, err := lookPath(tool)
	if err != nil {
		r.t.Fatalf("krbtest: %v", err)
	}
	cmd := exec.CommandContext(ctx, p, args...)
	env := []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}
	cmd.Env = append(env, r.Env()...)
	cmd.Dir = r.Dir
	return cmd
}

// run runs a tool to completion (60s at most) and fails the test if it
// fails.
func (r *Realm) run(tool string, args ...string) string {
	r.t.Helper()
	out, err := r.try(nil, tool, args...)
	if err != nil {
		r.t.Fatalf("krbtest: %s %s: %v\n%s", tool, strings.Join(args, " "), err, out)
	}
	return out
}

// try runs a tool with stdin, 60s at most, and returns its output.
func (r *Realm) try(stdin []byte, tool string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := r.command(ctx, tool, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// kadmin runs one kadmin.local request, given on stdin so that passwords
// stay out of argv.
func (r *Realm) kadmin(request string) {
	r.t.Helper()
	out, err := r.try([]byte(request+"\nquit\n"), "kadmin.local", "-r", r.Name)
	if err != nil || strings.Contains(out, "rror") {
		r.t.Fatalf("krbtest: kadmin.local %s: %v\n%s", strings.Fields(request)[0], err, out)
	}
}

// AddUser adds principal name (in the realm) with a password (given at
// kadmin's prompt, so that any character works).
func (r *Realm) AddUser(name, password string) {
	r.t.Helper()
	r.kadmin("addprinc " + name + "\n" + password + "\n" + password)
}

// AddService adds principal name with a random key and writes its keys to
// a new keytab, whose path it returns.
func (r *Realm) AddService(name string) string {
	r.t.Helper()
	r.kadmin("addprinc -randkey " + name)
	return r.Keytab(name, false)
}

// Keytab writes principal name's keys to a new keytab and returns its
// path. keep keeps the current keys (a user's keytab, the password still
// valid); otherwise ktadd gives the principal new random keys.
func (r *Realm) Keytab(name string, keep bool) string {
	r.t.Helper()
	path := filepath.Join(r.Dir, strings.NewReplacer("/", "_", "@", "_").Replace(name)+"-"+strconv.FormatInt(time.Now().UnixNano(), 36)+".keytab")
	q := "ktadd -k " + path + " " + name
	if keep {
		q = "ktadd -k " + path + " -norandkey " + name
	}
	r.kadmin(q)
	return path
}

// Kinit gets a ticket-granting ticket for principal into the FILE:
// credential cache ccache, with lifetime (zero: the default).
func (r *Realm) Kinit(principal, password, ccache string, lifetime time.Duration) error {
	args := []string{"-c", "FILE:" + ccache}
	if lifetime > 0 {
		args = append(args, "-l", strconv.Itoa(int(lifetime/time.Second))+"s")
	}
	args = append(args, principal)
	out, err := r.try([]byte(password+"\n"), "kinit", args...)
	if err != nil {
		return fmt.Errorf("kinit %s: %v: %s", principal, err, strings.TrimSpace(out))
	}
	return nil
}

// StartKDC starts krb5kdc in the foreground (-n) and waits until it
// answers on its TCP port.
func (r *Realm) StartKDC() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.kdc != nil {
		return nil
	}
	cmd := r.command(context.Background(), "krb5kdc", "-n", "-r", r.Name, "-P", filepath.Join(r.Dir, "krb5kdc.pid"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Its own process group, and killed with the test binary.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-done:
			log, _ := os.ReadFile(filepath.Join(r.Dir, "kdc.log"))
			return fmt.Errorf("krb5kdc exited: %s %s", out.String(), lastLines(string(log), 5))
		default:
		}
		c, err := net.DialTimeout("tcp", r.KDCAddr, time.Second)
		if err == nil {
			c.Close()
			r.kdc, r.done = cmd, done
			return nil
		}
		if time.Now().After(deadline) {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
			return fmt.Errorf("krb5kdc does not listen on %s after 20s", r.KDCAddr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// StopKDC kills the KDC (its process group, by the pid Start got) and
// waits for it. Start registers it as a test cleanup; tests call it to
// make the KDC unreachable.
func (r *Realm) StopKDC() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.kdc == nil {
		return
	}
	syscall.Kill(-r.kdc.Process.Pid, syscall.SIGKILL)
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		r.t.Errorf("krbtest: krb5kdc (pid %d) did not exit after SIGKILL", r.kdc.Process.Pid)
	}
	r.kdc, r.done = nil, nil
}

// KDCLog returns the end of the KDC's log, for failure messages.
func (r *Realm) KDCLog() string {
	b, _ := os.ReadFile(filepath.Join(r.Dir, "kdc.log"))
	return lastLines(string(b), 20)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
