package cli

import (
	"os"
	"testing"
)

// TestMain keeps this package's runs from contending for the machine's
// own run lock with other test packages running at the same time.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tend-cli-lock-")
	if err != nil {
		panic(err)
	}
	os.Setenv("TEND_LOCK_DIR", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
