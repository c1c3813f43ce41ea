//go:build linux

package hostile

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/transport"
)

// nsEnv is set in the test binary re-run inside its namespaces.
const nsEnv = "TEND_HOSTILE_SANDBOX"

// TestMain runs the tests in a user and mount namespace of their own
// (unshare, as root of that namespace only), where the sandbox can bind
// the system read-only into a chroot without privileges on the machine.
func TestMain(m *testing.M) {
	if os.Getenv(nsEnv) == "" {
		cmd := exec.Command("unshare", append([]string{"--user", "--map-root-user", "--mount", "--propagation", "private", "--", os.Args[0]}, os.Args[1:]...)...)
		cmd.Env = append(os.Environ(), nsEnv+"=1")
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		err := cmd.Run()
		var ee *exec.ExitError
		switch {
		case err == nil:
			os.Exit(0)
		case errors.As(err, &ee) && ee.ExitCode() > 0:
			os.Exit(ee.ExitCode())
		default:
			fmt.Fprintf(os.Stderr, "hostile: the sandbox needs unshare (util-linux) and user namespaces: %v\n", err)
			os.Exit(1)
		}
	}
	os.Exit(m.Run())
}

// stubs are the programs that would change the system or need one: in
// the sandbox each records its name and arguments in argvLog and does
// nothing. tendcanary is what hostile values try to run.
var stubs = []string{
	"tendcanary", "tendrun",
	"useradd", "usermod", "userdel", "groupadd", "groupmod", "groupdel", "gpasswd",
	"chpasswd", "chgpasswd", "chage", "passwd", "getent", "id", "su", "sudo", "runuser",
	"apt-get", "apt-cache", "apt-mark", "dpkg", "dpkg-query", "apk", "pacman", "rpm", "dnf", "yum", "zypper",
	"systemctl", "service", "update-rc.d", "rc-service", "rc-update", "invoke-rc.d",
	"crontab", "chown", "chgrp", "setfacl", "getfacl", "setfattr", "getfattr", "restorecon", "chcon",
	"setpriv", "mount", "umount", "reboot", "shutdown", "kill", "pkill",
}

const stubScript = `#!/bin/sh
n=${0##*/}
{ printf '%d\n' $(($# + 1)); printf '%d:%s' ${#n} "$n"; for a; do printf '%d:%s' ${#a} "$a"; done; printf '\n'; } >>/.tend-argv
eval "last=\${$#}"
case $n.$1 in
useradd.*) printf '%s:x:1001:1001::/srv/t/home:/bin/sh\n' "$last" >>/etc/passwd; mkdir -p /srv/t/home;;
groupadd.*) printf '%s:x:1001:\n' "$last" >>/etc/group;;
systemctl.show) printf 'LoadState=loaded\nActiveState=inactive\nSubState=dead\nUnitFileState=disabled\n';;
esac
exit 0
`

// argvLog is where stubs record their calls, in the sandbox.
const argvLog = ".tend-argv"

// sandbox is a chroot: the machine's /usr read-only, /dev/null, /proc,
// stub programs first on PATH, and small /etc account files; everything
// else is a directory of the test's, which is what a script may change.
type sandbox struct {
	root string
	n    atomic.Int64
}

var systemDirs = []string{"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "dev", "proc", "stubs"}

func newSandbox(t testing.TB, root string) *sandbox {
	t.Helper()
	sb := &sandbox{root: root}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("sandbox: %v", err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "usr"), 0o755))
	must(syscall.Mount("/usr", filepath.Join(root, "usr"), "", syscall.MS_BIND|syscall.MS_REC, ""))
	t.Cleanup(func() { syscall.Unmount(filepath.Join(root, "usr"), syscall.MNT_DETACH) })
	var st syscall.Statfs_t
	must(syscall.Statfs("/usr", &st))
	// A read-only bind keeps the flags the machine's mount has.
	flags := uintptr(syscall.MS_REMOUNT | syscall.MS_BIND | syscall.MS_RDONLY)
	for _, f := range []struct{ st, ms uintptr }{{0x2, syscall.MS_NOSUID}, {0x4, syscall.MS_NODEV}, {0x8, syscall.MS_NOEXEC}, {0x400, syscall.MS_NOATIME}, {0x800, syscall.MS_NODIRATIME}, {0x1000, syscall.MS_RELATIME}} {
		if uintptr(st.Flags)&f.st != 0 {
			flags |= f.ms
		}
	}
	must(syscall.Mount("", filepath.Join(root, "usr"), "", flags, ""))
	for _, d := range []string{"bin", "sbin", "lib", "lib32", "lib64", "libx32"} {
		if target, err := os.Readlink("/" + d); err == nil {
			must(os.Symlink(target, filepath.Join(root, d)))
		} else if _, err := os.Stat("/" + d); err == nil {
			t.Fatalf("sandbox: /%s is not a symbolic link into /usr; this sandbox needs a merged /usr", d)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "dev"), 0o755))
	for _, d := range []string{"null", "zero", "urandom", "random"} {
		p := filepath.Join(root, "dev", d)
		must(os.WriteFile(p, nil, 0o666))
		must(syscall.Mount("/dev/"+d, p, "", syscall.MS_BIND, ""))
		t.Cleanup(func() { syscall.Unmount(p, syscall.MNT_DETACH) })
	}
	must(os.Symlink("/proc/self/fd", filepath.Join(root, "dev", "fd")))
	must(os.MkdirAll(filepath.Join(root, "proc"), 0o555))
	must(syscall.Mount("/proc", filepath.Join(root, "proc"), "", syscall.MS_BIND|syscall.MS_REC, ""))
	t.Cleanup(func() { syscall.Unmount(filepath.Join(root, "proc"), syscall.MNT_DETACH) })
	must(os.MkdirAll(filepath.Join(root, "stubs"), 0o755))
	for _, s := range stubs {
		must(os.WriteFile(filepath.Join(root, "stubs", s), []byte(stubScript), 0o755))
	}
	// Programs run with a PATH of their own (env -i PATH=...) find the
	// stubs too.
	must(syscall.Mount(filepath.Join(root, "stubs"), filepath.Join(root, "usr/local/sbin"), "", syscall.MS_BIND, ""))
	t.Cleanup(func() { syscall.Unmount(filepath.Join(root, "usr/local/sbin"), syscall.MNT_DETACH) })
	sb.reset(t)
	return sb
}

