package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/tendhq/tend/integration/lab"
	"github.com/tendhq/tend/inventory"
	"github.com/tendhq/tend/lang"
	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/resources/builtin"
	"github.com/tendhq/tend/transport"
	"github.com/tendhq/tend/transport/ssh"
)

// TestOneRoundTrip counts SSH connections and exec sessions per host
// during a plan: exactly one connection and one exec carry the facts and
// every probe. It counts twice: with the transport's counters for a
// planner, and with sshd's log on each host for `tend plan`.
func TestOneRoundTrip(t *testing.T) {
	lab.Required(t)
	l := lab.StartT(t, lab.Options{Hosts: 3, Name: "count"})
	dir := t.TempDir()
	invPath := filepath.Join(dir, "inventory.hcl")
	if err := l.WriteInventory(invPath); err != nil {
		t.Fatal(err)
	}
	// Every resource's identity is known before the facts are (contents
	// may use facts): one exec. A path built from a fact would need a
	// second, for that resource alone (see docs/design.md).
	var cfg strings.Builder
	cfg.WriteString(strings.Replace(fleetConfig, "/srv/${host.facts.hostname}-data", "/srv/${host.name}-data", 1))
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&cfg, "file \"f%d\" {\n  path = \"/etc/tend-count-%d\"\n  content = \"%d on ${host.facts.os.family}\"\n}\n", i, i, i)
	}
	write(t, filepath.Join(dir, "main.hcl"), cfg.String())
	c, diags := lang.Load(dir, builtin.Types())
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	vars, _ := c.Values(lang.VarInputs{Env: []string{}})
	inv, diags := inventory.Load([]string{invPath}, nil)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	var mu sync.Mutex
	conns := map[string]*ssh.Transport{}
	p := &plan.Planner{Config: c, Vars: vars, Inventory: inv, Connect: func(ctx context.Context, h *inventory.Host) (transport.Transport, error) {
		tr, err := ssh.Dial(ctx, h, ssh.Options{})
		if err == nil {
			mu.Lock()
			conns[h.Name] = tr
			mu.Unlock()
		}
		return tr, err
	}}
	pl, diags := p.Plan(context.Background(), inv.Hosts())
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	for _, h := range pl.Hosts {
		if h.Err != nil {
			t.Fatalf("%s: %v", h.Name, h.Err)
		}
		if n := len(h.Pending()); n != 45 {
			t.Errorf("%s: %d changes planned, want 45", h.Name, n)
		}
		st := conns[h.Name].Stats()
		if st.Connections != 1 || st.Sessions != 1 || st.Scripts != 1 || st.SFTPSessions != 0 {
			t.Errorf("%s: %+v, want 1 connection and 1 exec session running 1 script for facts and all probes", h.Name, st)
		}
		conns[h.Name].Close()
	}

	// The same count from the other end, for the command line's `tend
	// plan`: sshd's own log at LogLevel VERBOSE has a line for each
	// accepted connection and each session started (exec or subsystem).
	for _, h := range l.Hosts {
		write(t, filepath.Join(h.Root, "etc/ssh/sshd_config.d/verbose.conf"), "LogLevel VERBOSE\n")
		if err := l.ReloadSSH(context.Background(), h.Index); err != nil {
			t.Fatal(err)
		}
		waitSSH(t, h.Address)
	}
	sshdLog := func(h *lab.Host) (conns, execs, other int) {
		out, err := l.Exec(h.Index, "journalctl -u ssh.service -o cat --no-pager")
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(out, "\n") {
			switch {
			case strings.HasPrefix(line, "Accepted publickey for root"):
				conns++
			case strings.HasPrefix(line, "Starting session: command for root"):
				execs++
			case strings.HasPrefix(line, "Starting session:"):
				other++
			}
		}
		return conns, execs, other
	}
	type count struct{ conns, execs, other int }
	before := map[string]count{}
	for _, h := range l.Hosts {
		c, e, o := sshdLog(h)
		before[h.Name] = count{c, e, o}
	}
	if out, errOut, code := tend(t, "plan", "-C", dir); code != 0 || !strings.Contains(out, " to add") {
		t.Fatalf("tend plan: exit %d\n%s%s", code, out, errOut)
	}
	for _, h := range l.Hosts {
		c, e, o := sshdLog(h)
		got := count{c - before[h.Name].conns, e - before[h.Name].execs, o - before[h.Name].other}
		if got != (count{1, 1, 0}) {
			t.Errorf("%s: sshd logged %d connections, %d exec sessions and %d other sessions during tend plan, want 1, 1, 0", h.Name, got.conns, got.execs, got.other)
		}
	}
}

