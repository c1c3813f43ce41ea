package ssh

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/tendhq/tend/inventory"
	"github.com/tendhq/tend/transport"
	"github.com/tendhq/tend/transport/transporttest"
)

// The become tests need real sudo with a password. The accounts and the
// sudoers file exist only inside the test sshd's private mount namespace
// (bind mounts over /etc/passwd, /etc/shadow, /etc/group, /etc/sudoers),
// so the machine's own files are never modified and nothing is left to
// clean up but the sshd process; sudo's timestamps and lecture records go
// to the test's temporary directory.

const (
	sudoUser     = "tendsudo"   // sudo with a password
	nopasswdUser = "tendnopass" // sudo NOPASSWD
	sudoPassword = "correct horse 'battery' $(staple)"
)

func startBecomeServer(t *testing.T) (*client, *sshd) {
	t.Helper()
	requireSSHD(t)
	if _, err := exec.LookPath("sudo"); err != nil {
		t.Skip("sudo not installed (integration/scripts/ssh-deps.sh installs it)")
	}
	if err := canIsolate(); err != nil {
		t.Skipf("become tests need root and mount namespaces: %v", err)
	}
	c := newClient(t)
	// The test users must reach the key files and their homes: open the
	// temporary directories up (they are 0700 by default).
	base := t.TempDir()
	for _, d := range []string{filepath.Dir(base), base} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	users := []testUser{
		{name: sudoUser, uid: 64101, password: sudoPassword, home: filepath.Join(base, sudoUser)},
		{name: nopasswdUser, uid: 64102, password: "unused", home: filepath.Join(base, nopasswdUser)},
	}
	for _, u := range users {
		if err := os.Mkdir(u.home, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(u.home, u.uid, u.uid); err != nil {
			t.Fatal(err)
		}
	}
	state := filepath.Join(base, "sudo-state")
	sudoers := fmt.Sprintf(`Defaults env_reset
Defaults use_pty
Defaults secure_path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
Defaults timestampdir=%s/ts
Defaults lecture_status_dir=%s/lectured
Defaults !syslog
root ALL=(ALL:ALL) ALL
%s ALL=(ALL:ALL) ALL
%s ALL=(ALL:ALL) NOPASSWD: ALL
`, state, state, sudoUser, nopasswdUser)
	s := startSSHD(t, sshdConfig{
		authorized: []gossh.PublicKey{c.key.pub},
		users:      users,
		sudoers:    sudoers,
	})
	c.trust(t, s)
	// sshd reads authorized_keys as the logging-in user.
	for _, d := range []string{filepath.Dir(s.dir), s.dir} {
		os.Chmod(d, 0o755)
	}
	os.Chmod(filepath.Join(s.dir, "authorized_keys"), 0o644)
	return c, s
}

func becomeHost(c *client, s *sshd, login, password string) *inventory.Host {
	h := c.host(s)
	h.User = login
	h.Become = true
	h.BecomePassword = password
	return h
}

func TestBecomeSudoPassword(t *testing.T) {
	t.Parallel()
	c, s := startBecomeServer(t)
	h := becomeHost(c, s, sudoUser, sudoPassword)
	tr := c.dial(t, h, c.options())
	if got := runOK(t, tr, "id -un; id -u"); got != "root\n0\n" {
		t.Fatalf("become root: %q", got)
	}
	// The script's stdin is the caller's, not the password.
	res, err := tr.Run(context.Background(), transport.Command{Script: "cat", Stdin: strings.NewReader("data")})
	if err != nil || string(res.Stdout) != "data" || len(res.Stderr) != 0 {
		t.Fatalf("cat under sudo: %+v %v", res, err)
	}
	// Everything else holds under sudo too; files are staged by sftp
	// in the login user's home.
	transporttest.Run(t, func(t *testing.T) transport.Transport { return c.dial(t, h, c.options()) })

	// A staged file belongs to the login user, in a private directory of
	// its home, where the become user can move it from.
	ctx := context.Background()
	dir := strings.TrimSpace(runOK(t, tr, "mktemp -d"))
	defer runOK(t, tr, "rm -rf "+dir)
	p, cleanup, err := tr.StageFile(ctx, dir, ".tend.")
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	if err := tr.SendFile(ctx, p, strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	home := strings.TrimSpace(runOK(t, tr, "getent passwd "+sudoUser+" | cut -d: -f6"))
	if path.Dir(path.Dir(p)) != home {
		t.Errorf("staged at %s, want in %s", p, home)
	}
	if got := runOK(t, tr, "stat -c %U:%a "+p+" && mv "+p+" "+dir+"/moved && cat "+dir+"/moved"); got != sudoUser+":600\nx" {
		t.Errorf("staged file: %q", got)
	}
}

func TestBecomeOtherUser(t *testing.T) {
	t.Parallel()
	c, s := startBecomeServer(t)
	h := becomeHost(c, s, sudoUser, sudoPassword)
	h.BecomeUser = nopasswdUser
	tr := c.dial(t, h, c.options())
	if got := runOK(t, tr, "id -un"); got != nopasswdUser+"\n" {
		t.Fatalf("become %s: %q", nopasswdUser, got)
	}
}

func TestBecomeWrongPassword(t *testing.T) {
	t.Parallel()
	c, s := startBecomeServer(t)
	for name, pw := range map[string]string{
		"wrong password": "not the password",
		"no password":    "",
	} {
		t.Run(name, func(t *testing.T) {
			tr := c.dial(t, becomeHost(c, s, sudoUser, pw), c.options())
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			start := time.Now()
			_, err := tr.Run(ctx, transport.Command{Script: "echo should-not-run", Stdin: strings.NewReader("secret stdin\n")})
			var be *BecomeError
			if !errors.As(err, &be) {
				t.Fatalf("Run: %v, want *BecomeError", err)
			}
			if ctx.Err() != nil {
				t.Fatalf("sudo hung until the test's deadline: %v", err)
			}
			msg := err.Error()
			if pw != "" && strings.Contains(msg, pw) {
				t.Errorf("the error shows the password: %q", msg)
			}
			want := "incorrect password"
			if pw == "" {
				want = "a password is required"
			}
			if !strings.Contains(msg, "become root with sudo failed") || !strings.Contains(msg, want) {
				t.Errorf("error %q lacks %q", msg, want)
			}
			t.Logf("%s after %s: %v", name, time.Since(start).Round(time.Millisecond), err)
		})
	}
}

func TestBecomeNoPasswordNeeded(t *testing.T) {
	t.Parallel()
	// sudo that does not ask: a password given anyway must not reach the
	// script (the bootstrap skips it), and none given works with -n.
	c, s := startBecomeServer(t)
	for _, pw := range []string{"unused-password", ""} {
		tr := c.dial(t, becomeHost(c, s, nopasswdUser, pw), c.options())
		res, err := tr.Run(context.Background(), transport.Command{Script: "id -u; cat", Stdin: strings.NewReader("only this")})
		if err != nil {
			t.Fatalf("password %q: %v", pw, err)
		}
		if string(res.Stdout) != "0\nonly this" || len(res.Stderr) != 0 {
			t.Errorf("password %q: stdout %q stderr %q", pw, res.Stdout, res.Stderr)
		}
	}
}

func TestPasswordAuthentication(t *testing.T) {
	t.Parallel()
	c, s := startBecomeServer(t)
	h := c.host(s)
	h.User = sudoUser
	h.IdentityFile = ""
	os.Remove(c.key.path)
	h.Password = sudoPassword
	tr := c.dial(t, h, c.options())
	if got := runOK(t, tr, "id -un"); got != sudoUser+"\n" {
		t.Fatalf("password login: %q", got)
	}
	h.Password = "wrong"
	_, err := Dial(context.Background(), h, c.options())
	if err == nil || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("wrong password: %v", err)
	}
}

func TestBashLoginShell(t *testing.T) {
	t.Parallel()
	// The bootstrap passes through the login shell's parser: bash here,
	// /bin/sh (dash) in the other tests.
	if _, err := os.Stat("/bin/bash"); err != nil {
		t.Skip("no bash")
	}
	if err := canIsolate(); err != nil {
		t.Skipf("needs a private mount namespace to set the login shell: %v", err)
	}
	c := newClient(t)
	s := serverFor(t, c, sshdConfig{shell: "/bin/bash"})
	tr := c.dial(t, c.host(s), c.options())
	if got := runOK(t, tr, `echo "$SHELL"`); got != "/bin/bash\n" {
		t.Fatalf("login shell %q, want /bin/bash", got)
	}
	transporttest.Run(t, func(t *testing.T) transport.Transport { return c.dial(t, c.host(s), c.options()) })
}

func TestBecomeSu(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("su"); err != nil {
		t.Skip("su not installed")
	}
	// su asks for the target user's password, which it reads from
	// standard input when there is no terminal.
	c, s := startBecomeServer(t)
	h := becomeHost(c, s, sudoUser, "unused")
	h.BecomeMethod = "su"
	h.BecomeUser = nopasswdUser
	tr := c.dial(t, h, c.options())
	res, err := tr.Run(context.Background(), transport.Command{Script: "id -un; cat", Stdin: strings.NewReader("only this")})
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Stdout) != nopasswdUser+"\nonly this" || len(res.Stderr) != 0 {
		t.Errorf("su: stdout %q stderr %q", res.Stdout, res.Stderr)
	}
	// Everything else holds under su too.
	suHost := *h
	transporttest.Run(t, func(t *testing.T) transport.Transport { return c.dial(t, &suHost, c.options()) })

	h.BecomePassword = "not the password"
	tr = c.dial(t, h, c.options())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = tr.Run(ctx, transport.Command{Script: "echo should-not-run"})
	var be *BecomeError
	if !errors.As(err, &be) || ctx.Err() != nil {
		t.Fatalf("wrong su password: %v, want *BecomeError", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "become "+nopasswdUser+" with su failed") || !strings.Contains(msg, "Authentication failure") || strings.Contains(msg, "not the password") {
		t.Errorf("wrong su password: %q", msg)
	}

	// Without a password su fails too, saying what is missing.
	h.BecomePassword = ""
	tr = c.dial(t, h, c.options())
	_, err = tr.Run(ctx, transport.Command{Script: "echo should-not-run"})
	if !errors.As(err, &be) || !strings.Contains(err.Error(), "set ansible_become_password") {
		t.Errorf("su without a password: %v", err)
	}
}

func TestBecomeRefused(t *testing.T) {
	t.Parallel()
	// What tend cannot do over ssh is refused before connecting, naming
	// the variable.
	tests := map[string]struct {
		h    inventory.Host
		want string
	}{
		"doas with a password": {inventory.Host{Become: true, BecomeMethod: "doas", BecomePassword: "pw"}, "ansible_become_method = doas with a become password"},
		"runas":                {inventory.Host{Become: true, BecomeMethod: "runas"}, "ansible_become_method = runas is not supported over ssh"},
		"pbrun":                {inventory.Host{Become: true, BecomeMethod: "pbrun"}, "ansible_become_method = pbrun is not supported over ssh"},
		"powershell":           {inventory.Host{ShellType: "powershell"}, "ansible_shell_type = powershell: tend runs POSIX sh over ssh"},
		"cmd":                  {inventory.Host{ShellType: "cmd"}, "ansible_shell_type = cmd"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := tc.h
			h.Name, h.Address, h.Port = "h1", "127.0.0.1", 1 // never dialled
			_, err := Dial(context.Background(), &h, Options{})
			if err == nil || !strings.Contains(err.Error(), "ssh h1: "+tc.want) {
				t.Errorf("Dial: %v, want %q", err, tc.want)
			}
		})
	}
}

func TestBecomeLaunchCommand(t *testing.T) {
	// The command line each method runs; the password travels on stdin,
	// never on it.
	for method, want := range map[string]string{
		"":     "sudo -S -p '' -u admin -- /bin/sh -c '",
		"sudo": "sudo -S -p '' -u admin -- /bin/sh -c '",
		"su":   `su admin -c '/bin/sh -c '\''`,
	} {
		l, err := newLaunch("true", &become{method: method, user: "admin", password: "pw"})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(l.command, want) || strings.Contains(l.command, "pw") {
			t.Errorf("method %q: %s", method, l.command)
		}
		if !strings.HasPrefix(string(l.prelude), "pw\n") {
			t.Errorf("method %q: the password is not first on stdin", method)
		}
	}
	l, err := newLaunch("true", &become{method: "doas", user: "admin"})
	if err != nil || !strings.HasPrefix(l.command, "doas -n -u admin /bin/sh -c '") {
		t.Errorf("doas: %v %+v", err, l)
	}
}
