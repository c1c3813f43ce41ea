package cli

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tendhq/tend/engine"
	"github.com/tendhq/tend/plan"
)

// humanView prints a run's events as lines, one per step, as they come,
// each prefixed by its host, the prefixes aligned. While changes run it
// shows their progress: on a terminal a status block of a few lines
// below the printed ones, redrawn in place twice a second; elsewhere a
// "still running" line now and then. Writes are best effort: a closed
// stdout never stops a run.
type humanView struct {
	w  io.Writer
	mu sync.Mutex
	// printed are hosts whose failure was already printed with a change,
	// so their outcome need not repeat it.
	printed map[string]bool
	// batchNames are a rollout's batches, for "not started" lists.
	batchNames [][]string
	// rolloutPolicy is the rollout's on_failure, for its stop message.
	rolloutPolicy string
	// pad is the width of the widest host name, for aligned prefixes.
	pad int

	// Progress.
	mode      progressMode
	cols      int // terminal width, for status lines that must not wrap
	now       func() time.Time
	running   map[string]*runningChange // by host and address
	total     map[string]int            // a host's pending changes
	done      map[string]int            // its changes that ended
	hostsAll  int
	hostsDone int
	drawn     int // status lines on the screen now
	stopTick  chan struct{}
	stopped   bool
}

type progressMode int

const (
	progressNone progressMode = iota
	// progressLive redraws a status block in place (a terminal).
	progressLive
	// progressPeriodic prints "still running" lines (a pipe, a log).
	progressPeriodic
)

// runningChange is a change (or a revert) under way.
type runningChange struct {
	host, address, verb string
	start               time.Time
	// n is the change's rank on its host (1-based), 0 when unknown.
	n int
	// next is when (elapsed) the next "still running" line is due.
	next time.Duration
}

// Progress timing: on a terminal a change shows in the status block once
// it has run liveAfter; elsewhere a line is printed when it has run
// firstNote, then every laterNote.
const (
	liveAfter = time.Second
	firstNote = 10 * time.Second
	laterNote = 30 * time.Second
	// maxStatus is how many running changes the status block lists.
	maxStatus = 4
	// redraw is how often the status block is drawn again.
	redraw = 500 * time.Millisecond
)

func newHumanView(w io.Writer) *humanView {
	return &humanView{w: w, printed: map[string]bool{}, now: time.Now, cols: 80,
		running: map[string]*runningChange{}, total: map[string]int{}, done: map[string]int{}}
}

// live makes the view draw a status block, redrawn every second, on a
// terminal cols wide.
func (v *humanView) live(cols int) {
	if cols > 20 {
		v.cols = cols
	}
	v.start(progressLive)
}

// periodic makes the view print "still running" lines.
func (v *humanView) periodic() { v.start(progressPeriodic) }

func (v *humanView) start(m progressMode) {
	v.mode = m
	v.stopTick = make(chan struct{})
	go func() {
		t := time.NewTicker(redraw)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				v.tick()
			case <-v.stopTick:
				return
			}
		}
	}()
}

// stop ends the progress display and clears the status block, before the
// run's summary is printed.
func (v *humanView) stop() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.stopTick != nil && !v.stopped {
		close(v.stopTick)
	}
	v.stopped = true
	v.clear()
}

// hosts sets the alignment and the host count from a plan, before the
// run starts.
func (v *humanView) hosts(pl *plan.Plan) {
	var names []string
	for _, h := range pl.Hosts {
		names = append(names, h.Name)
	}
	v.width(names)
}

// width aligns host prefixes for the given hosts.
func (v *humanView) width(names []string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, n := range names {
		v.pad = max(v.pad, len([]rune(n)))
	}
	v.hostsAll = max(v.hostsAll, len(names))
}

// prefix is the start of a host's line: the name and a colon, padded so
// that what follows is aligned.
func (v *humanView) prefix(host string) string {
	return fmt.Sprintf("  %-*s ", v.pad+1, host+":")
}