// waitSSH waits until addr's sshd answers with its banner again (after a
// reload, which re-executes it).
func waitSSH(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(addr, "22"), 2*time.Second)
		if err == nil {
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			b := make([]byte, 8)
			n, _ := io.ReadFull(c, b)
			c.Close()
			if n == 8 && string(b) == "SSH-2.0-" {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd on %s does not answer after a reload: %v", addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestHostKeys: an unknown key is refused with the fix in the message, a
// changed key is refused loudly, --accept-new-host-keys records an
// unknown key; a host reached through ProxyJump via another lab host works.
func TestHostKeys(t *testing.T) {
	lab.Required(t)
	l := lab.StartT(t, lab.Options{Hosts: 2, Name: "keys"})
	dir := t.TempDir()
	h1, h2 := l.Host(1), l.Host(2)
	known := filepath.Join(dir, "known_hosts")
	inv := func(extra string) {
		write(t, filepath.Join(dir, "inventory.hcl"), fmt.Sprintf(`
host "target" {
  address       = %q
  user          = "root"
  identity_file = %q
  ssh {
    known_hosts_file = %q
%s
  }
}
`, h2.Address, l.ClientKeyFile(), known, extra))
	}
	write(t, filepath.Join(dir, "main.hcl"), "file \"f\" {\n  path = \"/etc/keys-test\"\n  content = \"x\"\n}\n")
	inv("")

	// Unknown: known_hosts has no entry for the host.
	write(t, known, "")
	_, errOut, code := tend(t, "plan", "-C", dir)
	out, _, _ := tend(t, "plan", "-C", dir, "-json")
	if code != 1 || !strings.Contains(out, "is unknown") || !strings.Contains(out, "ssh-keyscan") || !strings.Contains(out, "--accept-new-host-keys") {
		t.Errorf("unknown host key: exit %d, want 1 and the fix in the message\n%s%s", code, out, errOut)
	}

	// Accept-new: recorded, then accepted under strict checking.
	if _, _, code := tend(t, "plan", "-C", dir, "--accept-new-host-keys"); code != 0 {
		t.Errorf("--accept-new-host-keys: exit %d, want 0", code)
	}
	// Debian's ssh_config sets HashKnownHosts, which tend honours, so the
	// host name may be hashed.
	rec := read(t, known)
	if strings.Count(rec, "\n") != 1 || !strings.Contains(rec, "ssh-ed25519") {
		t.Errorf("the key was not recorded: %q", rec)
	}
	if _, _, code := tend(t, "plan", "-C", dir); code != 0 {
		t.Errorf("plan with the recorded key: exit %d, want 0", code)
	}

	// Changed: the address is recorded with another host's key.
	labKnown := read(t, l.KnownHostsFile())
	var h1Key string
	for _, line := range strings.Split(labKnown, "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == h1.Address {
			h1Key = f[1] + " " + f[2]
		}
	}
	if h1Key == "" {
		t.Fatalf("no key for %s in the lab's known_hosts:\n%s", h1.Address, labKnown)
	}
	write(t, known, h2.Address+" "+h1Key+"\n")
	out, _, code = tend(t, "plan", "-C", dir, "-json", "--accept-new-host-keys")
	if code != 1 || !strings.Contains(out, "REMOTE HOST IDENTIFICATION HAS CHANGED") {
		t.Errorf("changed host key: exit %d, want 1 and a loud refusal\n%s", code, out)
	}

	// ProxyJump through lab host 1. Its sshd logs (at LogLevel DEBUG1) each
	// channel it forwards, so the test can tell the apply went through it:
	// both hosts share the controller's loopback, where a direct
	// connection would work too.
	write(t, filepath.Join(h1.Root, "etc/ssh/sshd_config.d/debug.conf"), "LogLevel DEBUG1\n")
	if err := l.ReloadSSH(context.Background(), h1.Index); err != nil {
		t.Fatal(err)
	}
	waitSSH(t, h1.Address)
	forwarded := func() int {
		out, err := l.Exec(h1.Index, "journalctl -u ssh.service -o cat --no-pager")
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(out, fmt.Sprintf("target %s port 22", h2.Address))
	}
	write(t, known, labKnown)
	inv(fmt.Sprintf("    proxy_jump = \"root@%s\"", h1.Address))
	t.Setenv("HOME", dir) // the jump host's identity comes from the default ~/.ssh/id_ed25519
	os.MkdirAll(filepath.Join(dir, ".ssh"), 0o700)
	key := read(t, l.ClientKeyFile())
	os.WriteFile(filepath.Join(dir, ".ssh/id_ed25519"), []byte(key), 0o600)
	os.WriteFile(filepath.Join(dir, ".ssh/known_hosts"), []byte(labKnown), 0o600)
	if _, _, code := tend(t, "apply", "-C", dir, "-y"); code != 0 {
		t.Fatalf("apply through ProxyJump: exit %d", code)
	}
	if got := read(t, filepath.Join(h2.Root, "etc/keys-test")); got != "x" {
		t.Errorf("the jumped-to host was not changed: %q", got)
	}
	if n := forwarded(); n != 1 {
		t.Errorf("%s forwarded %d connections to %s during the apply, want 1", h1.Name, n, h2.Address)
	}
	invFile, diags := inventory.Load([]string{filepath.Join(dir, "inventory.hcl")}, nil)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	tr, err := ssh.Dial(context.Background(), invFile.Host("target"), ssh.Options{})
	if err != nil {
		t.Fatalf("dial through the jump host: %v", err)
	}
	defer tr.Close()
	if st := tr.Stats(); st.Connections != 2 {
		t.Errorf("ProxyJump: %d connections, want 2 (jump host and target)", st.Connections)
	}
	if n := forwarded(); n != 2 {
		t.Errorf("%s forwarded %d connections to %s in all, want 2", h1.Name, n, h2.Address)
	}
}

// TestBecome: tend logs in as an unprivileged user whose sudo needs a
// password and manages a root-owned file; the password appears in no
// output or journal.
func TestBecome(t *testing.T) {
	lab.Required(t)
	l := lab.StartT(t, lab.Options{Hosts: 1, Name: "become"})
	h := l.Host(1)
	dir := t.TempDir()
	t.Setenv("TEND_TEST_SUDO", lab.OpsSudoPassword)
	write(t, filepath.Join(dir, "inventory.hcl"), fmt.Sprintf(`
host %q {
  address         = %q
  user            = %q
  identity_file   = %q
  become          = true
  become_password = secret("env:TEND_TEST_SUDO")
  ssh {
    known_hosts_file = %q
  }
}
`, h.Name, h.Address, lab.OpsUser, l.ClientKeyFile(), l.KnownHostsFile()))
	write(t, filepath.Join(dir, "main.hcl"), `
file "root_only" {
  path    = "/root/managed-by-tend"
  content = "secret sauce\n"
  owner   = "root"
  group   = "root"
  mode    = "0600"
}
file "sudoers_note" {
  path    = "/etc/sudoers.d/README-tend"
  content = "# managed\n"
  mode    = "0440"
}
`)
	// The premise: ops cannot write the file itself, and its sudo needs
	// the password.
	if out, err := l.Exec(h.Index, "runuser -u "+lab.OpsUser+" -- id -un"); err != nil || strings.TrimSpace(out) != lab.OpsUser {
		t.Fatalf("runuser as %s: %q %v", lab.OpsUser, out, err)
	}
	if out, err := l.Exec(h.Index, "runuser -u "+lab.OpsUser+" -- sudo -n true"); err == nil {
		t.Fatalf("sudo -n works for %s without a password: %s", lab.OpsUser, out)
	}
	if _, err := l.Exec(h.Index, "runuser -u "+lab.OpsUser+" -- touch /root/x"); err == nil {
		t.Fatalf("%s can write /root without sudo", lab.OpsUser)
	}
	var all strings.Builder
	for _, args := range [][]string{{"plan", "-C", dir}, {"apply", "-C", dir, "-y"}, {"plan", "-C", dir, "-detailed-exitcode"}} {
		out, errOut, code := tend(t, args...)
		all.WriteString(out + errOut)
		if code != 0 {
			t.Fatalf("%v: exit %d", args, code)
		}
	}
	p := filepath.Join(h.Root, "root/managed-by-tend")
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != 0 || st.Gid != 0 || fi.Mode().Perm() != 0o600 || read(t, p) != "secret sauce\n" {
		t.Errorf("root-owned file: uid %d gid %d mode %o content %q", st.Uid, st.Gid, fi.Mode().Perm(), read(t, p))
	}
	_ = filepath.WalkDir(filepath.Join(dir, ".tend"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			all.WriteString(read(t, p))
		}
		return nil
	})
	if strings.Contains(all.String(), lab.OpsSudoPassword) {
		t.Error("the sudo password appears in output or the journal")
	}

	// A wrong password is a clear error, not a hang.
	t.Setenv("TEND_TEST_SUDO", "wrong-password")
	out, _, code := tend(t, "plan", "-C", dir, "-json")
	if code != 1 || !strings.Contains(out, "sudo") {
		t.Errorf("wrong sudo password: exit %d\n%s", code, out)
	}
	if strings.Contains(out, "wrong-password") {
		t.Error("the wrong password appears in the output")
	}
	_ = hcl.Pos{}
}

