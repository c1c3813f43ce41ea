//go:build !unix

package local

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
)

// unavailable says why the local transport cannot run here: it runs
// scripts with /bin/sh reading a pipe as /dev/fd/3, and contends with
// the other transports on flock(2), none of which this system has. The
// SSH and WinRM transports are the way to reach hosts from it.
func unavailable() error {
	return errors.New("the local transport needs a Unix system (/bin/sh, flock); on " + runtime.GOOS + " reach hosts over SSH or WinRM")
}

func ownProcessGroup(*exec.Cmd) {}

func killGroupOnCancel(*exec.Cmd) {}

func killGroup(int) {}

func openLockFile(string) (*os.File, error) { return nil, unavailable() }

func tryLockFile(*os.File) (bool, error) { return false, unavailable() }
