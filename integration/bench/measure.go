package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Measurement is one timed run of one tool.
type Measurement struct {
	Wall time.Duration
	// CPU is the controller CPU time of every process the run started,
	// daemonized ones included (Ansible's ControlPersist masters): the
	// cgroup's usage when a cgroup could be made, else rusage of children.
	CPU time.Duration
	// MaxRSS is the largest peak resident set of any one process of the
	// run, in KiB: each process's own (VmHWM), sampled every 50 ms from
	// the run's cgroup, so a process that ends between two samples is
	// missed. Without a cgroup, getrusage's ru_maxrss of the waited-for
	// tree, which also counts the bench's own peak: Go starts commands
	// with vfork, and the kernel records the parent's address space as
	// the child's at exec.
	MaxRSS int64
	// SumRSS is the largest sum of the resident sets of all the run's
	// processes at one time, sampled every 50 ms, in KiB (0 when no
	// cgroup). Shared pages count once per process.
	SumRSS int64
	// Conns, Execs and SFTP are per-host means, counted from the hosts'
	// sshd logs (negative when not counted).
	Conns, Execs, SFTP float64
	// Load is the machine's 1-minute load average when the run ended:
	// the lab hosts share the controller's CPUs, and so does whatever
	// else runs on the machine.
	Load float64
	// Err is set when the run failed; the measurement is then not used.
	Err string
}

// loadAverage is the 1-minute load average, or NaN.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return math.NaN()
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return math.NaN()
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return math.NaN()
	}
	return v
}

// cgroups places each measured run in a cgroup of its own in the cgroup2
// hierarchy, to add up the CPU of every process it starts (including those
// that leave the process tree) and to kill what it leaves behind.
type cgroups struct {
	dir string // empty when no cgroup2 hierarchy is usable
	seq atomic.Int64
}

func newCgroups() *cgroups {
	root, err := cgroup2Mount()
	if err != nil {
		return &cgroups{}
	}
	dir := filepath.Join(root, fmt.Sprintf("tend-bench-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return &cgroups{}
	}
	return &cgroups{dir: dir}
}

func (c *cgroups) close() {
	if c.dir != "" {
		os.Remove(c.dir)
	}
}

func cgroup2Mount() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT POINT OPTIONS... - FSTYPE SOURCE SUPER
		fields := strings.Fields(sc.Text())
		for i, fld := range fields {
			if fld == "-" && i+1 < len(fields) && fields[i+1] == "cgroup2" && len(fields) > 4 {
				return fields[4], nil
			}
		}
	}
	return "", errors.New("no cgroup2 hierarchy mounted")
}

// run starts cmd in a fresh cgroup, waits for it, and kills whatever of
// it is left (daemons such as ssh ControlPersist masters).
func (c *cgroups) run(cmd *exec.Cmd) (Measurement, []byte) {
	var m Measurement
	var out bytes.Buffer
	if cmd.Stdout == nil {
		cmd.Stdout = &out
	}
	if cmd.Stderr == nil {
		cmd.Stderr = &out
	}
	var cg string
	if c.dir != "" {
		cg = filepath.Join(c.dir, strconv.FormatInt(c.seq.Add(1), 10))
		if err := os.Mkdir(cg, 0o755); err != nil {
			cg = ""
		}
	}
	var cgFD *os.File
	if cg != "" {
		f, err := os.Open(cg)
		if err == nil {
			cgFD = f
			cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(f.Fd())}
		}
	}
	// A run cut short (Ctrl-C) may leave daemons (ssh ControlPersist
	// masters) holding its output open: do not wait for them.
	cmd.WaitDelay = 5 * time.Second
	var peak, hwm atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	err := cmd.Start()
	if cgFD != nil {
		cgFD.Close()
	}
	if err == nil && cg != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(50 * time.Millisecond)
			defer t.Stop()
			for {
				s, h := sampleRSS(cg)
				if s > peak.Load() {
					peak.Store(s)
				}
				if h > hwm.Load() {
					hwm.Store(h)
				}
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		}()
	}
	if err == nil {
		err = cmd.Wait()
	}
	m.Wall = time.Since(start)
	m.Load = loadAverage()
	close(stop)
	wg.Wait()
	if err != nil {
		m.Err = fmt.Sprintf("%v: %s", err, lastLines(out.String(), 15))
	}
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			m.MaxRSS = ru.Maxrss
			m.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	if cg != "" {
		if usec, err := cgroupCPU(cg); err == nil {
			m.CPU = time.Duration(usec) * time.Microsecond
		}
		m.SumRSS = peak.Load()
		if h := hwm.Load(); h > 0 {
			m.MaxRSS = h
		}
		killCgroup(cg)
	}
	return m, out.Bytes()
}

func cgroupCPU(cg string) (int64, error) {
	b, err := os.ReadFile(filepath.Join(cg, "cpu.stat"))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "usage_usec "); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, errors.New("no usage_usec in cpu.stat")
}

// sampleRSS returns the sum of the resident sets (VmRSS) of the
// processes in cg and the largest of their peaks (VmHWM), in KiB.
func sampleRSS(cg string) (sum, peak int64) {
	b, err := os.ReadFile(filepath.Join(cg, "cgroup.procs"))
	if err != nil {
		return 0, 0
	}
	for _, pid := range strings.Fields(string(b)) {
		st, err := os.ReadFile("/proc/" + pid + "/status")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(st), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok || (k != "VmRSS" && k != "VmHWM") {
				continue
			}
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				continue
			}
			if k == "VmRSS" {
				sum += n
			} else {
				peak = max(peak, n)
			}
		}
	}
	return sum, peak
}

// killCgroup kills every process left in cg and removes it.
func killCgroup(cg string) {
	_ = os.WriteFile(filepath.Join(cg, "cgroup.kill"), []byte("1"), 0o644)
	for i := 0; i < 100; i++ {
		if os.Remove(cg) == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
