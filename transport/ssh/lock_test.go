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
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/inventory"
	"github.com/tendhq/tend/transport"
)

// The sshd of these tests runs on this machine, so what the host holds
// (lock file, holder record, processes, the worker's directory) is
// checked here directly.

func lockInfo(run, user string) transport.LockInfo {
	return transport.LockInfo{RunID: run, User: user, Controller: "ctl1", PID: 4242, Command: "tend apply",
		Started: time.Date(2026, 12, 6, 10, 15, 0, 0, time.UTC)}
}

// proxied is a host reached through a freezer, whose connections the test
// can cut.
func proxied(t *testing.T, c *client, s *sshd) (*inventory.Host, *freezer) {
	t.Helper()
	f := newFreezer(t, s.addr())
	h := c.host(s)
	h.Port = f.l.Addr().(*net.TCPAddr).Port
	appendFile(t, c.knownHosts, strings.Replace(s.knownHostsLine(), strconv.Itoa(s.port), strconv.Itoa(h.Port), 1))
	return h, f
}

func TestLock(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	s := serverFor(t, c, sshdConfig{})
	opts := c.options()
	opts.LockPath = filepath.Join(t.TempDir(), "tend.lock")
	holder := opts.LockPath + transport.HolderSuffix
	ctx := context.Background()
	tr1 := c.dial(t, c.host(s), opts)
	tr2 := c.dial(t, c.host(s), opts)

	release1, err := tr1.Lock(ctx, lockInfo("run-1", "alice"), 0)
	if err != nil {
		t.Fatalf("first Lock: %v", err)
	}
	rec, err := os.ReadFile(holder)
	if err != nil || !strings.Contains(string(rec), "run=run-1\n") || !strings.Contains(string(rec), "host_pid=") {
		t.Fatalf("holder record: %q %v", rec, err)
	}

	// Taken: at once, and after a wait.
	for _, wait := range []time.Duration{0, 500 * time.Millisecond} {
		start := time.Now()
		_, err = tr2.Lock(ctx, lockInfo("run-2", "bob"), wait)
		var locked *transport.LockedError
		if !errors.As(err, &locked) {
			t.Fatalf("second Lock (wait %s): %v, want a LockedError", wait, err)
		}
		if locked.Holder.RunID != "run-1" || locked.Holder.User != "alice" || locked.Path != opts.LockPath {
			t.Errorf("LockedError %+v", locked)
		}
		if d := time.Since(start); d < wait {
			t.Errorf("gave up after %s, want %s", d, wait)
		}
		if !strings.Contains(err.Error(), "host is locked by run run-1 (user alice on ctl1, pid 4242, since 2026-12-06 10:15:00 UTC)") {
			t.Errorf("message: %v", err)
		}
	}

	// Scripts still run, concurrently, on the transport holding the lock.
	var wg sync.WaitGroup
	for i := 0; i < 2*defaultMaxSessions; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got := runOK(t, tr1, "sleep 0.1; echo "+strconv.Itoa(i)); got != strconv.Itoa(i)+"\n" {
				t.Errorf("Run %d under the lock: %q", i, got)
			}
		}()
	}
	wg.Wait()

	// A waiting Lock gets it once released.
	go func() {
		time.Sleep(500 * time.Millisecond)
		if err := release1(); err != nil {
			t.Errorf("release: %v", err)
		}
	}()
	release2, err := tr2.Lock(ctx, lockInfo("run-2", "bob"), 5*time.Second)
	if err != nil {
		t.Fatalf("Lock waiting for a release: %v", err)
	}
	if rec, _ := os.ReadFile(holder); !strings.Contains(string(rec), "run=run-2\n") {
		t.Errorf("holder record after the handover: %q", rec)
	}
	if err := release2(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(holder); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("holder record left after release: %v", err)
	}
	if err := release2(); err != nil {
		t.Errorf("second release: %v", err)
	}
}

