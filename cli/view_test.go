package cli

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/engine"
	"github.com/tendhq/tend/plan"
)

// fakeClock is a view's clock, moved by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func hostPlan(name string, n int) *plan.HostPlan {
	hp := &plan.HostPlan{Name: name}
	for i := 0; i < n; i++ {
		hp.Changes = append(hp.Changes, &plan.Change{Address: "exec.c" + string(rune('0'+i)), Action: plan.Create})
	}
	return hp
}

// newTestView is a view whose progress is driven by hand: no ticker.
func newTestView(mode progressMode) (*humanView, *bytes.Buffer, *fakeClock) {
	var b bytes.Buffer
	v := newHumanView(&b)
	clk := &fakeClock{t: time.Unix(1e9, 0)}
	v.now = clk.now
	v.mode = mode
	return v, &b, clk
}

// ansi removes the terminal's control sequences.
var ansi = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

// TestLiveStatus: on a terminal a running change shows in a status block
// with its elapsed time, its rank on its host and the hosts' progress;
// the block is erased before a line is printed, and when the run ends.
func TestLiveStatus(t *testing.T) {
	v, out, clk := newTestView(progressLive)
	v.hosts(&plan.Plan{Hosts: []*plan.HostPlan{hostPlan("web1", 2), hostPlan("db-primary", 1)}})
	_ = v.Event(&engine.Event{Kind: engine.HostPlanned, Host: "web1", Plan: hostPlan("web1", 2)})
	_ = v.Event(&engine.Event{Kind: engine.HostPlanned, Host: "db-primary", Plan: hostPlan("db-primary", 1)})
	_ = v.Event(&engine.Event{Kind: engine.ChangeStarted, Host: "web1", Address: "exec.c0"})
	v.tick()
	if out.Len() != 0 {
		t.Fatalf("a change running for less than %s shows: %q", liveAfter, out)
	}
	clk.add(40 * time.Second)
	v.tick()
	want := "  web1:       … exec.c0 still running, 40s (change 1/2)\x1b[K\n  0/2 hosts done, 1 change running\x1b[K\n"
	if got := out.String(); got != want {
		t.Fatalf("status block:\n got %q\nwant %q", got, want)
	}
	out.Reset()
	clk.add(time.Second)
	v.tick()
	if got := out.String(); !strings.HasPrefix(got, "\x1b[2A\r\x1b[J") || !strings.Contains(got, "still running, 41s") {
		t.Fatalf("redraw does not replace the block in place: %q", got)
	}
	out.Reset()
	_ = v.Event(&engine.Event{Kind: engine.ChangeApplied, Host: "web1", Address: "exec.c0", Action: plan.Create, Duration: 41 * time.Second})
	if got := out.String(); !strings.HasPrefix(got, "\x1b[2A\r\x1b[J  web1:       + exec.c0 created (41s)\n") {
		t.Fatalf("the line does not replace the block: %q", got)
	}
	out.Reset()
	_ = v.Event(&engine.Event{Kind: engine.ChangeStarted, Host: "web1", Address: "exec.c1"})
	clk.add(2 * time.Second)
	v.tick()
	if got := out.String(); !strings.Contains(got, "exec.c1 still running, 2s (change 2/2)") {
		t.Fatalf("second change: %q", got)
	}
	out.Reset()
	v.stop()
	if got := out.String(); got != "\x1b[2A\r\x1b[J" {
		t.Fatalf("stop does not erase the block: %q", got)
	}
	out.Reset()
	clk.add(5 * time.Second)
	v.tick()
	if out.Len() != 0 {
		t.Fatalf("a stopped view draws: %q", out)
	}
}

