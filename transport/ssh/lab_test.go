//go:build linux

package ssh

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/integration/lab"
	"github.com/tendhq/tend/inventory"
	"github.com/tendhq/tend/transport"
)

// TestLabLock runs the lock and a worker's end on a real Debian host, in
// its default place (/run/lock/tend.lock), between root, the unprivileged
// ops and ops through sudo: whoever created the lock file, every login
// contends on it, and reads the others' holder records.
func TestLabLock(t *testing.T) {
	l := lab.StartT(t, lab.Options{Hosts: 1, Name: "lock"})
	h := l.Host(1)
	known := l.KnownHostsFile()
	opts := Options{SSHConfigPath: "none", AgentSocket: "none", KnownHostsPath: known, Home: t.TempDir(), KeepAlive: -1}
	host := func(user string, become bool) *inventory.Host {
		ih := &inventory.Host{Name: h.Name, Address: h.Address, User: user, IdentityFile: l.ClientKeyFile(), Transport: "ssh"}
		if become {
			ih.Become, ih.BecomePassword = true, lab.OpsSudoPassword
		}
		return ih
	}
	dial := func(ih *inventory.Host, opts Options) *Transport {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		tr, err := Dial(ctx, ih, opts)
		if err != nil {
			t.Fatalf("Dial %s: %v", ih.User, err)
		}
		t.Cleanup(func() { tr.Close() })
		return tr
	}
	ctx := context.Background()
	mustLocked := func(tr *Transport, by string) {
		t.Helper()
		_, err := tr.Lock(ctx, lockInfo("run-x", "x"), 0)
		var locked *transport.LockedError
		if !errors.As(err, &locked) || locked.Holder.RunID != by || locked.Path != "/run/lock/tend.lock" {
			t.Fatalf("Lock: %v, want the host locked by %s", err, by)
		}
	}

	ops := dial(host(lab.OpsUser, false), opts)
	sudo := dial(host(lab.OpsUser, true), opts)
	releaseOps, err := ops.Lock(ctx, lockInfo("run-ops", lab.OpsUser), 0)
	if err != nil {
		t.Fatalf("Lock as ops: %v", err)
	}
	if out, err := l.Exec(1, "stat -c '%U %a' /run/lock/tend.lock; cat /run/lock/tend.lock.holder"); err != nil || !strings.HasPrefix(out, "ops 644\nrun=run-ops\n") {
		t.Fatalf("lock file and record on the host: %q %v", out, err)
	}

	// root, through a proxy the test cuts later.
	f := newFreezer(t, net.JoinHostPort(h.Address, "22"))
	proxyKnown := filepath.Join(t.TempDir(), "known_hosts")
	b, err := os.ReadFile(known)
	if err != nil {
		t.Fatal(err)
	}
	port := f.l.Addr().(*net.TCPAddr).Port
	var lines []string
	for _, line := range strings.Split(string(b), "\n") {
		if fs := strings.Fields(line); len(fs) >= 3 {
			lines = append(lines, "[127.0.0.1]:"+strconv.Itoa(port)+" "+fs[1]+" "+fs[2])
		}
	}
	writeFile(t, proxyKnown, strings.Join(lines, "\n")+"\n")
	rootHost := host("root", false)
	rootHost.Address, rootHost.Port = "127.0.0.1", port
	rootOpts := opts
	rootOpts.KnownHostsPath = proxyKnown
	root := dial(rootHost, rootOpts)

	mustLocked(root, "run-ops")
	mustLocked(sudo, "run-ops")
	if err := releaseOps(); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Lock(ctx, lockInfo("run-root", "root"), 2*time.Second); err != nil {
		t.Fatalf("Lock as root: %v", err)
	}
	mustLocked(ops, "run-root")
	mustLocked(sudo, "run-root")

	// A script under root's worker when root's connection drops: gone
	// within two seconds, with the worker's directory; the lock is free.
	runOK(t, root, "true")
	go root.Run(ctx, transport.Command{Script: "sleep 31.5; touch /root/survived"})
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := l.Exec(1, "pgrep -x -f 'sleep 3[1][.]5' || true")
		if strings.TrimSpace(out) != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the script did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	f.cut()
	release, err := sudo.Lock(ctx, lockInfo("run-sudo", "ops"), 5*time.Second)
	if err != nil {
		t.Fatalf("Lock after root's connection dropped: %v", err)
	}
	mustLocked(ops, "run-sudo")
	deadline = time.Now().Add(2 * time.Second)
	for {
		out, _ := l.Exec(1, "pgrep -x -f 'sleep 3[1][.]5'; ls -d /dev/shm/tend-worker.* /tmp/tend-worker.* 2>/dev/null; true")
		if strings.TrimSpace(out) == "" {
			break
		}
		if time.Now().After(deadline) {
			ps, _ := l.Exec(1, "ps -eo pid,ppid,pgid,sid,stat,args")
			t.Fatalf("2s after the connection dropped, left on the host: %q\n%s", out, ps)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	if out, _ := l.Exec(1, "ls /run/lock/tend.lock.holder* /root/survived 2>&1 || true"); !strings.Contains(out, "No such file") || strings.Contains(out, "tend.lock.holder ") {
		t.Errorf("left on the host: %q", out)
	}
}
