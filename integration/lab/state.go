package lab

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// StateDir holds one JSON file per running lab (PIDs, mounts, cgroups), so
// that CleanStale can tear down labs whose test process was killed.
const StateDir = "/run/tend-lab"

// labState is the state file of one lab, /run/tend-lab/<ID>.json.
type labState struct {
	ID         string      `json:"id"`
	OwnerPID   int         `json:"owner_pid"`
	OwnerStart uint64      `json:"owner_start"`
	Dir        string      `json:"dir"`
	Cgroup     string      `json:"cgroup"`
	Octets     []int       `json:"octets"`
	Hosts      []hostState `json:"hosts"`
}

// hostState records one host; PID 0 means not running.
type hostState struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	PID     int    `json:"pid"`
	Start   uint64 `json:"start"` // PID's start time, to detect PID reuse
	Root    string `json:"root"`
	Cgroup  string `json:"cgroup"`
}

// dirMarker is written into every lab directory; teardown removes only
// directories that carry it with the expected lab ID.
const dirMarker = ".tend-lab"

// envLabID marks a lab host's processes (in their initial environment), so
// a host whose state file is gone can still be recognised as a lab host.
const envLabID = "TEND_LAB_ID"

func statePath(id string) string { return filepath.Join(StateDir, id+".json") }

// writeState atomically replaces the lab's state file.
func writeState(st *labState) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := statePath(st.ID) + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, statePath(st.ID))
}

// readStates reads every state file; unreadable ones are returned by name
// with a nil state so the caller can report them.
func readStates() (map[string]*labState, error) {
	files, err := filepath.Glob(filepath.Join(StateDir, "*.json"))
	if err != nil {
		return nil, err
	}
	out := map[string]*labState{}
	for _, f := range files {
		id := strings.TrimSuffix(filepath.Base(f), ".json")
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var st labState
		if err := json.Unmarshal(data, &st); err != nil || st.ID != id {
			out[id] = nil
			continue
		}
		out[id] = &st
	}
	return out, nil
}

// lockState takes the machine-wide lab lock that guards state files and
// address allocation.
func lockState(ctx context.Context) (func(), error) {
	if err := os.MkdirAll(StateDir, 0o755); err != nil {
		return nil, err
	}
	return lockFile(ctx, filepath.Join(StateDir, "lock"), nil)
}

// CleanStale tears down labs left behind by test processes that died
// without closing them (killed, timed out, crashed): it kills their hosts,
// unmounts their overlays, removes their cgroups, temporary directories and
// state files. Labs whose owning process is still alive are left alone, and
// a process is killed only if it still is the lab host's namespace init that
// was recorded (same PID, same start time, marked as a lab host). Start calls
// it; it is exported for tools and for manual cleanup.
func CleanStale() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	unlock, err := lockState(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	return cleanStaleLocked()
}