// TestLiveStatusFewLines: however many changes run, the block stays a
// few lines, each no wider than the terminal.
func TestLiveStatusFewLines(t *testing.T) {
	v, out, clk := newTestView(progressLive)
	v.cols = 40
	for i := 0; i < 20; i++ {
		h := "host-with-a-long-name-" + string(rune('a'+i))
		_ = v.Event(&engine.Event{Kind: engine.HostPlanned, Host: h, Plan: hostPlan(h, 1)})
		_ = v.Event(&engine.Event{Kind: engine.ChangeStarted, Host: h, Address: "exec.c0"})
	}
	clk.add(3 * time.Second)
	v.tick()
	lines := strings.Split(strings.TrimSuffix(ansi.ReplaceAllString(out.String(), ""), "\n"), "\n")
	if len(lines) != maxStatus+2 || !strings.Contains(lines[maxStatus], "… and 16 more changes running") || lines[maxStatus+1] != "  0/20 hosts done, 20 changes running" {
		t.Fatalf("%d lines:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	for _, l := range lines {
		if n := len([]rune(l)); n >= 40 {
			t.Errorf("line of %d runes on a 40-column terminal: %q", n, l)
		}
	}
}

// TestPeriodicStillRunning: without a terminal, a long change gets a
// "still running" line at 10 s, then every 30 s, and nothing is redrawn.
func TestPeriodicStillRunning(t *testing.T) {
	v, out, clk := newTestView(progressPeriodic)
	_ = v.Event(&engine.Event{Kind: engine.HostPlanned, Host: "web1", Plan: hostPlan("web1", 3)})
	_ = v.Event(&engine.Event{Kind: engine.ChangeStarted, Host: "web1", Address: "exec.c0"})
	var got []string
	for i := 0; i < 75; i++ {
		clk.add(time.Second)
		v.tick()
		if s := out.String(); s != "" {
			got = append(got, s)
			out.Reset()
		}
	}
	want := []string{
		"  web1: … exec.c0 still running, 10s (change 1/3) (0/1 hosts done)\n",
		"  web1: … exec.c0 still running, 40s (change 1/3) (0/1 hosts done)\n",
		"  web1: … exec.c0 still running, 1m10s (change 1/3) (0/1 hosts done)\n",
	}
	if strings.Join(got, "") != strings.Join(want, "") {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	if strings.Contains(strings.Join(got, ""), "\x1b") {
		t.Error("control sequences without a terminal")
	}
}

// TestAlignedHostPrefixes: each host's lines start at the same column,
// whatever its name's length; a failure's stderr is indented past them.
func TestAlignedHostPrefixes(t *testing.T) {
	v, out, _ := newTestView(progressNone)
	v.hosts(&plan.Plan{Hosts: []*plan.HostPlan{hostPlan("a", 1), hostPlan("db-primary", 1)}})
	_ = v.Event(&engine.Event{Kind: engine.ChangeApplied, Host: "a", Address: "file.x", Action: plan.Create})
	_ = v.Event(&engine.Event{Kind: engine.ChangeFailed, Host: "db-primary", Address: "file.y", Error: "boom", Stderr: "why\n"})
	_ = v.Event(&engine.Event{Kind: engine.Healthy, Host: "a"})
	want := "  a:          + file.x created (0s)\n" +
		"  db-primary: ! file.y: boom\n" +
		"                why\n" +
		"  a:          health check passed\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}

// TestAboveStatusBlock: a message to the terminal's other stream (an
// interrupt's) erases the status block first and draws it again after.
func TestAboveStatusBlock(t *testing.T) {
	v, out, clk := newTestView(progressLive)
	_ = v.Event(&engine.Event{Kind: engine.HostPlanned, Host: "web1", Plan: hostPlan("web1", 1)})
	_ = v.Event(&engine.Event{Kind: engine.ChangeStarted, Host: "web1", Address: "exec.c0"})
	clk.add(2 * time.Second)
	v.tick()
	out.Reset()
	var errb bytes.Buffer
	w := v.above(&errb)
	_, _ = w.Write([]byte("\nInterrupt received\n"))
	if !strings.HasPrefix(out.String(), "\x1b[2A\r\x1b[J") || !strings.Contains(out.String(), "still running, 2s") || errb.String() != "\nInterrupt received\n" {
		t.Errorf("stdout %q, stderr %q", out, &errb)
	}
}
