package lab_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/integration/lab"
)

// ssh runs command on host i as user with the OpenSSH client and returns
// its trimmed standard output.
func ssh(t *testing.T, l *lab.Lab, i int, user, command string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := l.SSHCommand(ctx, i, user, command)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return strings.TrimSpace(string(out)), fmt.Errorf("ssh %s@%s %q: %w: %s", user, l.Host(i).Address, command, err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

func mustSSH(t *testing.T, l *lab.Lab, i int, user, command string) string {
	t.Helper()
	out, err := ssh(t, l, i, user, command)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLab(t *testing.T) {
	l := lab.StartT(t, lab.Options{Hosts: 3})

	t.Run("hosts", func(t *testing.T) {
		for _, h := range l.Hosts {
			t.Run(h.Name, func(t *testing.T) {
				t.Parallel()
				checkHost(t, l, h)
			})
		}
	})

	t.Run("host keys are per host and checked", func(t *testing.T) {
		// known_hosts claiming host 1's key for host 2's address must be refused.
		pub, err := os.ReadFile(l.HostKeyFile(1) + ".pub")
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(pub))
		bad := filepath.Join(t.TempDir(), "known_hosts")
		if err := os.WriteFile(bad, []byte(l.Host(2).Address+" "+f[0]+" "+f[1]+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		args := l.SSHArgs(2, "root")
		for i, a := range args {
			if strings.HasPrefix(a, "UserKnownHostsFile=") {
				args[i] = "UserKnownHostsFile=" + bad
			}
		}
		if out, err := exec.Command("ssh", append(args, "true")...).CombinedOutput(); err == nil {
			t.Errorf("ssh accepted host 2 with host 1's key: %s", out)
		}
	})

	t.Run("inventory", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "inventory.hcl")
		if err := l.WriteInventory(path); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range l.Hosts {
			for _, want := range []string{`host "` + h.Name + `" {`, `address       = "` + h.Address + `"`} {
				if !strings.Contains(string(data), want) {
					t.Errorf("inventory lacks %q:\n%s", want, data)
				}
			}
		}
	})

	t.Run("stop and restart", func(t *testing.T) {
		mustSSH(t, l, 2, "root", "echo kept > /root/marker && sync")
		oldPID := l.Host(2).PID
		if err := l.Stop(2); err != nil {
			t.Fatal(err)
		}
		if l.Host(2).PID != 0 {
			t.Errorf("PID after Stop = %d, want 0", l.Host(2).PID)
		}
		if !processGone(oldPID) {
			t.Errorf("init %d of the stopped host still runs", oldPID)
		}
		if conn, err := net.DialTimeout("tcp", l.Host(2).Address+":22", time.Second); err == nil {
			conn.Close()
			t.Errorf("%s:22 still answers after Stop(2)", l.Host(2).Address)
		}
		if _, err := ssh(t, l, 2, "root", "true"); err == nil {
			t.Error("ssh to a stopped host succeeded")
		}
		if _, err := l.Exec(2, "true"); err == nil {
			t.Error("Exec on a stopped host succeeded")
		}
		for _, i := range []int{1, 3} {
			if got := mustSSH(t, l, i, "root", "hostname"); got != l.Host(i).Name {
				t.Errorf("host %d answered %q", i, got)
			}
		}

		if err := l.Restart(2); err != nil {
			t.Fatal(err)
		}
		if l.Host(2).PID == 0 || l.Host(2).PID == oldPID {
			t.Errorf("PID after Restart = %d (was %d)", l.Host(2).PID, oldPID)
		}
		got := mustSSH(t, l, 2, "root", "cat /root/marker; hostname; systemctl is-system-running --wait")
		if got != "kept\nlab2\nrunning" {
			t.Errorf("after Restart(2): %q, want kept, lab2, running", got)
		}
		// Restart of a running host reboots it too.
		if err := l.Restart(2); err != nil {
			t.Fatal(err)
		}
		if got := mustSSH(t, l, 2, "root", "cat /root/marker"); got != "kept" {
			t.Errorf("after second Restart(2): %q", got)
		}
	})
}

// checkHost verifies one freshly booted host over SSH and through Exec.
func checkHost(t *testing.T, l *lab.Lab, h *lab.Host) {
	if want := fmt.Sprintf("lab%d", h.Index); h.Name != want {
		t.Errorf("Name = %q, want %q", h.Name, want)
	}
	got := mustSSH(t, l, h.Index, "root", "hostname; systemctl is-system-running --wait; systemctl is-active ssh cron; apt-get --version | head -n1")
	lines := strings.Split(got, "\n")
	if len(lines) != 5 || lines[0] != h.Name || lines[1] != "running" || lines[2] != "active" ||
		lines[3] != "active" || !strings.HasPrefix(lines[4], "apt ") {
		failed, _ := l.Exec(h.Index, "systemctl --failed --no-legend")
		t.Errorf("hostname, state, ssh, cron, apt = %q; want %s, running, active, active, apt ...; failed units: %s", lines, h.Name, failed)
	}

	// The controller sees the host's files; Exec runs inside it.
	data, err := os.ReadFile(filepath.Join(h.Root, "etc/hostname"))
	if err != nil || strings.TrimSpace(string(data)) != h.Name {
		t.Errorf("Root/etc/hostname = %q, %v; want %s", data, err, h.Name)
	}
	if out, err := l.Exec(h.Index, "hostname; cat /proc/1/comm"); err != nil || out != h.Name+"\nsystemd\n" {
		t.Errorf("Exec(hostname; cat /proc/1/comm) = %q, %v; want %s, systemd", out, err, h.Name)
	}

	// ops logs in by key; its sudo needs the password, every time.
	if got := mustSSH(t, l, h.Index, lab.OpsUser, "id -un; id -u"); got != "ops\n1001" {
		t.Errorf("ops id = %q", got)
	}
	cmd := l.SSHCommand(context.Background(), h.Index, lab.OpsUser, "sudo -S -p '' id -u")
	cmd.Stdin = strings.NewReader(lab.OpsSudoPassword + "\n")
	if out, err := cmd.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "0" {
		t.Errorf("sudo -S with the password = %q, %v; want 0", out, err)
	}
	cmd = l.SSHCommand(context.Background(), h.Index, lab.OpsUser, "sudo -S -p '' true")
	cmd.Stdin = strings.NewReader("wrong-password\n")
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("sudo -S with a wrong password succeeded: %q", out)
	}
	if out, err := ssh(t, l, h.Index, lab.OpsUser, "sudo -n true"); err == nil {
		t.Errorf("sudo -n true as ops succeeded (%q); it must require a password", out)
	}
}

// TestClose checks that Close leaves no mount, process, cgroup, directory
// or state file behind, and that it is idempotent.
func TestClose(t *testing.T) {
	lab.Required(t)
	l, err := lab.Start(context.Background(), lab.Options{Hosts: 2, Name: "close", Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	dir := l.Dir()
	var pidNS []string
	for _, h := range l.Hosts {
		ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", h.PID))
		if err != nil {
			t.Fatal(err)
		}
		pidNS = append(pidNS, ns)
	}
	if n := len(processesIn(pidNS)); n < 4 { // systemd, journald, sshd, cron, ... per host
		t.Fatalf("only %d processes in the hosts' PID namespaces before Close", n)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	assertGone(t, l.ID(), dir, pidNS, l.Hosts)
}

// TestStartCancelled cancels Start at different points of a boot: it must
// fail and leave nothing behind.
func TestStartCancelled(t *testing.T) {
	lab.Required(t)
	for _, after := range []time.Duration{time.Millisecond, 100 * time.Millisecond, 300 * time.Millisecond, 600 * time.Millisecond} {
		ctx, cancel := context.WithTimeout(context.Background(), after)
		began := time.Now()
		l, err := lab.Start(ctx, lab.Options{Hosts: 3, Name: "cancel", Logf: t.Logf})
		cancel()
		t.Logf("cancelled after %v: Start returned after %v: %v", after, time.Since(began).Round(time.Millisecond), err)
		if err == nil {
			t.Logf("Start finished within %v", after)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
		}
		leftovers, _ := filepath.Glob(filepath.Join(os.TempDir(), "tend-cancel-*"))
		states, _ := filepath.Glob(filepath.Join(lab.StateDir, "cancel-*"))
		cgroups, _ := filepath.Glob("/sys/fs/cgroup/*/tend-lab/cancel-*")
		mounts, _ := os.ReadFile("/proc/self/mountinfo")
		if len(leftovers)+len(states)+len(cgroups) > 0 || strings.Contains(string(mounts), "/tend-cancel-") {
			t.Errorf("cancelled after %v (%v): left %v %v %v", after, err, leftovers, states, cgroups)
		}
	}
}

// TestSignalTearsDown runs a lab in a child process and sends it SIGTERM:
// the child must tear the lab down itself and die of the signal.
func TestSignalTearsDown(t *testing.T) {
	lab.Required(t)
	child, ready := startHelper(t, "signal")
	if err := child.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := child.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Errorf("child exit = %v, want death by SIGTERM", err)
	}
	assertGone(t, ready.id, ready.dir, ready.pidNS, nil)
}

// TestKilledOwnerIsCleaned SIGKILLs a child process running a lab: its
// hosts must die with it, and CleanStale must remove what remains.
func TestKilledOwnerIsCleaned(t *testing.T) {
	lab.Required(t)
	child, ready := startHelper(t, "kill")
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for len(processesIn(ready.pidNS)) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if p := processesIn(ready.pidNS); len(p) > 0 {
		t.Errorf("hosts of a killed test process still run: %v", p)
	}
	if _, err := os.Stat(filepath.Join(lab.StateDir, ready.id+".json")); err != nil {
		t.Errorf("state file of the killed lab: %v", err)
	}
	if err := lab.CleanStale(); err != nil {
		t.Fatal(err)
	}
	assertGone(t, ready.id, ready.dir, ready.pidNS, nil)
}

// TestCleanStaleKillsHosts makes a running lab look orphaned (its state
// file names a dead owner) and checks that CleanStale kills its hosts and
// removes it, and that Close copes afterwards.
func TestCleanStaleKillsHosts(t *testing.T) {
	lab.Required(t)
	l, err := lab.Start(context.Background(), lab.Options{Hosts: 2, Name: "orphan", Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var pidNS []string
	for _, h := range l.Hosts {
		ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", h.PID))
		pidNS = append(pidNS, ns)
	}
	// A finished process's PID with a start time that cannot match.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(lab.StateDir, l.ID()+".json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	s = strings.Replace(s, fmt.Sprintf(`"owner_pid": %d`, os.Getpid()), fmt.Sprintf(`"owner_pid": %d`, dead.Process.Pid), 1)
	if s == string(data) {
		t.Fatalf("could not rewrite owner in %s", data)
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := lab.CleanStale(); err != nil {
		t.Fatal(err)
	}
	assertGone(t, l.ID(), l.Dir(), pidNS, l.Hosts)
	if err := l.Close(); err != nil {
		t.Errorf("Close after CleanStale: %v", err)
	}
}

// TestStartMany boots 10 hosts and reports how long it took and how much
// memory they use.
func TestStartMany(t *testing.T) {
	lab.Required(t)
	before := memAvailable(t)
	start := time.Now()
	l := lab.StartT(t, lab.Options{Hosts: 10, Name: "many"})
	booted := time.Since(start)
	for _, h := range l.Hosts {
		if out, err := l.Exec(h.Index, "systemctl is-system-running --wait"); err != nil || out != "running\n" {
			t.Errorf("%s: %q, %v", h.Name, out, err)
		}
	}
	t.Logf("10 hosts: sshd answering after %v, all running after %v; memory used: %d MiB",
		booted.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), (before-memAvailable(t))/1024)
}

// TestMain runs the helper process of TestSignalTearsDown and
// TestKilledOwnerIsCleaned when TEND_LAB_HELPER names its lab, and the
// tests otherwise.
func TestMain(m *testing.M) {
	if name := os.Getenv("TEND_LAB_HELPER"); name != "" {
		helperProcess(name)
	}
	os.Exit(m.Run())
}

// helperProcess starts a lab, reports it on stdout and waits to be killed.
func helperProcess(name string) {
	l, err := lab.Start(context.Background(), lab.Options{Hosts: 2, Name: name})
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	line := []string{"READY", l.ID(), l.Dir()}
	for _, h := range l.Hosts {
		ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", h.PID))
		line = append(line, ns)
	}
	fmt.Println(strings.Join(line, " "))
	select {}
}

type helperReady struct {
	id, dir string
	pidNS   []string
}

func startHelper(t *testing.T, name string) (*exec.Cmd, helperReady) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "TEND_LAB_HELPER="+name)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = lab.CleanStale() })
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(2 * time.Minute)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatal("helper exited before its lab was ready")
			}
			f := strings.Fields(line)
			if len(f) >= 3 && f[0] == "READY" {
				go func() {
					for range lines {
					}
				}()
				return cmd, helperReady{id: f[1], dir: f[2], pidNS: f[3:]}
			}
			if strings.HasPrefix(line, "ERROR") {
				t.Fatal(line)
			}
		case <-timeout:
			t.Fatal("helper's lab not ready after 2 minutes")
		}
	}
}

