package cli

import (
	"strings"
	"testing"
)

// TestFlagsCommandsCanUse: validate and inventory connect to no host, and
// inventory reads no configuration: they do not offer flags they would
// ignore.
func TestFlagsCommandsCanUse(t *testing.T) {
	for cmd, absent := range map[string][]string{
		"validate":  {"--parallel", "--accept-new-host-keys"},
		"inventory": {"--parallel", "--accept-new-host-keys", "--var ", "--var-file"},
	} {
		out, _, code := tend(t, cmd, "--help")
		if code != 0 {
			t.Fatalf("%s --help: exit %d", cmd, code)
		}
		for _, f := range absent {
			if strings.Contains(out, f) {
				t.Errorf("%s --help offers %s:\n%s", cmd, strings.TrimSpace(f), out)
			}
		}
		if !strings.Contains(out, "--json") || !strings.Contains(out, "--target") {
			t.Errorf("%s --help lacks --json or --target:\n%s", cmd, out)
		}
	}
}