// under is the indentation of a host's output (a failed command's
// stderr) below its line: past the aligned prefix.
func (v *humanView) under() string { return strings.Repeat(" ", v.pad+6) }

// indent prefixes every line of s.
func indent(s, prefix string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix) + "\n"
}

// Event implements engine.Subscriber.
func (v *humanView) Event(e *engine.Event) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.clear()
	if e.Kind == engine.Changes {
		for _, it := range e.Items {
			v.track(it)
			v.event(it)
		}
	} else {
		v.track(e)
		v.event(e)
	}
	v.draw()
	return nil
}

// track follows which changes run, for the progress display.
func (v *humanView) track(e *engine.Event) {
	host := e.Host
	key := host + "\x00" + e.Address
	switch e.Kind {
	case engine.HostPlanned, engine.HostReplanned:
		if e.Plan != nil {
			if host == "" {
				host = e.Plan.Name
			}
			if e.Kind == engine.HostPlanned {
				if _, seen := v.total[host]; !seen {
					v.hostsAll = max(v.hostsAll, len(v.total)+1)
				}
			}
			v.total[host] = len(e.Plan.Pending())
			v.pad = max(v.pad, len([]rune(host)))
		}
	case engine.BatchesPlanned:
		n := 0
		for _, b := range e.BatchHosts {
			n += len(b)
			for _, h := range b {
				v.pad = max(v.pad, len([]rune(h)))
			}
		}
		v.hostsAll = max(v.hostsAll, n)
	case engine.ChangeStarted, engine.Reverting:
		verb := "still running"
		if e.Kind == engine.Reverting {
			verb = "reverting"
		}
		n := 0
		if e.Kind == engine.ChangeStarted {
			n = v.done[host] + 1
			for _, r := range v.running {
				if r.host == host && r.n > 0 {
					n++
				}
			}
		}
		v.running[key] = &runningChange{host: host, address: e.Address, verb: verb, start: v.now(), n: n, next: firstNote}
	case engine.ChangeApplied, engine.ChangeFailed, engine.ChangeSkipped, engine.ChangeUnknown, engine.ChangePending:
		if _, ok := v.running[key]; ok || e.Kind == engine.ChangeSkipped {
			v.done[host]++
		}
		delete(v.running, key)
	case engine.Reverted, engine.RevertFailed, engine.NotReverted, engine.NotApplied:
		delete(v.running, key)
	case engine.HostOutcome:
		v.hostsDone++
		for k, r := range v.running {
			if r.host == host {
				delete(v.running, k)
			}
		}
	}
}

// statusLines are the live block's lines: the changes that have run
// longest first, then the hosts' count.
func (v *humanView) statusLines() []string {
	now := v.now()
	var rs []*runningChange
	for _, r := range v.running {
		if now.Sub(r.start) >= liveAfter {
			rs = append(rs, r)
		}
	}
	if len(rs) == 0 {
		return nil
	}
	sort.Slice(rs, func(i, j int) bool {
		if !rs[i].start.Equal(rs[j].start) {
			return rs[i].start.Before(rs[j].start)
		}
		return rs[i].host+rs[i].address < rs[j].host+rs[j].address
	})
	var out []string
	for i, r := range rs {
		if i == maxStatus {
			out = append(out, fmt.Sprintf("  … and %s", plural(len(rs)-maxStatus, "more change running", "more changes running")))
			break
		}
		out = append(out, v.runningLine(r, now))
	}
	out = append(out, fmt.Sprintf("  %d/%d hosts done, %s", v.hostsDone, v.hostsAll, plural(len(v.running), "change running", "changes running")))
	return out
}

// runningLine says how long a change has been running and where its host
// is: "web1: ~ exec.migrate still running, 40s (change 2/5)".
func (v *humanView) runningLine(r *runningChange, now time.Time) string {
	s := fmt.Sprintf("%s… %s %s, %s", v.prefix(r.host), r.address, r.verb, elapsed(now.Sub(r.start)))
	if t := v.total[r.host]; r.n > 0 && t > 0 {
		s += fmt.Sprintf(" (change %d/%d)", min(r.n, t), t)
	}
	return s
}