// assertGone checks that nothing of lab id remains: processes in its PID
// namespaces, mounts or files under dir, its state file, its cgroups, and
// (if hosts are given) listeners on their addresses.
func assertGone(t *testing.T, id, dir string, pidNS []string, hosts []*lab.Host) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(processesIn(pidNS)) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if p := processesIn(pidNS); len(p) > 0 {
		t.Errorf("processes of lab %s remain: %v", id, p)
	}
	mountinfo, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(mountinfo), "\n") {
		if strings.Contains(line, dir) || strings.Contains(line, id) {
			t.Errorf("mount of lab %s remains: %s", id, line)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lab directory %s remains (%v)", dir, err)
	}
	if _, err := os.Stat(filepath.Join(lab.StateDir, id+".json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state file of lab %s remains (%v)", id, err)
	}
	cgroups, _ := filepath.Glob("/sys/fs/cgroup/*/tend-lab/" + id)
	cgroups2, _ := filepath.Glob("/sys/fs/cgroup/tend-lab/" + id)
	if c := append(cgroups, cgroups2...); len(c) > 0 {
		t.Errorf("cgroups of lab %s remain: %v", id, c)
	}
	for _, h := range hosts {
		if conn, err := net.DialTimeout("tcp", h.Address+":22", time.Second); err == nil {
			conn.Close()
			t.Errorf("%s:22 still answers", h.Address)
		}
	}
}

// processesIn lists the processes whose PID namespace is one of pidNS
// (as readlink /proc/PID/ns/pid prints them).
func processesIn(pidNS []string) []string {
	want := map[string]bool{}
	for _, ns := range pidNS {
		if ns != "" {
			want[ns] = true
		}
	}
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		ns, err := os.Readlink(filepath.Join("/proc", e.Name(), "ns/pid"))
		if err != nil || !want[ns] {
			continue
		}
		stat, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			continue // dead, waiting to be reaped
		}
		comm, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		out = append(out, e.Name()+"/"+strings.TrimSpace(string(comm)))
	}
	return out
}

func processGone(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return errors.Is(err, os.ErrNotExist)
}

// memAvailable returns MemAvailable from /proc/meminfo, in KiB.
func memAvailable(t *testing.T) int {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		var kb int
		if _, err := fmt.Sscanf(line, "MemAvailable: %d kB", &kb); err == nil {
			return kb
		}
	}
	t.Fatal("no MemAvailable in /proc/meminfo")
	return 0
}
