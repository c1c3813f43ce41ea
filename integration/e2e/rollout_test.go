package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tendhq/tend/integration/lab"
	"github.com/tendhq/tend/journal"
)

// TestRollout: 10 hosts, serial 3, host 5's health check fails: batch 1
// stays applied, batch 2 is stopped and rolled back (on_failure
// rollback_batch), batches 3 and 4 are never touched; the output, the exit
// code and the journal say exactly that.
func TestRollout(t *testing.T) {
	lab.Required(t)
	l := lab.StartT(t, lab.Options{Hosts: 10, Name: "roll"})
	dir := t.TempDir()
	if err := l.WriteInventory(filepath.Join(dir, "inventory.hcl")); err != nil {
		t.Fatal(err)
	}
	// Batches follow the inventory's host order, whatever it is.
	invOut, _, icode := tend(t, "inventory", "-C", dir)
	if icode != 0 {
		t.Fatal("tend inventory failed")
	}
	var order []string
	for _, line := range strings.Split(strings.TrimSpace(invOut), "\n") {
		order = append(order, strings.Fields(line)[0])
	}
	pos := map[string]int{}
	for i, n := range order {
		pos[n] = i + 1
	}
	write(t, filepath.Join(dir, "main.hcl"), strings.ReplaceAll(`
rollout {
  serial           = 3
  max_fail_percent = 0
  on_failure       = "rollback_batch"
  health_check {
    command = "test \"$(hostname)\" != FIFTH && test -f /etc/app.conf"
    retries = 1
    delay   = "100ms"
    timeout = "5s"
  }
}
file "app" {
  path    = "/etc/app.conf"
  content = "version 2\n"
}
file "motd" {
  path    = "/etc/motd"
  content = "rolled out\n"
}
`, "FIFTH", order[4]))
	motd := map[int]string{}
	for _, h := range l.Hosts {
		motd[h.Index] = read(t, filepath.Join(h.Root, "etc/motd"))
	}
	out, _, code := tend(t, "apply", "-C", dir, "-y")
	if code != 1 {
		t.Fatalf("apply: exit %d, want 1", code)
	}
	for _, want := range []string{
		"Batch 1 of 4: " + strings.Join(order[0:3], ", "),
		"Batch 2 of 4: " + strings.Join(order[3:6], ", "),
		"Batch 2 failed: 1 of 3 hosts",
		"Rollout stopped at batch 2 of 4 (on_failure rollback_batch). Batches 1-1 stay applied. Not started: " + strings.Join(order[6:], ", ") + ".",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// Host prefixes are padded to the longest name (roll10).
	if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(order[4]) + `: +! health check:`).MatchString(out) {
		t.Errorf("output lacks %s's failed health check", order[4])
	}
	if strings.Contains(out, "Batch 3 of 4") {
		t.Error("batch 3 was started")
	}
	for _, h := range l.Hosts {
		_, err := os.Stat(filepath.Join(h.Root, "etc/app.conf"))
		gotMotd := read(t, filepath.Join(h.Root, "etc/motd"))
		switch {
		case pos[h.Name] <= 3:
			if err != nil || gotMotd != "rolled out\n" {
				t.Errorf("%s (batch 1) is not applied: %v, motd %q", h.Name, err, gotMotd)
			}
		default:
			if !os.IsNotExist(err) || gotMotd != motd[h.Index] {
				t.Errorf("%s is not as before: app.conf %v, motd %q", h.Name, err, gotMotd)
			}
		}
	}
	runs, _ := journal.List(dir)
	run := runs[len(runs)-1]
	var got []string
	for _, b := range run.Batches {
		got = append(got, fmt.Sprintf("%d:%s", b.Number, b.Outcome))
	}
	if want := "1:applied 2:rolled_back 3:not_started 4:not_started"; strings.Join(got, " ") != want {
		t.Errorf("journal batches %v, want %s", got, want)
	}
	outcomes := map[string]string{}
	for _, h := range run.Hosts {
		outcomes[h.Name] = h.Outcome
	}
	if outcomes[order[0]] != "success" || outcomes[order[4]] != "rolled_back" || outcomes[order[3]] != "rolled_back" || outcomes[order[6]] != "" {
		t.Errorf("journal host outcomes: %v", outcomes)
	}
}
