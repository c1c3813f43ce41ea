package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/tendhq/tend/engine"
	"github.com/tendhq/tend/plan"
)

// humanView prints a run's events as lines, one per step, as they come.
// Writes are best effort: a closed stdout never stops a run.
type humanView struct {
	w  io.Writer
	mu sync.Mutex
	// failedHosts are hosts whose failure was already printed with a
	// change, so their outcome need not repeat it.
	printed map[string]bool
	// batchNames are a rollout's batches, for "not started" lists.
	batchNames [][]string
	// rolloutPolicy is the rollout's on_failure, for its stop message.
	rolloutPolicy string
}

func newHumanView(w io.Writer) *humanView { return &humanView{w: w, printed: map[string]bool{}} }

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
	if e.Kind == engine.Changes {
		for _, it := range e.Items {
			v.event(it)
		}
		return nil
	}
	v.event(e)
	return nil
}

func (v *humanView) event(e *engine.Event) {
	w := v.w
	switch e.Kind {
	case engine.ChangeApplied:
		fmt.Fprintf(w, "  %s: %s %s %s (%s)\n", e.Host, e.Action.Symbol(), e.Address, past(e.Action), e.Duration.Round(time.Millisecond))
	case engine.Refreshed:
		fmt.Fprintf(w, "  %s: ~ %s refreshed\n", e.Host, e.Address)
	case engine.ChangeFailed:
		v.printed[e.Host] = true
		if e.Address == "" {
			fmt.Fprintf(w, "  %s: ! %s\n", e.Host, e.Error)
		} else {
			fmt.Fprintf(w, "  %s: ! %s: %s\n", e.Host, e.Address, e.Error)
		}
		fmt.Fprint(w, indent(e.Stderr, "      "))
	case engine.ChangeUnknown:
		v.printed[e.Host] = true
		fmt.Fprintf(w, "  %s: ? %s: %s\n", e.Host, e.Address, e.Error)
	case engine.ChangeSkipped:
		if strings.HasPrefix(e.Error, "depends on") {
			fmt.Fprintf(w, "  %s: - %s skipped: %s\n", e.Host, e.Address, e.Error)
		}
	case engine.HostReplanned:
		fmt.Fprintf(w, "  %s: %s\n", e.Host, e.Message)
	case engine.LockWaiting:
		fmt.Fprintf(w, "  %s: waiting for the host's lock: %s\n", e.Host, e.Message)
	case engine.Reconnecting:
		fmt.Fprintf(w, "  %s: connection lost; reconnecting (%s)\n", e.Host, e.Message)
	case engine.Reconnected:
		fmt.Fprintf(w, "  %s: reconnected %s\n", e.Host, e.Message)
	case engine.Healthy:
		fmt.Fprintf(w, "  %s: health check passed\n", e.Host)
	case engine.Unhealthy:
		v.printed[e.Host] = true
		fmt.Fprintf(w, "  %s: ! %s\n", e.Host, e.Error)
		fmt.Fprint(w, indent(e.Stderr, "      "))
	case engine.Reverted:
		if e.Message != "" {
			fmt.Fprintf(w, "  %s: ↶ %s reverted (%s)\n", e.Host, e.Address, e.Message)
		} else {
			fmt.Fprintf(w, "  %s: ↶ %s reverted\n", e.Host, e.Address)
		}
	case engine.NotApplied:
		fmt.Fprintf(w, "  %s: ↶ %s was never made on the host (read back at its state before the run)\n", e.Host, e.Address)
	case engine.RevertFailed:
		fmt.Fprintf(w, "  %s: ! %s could not be reverted: %s\n", e.Host, e.Address, e.Error)
		fmt.Fprint(w, indent(e.Stderr, "      "))
	case engine.NotReverted:
		fmt.Fprintf(w, "  %s: ! %s not reverted: %s\n", e.Host, e.Address, e.Error)
	case engine.Upgraded:
		fmt.Fprintf(w, "  %s: ~ %s\n", e.Host, e.Message)
	case engine.Rebooted, engine.RebootPending:
		fmt.Fprintf(w, "  %s: %s\n", e.Host, e.Message)
	case engine.HostOutcome:
		if !v.printed[e.Host] && e.Error != "" && e.Outcome != engine.Success && e.Outcome != engine.NotStarted {
			fmt.Fprintf(w, "  %s: ! %s\n", e.Host, e.Error)
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

// jsonView writes a run's events as JSON lines.
type jsonView struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func newJSONView(w io.Writer) *jsonView { return &jsonView{enc: json.NewEncoder(w)} }

// Event implements engine.Subscriber.
func (v *jsonView) Event(e *engine.Event) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	switch e.Kind {
	case engine.HostPlanned, engine.BatchesPlanned:
		return nil
	case engine.Changes:
		for _, it := range e.Items {
			_ = v.enc.Encode(it)
		}
		return nil
	}
	_ = v.enc.Encode(e)
	return nil
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
