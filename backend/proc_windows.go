//go:build windows

package backend

import "golang.org/x/sys/windows"

// processGone tells whether no live process with this pid exists on this
// machine: it cannot be opened because there is none, or it has exited.
// Any other answer (access denied) counts as alive.
func processGone(pid int) bool {
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
	if err != nil {
		return err == windows.ERROR_INVALID_PARAMETER
	}
	defer windows.CloseHandle(h)
	var code uint32
	if err := windows.GetExitCodeProcess(h, &code); err != nil {
		return false
	}
	return code != 259 // STILL_ACTIVE
}
