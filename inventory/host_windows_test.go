package inventory

import "testing"

// TestHostWindows: a host is a Windows host by what its transport speaks.
func TestHostWindows(t *testing.T) {
	for tr, want := range map[string]bool{"winrm": true, "ssh": false, "local": false, "": false, "docker": false} {
		if got := (&Host{Transport: tr}).Windows(); got != want {
			t.Errorf("transport %q: Windows() = %v, want %v", tr, got, want)
		}
	}
}