// TestEncryptedKeyCLI: an identity file encrypted with a passphrase that
// tend does not have (no agent, no terminal) is a clear error naming the
// key, not a prompt or a hang, though the host would accept the key.
func TestEncryptedKeyCLI(t *testing.T) {
	lab.Required(t)
	l := lab.StartT(t, lab.Options{Hosts: 1, Name: "enckey"})
	h := l.Host(1)
	dir, home := t.TempDir(), t.TempDir()
	t.Setenv("HOME", home) // no default identity files
	t.Setenv("SSH_AUTH_SOCK", "")
	key := filepath.Join(dir, "id_encrypted")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "a passphrase", "-C", "tend-test", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pub := read(t, key+".pub")
	auth := filepath.Join(h.Root, "root/.ssh/authorized_keys")
	write(t, auth, read(t, auth)+pub)
	os.Chmod(auth, 0o600)
	write(t, filepath.Join(dir, "inventory.hcl"), fmt.Sprintf(`
host %q {
  address       = %q
  user          = "root"
  identity_file = %q
  ssh {
    known_hosts_file = %q
  }
}
`, h.Name, h.Address, key, l.KnownHostsFile()))
	write(t, filepath.Join(dir, "main.hcl"), "file \"f\" {\n  path = \"/etc/enckey-test\"\n  content = \"x\"\n}\n")

	type result struct {
		out, errOut string
		code        int
	}
	done := make(chan result, 1)
	go func() {
		out, errOut, code := tend(t, "apply", "-C", dir, "-y")
		done <- result{out, errOut, code}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("tend apply with an encrypted key and no passphrase did not return within 2 minutes")
	}
	msg := r.out + r.errOut
	if r.code != 1 || !strings.Contains(msg, key) || !strings.Contains(msg, "encrypted") {
		t.Errorf("exit %d, want 1 and an error naming the encrypted key\n%s", r.code, msg)
	}
	if _, err := os.Stat(filepath.Join(h.Root, "etc/enckey-test")); !os.IsNotExist(err) {
		t.Errorf("the host was changed: %v", err)
	}

	// The premise: the host accepts that key once it is decrypted.
	dec := filepath.Join(dir, "id_decrypted")
	write(t, dec, read(t, key))
	os.Chmod(dec, 0o600)
	if out, err := exec.Command("ssh-keygen", "-p", "-q", "-P", "a passphrase", "-N", "", "-f", dec).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -p: %v\n%s", err, out)
	}
	write(t, filepath.Join(dir, "inventory.hcl"), strings.Replace(read(t, filepath.Join(dir, "inventory.hcl")), key, dec, 1))
	if _, _, code := tend(t, "apply", "-C", dir, "-y"); code != 0 {
		t.Errorf("apply with the decrypted key: exit %d", code)
	}
}