// TestLockDiesWithConnection: a holder whose connection drops (the
// controller was killed, the network went away) loses the lock at once,
// without a timeout.
func TestLockDiesWithConnection(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	s := serverFor(t, c, sshdConfig{})
	opts := c.options()
	opts.LockPath = filepath.Join(t.TempDir(), "tend.lock")
	opts.KeepAlive = -1
	ctx := context.Background()
	h, f := proxied(t, c, s)
	tr1 := c.dial(t, h, opts)
	tr2 := c.dial(t, c.host(s), opts)
	if _, err := tr1.Lock(ctx, lockInfo("run-1", "alice"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := tr2.Lock(ctx, lockInfo("run-2", "bob"), 0); !errors.As(err, new(*transport.LockedError)) {
		t.Fatalf("Lock while held: %v", err)
	}
	f.cut()
	start := time.Now()
	release, err := tr2.Lock(ctx, lockInfo("run-2", "bob"), 10*time.Second)
	if err != nil {
		t.Fatalf("Lock after the holder's connection dropped: %v", err)
	}
	defer release()
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %s", d)
	}
	// The dead connection's Runs say so.
	_, err = tr1.Run(ctx, transport.Command{Script: "true"})
	if !errors.Is(err, transport.ErrConnLost) {
		t.Errorf("Run on the cut connection: %v, want ErrConnLost", err)
	}
}

func TestLockCancelled(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	s := serverFor(t, c, sshdConfig{})
	opts := c.options()
	opts.LockPath = filepath.Join(t.TempDir(), "tend.lock")
	tr1 := c.dial(t, c.host(s), opts)
	tr2 := c.dial(t, c.host(s), opts)
	release, err := tr1.Lock(context.Background(), lockInfo("run-1", "alice"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := tr2.Lock(ctx, lockInfo("run-2", "bob"), time.Minute); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled Lock: %v", err)
	}
	if d := time.Since(start); d > 6*time.Second {
		t.Errorf("took %s", d)
	}
	// The cancelled Lock's shell is gone: it does not take the lock when
	// it is released.
	time.Sleep(time.Second)
	if err := release(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	release3, err := tr2.Lock(context.Background(), lockInfo("run-3", "carol"), 0)
	if err != nil {
		t.Fatalf("Lock after the release: %v", err)
	}
	release3()
}

// processGone reports whether pid has ended (a zombie has: nobody may
// reap it in a container without an init).
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return true
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && (f[0] == "Z" || f[0] == "X")
}

// TestWorkerScriptDiesWithConnection: a script running on a worker when
// the connection drops is killed, its children with it, and the worker's
// directory is removed.
func TestWorkerScriptDiesWithConnection(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	s := serverFor(t, c, sshdConfig{})
	opts := c.options()
	opts.KeepAlive = -1
	h, f := proxied(t, c, s)
	tr := c.dial(t, h, opts)
	dir := t.TempDir()
	runOK(t, tr, "true")
	errc := make(chan error, 1)
	go func() {
		_, err := tr.Run(context.Background(), transport.Command{Script: `echo "$(dirname "$0")" > ` + dir + `/wd; echo $$ > ` + dir + `/pid
sleep 30 & echo $! > ` + dir + `/child; wait; touch ` + dir + `/survived`})
		errc <- err
	}()
	var pid, child int
	var wd string
	deadline := time.Now().Add(10 * time.Second)
	for {
		b1, _ := os.ReadFile(filepath.Join(dir, "pid"))
		b2, _ := os.ReadFile(filepath.Join(dir, "child"))
		b3, _ := os.ReadFile(filepath.Join(dir, "wd"))
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b1)))
		child, _ = strconv.Atoi(strings.TrimSpace(string(b2)))
		wd = strings.TrimSpace(string(b3))
		if pid > 0 && child > 0 && wd != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the script did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(wd); err != nil || !strings.Contains(wd, "tend-worker.") {
		t.Fatalf("worker directory %q: %v", wd, err)
	}
	f.cut()
	if err := <-errc; !errors.Is(err, transport.ErrConnLost) {
		t.Errorf("Run when the connection dropped: %v, want ErrConnLost", err)
	}
	deadline = time.Now().Add(2 * time.Second)
	for !processGone(pid) || !processGone(child) {
		if time.Now().After(deadline) {
			t.Fatalf("2s after the connection dropped: script %d gone %v, its sleep %d gone %v", pid, processGone(pid), child, processGone(child))
		}
		time.Sleep(20 * time.Millisecond)
	}
	for {
		if _, err := os.Stat(wd); errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker directory %s left behind", wd)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(dir, "survived")); err == nil {
		t.Error("the script went on after its sleep")
	}
}