// elapsed prints a duration in whole seconds, minutes past a minute.
func elapsed(d time.Duration) string {
	d = d.Truncate(time.Second)
	if d < time.Minute {
		return fmt.Sprintf("%ds", int(d/time.Second))
	}
	return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
}

// draw writes the status block on a terminal.
func (v *humanView) draw() {
	if v.mode != progressLive || v.stopped {
		return
	}
	lines := v.statusLines()
	if len(lines) == 0 {
		return
	}
	var b strings.Builder
	for _, l := range lines {
		if r := []rune(l); len(r) >= v.cols {
			l = string(r[:v.cols-1])
		}
		b.WriteString(l)
		b.WriteString("\x1b[K\n")
	}
	_, _ = io.WriteString(v.w, b.String())
	v.drawn = len(lines)
}

// clear erases the status block so that lines print where it was.
func (v *humanView) clear() {
	if v.drawn == 0 {
		return
	}
	fmt.Fprintf(v.w, "\x1b[%dA\r\x1b[J", v.drawn)
	// Passed on at once: what comes next may go to another writer.
	if f, ok := v.w.(interface{ Flush() error }); ok {
		_ = f.Flush()
	}
	v.drawn = 0
}

// above returns a writer to the same terminal (stderr) whose writes
// print above the status block.
func (v *humanView) above(w io.Writer) io.Writer { return aboveWriter{v: v, w: w} }

type aboveWriter struct {
	v *humanView
	w io.Writer
}

func (a aboveWriter) Write(p []byte) (int, error) {
	a.v.mu.Lock()
	defer a.v.mu.Unlock()
	a.v.clear()
	n, err := a.w.Write(p)
	if f, ok := a.w.(interface{ Flush() error }); ok {
		_ = f.Flush()
	}
	a.v.draw()
	return n, err
}

// tick redraws the status block, or prints the "still running" lines due.
func (v *humanView) tick() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.stopped {
		return
	}
	switch v.mode {
	case progressLive:
		v.clear()
		v.draw()
	case progressPeriodic:
		now := v.now()
		var due []*runningChange
		for _, r := range v.running {
			if now.Sub(r.start) >= r.next {
				due = append(due, r)
			}
		}
		sort.Slice(due, func(i, j int) bool { return due[i].host+due[i].address < due[j].host+due[j].address })
		for _, r := range due {
			for now.Sub(r.start) >= r.next {
				r.next += laterNote
			}
			fmt.Fprintf(v.w, "%s (%d/%d hosts done)\n", v.runningLine(r, now), v.hostsDone, v.hostsAll)
		}
	}
}