// TestProxyJumpSharedBastion: many hosts behind one bastion reach it over
// one SSH connection for the whole run (counted in the bastion's sshd
// log), each host still logging in on its own.
func TestProxyJumpSharedBastion(t *testing.T) {
	lab.Required(t)
	l := lab.StartT(t, lab.Options{Hosts: 2, Name: "jumpshare"})
	dir := t.TempDir()
	bastion, target := l.Host(1), l.Host(2)
	labKnown := read(t, l.KnownHostsFile())
	t.Setenv("HOME", dir) // the bastion's identity and key come from ~/.ssh
	if err := os.MkdirAll(filepath.Join(dir, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, ".ssh/id_ed25519"), read(t, l.ClientKeyFile()))
	if err := os.Chmod(filepath.Join(dir, ".ssh/id_ed25519"), 0o600); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, ".ssh/known_hosts"), labKnown)
	const n = 24
	var inv strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&inv, "host \"t%02d\" {\n  address       = %q\n  user          = \"root\"\n  identity_file = %q\n  ssh {\n    known_hosts_file = %q\n    proxy_jump       = \"root@%s\"\n  }\n}\n",
			i, target.Address, l.ClientKeyFile(), l.KnownHostsFile(), bastion.Address)
	}
	write(t, filepath.Join(dir, "inventory.hcl"), inv.String())
	write(t, filepath.Join(dir, "main.hcl"), "file \"f\" {\n  path    = \"/etc/jumpshare-test\"\n  content = \"x\"\n}\n")
	logins := func(i int) int {
		out, err := l.Exec(i, "journalctl -u ssh.service -o cat --no-pager")
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(out, "Accepted publickey for root")
	}
	b0, t0 := logins(bastion.Index), logins(target.Index)
	if out, errOut, code := tend(t, "plan", "-C", dir, "--parallel", fmt.Sprint(n), "--connect-rate", "200/s"); code != 0 {
		t.Fatalf("plan through one bastion: exit %d\n%s%s", code, out, errOut)
	}
	time.Sleep(300 * time.Millisecond) // let journald take the last lines
	if got := logins(bastion.Index) - b0; got != 1 {
		t.Errorf("the bastion accepted %d logins for %d hosts behind it, want 1", got, n)
	}
	if got := logins(target.Index) - t0; got != n {
		t.Errorf("the hosts behind the bastion accepted %d logins, want %d", got, n)
	}
}
