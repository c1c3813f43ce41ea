//go:build linux

package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tendhq/tend/transport/winrm/winrmtest"
)

// leaseHolders returns tend locks' rows as host → "RUN COMMAND".
func leaseHolders(t *testing.T) map[string]string {
	t.Helper()
	out, errOut, code := tend(t, "locks")
	if code != 0 {
		t.Fatalf("locks: exit %d\n%s%s", code, out, errOut)
	}
	got := map[string]string{}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "HOST ") {
		return got
	}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		got[f[0]] = f[1] + " " + f[2]
	}
	return got
}

// refusedJSON runs a command with --json that another run's lease
// must stop: exit 1, every line valid by the schema, a host_lease
// message naming the holder (its run and command) and a diagnostic.
func refusedJSON(t *testing.T, host, holder, command string, args ...string) {
	t.Helper()
	args = append([]string{args[0], "--json"}, args[1:]...)
	out, _, code := tend(t, args...)
	leases, diags := 0, 0
	for _, m := range jsonLines(t, uiSchema(t), args, out, code) {
		switch m["type"] {
		case "host_lease":
			if m["host"] == host && m["run_id"] == holder && m["command"] == command && m["user"] == currentUser() {
				leases++
			}
		case "diagnostic":
			if d, _ := m["diagnostic"].(map[string]any); strings.Contains(fmt.Sprint(d["summary"]), "held by run "+holder) {
				diags++
			}
		}
	}
	if code != 1 || leases != 1 || diags != 1 {
		t.Errorf("%v: exit %d, %d host_lease messages naming %s held by %s (%s), %d diagnostics; want 1, 1, 1\n%s", args, code, leases, host, holder, command, diags, out)
	}
}

