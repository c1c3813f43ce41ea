//go:build !linux

package lang

import (
	"os"
	"time"
)

// fileIdentity is empty where tend does not read a file's change time:
// no digest is remembered there.
type fileIdentity struct{}

func identityOf(os.FileInfo) (fileIdentity, bool) { return fileIdentity{}, false }

func statIdentity(string) (fileIdentity, bool) { return fileIdentity{}, false }

func (fileIdentity) settled(time.Time) bool { return false }
