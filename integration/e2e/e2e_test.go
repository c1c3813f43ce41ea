// Package e2e holds tend's end-to-end tests: the real binary's code paths
// (the CLI in-process) against lab hosts booted by integration/lab, over
// real SSH. They run only with TEND_LAB=1, as root (see integration/lab).
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tendhq/tend/cli"
	"github.com/tendhq/tend/integration/lab"
	"github.com/tendhq/tend/journal"
)

// tend runs the command line in-process, as a non-terminal.
func tend(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = cli.Run(context.Background(), args, cli.IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb})
	t.Logf("tend %s → exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errb.String())
	return out.String(), errb.String(), code
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fleetConfig is files, directories and symlinks, some depending on facts.
const fleetConfig = `
directory "app" {
  path = "/srv/app"
  mode = "0755"
}
file "config" {
  path    = "${directory.app.path}/app.conf"
  content = "host = ${host.facts.hostname}\nos = ${host.facts.os.name} ${host.facts.os.version}\n"
  mode    = "0640"
}
file "motd" {
  path    = "/etc/motd"
  content = "Managed by tend. Hands off ${host.name}.\n"
}
symlink "current" {
  path   = "/srv/current"
  target = directory.app.path
}
directory "by_fact" {
  path = "/srv/${host.facts.hostname}-data"
}
`

// planJSON returns, per host, the addresses of resources with changes.
func planJSON(t *testing.T, args ...string) (map[string][]string, map[string]string) {
	t.Helper()
	out, _, code := tend(t, append([]string{"plan", "-json-document"}, args...)...)
	if code != 0 && code != 1 {
		t.Fatalf("plan -json-document: exit %d", code)
	}
	var p struct {
		Hosts []struct {
			Name    string
			Error   string
			Changes []struct{ Address, Action string }
		}
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("plan -json-document: %v\n%s", err, out)
	}
	changed, errs := map[string][]string{}, map[string]string{}
	for _, h := range p.Hosts {
		if h.Error != "" {
			errs[h.Name] = h.Error
		}
		for _, c := range h.Changes {
			if c.Action != "no-op" {
				changed[h.Name] = append(changed[h.Name], c.Address)
			}
		}
	}
	return changed, errs
}

// TestFleet: a configuration applied to 5 lab hosts; the second plan is
// all no-op; a hand change on one host is reported for that host only;
// apply restores it.
func TestFleet(t *testing.T) {
	lab.Required(t)
	l := lab.StartT(t, lab.Options{Hosts: 5, Name: "fleet"})
	dir := t.TempDir()
	if err := l.WriteInventory(filepath.Join(dir, "inventory.hcl")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "main.hcl"), fleetConfig)

	if _, _, code := tend(t, "apply", "-C", dir, "-y"); code != 0 {
		t.Fatalf("first apply: exit %d", code)
	}
	for _, h := range l.Hosts {
		want := fmt.Sprintf("host = %s\nos = debian 12\n", h.Name)
		if got := read(t, filepath.Join(h.Root, "srv/app/app.conf")); got != want {
			t.Errorf("%s: app.conf = %q, want %q", h.Name, got, want)
		}
		if target, err := os.Readlink(filepath.Join(h.Root, "srv/current")); err != nil || target != "/srv/app" {
			t.Errorf("%s: /srv/current -> %q (%v)", h.Name, target, err)
		}
		if fi, err := os.Stat(filepath.Join(h.Root, "srv", h.Name+"-data")); err != nil || !fi.IsDir() {
			t.Errorf("%s: the directory named by a fact is missing: %v", h.Name, err)
		}
	}
	if out, _, code := tend(t, "plan", "-C", dir, "-detailed-exitcode"); code != 0 || !strings.Contains(out, "No changes. 5 of 5 hosts") {
		t.Fatalf("second plan: exit %d, want 0 and no changes", code)
	}

	h3 := l.Host(3)
	write(t, filepath.Join(h3.Root, "etc/motd"), "edited by hand\n")
	if err := os.Chmod(filepath.Join(h3.Root, "srv/app"), 0o700); err != nil {
		t.Fatal(err)
	}
	changed, errs := planJSON(t, "-C", dir)
	if len(errs) > 0 {
		t.Fatalf("plan errors: %v", errs)
	}
	want := map[string][]string{h3.Name: {"directory.app", "file.motd"}}
	if fmt.Sprint(changed) != fmt.Sprint(want) {
		t.Errorf("drift reported as %v, want %v", changed, want)
	}
	out, _, code := tend(t, "plan", "-C", dir, "-detailed-exitcode")
	if code != 2 || !strings.Contains(out, "-edited by hand") || !strings.Contains(out, `mode: "0700" → "0755"`) {
		t.Errorf("plan after the hand change: exit %d, want 2 with the diff", code)
	}
	if _, _, code := tend(t, "apply", "-C", dir, "-y"); code != 0 {
		t.Fatalf("restoring apply: exit %d", code)
	}
	if got, want := read(t, filepath.Join(h3.Root, "etc/motd")), "Managed by tend. Hands off "+h3.Name+".\n"; got != want {
		t.Errorf("motd not restored: %q, want %q", got, want)
	}
	if fi, err := os.Stat(filepath.Join(h3.Root, "srv/app")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("/srv/app mode not restored: %v %v", fi.Mode(), err)
	}
	if _, _, code := tend(t, "plan", "-C", dir, "-detailed-exitcode"); code != 0 {
		t.Errorf("plan after restore: exit %d, want 0", code)
	}

	// tend facts HOST: that host's facts as JSON, read over SSH.
	h2 := l.Host(2)
	out, errOut, code := tend(t, "facts", "-C", dir, h2.Name)
	var facts map[string]struct {
		Facts struct {
			OS struct {
				Family, Name, Version string
			}
			Arch           string
			Hostname       string
			CPUs           int
			MemoryMB       int `json:"memory_mb"`
			Init           string
			PackageManager string `json:"package_manager"`
		}
	}
	if err := json.Unmarshal([]byte(out), &facts); code != 0 || err != nil {
		t.Fatalf("tend facts %s: exit %d, %v\n%s%s", h2.Name, code, err, out, errOut)
	}
	if len(facts) != 1 {
		t.Errorf("tend facts %s printed %d hosts, want 1", h2.Name, len(facts))
	}
	f := facts[h2.Name].Facts
	if f.OS.Family != "debian" || f.OS.Name != "debian" || f.OS.Version != "12" || f.Hostname != h2.Name ||
		f.Arch == "" || f.CPUs < 1 || f.MemoryMB < 1 || f.Init != "systemd" || f.PackageManager != "apt" {
		t.Errorf("tend facts %s = %+v", h2.Name, f)
	}
}