// TestBackendOverlappingCommands: apply, patch and tend run take the
// backend's lease on each host before connecting, so that two
// operators' overlapping runs do not meet on a host: whichever comes
// second fails, naming the host, the run holding it, its command and
// its user, and changes nothing (the files it would have made are
// absent; the simulated Windows host received no request at all).
// tend locks names each holder's command; tend run --read-only runs
// alongside.
//
// win1 is one inventory name in every directory: a local host for
// apply and tend run, a simulated Windows host with Chocolatey for
// patch (leases are by inventory name).
func TestBackendOverlappingCommands(t *testing.T) {
	_, url := pgBackend(t)
	t.Setenv("TEND_BACKEND", url)
	t.Setenv("TEND_TEST_WINRM_PASSWORD", winrmPassword)
	fx := loadWindowsFixture(t)
	fx.Facts["pkg"] = "chocolatey"
	facts := fx.Responder()
	// Once armed, an upgrade waits for the gate (at most a minute, so
	// that a run that should not have started cannot hang the test).
	var armed atomic.Bool
	upgrading := make(chan struct{}, 1)
	gate := make(chan struct{})
	var openGate sync.Once
	release := func() { openGate.Do(func() { close(gate) }) }
	defer release()
	var mu sync.Mutex
	respond := func(s winrmtest.Script) winrmtest.Answer {
		switch text := s.Text; {
		case winrmtest.IsProbe(text):
			mu.Lock()
			defer mu.Unlock()
			return facts(s)
		case strings.Contains(text, "') outdated "):
			return winrmtest.Answer{Stdout: "git|2.42.0|2.47.1|false\r\n", Status: 2}
		case strings.Contains(text, "') upgrade "):
			if armed.Load() {
				select {
				case upgrading <- struct{}{}:
				default:
				}
				select {
				case <-gate:
				case <-time.After(time.Minute):
				}
			}
			return winrmtest.Answer{Stdout: "git v2.47.1\r\n"}
		case strings.Contains(text, "metadata.version"):
			return winrmtest.Answer{Stdout: "git|2.47.1\r\n"}
		case strings.Contains(text, "ActiveComputerName"):
			return winrmtest.Answer{Stdout: "false"}
		}
		return winrmtest.Answer{}
	}
	win := winrmtest.Start(t, "ops", winrmPassword, respond)
	local := "host \"win1\" {\n  transport = \"local\"\n}\n"
	root := t.TempDir()
	applying, other, windows := t.TempDir(), t.TempDir(), t.TempDir()
	writeFiles(t, applying, gatedConfig(root, "one"))
	writeFiles(t, applying, map[string]string{"inventory.hcl": local})
	writeFiles(t, other, map[string]string{"inventory.hcl": local,
		"main.hcl": fmt.Sprintf("file \"b\" {\n  path    = \"%s/b\"\n  content = \"b\\n\"\n}\n", root)})
	writeFiles(t, windows, map[string]string{"inventory.hcl": windowsInventory(win.Port())})
	absent := func(what string, names ...string) {
		t.Helper()
		for _, n := range names {
			if _, err := os.Stat(filepath.Join(root, n)); !os.IsNotExist(err) {
				t.Errorf("%s: %s was made: %v", what, n, err)
			}
		}
	}

	// An apply holds win1: patch and tend run are refused before
	// connecting.
	done := make(chan struct{})
	var r result
	go func() {
		defer close(done)
		r.out, r.errOut, r.code = tend(t, "apply", "-C", applying, "-y")
	}()
	defer func() {
		writeFiles(t, root, map[string]string{"go": ""})
		<-done
	}()
	waitFile(t, filepath.Join(root, "one-started"), done)
	locks := leaseHolders(t)
	holder, _, _ := strings.Cut(locks["win1"], " ")
	if !strings.HasSuffix(locks["win1"], " apply") {
		t.Fatalf("locks while the apply holds win1: %v", locks)
	}
	out, errOut, code := tend(t, "patch", "-C", windows, "-y")
	if code != 1 || !strings.Contains(errOut, "win1 held by run "+holder+" (tend apply, "+currentUser()) || !strings.Contains(errOut, "nothing was changed") {
		t.Errorf("patch while an apply holds win1: exit %d\n%s%s", code, out, errOut)
	}
	refusedJSON(t, "win1", holder, "apply", "patch", "-C", windows, "-y")
	refusedJSON(t, "win1", holder, "apply", "patch", "-C", windows, "--check")
	if n := win.Stats().Requests; n != 0 {
		t.Errorf("the refused patch sent %d requests to the host", n)
	}
	out, errOut, code = tend(t, "run", "-C", applying, "win1", "--", "touch "+filepath.Join(root, "ran"))
	if code != 1 || !strings.Contains(errOut, "win1 held by run "+holder+" (tend apply, ") {
		t.Errorf("tend run while an apply holds win1: exit %d\n%s%s", code, out, errOut)
	}
	refusedJSON(t, "win1", holder, "apply", "run", "-C", applying, "win1", "--", "touch "+filepath.Join(root, "ran"))
	absent("tend run refused", "ran")
	out, errOut, code = tend(t, "run", "-C", applying, "--read-only", "win1", "--", "cat "+filepath.Join(root, "one-first"))
	if code != 0 || !strings.Contains(out, "first") {
		t.Errorf("tend run --read-only while an apply holds win1: exit %d\n%s%s", code, out, errOut)
	}
	// The journal records the declaration.
	if _, rest, ok := strings.Cut(out, "\nRun "); ok {
		id := strings.Fields(rest)[0]
		if out, errOut, code := tend(t, "show", id); code != 0 || !strings.Contains(out, "declared by the operator (no host leases)") {
			t.Errorf("show %s: exit %d, want the read-only declaration\n%s%s", id, code, out, errOut)
		}
	} else {
		t.Errorf("tend run --read-only names no run:\n%s", out)
	}
	writeFiles(t, root, map[string]string{"go": ""})
	<-done
	if r.code != 0 {
		t.Fatalf("the apply: exit %d\n%s%s", r.code, r.out, r.errOut)
	}

	// A patch holds win1 while it upgrades: an apply is refused.
	armed.Store(true)
	pdone := make(chan struct{})
	var pr result
	go func() {
		defer close(pdone)
		pr.out, pr.errOut, pr.code = tend(t, "patch", "-C", windows, "-y")
	}()
	select {
	case <-upgrading:
	case <-pdone:
		t.Fatalf("the patch ended before upgrading: exit %d\n%s%s", pr.code, pr.out, pr.errOut)
	case <-time.After(60 * time.Second):
		t.Fatal("the patch did not start upgrading")
	}
	locks = leaseHolders(t)
	pholder, _, _ := strings.Cut(locks["win1"], " ")
	if !strings.HasSuffix(locks["win1"], " patch") {
		t.Errorf("locks while the patch holds win1: %v", locks)
	}
	out, errOut, code = tend(t, "apply", "-C", other, "-y")
	if code != 1 || !strings.Contains(errOut, "win1 held by run "+pholder+" (tend patch, ") {
		t.Errorf("apply while a patch holds win1: exit %d\n%s%s", code, out, errOut)
	}
	refusedJSON(t, "win1", pholder, "patch", "apply", "-C", other, "-y")
	absent("apply refused", "b")
	release()
	<-pdone
	if pr.code != 0 {
		t.Fatalf("the patch: exit %d\n%s%s", pr.code, pr.out, pr.errOut)
	}

	// tend run holds win1 while its command runs: an apply and a patch
	// are refused.
	rdone := make(chan struct{})
	var rr result
	go func() {
		defer close(rdone)
		rr.out, rr.errOut, rr.code = tend(t, "run", "-C", applying, "win1", "--",
			fmt.Sprintf("touch %[1]s/run-started; while [ ! -e %[1]s/go-run ]; do sleep 0.05; done", root))
	}()
	defer func() {
		writeFiles(t, root, map[string]string{"go-run": ""})
		<-rdone
	}()
	waitFile(t, filepath.Join(root, "run-started"), rdone)
	locks = leaseHolders(t)
	rholder, _, _ := strings.Cut(locks["win1"], " ")
	if !strings.HasSuffix(locks["win1"], " run") {
		t.Errorf("locks while tend run holds win1: %v", locks)
	}
	out, errOut, code = tend(t, "apply", "-C", other, "-y")
	if code != 1 || !strings.Contains(errOut, "win1 held by run "+rholder+" (tend run, ") {
		t.Errorf("apply while tend run holds win1: exit %d\n%s%s", code, out, errOut)
	}
	refusedJSON(t, "win1", rholder, "run", "apply", "-C", other, "-y")
	absent("apply refused", "b")
	requests := win.Stats().Requests
	if _, errOut, code := tend(t, "patch", "-C", windows, "-y"); code != 1 || !strings.Contains(errOut, "(tend run, ") {
		t.Errorf("patch while tend run holds win1: exit %d\n%s", code, errOut)
	}
	if n := win.Stats().Requests - requests; n != 0 {
		t.Errorf("the refused patch sent %d requests to the host", n)
	}
	writeFiles(t, root, map[string]string{"go-run": ""})
	<-rdone
	if rr.code != 0 {
		t.Fatalf("tend run: exit %d\n%s%s", rr.code, rr.out, rr.errOut)
	}
	if locks := leaseHolders(t); len(locks) != 0 {
		t.Errorf("leases left after every run ended: %v", locks)
	}
	if out, errOut, code := tend(t, "apply", "-C", other, "-y"); code != 0 || readBytes(t, filepath.Join(root, "b")) != "b\n" {
		t.Errorf("apply once every other run ended: exit %d\n%s%s", code, out, errOut)
	}
}
