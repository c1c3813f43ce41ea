//go:build linux

package journal

import (
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestDiskFull: on a full filesystem (a 64 KiB tmpfs), updates return
// an error, and the journal replays every update that succeeded.
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=64k,mode=0700"); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	run := newRun(1, 200)
	j, err := Create(dir, run)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	big := strings.Repeat("x", 4000)
	var failed error
	ok := 0
	for n := range 200 {
		if failed = j.UpdateEntries(0, []int{n}, func(_ int, e *Entry) { e.Status, e.Stdout = Applied, big }); failed != nil {
			break
		}
		ok++
	}
	if !errors.Is(failed, syscall.ENOSPC) {
		t.Fatalf("after %d updates of 4 KB on a 64 KiB filesystem: %v, want no space left", ok, failed)
	}
	if err := j.UpdateHost(0, func(h *Host) { h.Outcome = "failed" }); err == nil {
		t.Error("an update after the disk filled succeeded")
	}
	r, err := ReadFile(j.Path())
	if err != nil {
		t.Fatal(err)
	}
	for n, e := range r.Hosts[0].Changes {
		if want := n < ok; (e.Status == Applied) != want {
			t.Errorf("entry %d on disk %s; applied: %v", n, e.Status, want)
		}
	}
}