// TestUnreachableAndKilled: a host stopped before apply is reported as
// unreachable with the reason while the others are applied; a host killed
// in the middle of its apply is reported, its journal says which changes
// were applied, and tend rollback restores it once it is back.
func TestUnreachableAndKilled(t *testing.T) {
	lab.Required(t)
	l := lab.StartT(t, lab.Options{Hosts: 4, Name: "fault"})
	dir := t.TempDir()
	if err := l.WriteInventory(filepath.Join(dir, "inventory.hcl")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "main.hcl"), `
file "one" {
  path    = "/etc/one.conf"
  content = "one\n"
}
file "two" {
  path       = "/etc/motd"
  content    = "two\n"
  depends_on = [file.one]
}
exec "slow" {
  command    = "if [ \"$(hostname)\" = fault4 ]; then touch /var/tmp/tend-test-marker; sleep 60; fi"
  creates    = "/run/never-there"
  depends_on = [file.two]
}
file "three" {
  path       = "/etc/three.conf"
  content    = "three\n"
  depends_on = [exec.slow]
}
`)
	motd4 := read(t, filepath.Join(l.Host(4).Root, "etc/motd"))
	if err := l.Stop(2); err != nil {
		t.Fatal(err)
	}
	// Kill host 4 while its exec.slow runs.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		marker := filepath.Join(l.Host(4).Root, "var/tmp/tend-test-marker")
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if _, err := os.Stat(marker); err == nil {
				if err := l.Stop(4); err != nil {
					t.Errorf("stopping host 4: %v", err)
				}
				return
			}
		}
		t.Errorf("host 4 never reached exec.slow")
	}()
	out, _, code := tend(t, "apply", "-C", dir, "-y")
	wg.Wait()
	if code == 0 {
		t.Fatal("apply succeeded with a host down")
	}
	if !strings.Contains(out, "fault2 (unreachable:") || !strings.Contains(out, "connection refused") {
		t.Errorf("the summary does not name fault2 as unreachable with the reason:\n%s", out)
	}
	_, summary, _ := strings.Cut(out, "Apply failed on ")
	if !strings.HasPrefix(summary, "2 of 4 hosts") || !strings.Contains(summary, "fault2 (unreachable:") || !strings.Contains(summary, "fault4 (failed") {
		t.Errorf("the summary does not name the failed hosts:\n%s", out)
	}
	for _, i := range []int{1, 3} {
		if got := read(t, filepath.Join(l.Host(i).Root, "etc/three.conf")); got != "three\n" {
			t.Errorf("host %d was not applied: three.conf = %q", i, got)
		}
	}
	runs, err := journal.List(dir)
	if err != nil || len(runs) == 0 {
		t.Fatalf("no journal: %v", err)
	}
	run := runs[len(runs)-1]
	status := map[string]journal.Status{}
	for _, h := range run.Hosts {
		if h.Name == "fault4" {
			for _, e := range h.Changes {
				status[e.Address] = e.Status
			}
		}
	}
	// The host died while exec.slow ran: its outcome is unknown, and the
	// host could not be reached again to revert, so the changes made stay
	// journaled as applied, for tend rollback once the host is back.
	if status["file.one"] != journal.Applied || status["file.two"] != journal.Applied || status["exec.slow"] != journal.Unknown || status["file.three"] != journal.Skipped {
		t.Errorf("journal for fault4: %v", status)
	}

	if err := l.Restart(4); err != nil {
		t.Fatal(err)
	}
	out, _, code = tend(t, "rollback", run.ID, "-C", dir, "-y", "--target", "fault4")
	if code != 0 || !strings.Contains(out, "↶ file.two reverted") || !strings.Contains(out, "↶ file.one reverted") {
		t.Fatalf("rollback: exit %d", code)
	}
	h4 := l.Host(4)
	if got := read(t, filepath.Join(h4.Root, "etc/motd")); got != motd4 {
		t.Errorf("fault4 /etc/motd = %q after rollback, want the original %q", got, motd4)
	}
	if _, err := os.Stat(filepath.Join(h4.Root, "etc/one.conf")); !os.IsNotExist(err) {
		t.Errorf("fault4 /etc/one.conf still exists after rollback: %v", err)
	}
}
