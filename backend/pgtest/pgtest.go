//go:build linux

// Package pgtest starts a private PostgreSQL server for tests: initdb
// and postgres from Debian's postgresql package, run as an unprivileged
// user on a Unix socket in a temporary directory, torn down when the
// test ends. Without the binaries a test is skipped, or fails under
// TEND_LAB=1.
package pgtest

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Server is a running PostgreSQL server.
type Server struct {
	t       testing.TB
	bin     string
	dir     string
	sock    string
	port    int
	cred    *syscall.Credential
	cmd     *exec.Cmd
	exited  chan struct{}
	logPath string
}

// URL is the server's connection string.
func (s *Server) URL() string {
	return fmt.Sprintf("postgres://tend@/postgres?host=%s&port=%d&sslmode=disable", s.sock, s.port)
}

// binDir finds the PostgreSQL server binaries, newest version first.
func binDir() string {
	ms, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	sort.Sort(sort.Reverse(sort.StringSlice(ms)))
	if len(ms) == 0 {
		return ""
	}
	return filepath.Dir(ms[0])
}

// Start initializes and starts a server; it is stopped and its files
// removed when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := binDir()
	if bin == "" {
		if os.Getenv("TEND_LAB") == "1" {
			t.Fatal("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin (apt-get install postgresql)")
		}
		t.Skip("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin")
	}
	dir, err := os.MkdirTemp("", "tend-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &Server{t: t, bin: bin, dir: filepath.Join(dir, "data"), sock: dir, logPath: filepath.Join(dir, "log")}
	// initdb and postgres refuse to run as root: run them as nobody.
	if os.Geteuid() == 0 {
		u, err := user.Lookup("nobody")
		if err != nil {
			t.Fatal(err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	s.port = 20000 + os.Getpid()%20000
	init := exec.Command(filepath.Join(bin, "initdb"), "-D", s.dir, "-U", "tend", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C")
	init.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	init.Dir = dir
	if out, err := init.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Start starts the server (again, after Stop or Kill) and waits until
// it accepts connections.
func (s *Server) Start() {
	s.t.Helper()
	logf, err := os.OpenFile(s.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	defer logf.Close()
	s.cmd = exec.Command(filepath.Join(s.bin, "postgres"), "-D", s.dir, "-k", s.sock, "-p", strconv.Itoa(s.port),
		"-c", "listen_addresses=", "-c", "fsync=on", "-c", "max_connections=40")
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Setpgid: true}
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("postgres: %v", err)
	}
	s.exited = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { _ = c.Wait(); close(done) }(s.cmd, s.exited)
	ready := filepath.Join(s.bin, "pg_isready")
	for deadline := time.Now().Add(30 * time.Second); ; {
		select {
		case <-s.exited:
			log, _ := os.ReadFile(s.logPath)
			s.t.Fatalf("postgres exited at start:\n%s", log)
		default:
		}
		if exec.Command(ready, "-q", "-h", s.sock, "-p", strconv.Itoa(s.port)).Run() == nil {
			return
		}
		if time.Now().After(deadline) {
			s.Stop()
			log, _ := os.ReadFile(s.logPath)
			s.t.Fatalf("postgres did not start in 30s:\n%s", log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Kill ends the server at once, as a crash or an outage would: SIGKILL
// to the postmaster and to each of its children (each child leads a
// process group of its own, so the postmaster's group is not enough).
func (s *Server) Kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	pm := s.cmd.Process.Pid
	_ = syscall.Kill(pm, syscall.SIGSTOP) // no new children meanwhile
	kids := children(pm)
	for _, k := range kids {
		_ = syscall.Kill(k, syscall.SIGKILL)
	}
	_ = syscall.Kill(pm, syscall.SIGKILL)
	<-s.exited
	// The children are gone once /proc no longer lists them.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		left := 0
		for _, k := range kids {
			if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(k))); err == nil {
				left++
			}
		}
		if left == 0 {
			break
		}
	}
	s.cmd = nil
}

// children lists the processes whose parent is pid.
func children(pid int) []int {
	ds, _ := os.ReadDir("/proc")
	var out []int
	for _, d := range ds {
		k, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, not ")".
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, k)
		}
	}
	return out
}

// Stop shuts the server down (fast shutdown), or kills it after 10 s.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.exited
	}
	s.cmd = nil
}