func (v *humanView) event(e *engine.Event) {
	w := v.w
	switch e.Kind {
	case engine.ChangeApplied:
		fmt.Fprintf(w, "%s%s %s %s (%s)\n", v.prefix(e.Host), e.Action.Symbol(), e.Address, past(e.Action), e.Duration.Round(time.Millisecond))
	case engine.Refreshed:
		fmt.Fprintf(w, "%s~ %s refreshed\n", v.prefix(e.Host), e.Address)
	case engine.ChangeFailed:
		v.printed[e.Host] = true
		if e.Address == "" {
			fmt.Fprintf(w, "%s! %s\n", v.prefix(e.Host), e.Error)
		} else {
			fmt.Fprintf(w, "%s! %s: %s\n", v.prefix(e.Host), e.Address, e.Error)
		}
		fmt.Fprint(w, indent(e.Stderr, v.under()))
	case engine.ChangeUnknown:
		v.printed[e.Host] = true
		fmt.Fprintf(w, "%s? %s: %s\n", v.prefix(e.Host), e.Address, e.Error)
	case engine.ChangeSkipped:
		if strings.HasPrefix(e.Error, "depends on") {
			fmt.Fprintf(w, "%s- %s skipped: %s\n", v.prefix(e.Host), e.Address, e.Error)
		}
	case engine.HostReplanned:
		fmt.Fprintf(w, "%s%s\n", v.prefix(e.Host), e.Message)
	case engine.LockWaiting:
		fmt.Fprintf(w, "%swaiting for the host's lock: %s\n", v.prefix(e.Host), e.Message)
	case engine.Reconnecting:
		fmt.Fprintf(w, "%sconnection lost; reconnecting (%s)\n", v.prefix(e.Host), e.Message)
	case engine.Reconnected:
		fmt.Fprintf(w, "%sreconnected %s\n", v.prefix(e.Host), e.Message)
	case engine.Healthy:
		fmt.Fprintf(w, "%shealth check passed\n", v.prefix(e.Host))
	case engine.Unhealthy:
		v.printed[e.Host] = true
		fmt.Fprintf(w, "%s! %s\n", v.prefix(e.Host), e.Error)
		fmt.Fprint(w, indent(e.Stderr, v.under()))
	case engine.Reverted:
		if e.Message != "" {
			fmt.Fprintf(w, "%s↶ %s reverted (%s)\n", v.prefix(e.Host), e.Address, e.Message)
		} else {
			fmt.Fprintf(w, "%s↶ %s reverted\n", v.prefix(e.Host), e.Address)
		}
	case engine.NotApplied:
		fmt.Fprintf(w, "%s↶ %s was never made on the host (read back at its state before the run)\n", v.prefix(e.Host), e.Address)
	case engine.RevertFailed:
		fmt.Fprintf(w, "%s! %s could not be reverted: %s\n", v.prefix(e.Host), e.Address, e.Error)
		fmt.Fprint(w, indent(e.Stderr, v.under()))
	case engine.NotReverted:
		fmt.Fprintf(w, "%s! %s not reverted: %s\n", v.prefix(e.Host), e.Address, e.Error)
	case engine.Upgraded:
		fmt.Fprintf(w, "%s~ %s\n", v.prefix(e.Host), e.Message)
	case engine.Rebooted, engine.RebootPending:
		fmt.Fprintf(w, "%s%s\n", v.prefix(e.Host), e.Message)
	case engine.HostOutcome:
		if !v.printed[e.Host] && e.Error != "" && e.Outcome != engine.Success && e.Outcome != engine.NotStarted {
			fmt.Fprintf(w, "%s! %s\n", v.prefix(e.Host), e.Error)
		}
	case engine.BatchesPlanned:
		v.batchNames = e.BatchHosts
	case engine.Pausing:
		fmt.Fprintf(w, "\nPausing %s before batch %d.\n", e.Duration, e.Batch)
	case engine.BatchStarted:
		fmt.Fprintf(w, "\nBatch %d of %d: %s\n", e.Batch, e.Batches, strings.Join(e.Hosts, ", "))
	case engine.BatchFinished:
		switch e.Outcome {
		case "applied":
		case "stale":
			fmt.Fprintf(w, "Batch %d is stale, the rollout stops; nothing was applied to it:\n", e.Batch)
			for _, s := range strings.Split(e.Message, "; ") {
				fmt.Fprintf(w, "  - %s\n", s)
			}
		default:
			fmt.Fprintf(w, "Batch %d failed: %s.\n", e.Batch, e.Message)
			fmt.Fprintf(w, "Rollout stopped at batch %d of %d (on_failure %s).", e.Batch, e.Batches, v.rolloutPolicy)
			if e.Batch > 1 {
				fmt.Fprintf(w, " Batches 1-%d stay applied.", e.Batch-1)
			}
			if e.Batch < len(v.batchNames) {
				var rest []string
				for _, b := range v.batchNames[e.Batch:] {
					rest = append(rest, b...)
				}
				fmt.Fprintf(w, " Not started: %s.", strings.Join(rest, ", "))
			}
			fmt.Fprintln(w)
		}
	}
}

func past(a plan.Action) string {
	switch a {
	case plan.Create:
		return "created"
	case plan.Update:
		return "updated"
	case plan.Delete:
		return "removed"
	case plan.Replace:
		return "replaced"
	}
	return string(a)
}
