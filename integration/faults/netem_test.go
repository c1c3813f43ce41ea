package faults

import (
	"bufio"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/integration/netem"
	"github.com/tendhq/tend/journal"
)

// netHosts is how many hosts TestNetwork runs on, each behind its own
// proxy.
const netHosts = 10

// linkStall is how long the stalled link carries nothing.
const linkStall = 30 * time.Second

// TestNetwork applies the fault workload over links with real network
// conditions (integration/netem): a 50 ms round trip with jitter on every
// link throughout, and on top of it one link that stalls, one connection
// reset mid-apply, and a 1 Mbit/s link carrying a large file. Every claim
// is checked on the hosts' bytes and in the journal, as TestFaults does.
func TestNetwork(t *testing.T) {
	s := newSuite(t, "netem", netHosts)
	n, err := netem.Start(s.l, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	// 25 ms ± 5 ms each way: a 50 ms round trip with jitter.
	if err := n.AddAll(netem.Delay(25, 5)); err != nil {
		t.Fatal(err)
	}
	config := func(t *testing.T, w *workload) string {
		t.Helper()
		w.reset(t, s.l)
		dir := t.TempDir()
		if err := n.WriteInventory(filepath.Join(dir, "inventory.hcl"), netem.InventoryOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(w.config()), 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}

	t.Run("50 ms RTT with jitter", func(t *testing.T) {
		dir := config(t, s.plain)
		if _, _, code := runTend(t, "plan", "-C", dir, "--detailed-exitcode"); code != 2 {
			t.Errorf("plan: exit %d, want 2 (changes on every host)", code)
		}
		out, _, code := runTend(t, "apply", "-C", dir, "-y", "--json")
		if code != 0 {
			t.Errorf("apply: exit %d, want 0", code)
		}
		outcomes := hostOutcomes(out)
		for _, h := range s.l.Hosts {
			if o := outcomes[h.Name]; o.outcome != "success" {
				t.Errorf("%s: host_outcome %q, want success", h.Name, o.outcome)
			}
		}
		id := jsonRunID(out)
		s.plain.consistent(t, s.l, dir, id)
		s.plain.atState(t, s.l, true, "after the apply over 50 ms links")
		if _, _, code := runTend(t, "plan", "-C", dir, "--detailed-exitcode"); code != 0 {
			t.Errorf("plan after apply: exit %d, want 0 (no changes)", code)
		}
	})

	// A link that carries nothing for 30 s (and is closed by the proxy
	// after that, as a firewall that lost the connection's state would)
	// while the run changes its host: the other hosts finish while it is
	// still stalled, and the stalled host reconnects once it is released.
	t.Run("one link stalls for 30 s", func(t *testing.T) {
		dir := config(t, s.plain)
		stalled := s.l.Host(1)
		p := startTend(t, "apply", "-C", dir, "-y", "--json")
		if !reach(t, s, p, inside) {
			p.wait(applyTimeout)
			return
		}
		release, err := n.Link(stalled.Name).Add(netem.Blackhole(linkStall.Milliseconds()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = release() })
		stallStart := time.Now()
		others := func() bool {
			o := hostOutcomes(p.out.String())
			for _, h := range s.l.Hosts {
				if h != stalled && o[h.Name].outcome == "" {
					return false
				}
			}
			return true
		}
		waitFor(p, linkStall, others)
		// The check is structural: every other host's outcome is out
		// before the stalled link carries anything again.
		done := others()
		stalledDone := hostOutcomes(p.out.String())[stalled.Name].outcome
		time.Sleep(time.Until(stallStart.Add(linkStall)))
		if err := release(); err != nil {
			t.Error(err)
		}
		if !done {
			t.Errorf("the other hosts' outcomes were not all out while %s's link stalled: %v", stalled.Name, hostOutcomes(p.out.String()))
		}
		if stalledDone != "" {
			t.Errorf("%s finished (%s) while its link carried nothing: the stall missed the run", stalled.Name, stalledDone)
		}
		p.wait(applyTimeout)
		outcomes := hostOutcomes(p.out.String())
		for _, h := range s.l.Hosts {
			if h != stalled && outcomes[h.Name].outcome != "success" {
				t.Errorf("%s: host_outcome %q (%s), want success", h.Name, outcomes[h.Name].outcome, outcomes[h.Name].err)
			}
		}
		id := jsonRunID(p.out.String())
		s.reconnected(t, dir, id, 1)
		s.afterFault(t, s.plain, dir, id)
	})

	// A connection reset (TCP RST) in the middle of a batch: the run
	// reconnects and finishes or rolls back, the journal is exact, and
	// tend rollback restores every byte.
	t.Run("connection reset mid-apply", func(t *testing.T) {
		dir := config(t, s.plain)
		p := startTend(t, "apply", "-C", dir, "-y", "--json")
		if reach(t, s, p, inside) {
			remove, err := n.Link(s.l.Host(1).Name).Add(netem.Reset())
			if err != nil {
				t.Fatal(err)
			}
			// Until the run notices: the reset takes the connection
			// and whatever the first reconnection sends.
			if !waitFor(p, applyTimeout, func() bool { return strings.Contains(p.out.String(), `"type":"reconnecting"`) }) {
				t.Errorf("the run never noticed the reset")
			}
			if err := remove(); err != nil {
				t.Error(err)
			}
		}
		p.wait(applyTimeout)
		out := p.out.String()
		if !strings.Contains(out, `"type":"reconnected"`) {
			t.Errorf("the run never reconnected after the reset")
		}
		id := jsonRunID(out)
		s.reconnected(t, dir, id, 1)
		s.afterFault(t, s.plain, dir, id)
	})

	// A 2 MiB file over links of 1 Mbit/s (and 50 ms): it arrives whole,
	// with its mode and owner, on every host.
	t.Run("1 Mbit/s link, large file", func(t *testing.T) {
		var removes []func() error
		for _, lk := range n.Links {
			remove, err := lk.Add(netem.Bandwidth(1000))
			if err != nil {
				t.Fatal(err)
			}
			removes = append(removes, remove)
		}
		t.Cleanup(func() {
			for _, r := range removes {
				_ = r()
			}
		})
		dir := t.TempDir()
		if err := n.WriteInventory(filepath.Join(dir, "inventory.hcl"), netem.InventoryOptions{}); err != nil {
			t.Fatal(err)
		}
		big := make([]byte, 2<<20)
		if _, err := rand.Read(big); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "big.bin"), big, 0o644); err != nil {
			t.Fatal(err)
		}
		const path = "/srv/tendnet/big.bin"
		cfg := fmt.Sprintf("file %q {\n  path   = %q\n  source = \"big.bin\"\n  mode   = \"0640\"\n  owner  = \"nobody\"\n}\n", "big", path)
		if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, h := range s.l.Hosts {
			if err := os.RemoveAll(filepath.Join(h.Root, "/srv/tendnet")); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Join(h.Root, "/srv/tendnet"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		out, _, code := runTend(t, "apply", "-C", dir, "-y", "--json")
		if code != 0 {
			t.Errorf("apply: exit %d, want 0", code)
		}
		want := fstate{exists: true, regular: true, sha: sha(string(big)), mode: 0o640, uid: 65534}
		for _, h := range s.l.Hosts {
			got, err := readState(h, path)
			if err != nil || !got.equal(want) {
				t.Errorf("%s: %s is %s (%v), want %s", h.Name, path, got, err, want)
			}
		}
		id := jsonRunID(out)
		if run := readRun(t, dir, id); run != nil {
			for _, h := range run.Hosts {
				for _, e := range h.Changes {
					if e.Status != journal.Applied {
						t.Errorf("%s: %s journaled %s, want applied", h.Name, e.Address, e.Status)
					}
				}
			}
		}
	})
}

// hostOutcome is a host_outcome event of tend's --json output.
type hostOutcome struct{ outcome, err string }

// hostOutcomes reads the host_outcome events of a --json output so far.
func hostOutcomes(out string) map[string]hostOutcome {
	m := map[string]hostOutcome{}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var ev struct {
			Type, Host, Outcome, Error string
		}
		if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Type == "host_outcome" {
			m[ev.Host] = hostOutcome{ev.Outcome, ev.Error}
		}
	}
	return m
}

// jsonRunID is the run a --json output announced, or "".
func jsonRunID(out string) string {
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var ev struct {
			Type  string
			RunID string `json:"run_id"`
		}
		if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Type == "run" {
			return ev.RunID
		}
	}
	return ""
}
