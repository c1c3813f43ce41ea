package lab

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// mountEntry is one line of /proc/self/mountinfo, reduced to what the lab needs.
type mountEntry struct {
	Point  string // mount point, unescaped
	FSType string
	Source string
}

// readMountinfo parses /proc/self/mountinfo (or any file in its format).
func readMountinfo(path string) ([]mountEntry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseMountinfo(data), nil
}

// parseMountinfo parses the mountinfo format described in proc(5):
// "ID PARENT MAJ:MIN ROOT POINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS".
func parseMountinfo(data []byte) []mountEntry {
	var out []mountEntry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 7 {
			continue
		}
		e := mountEntry{Point: unescapeMount(fields[4])}
		for i := 6; i < len(fields); i++ {
			if fields[i] == "-" {
				if i+1 < len(fields) {
					e.FSType = fields[i+1]
				}
				if i+2 < len(fields) {
					e.Source = unescapeMount(fields[i+2])
				}
				break
			}
		}
		out = append(out, e)
	}
	return out
}

// unescapeMount undoes the octal escaping (\040 for space, \011, \012, \134)
// the kernel applies to paths in mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// isUnder reports whether path is dir or inside it.
func isUnder(path, dir string) bool {
	dir = filepath.Clean(dir)
	path = filepath.Clean(path)
	return path == dir || strings.HasPrefix(path, dir+"/")
}

// mountsUnder lists the mount points at or below dir, deepest first, so they
// can be unmounted in order.
func mountsUnder(dir string) ([]string, error) {
	ms, err := readMountinfo("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range ms {
		if isUnder(m.Point, dir) {
			out = append(out, m.Point)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out, nil
}

// unmountAll unmounts everything at or below dir, deepest first, falling
// back to a lazy (detaching) unmount for a busy mount. Stacked mounts on one
// point take several passes.
func unmountAll(dir string) error {
	for pass := 0; pass < 8; pass++ {
		points, err := mountsUnder(dir)
		if err != nil {
			return fmt.Errorf("list mounts under %s: %w", dir, err)
		}
		if len(points) == 0 {
			return nil
		}
		for _, p := range points {
			if err := syscall.Unmount(p, 0); err != nil {
				if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
					return fmt.Errorf("unmount %s: %w", p, err)
				}
			}
		}
	}
	points, err := mountsUnder(dir)
	if err == nil && len(points) > 0 {
		err = fmt.Errorf("still mounted after unmounting: %s", strings.Join(points, ", "))
	}
	return err
}

// removeTree removes dir after making sure nothing is mounted inside it:
// os.RemoveAll would otherwise walk into a still-mounted overlay.
func removeTree(dir string) error {
	if err := unmountAll(dir); err != nil {
		return err
	}
	if points, err := mountsUnder(dir); err != nil || len(points) > 0 {
		return fmt.Errorf("refusing to remove %s: mounts remain (%v, %v)", dir, points, err)
	}
	return os.RemoveAll(dir)
}

// procStartTime returns field 22 of /proc/PID/stat (start time in clock
// ticks since boot). Together with the PID it identifies a process even
// after its PID is reused.
func procStartTime(pid int) (uint64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// comm (field 2) may hold spaces and parentheses: split after the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	fields := strings.Fields(string(data[i+1:]))
	// fields[0] is field 3 (state); start time is field 22.
	if len(fields) < 20 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	return strconv.ParseUint(fields[19], 10, 64)
}

// procAlive reports whether pid exists with the given start time.
func procAlive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	st, err := procStartTime(pid)
	return err == nil && st == start
}

// isNamespaceInit reports whether pid is PID 1 of a PID namespace nested
// below ours (its NSpid line has at least two entries, the last being 1).
func isNamespaceInit(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
			f := strings.Fields(rest)
			return len(f) >= 2 && f[len(f)-1] == "1"
		}
	}
	return false
}

// procEnv returns the value of name in pid's initial environment.
func procEnv(pid int, name string) (string, bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return "", false
	}
	for _, kv := range bytes.Split(data, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte(name+"=")); ok {
			return string(v), true
		}
	}
	return "", false
}

// childrenOf returns the PIDs whose parent is pid.
func childrenOf(pid int) []int {
	// /proc/PID/task/TID/children is cheap but needs CONFIG_PROC_CHILDREN.
	if data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid)); err == nil {
		var out []int
		for _, f := range strings.Fields(string(data)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
		return out
	}
	var out []int
	for _, p := range allPIDs() {
		if ppid, err := procPPID(p); err == nil && ppid == pid {
			out = append(out, p)
		}
	}
	return out
}

func procPPID(pid int) (int, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	fields := strings.Fields(string(data[i+1:]))
	if len(fields) < 2 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	return strconv.Atoi(fields[1])
}

// allPIDs lists the processes in /proc.
func allPIDs() []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// killAndWait sends SIGKILL to pid if it still is the process started at
// start, then waits up to timeout for it to disappear.
func killAndWait(pid int, start uint64, timeout time.Duration) error {
	if !procAlive(pid, start) {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill %d: %w", pid, err)
	}
	deadline := time.Now().Add(timeout)
	for procAlive(pid, start) {
		if zombie(pid) {
			// Dead; its parent (unshare, or init after our death) reaps it.
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("process %d still alive %v after SIGKILL", pid, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

func zombie(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(data, ')')
	return i >= 0 && i+2 < len(data) && data[i+2] == 'Z'
}

// lockFile takes an exclusive flock on path (creating it), polling so that
// ctx can cancel the wait. The returned function releases it.
func lockFile(ctx context.Context, path string, waiting func()) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	told := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if !told && waiting != nil {
			waiting()
			told = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for lock %s: %w", path, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// raiseSysctl raises the integer sysctl at /proc/sys/NAME to at least min;
// it never lowers a value someone set higher.
func raiseSysctl(name string, min int) error {
	path := "/proc/sys/" + strings.ReplaceAll(name, ".", "/")
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	cur, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return fmt.Errorf("parse %s: %w", name, err)
	}
	if cur >= min {
		return nil
	}
	return os.WriteFile(path, []byte(strconv.Itoa(min)), 0o644)
}

// cgroup2Root returns where a cgroup v2 hierarchy is mounted, mounting one
// under the state directory if the machine has none (pure cgroup v1).
func cgroup2Root() (string, error) {
	ms, err := readMountinfo("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	for _, m := range ms {
		if m.FSType == "cgroup2" {
			return m.Point, nil
		}
	}
	dir := filepath.Join(StateDir, "cgroup2")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := syscall.Mount("cgroup2", dir, "cgroup2", 0, ""); err != nil {
		return "", fmt.Errorf("mount a cgroup2 hierarchy at %s: %w", dir, err)
	}
	return dir, nil
}

// removeCgroup removes a cgroup directory and every cgroup below it,
// deepest first, waiting (up to timeout) for killed processes to leave.
func removeCgroup(dir string, timeout time.Duration) error {
	if dir == "" {
		return nil
	}
	deadline := time.Now().Add(timeout)
	for {
		var dirs []string
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			if d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		if err != nil {
			return err
		}
		var last error
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := syscall.Rmdir(dirs[i]); err != nil && !errors.Is(err, syscall.ENOENT) {
				last = fmt.Errorf("remove cgroup %s: %w", dirs[i], err)
			}
		}
		if last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return last
		}
		time.Sleep(20 * time.Millisecond)
	}
}
