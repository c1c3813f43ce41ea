//go:build linux

package cli

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tendhq/tend/backend"
	"github.com/tendhq/tend/transport/winrm/winrmtest"
)

// chocoHost is a simulated Windows host with Chocolatey and one
// pending upgrade (git), made by choco upgrade; gate, when not nil,
// holds the upgrade until closed, after signalling upgrading.
type chocoHost struct {
	*winrmtest.Host
	mu        sync.Mutex
	upgrades  int
	gate      chan struct{}
	upgrading chan struct{}
}

func startChocoHost(t *testing.T, fx map[string]string) *chocoHost {
	h := &chocoHost{upgrading: make(chan struct{}, 1)}
	f := loadWindowsFixture(t)
	for k, v := range fx {
		f.Facts[k] = v
	}
	facts := f.Responder()
	h.Host = winrmtest.Start(t, "ops", winrmPassword, func(s winrmtest.Script) winrmtest.Answer {
		h.mu.Lock()
		upgraded, gate := h.upgrades > 0, h.gate
		h.mu.Unlock()
		switch text := s.Text; {
		case winrmtest.IsProbe(text):
			h.mu.Lock()
			defer h.mu.Unlock()
			return facts(s)
		case strings.Contains(text, "') outdated "):
			if upgraded {
				return winrmtest.Answer{}
			}
			return winrmtest.Answer{Stdout: "git|2.42.0|2.47.1|false\r\n", Status: 2}
		case strings.Contains(text, "') upgrade "):
			if gate != nil {
				select {
				case h.upgrading <- struct{}{}:
				default:
				}
				select {
				case <-gate:
				case <-time.After(time.Minute):
				}
			}
			h.mu.Lock()
			h.upgrades++
			h.mu.Unlock()
			return winrmtest.Answer{Stdout: "git v2.47.1\r\n"}
		case strings.Contains(text, "metadata.version"):
			return winrmtest.Answer{Stdout: "git|2.47.1\r\n"}
		case strings.Contains(text, "ActiveComputerName"):
			return winrmtest.Answer{Stdout: "false"}
		}
		return winrmtest.Answer{}
	})
	return h
}

func (h *chocoHost) upgraded() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.upgrades
}

// TestBackendKilledMidPatch: the backend dies while tend patch upgrades
// its first host. The upgrade's outcome cannot be journaled (the host
// is reported failed, not patched) and the second host's upgrade, whose
// intent cannot be, is never made; the run fails saying the journal
// could not be written. A patch run is not
// resumed (tend resume says so): tend patch again, once the backend is
// back, finishes it, upgrading what is still pending.
func TestBackendKilledMidPatch(t *testing.T) {
	srv, url := pgBackend(t)
	t.Setenv("TEND_BACKEND", url)
	t.Setenv("TEND_TEST_WINRM_PASSWORD", winrmPassword)
	ttl, every := backend.LeaseTTL, backend.HeartbeatEvery
	backend.LeaseTTL, backend.HeartbeatEvery = 2*time.Second, 200*time.Millisecond
	defer func() { backend.LeaseTTL, backend.HeartbeatEvery = ttl, every }()
	first := startChocoHost(t, map[string]string{"pkg": "chocolatey"})
	second := startChocoHost(t, map[string]string{"pkg": "chocolatey"})
	gate := make(chan struct{})
	var open sync.Once
	release := func() { open.Do(func() { close(gate) }) }
	defer release()
	first.gate = gate
	dir := t.TempDir()
	inv := strings.Replace(windowsInventory(first.Port()), `host "win1"`, `host "win1"`, 1) +
		strings.Replace(windowsInventory(second.Port()), `host "win1"`, `host "win2"`, 1)
	writeFiles(t, dir, map[string]string{"inventory.hcl": inv})
	done := make(chan struct{})
	var r result
	go func() {
		defer close(done)
		r.out, r.errOut, r.code = tend(t, "patch", "-C", dir, "-y", "--parallel", "1")
	}()
	select {
	case <-first.upgrading:
	case <-done:
		t.Fatalf("the patch ended before upgrading: exit %d\n%s%s", r.code, r.out, r.errOut)
	case <-time.After(60 * time.Second):
		t.Fatal("the patch did not start upgrading")
	}
	srv.Kill()
	release()
	<-done
	t.Logf("the patch without its backend: exit %d\n%s%s", r.code, r.out, r.errOut)
	if r.code == 0 || !strings.Contains(r.out+r.errOut, "journal") {
		t.Errorf("the patch without its backend: exit %d, want a failure saying the journal could not be written", r.code)
	}
	// win1's upgrade was made, but its outcome is not in the journal:
	// the host is not reported as patched.
	if !strings.Contains(r.out, "Patch failed on 2 of 2 hosts") || !strings.Contains(r.out, "win1 (failed: the changes were made, but the journal could not record their outcome") {
		t.Errorf("the summary does not report win1 failed for its outcome not journaled:\n%s", r.out)
	}
	if n := second.upgraded(); n != 0 {
		t.Errorf("win2 was upgraded %d times after the backend died", n)
	}
	srv.Start()
	time.Sleep(backend.LeaseTTL + 500*time.Millisecond)
	out, errOut, code := tend(t, "runs")
	if code != 0 || strings.Count(out, " patch ") != 1 {
		t.Fatalf("runs after the backend came back: exit %d\n%s%s", code, out, errOut)
	}
	id := strings.Fields(strings.Split(out, "\n")[1])[0]
	if _, errOut, code := tend(t, "resume", id, "-y"); code != 1 || !strings.Contains(errOut, "only apply runs can be resumed") {
		t.Errorf("resume of the patch run: exit %d\n%s", code, errOut)
	}
	out, errOut, code = tend(t, "patch", "-C", dir, "-y")
	if code != 0 || !strings.Contains(out, "win1: up to date") {
		t.Fatalf("patch again: exit %d\n%s%s", code, out, errOut)
	}
	if a, b := first.upgraded(), second.upgraded(); a != 1 || b != 1 {
		t.Errorf("upgrades made: win1 %d, win2 %d; want one each", a, b)
	}
	out, _, _ = tend(t, "runs")
	if strings.Count(out, " patch ") != 2 || !strings.Contains(out, "success") {
		t.Errorf("runs after patching again:\n%s", out)
	}
}
