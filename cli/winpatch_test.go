package cli

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/tendhq/tend/transport/winrm/winrmtest"
)

// TestWindowsPatch: tend patch against a simulated Windows host with
// Chocolatey (wsmantest's WS-Management server, messages encrypted, the
// bootstrap played in Go): the facts choose the Chocolatey manager, choco
// outdated's pending upgrades are shown and made, the upgrade's exit
// status 3010 asks for a reboot, the host is restarted with shutdown.exe
// and tend waits until its boot time has changed; a host without
// Chocolatey is patched through winget. Chocolatey's and winget's
// answers are written from their documentation, not recorded: no
// Windows runs.
func TestWindowsPatch(t *testing.T) {
	t.Setenv("TEND_TEST_WINRM_PASSWORD", winrmPassword)
	fx := loadWindowsFixture(t)
	fx.Facts["pkg"] = "chocolatey"
	facts := fx.Responder()
	var mu sync.Mutex
	rebooted, noWinget := false, false
	respond := func(s winrmtest.Script) winrmtest.Answer {
		mu.Lock()
		defer mu.Unlock()
		switch text := s.Text; {
		case winrmtest.IsProbe(text):
			return facts(s)
		case strings.Contains(text, "') outdated "):
			return winrmtest.Answer{Stdout: "git|2.42.0|2.47.1|false\r\n7zip|23.1.0|24.9.0|false\r\n", Status: 2}
		case strings.Contains(text, "') upgrade "):
			return winrmtest.Answer{Stdout: "git v2.47.1\r\n7zip v24.9.0\r\n", Status: 3010}
		case strings.Contains(text, "metadata.version"):
			return winrmtest.Answer{Stdout: "7zip|24.9.0\r\ngit|2.47.1\r\n"}
		case strings.Contains(text, "& $wg upgrade --accept-source-agreements"):
			if noWinget {
				return winrmtest.Answer{Stdout: "tend-winget-missing\r\n"}
			}
			return winrmtest.Answer{Stdout: "Name Id      Version Available Source\r\n-------------------------------------\r\nGit  Git.Git 2.42.0  2.47.1    winget\r\n1 upgrades available.\r\ntend-winget-exit 0\r\n"}
		case strings.Contains(text, "LastBootUpTime"):
			if rebooted {
				return winrmtest.Answer{Stdout: "2026-12-07T03:10:42.5000000Z"}
			}
			return winrmtest.Answer{Stdout: "2026-11-30T22:04:17.0000000Z"}
		case strings.Contains(text, "shutdown.exe /r"):
			rebooted = true
			return winrmtest.Answer{}
		}
		return winrmtest.Answer{}
	}
	host := winrmtest.Start(t, "ops", winrmPassword, respond)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"inventory.hcl": windowsInventory(host.Port())})

	out, errOut, code := tend(t, "patch", "-C", dir, "--check")
	if code != 2 || !strings.Contains(out, "~ git 2.42.0 → 2.47.1") || !strings.Contains(out, "~ 7zip 23.1.0 → 24.9.0") {
		t.Fatalf("patch --check: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if rebooted {
		t.Fatal("--check rebooted the host")
	}

	out, errOut, code = tend(t, "patch", "-C", dir, "-y", "--reboot-timeout", "60s", "--json")
	if code != 0 {
		t.Fatalf("patch: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	var upgraded, reboots []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		msg, _ := m["message"].(string)
		switch m["type"] {
		case "upgraded":
			upgraded = append(upgraded, msg)
		case "rebooted":
			reboots = append(reboots, msg)
		}
	}
	if strings.Join(upgraded, "; ") != "7zip 23.1.0 → 24.9.0; git 2.42.0 → 2.47.1" || len(reboots) != 1 || !rebooted {
		t.Errorf("upgraded %q, rebooted %q (host restarted: %v)\n%s", upgraded, reboots, rebooted, out)
	}
	n := 0
	for _, s := range host.Scripts() {
		if strings.Contains(s.Text, "') upgrade '7zip' 'git' -y") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d choco upgrade scripts, want 1", n)
	}
	if st := host.Stats(); st.Encrypted == 0 || st.Refused != 0 {
		t.Errorf("%d requests decrypted, %d refused", st.Encrypted, st.Refused)
	}

	// A Windows host without Chocolatey is patched through winget (its
	// manager is tested in package patch)...
	fx.Facts["pkg"] = "msi"
	out, errOut, code = tend(t, "patch", "-C", dir, "--check")
	if code != 2 || !strings.Contains(out, "~ Git.Git 2.42.0 → 2.47.1") {
		t.Errorf("winget: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	// ...and one without winget either is refused, saying why.
	mu.Lock()
	noWinget = true
	mu.Unlock()
	out, errOut, code = tend(t, "patch", "-C", dir, "--check")
	if code != 1 || !strings.Contains(out+errOut, "this host has neither choco.exe nor winget.exe") {
		t.Errorf("no Chocolatey, no winget: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}