// reset puts back the sandbox's writable part: empty but for the account
// files and the directories base configurations use.
func (sb *sandbox) reset(t testing.TB) {
	t.Helper()
	ents, err := os.ReadDir(sb.root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if isSystem(e.Name()) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(sb.root, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"etc/passwd":       "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n",
		"etc/group":        "root:x:0:\ndaemon:x:1:\n",
		"etc/shadow":       "root:*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n",
		"etc/gshadow":      "root:*::\ndaemon:*::\n",
		"srv/t/.keep":      "",
		"etc/cron.d/.keep": "",
		"root/.keep":       "",
		"tmp/.keep":        "",
		argvLog:            "",
	}
	for p, c := range files {
		full := filepath.Join(sb.root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(sb.root, "tmp"), 0o1777)
}

func isSystem(name string) bool {
	for _, d := range systemDirs {
		if name == d {
			return true
		}
	}
	return false
}

// call is one recorded run of a stub.
type call []string

// calls returns the stubs' recorded calls, in order.
func (sb *sandbox) calls(t testing.TB) []call {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(sb.root, argvLog))
	if err != nil {
		t.Fatal(err)
	}
	var out []call
	for len(data) > 0 {
		nl := bytes.IndexByte(data, '\n')
		n, err := strconv.Atoi(string(data[:nl]))
		if nl < 0 || err != nil {
			t.Fatalf("malformed stub log at %.40q", data)
		}
		data = data[nl+1:]
		c := call{}
		for i := 0; i < n; i++ {
			colon := bytes.IndexByte(data, ':')
			l, err := strconv.Atoi(string(data[:colon]))
			if colon < 0 || err != nil || colon+1+l > len(data) {
				t.Fatalf("malformed stub log at %.40q", data)
			}
			c = append(c, string(data[colon+1:colon+1+l]))
			data = data[colon+1+l:]
		}
		if len(data) == 0 || data[0] != '\n' {
			t.Fatalf("malformed stub log at %.40q", data)
		}
		data = data[1:]
		out = append(out, c)
	}
	return out
}

// entry is what a snapshot knows of one path.
type entry struct {
	mode fs.FileMode
	sum  [32]byte
	link string
}

// snapshot lists every path of the sandbox's writable part (sandbox
// paths, from "/"), except the stub log.
func (sb *sandbox) snapshot(t testing.TB) map[string]entry {
	t.Helper()
	out := map[string]entry{}
	err := filepath.WalkDir(sb.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(p, sb.root)
		if rel == "" {
			return nil
		}
		if top := strings.SplitN(rel[1:], "/", 2)[0]; isSystem(top) || top == argvLog {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		e := entry{mode: info.Mode()}
		switch {
		case info.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			e.sum = sha256.Sum256(data)
		case info.Mode()&fs.ModeSymlink != 0:
			e.link, _ = os.Readlink(p)
		}
		out[rel] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// transport runs scripts in the sandbox: sh chrooted into it, stubs first
// on PATH.
type sandboxTransport struct{ sb *sandbox }

var _ transport.Transport = sandboxTransport{}

func (st sandboxTransport) Run(ctx context.Context, c transport.Command) (*transport.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	name := fmt.Sprintf("/.tend-script-%d", st.sb.n.Add(1))
	if err := os.WriteFile(filepath.Join(st.sb.root, name), []byte(c.Script), 0o600); err != nil {
		return nil, err
	}
	defer os.Remove(filepath.Join(st.sb.root, name))
	cmd := exec.CommandContext(ctx, "/bin/sh", name)
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: st.sb.root, Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/stubs:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "HOME=/root"}
	if c.Stdin != nil {
		cmd.Stdin = c.Stdin
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := &transport.Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		res.ExitStatus = ee.ExitCode()
	default:
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	return res, nil
}

func (st sandboxTransport) Upload(ctx context.Context, p string, r io.Reader, mode fs.FileMode) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(st.sb.root, p), data, mode)
}

func (st sandboxTransport) Download(ctx context.Context, p string, w io.Writer) error {
	data, err := os.ReadFile(filepath.Join(st.sb.root, p))
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}

func (sandboxTransport) Close() error { return nil }