func cleanStaleLocked() error {
	states, err := readStates()
	if err != nil {
		return err
	}
	var errs []error
	for id, st := range states {
		if st == nil {
			errs = append(errs, fmt.Errorf("unreadable lab state file %s: remove it by hand after checking", statePath(id)))
			continue
		}
		if procAlive(st.OwnerPID, st.OwnerStart) {
			continue
		}
		if err := teardownState(st); err != nil {
			errs = append(errs, fmt.Errorf("clean stale lab %s: %w", id, err))
		}
	}
	// Lab hosts whose state file is gone (removed by hand, or the test died
	// between booting and recording): recognised by their marker.
	for _, pid := range allPIDs() {
		if !isNamespaceInit(pid) {
			continue
		}
		id, ok := procEnv(pid, envLabID)
		if !ok {
			continue
		}
		if st, known := states[id]; known && (st == nil || procAlive(st.OwnerPID, st.OwnerStart)) {
			continue
		}
		start, err := procStartTime(pid)
		if err != nil {
			continue
		}
		if err := killAndWait(pid, start, 10*time.Second); err != nil {
			errs = append(errs, fmt.Errorf("kill orphaned lab host (lab %s): %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// teardownState kills, unmounts and removes everything st records.
func teardownState(st *labState) error {
	var errs []error
	for _, h := range st.Hosts {
		if h.PID > 0 && procAlive(h.PID, h.Start) && isNamespaceInit(h.PID) {
			if id, _ := procEnv(h.PID, envLabID); id == st.ID {
				if err := killAndWait(h.PID, h.Start, 10*time.Second); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	for _, h := range st.Hosts {
		if err := removeCgroup(h.Cgroup, 5*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	if err := removeCgroup(st.Cgroup, 5*time.Second); err != nil {
		errs = append(errs, err)
	}
	if st.Dir != "" {
		if err := removeLabDir(st.Dir, st.ID); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		if err := os.Remove(statePath(st.ID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeLabDir unmounts and removes a lab's temporary directory, but only
// if it carries the marker of lab id: a corrupt or forged state file must
// not make us delete an arbitrary directory.
func removeLabDir(dir, id string) error {
	marker, err := os.ReadFile(filepath.Join(dir, dirMarker))
	if errors.Is(err, fs.ErrNotExist) {
		if _, statErr := os.Stat(dir); errors.Is(statErr, fs.ErrNotExist) {
			return nil
		}
	}
	if err != nil || strings.TrimSpace(string(marker)) != id {
		return fmt.Errorf("not removing %s: it is not the directory of lab %s", dir, id)
	}
	return removeTree(dir)
}

// allocateOctets picks n free last octets for 127.0.10.X: not used by any
// live lab, preferring the lowest contiguous run (1..n for a lone lab).
func allocateOctets(states map[string]*labState, n int) ([]int, error) {
	used := map[int]bool{}
	for _, st := range states {
		if st == nil {
			continue
		}
		for _, o := range st.Octets {
			used[o] = true
		}
	}
	for first := 1; first+n-1 <= 254; first++ {
		ok := true
		for o := first; o < first+n; o++ {
			if used[o] {
				ok = false
				first = o // skip past the used octet
				break
			}
		}
		if ok {
			out := make([]int, n)
			for i := range out {
				out[i] = first + i
			}
			return out, nil
		}
	}
	var out []int
	for o := 1; o <= 254 && len(out) < n; o++ {
		if !used[o] {
			out = append(out, o)
		}
	}
	if len(out) < n {
		return nil, fmt.Errorf("no room for %d lab hosts in 127.0.10.1-254: %d addresses are used by other running labs", n, len(used))
	}
	return out, nil
}

// portListeners describes the processes listening on TCP port 22 at
// 127.0.10.octet or on a wildcard address (which would make sshd's bind to
// 127.0.10.octet fail), for an error message; empty means the port is free.
func portListeners(octet int) []string {
	want := map[string]bool{
		fmt.Sprintf("%02X0A007F:0016", octet): true, // 127.0.10.octet, little endian
		"00000000:0016":                       true, // 0.0.0.0
		strings.Repeat("0", 32) + ":0016":     true, // ::
		"0000000000000000FFFF0000" + fmt.Sprintf("%02X0A007F", octet) + ":0016": true,
	}
	inodes := map[string]string{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			fields := strings.Fields(line)
			if len(fields) < 10 || fields[3] != "0A" { // 0A: LISTEN
				continue
			}
			if want[fields[1]] {
				inodes["socket:["+fields[9]+"]"] = decodeAddr(fields[1])
			}
		}
	}
	if len(inodes) == 0 {
		return nil
	}
	var out []string
	for _, pid := range allPIDs() {
		fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			continue
		}
		for _, fd := range fds {
			link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
			if err != nil {
				continue
			}
			if addr, ok := inodes[link]; ok {
				cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
				out = append(out, fmt.Sprintf("pid %d (%s) listens on %s", pid,
					strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " ")), addr))
				delete(inodes, link)
			}
		}
	}
	for _, addr := range inodes {
		out = append(out, "an unknown process listens on "+addr)
	}
	return out
}

// decodeAddr turns /proc/net/tcp's "0100007F:0016" into "127.0.0.1:22".
func decodeAddr(s string) string {
	host, port, _ := strings.Cut(s, ":")
	b, err := hex.DecodeString(host)
	if err != nil || len(port) != 4 {
		return s
	}
	var p int
	fmt.Sscanf(port, "%X", &p)
	if len(b) == 4 {
		return fmt.Sprintf("%d.%d.%d.%d:%d", b[3], b[2], b[1], b[0], p)
	}
	if strings.Trim(host, "0") == "" {
		return fmt.Sprintf("[::]:%d", p)
	}
	return s
}
