//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package ssh

import "os"

// lockFile is a no-op where flock(2) is missing; knownHostsMu still
// serialises writers within the process.
func lockFile(*os.File) error { return nil }

func unlockFile(*os.File) {}
