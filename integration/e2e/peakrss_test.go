package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// A process's ru_maxrss is at least the peak RSS of the process that
// started it when that process used vfork (CLONE_VM), as Go's os/exec
// does: the kernel records the address space the child leaves at exec,
// which is its parent's. The test binary is large, so the peak of a
// command it starts directly reads as the test's own. peakRSSCommand
// therefore starts the command from a fresh copy of the test binary
// (TestMain), small when it starts the command, which reports the
// command's rusage.

// peakRSSEnv names the file to which the test binary, started as the
// small parent, writes the command's ru_maxrss and its own VmHWM (bytes).
const peakRSSEnv = "TEND_E2E_PEAKRSS_FILE"

func TestMain(m *testing.M) {
	if out := os.Getenv(peakRSSEnv); out != "" {
		os.Exit(peakRSSParent(out, os.Args[1:]))
	}
	os.Exit(m.Run())
}

// peakRSSParent runs argv with this process's standard streams, writes
// "CHILD_MAXRSS OWN_VMHWM" (bytes) to out, and returns its exit status.
func peakRSSParent(out string, argv []string) int {
	if len(argv) == 0 {
		fmt.Fprintln(os.Stderr, "peakrss: no command")
		return 125
	}
	// The child is killed when this thread ends (the test's timeout
	// kills this process).
	runtime.LockOSThread()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = os.Environ()
	for i, kv := range cmd.Env {
		if strings.HasPrefix(kv, peakRSSEnv+"=") {
			cmd.Env = append(cmd.Env[:i:i], cmd.Env[i+1:]...)
			break
		}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err := cmd.Run()
	if cmd.ProcessState == nil {
		fmt.Fprintln(os.Stderr, "peakrss:", err)
		return 125
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		fmt.Fprintln(os.Stderr, "peakrss: no rusage")
		return 125
	}
	own, err := vmHWM("self")
	if err != nil {
		fmt.Fprintln(os.Stderr, "peakrss:", err)
		return 125
	}
	if err := os.WriteFile(out, fmt.Appendf(nil, "%d %d\n", ru.Maxrss<<10, own), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "peakrss:", err)
		return 125
	}
	return cmd.ProcessState.ExitCode()
}

// vmHWM returns the peak resident set of process pid ("self" for this
// one) in bytes: that of its own address space.
func vmHWM(pid string) (int64, error) {
	f, err := os.Open("/proc/" + pid + "/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmHWM in /proc/" + pid + "/status")
}

// peakRSSCommand returns a command running name with args under a small
// parent (this test binary, started afresh) and a function that, once
// the command has run, returns the command's peak RSS and the floor
// under it (the parent's own peak: no lower value can be told apart).
func peakRSSCommand(ctx context.Context, t *testing.T, name string, args ...string) (*exec.Cmd, func() (peak, floor int64)) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir() + "/peakrss"
	cmd := exec.CommandContext(ctx, self, append([]string{name}, args...)...)
	cmd.Env = append(os.Environ(), peakRSSEnv+"="+out)
	return cmd, func() (int64, int64) {
		t.Helper()
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatalf("the peak RSS of %s was not reported: %v", name, err)
		}
		var peak, floor int64
		if _, err := fmt.Sscan(string(b), &peak, &floor); err != nil {
			t.Fatalf("peak RSS report %q: %v", b, err)
		}
		return peak, floor
	}
}

// TestPeakRSSCommand: the peak RSS measured through peakRSSCommand is the
// command's own, not the test's: a test holding 200 MB measures a shell
// far below that, where ru_maxrss of the shell started directly is
// above it.
func TestPeakRSSCommand(t *testing.T) {
	ballast := make([]byte, 200<<20)
	for i := range ballast {
		ballast[i] = 1
	}
	direct := exec.Command("/bin/sh", "-c", "true")
	if err := direct.Run(); err != nil {
		t.Fatal(err)
	}
	inherited := direct.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10
	cmd, peak := peakRSSCommand(context.Background(), t, "/bin/sh", "-c", "true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	p, floor := peak()
	runtime.KeepAlive(ballast)
	t.Logf("sh started directly: ru_maxrss %d MB; through the small parent: %d MB (the parent's own peak %d MB)", inherited>>20, p>>20, floor>>20)
	if inherited < 200<<20 {
		t.Logf("ru_maxrss of a directly started command did not include the test's 200 MB (%d MB): the kernel no longer counts the parent's address space", inherited>>20)
	}
	if p >= 100<<20 || p <= 0 {
		t.Errorf("sh's peak RSS through the small parent: %d MB, want above 0 and far below the test's 200 MB", p>>20)
	}
}
