//go:build unix

package resources_test

import (
	"os"
	"strconv"
	"syscall"
	"testing"
)

// fileUID is the numeric owner of fi.
func fileUID(t *testing.T, fi os.FileInfo) string {
	t.Helper()
	return strconv.FormatUint(uint64(fi.Sys().(*syscall.Stat_t).Uid), 10)
}
