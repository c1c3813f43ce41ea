//go:build unix

package local_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/transport"
	"github.com/tendhq/tend/transport/local"
)

// The helper is this test binary run again with helperEnv set: it runs a
// script or takes the lock through local.Transport, then waits to be
// killed.
const helperEnv = "TEND_LOCAL_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "run":
		_, err := local.New().Run(context.Background(), transport.Command{Script: os.Getenv("SCRIPT")})
		fmt.Fprintln(os.Stderr, "helper: Run returned:", err)
		os.Exit(3)
	case "lock":
		tr := local.New()
		tr.LockPath = os.Getenv("LOCK")
		if _, err := tr.Lock(context.Background(), lockInfo("run-helper", "alice"), 0); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(3)
		}
		fmt.Println("locked")
		time.Sleep(time.Minute)
		os.Exit(4)
	}
}

func lockInfo(run, user string) transport.LockInfo {
	return transport.LockInfo{RunID: run, User: user, Controller: "ctl1", PID: os.Getpid(), Command: "tend apply",
		Started: time.Date(2026, 12, 6, 10, 15, 0, 0, time.UTC)}
}

// helper starts the helper in mode and kills it (by PID) when the test ends.
func helper(t *testing.T, mode string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), helperEnv+"="+mode), env...)
	cmd.Stderr = os.Stderr
	return cmd
}

func startHelper(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
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

func readPID(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("no PID in %s", path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestScriptDiesWithTend: tend SIGKILLed while a script runs takes the
// script and its children with it.
func TestScriptDiesWithTend(t *testing.T) {
	dir := t.TempDir()
	script := fmt.Sprintf("echo $$ > %[1]s/pid; sleep 30 & echo $! > %[1]s/child; wait; touch %[1]s/survived", dir)
	cmd := helper(t, "run", "SCRIPT="+script)
	startHelper(t, cmd)
	pid, child := readPID(t, dir+"/pid"), readPID(t, dir+"/child")
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for !processGone(pid) || !processGone(child) {
		if time.Now().After(deadline) {
			syscall.Kill(-pid, syscall.SIGKILL)
			t.Fatalf("2s after tend died: script %d gone %v, its sleep %d gone %v", pid, processGone(pid), child, processGone(child))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(dir, "survived")); err == nil {
		t.Error("the script went on after its sleep")
	}
}

func TestLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tend.lock")
	tr := local.New()
	tr.LockPath = path
	ctx := context.Background()

	cmd := helper(t, "lock", "LOCK="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	startHelper(t, cmd)
	buf := make([]byte, 7)
	if n, err := out.Read(buf); err != nil || string(buf[:n]) != "locked\n" {
		t.Fatalf("helper: %q %v", buf[:n], err)
	}

	start := time.Now()
	_, err = tr.Lock(ctx, lockInfo("run-2", "bob"), 300*time.Millisecond)
	var locked *transport.LockedError
	if !errors.As(err, &locked) || locked.Holder.RunID != "run-helper" || locked.Holder.User != "alice" || locked.Path != path {
		t.Fatalf("Lock while the helper holds it: %v (%+v)", err, locked)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("gave up after %s", d)
	}
	if !strings.Contains(err.Error(), "host is locked by run run-helper (user alice on ctl1, pid ") {
		t.Errorf("message: %v", err)
	}

	// tend dies: the kernel releases its lock, and its record no longer
	// counts.
	cmd.Process.Signal(syscall.SIGKILL)
	release, err := tr.Lock(ctx, lockInfo("run-2", "bob"), 5*time.Second)
	if err != nil {
		t.Fatalf("Lock after the holder died: %v", err)
	}
	rec, _ := os.ReadFile(path + transport.HolderSuffix)
	if !strings.Contains(string(rec), "run=run-2\n") || !strings.Contains(string(rec), "host_pid="+strconv.Itoa(os.Getpid())+"\n") {
		t.Errorf("holder record: %q", rec)
	}
	// One process, two transports: still exclusive.
	other := local.New()
	other.LockPath = path
	if _, err := other.Lock(ctx, lockInfo("run-3", "carol"), 0); !errors.As(err, &locked) || locked.Holder.RunID != "run-2" {
		t.Errorf("second Lock in the same process: %v", err)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + transport.HolderSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("holder record after release: %v", err)
	}
	// Close releases a held lock.
	if _, err := other.Lock(ctx, lockInfo("run-3", "carol"), 0); err != nil {
		t.Fatal(err)
	}
	other.Close()
	if release, err := tr.Lock(ctx, lockInfo("run-4", "dan"), 0); err != nil {
		t.Errorf("Lock after the holder's Close: %v", err)
	} else {
		release()
	}
}

// TestLockedHolderUnknown: a record whose process is gone, or none, is
// not reported as the holder.
func TestLockedHolderUnknown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tend.lock")
	a, b := local.New(), local.New()
	a.LockPath, b.LockPath = path, path
	release, err := a.Lock(context.Background(), lockInfo("run-1", "alice"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	os.WriteFile(path+transport.HolderSuffix, []byte("run=stale\nhost_pid=999999999\n"), 0o644)
	_, err = b.Lock(context.Background(), lockInfo("run-2", "bob"), 0)
	var locked *transport.LockedError
	if !errors.As(err, &locked) || locked.Holder.RunID != "" || !strings.Contains(err.Error(), "host is locked by another run") {
		t.Errorf("Lock with a stale record: %v", err)
	}
}
