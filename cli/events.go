package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/tendhq/tend/engine"
	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/redact"
)

// ECSVersion is the Elastic Common Schema version the events file
// follows (docs/events.md).
const ECSVersion = "8.11.0"

// ECSEvent is one line of the --events file: a run's event in Elastic
// Common Schema field names, complete in itself (it names its run,
// command, user and host), with tend's own fields under "tend"
// (docs/events.md).
type ECSEvent struct {
	Timestamp string          `json:"@timestamp"`
	Message   string          `json:"message"`
	ECS       ECSVersionField `json:"ecs"`
	Event     ECSEventFields  `json:"event"`
	Host      *ECSHost        `json:"host,omitempty"`
	User      ECSUser         `json:"user"`
	Error     *ECSError       `json:"error,omitempty"`
	Tend      TendFields      `json:"tend"`
}

// ECSVersionField is ECS's ecs.version.
type ECSVersionField struct {
	Version string `json:"version"`
}

// ECSEventFields are ECS's event.* fields.
type ECSEventFields struct {
	Kind     string   `json:"kind"`
	Category []string `json:"category"`
	Type     []string `json:"type"`
	Action   string   `json:"action"`
	// Outcome is success, failure or unknown; absent when the event
	// reports no result (a change starting).
	Outcome  string `json:"outcome,omitempty"`
	Duration int64  `json:"duration,omitempty"` // nanoseconds
	Module   string `json:"module"`
	Dataset  string `json:"dataset"`
	Sequence int64  `json:"sequence"`
}

// ECSHost is ECS's host.*: the host the event is about.
type ECSHost struct {
	Name string `json:"name"`
}

// ECSUser is ECS's user.*: who ran tend.
type ECSUser struct {
	Name string `json:"name"`
}

// ECSError is ECS's error.*.
type ECSError struct {
	Message string `json:"message"`
}

// TendFields are tend's own fields of an event.
type TendFields struct {
	RunID        string   `json:"run_id"`
	Command      string   `json:"command"`
	Controller   string   `json:"controller"`
	Address      string   `json:"address,omitempty"`
	ResourceType string   `json:"resource_type,omitempty"`
	ChangeAction string   `json:"change_action,omitempty"`
	Outcome      string   `json:"outcome,omitempty"`
	Stderr       string   `json:"stderr,omitempty"`
	Batch        int      `json:"batch,omitempty"`
	Batches      int      `json:"batches,omitempty"`
	Hosts        []string `json:"hosts,omitempty"`
	Resources    *int     `json:"resources,omitempty"`
	Pending      *int     `json:"changes_pending,omitempty"`
	Applied      *int     `json:"changes_applied,omitempty"`
	Reverted     *int     `json:"changes_reverted,omitempty"`
	NotReverted  *int     `json:"changes_not_reverted,omitempty"`
	Upgrades     *int     `json:"upgrades_pending,omitempty"`
	ExitCode     *int     `json:"exit_code,omitempty"`
}

// eventWriter appends events to a file, one JSON line per event, each in
// one write (a shipper tailing the file never reads half a line).
type eventWriter struct {
	f   *os.File
	seq int64
	err error
}

func openEvents(path string) (*eventWriter, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("--events: %w", err)
	}
	return &eventWriter{f: f}, nil
}

// write appends ev; a failed write is kept and reported by close, and
// never stops the run.
func (w *eventWriter) write(ev *ECSEvent) {
	if w == nil || w.err != nil {
		return
	}
	w.seq++
	ev.Event.Sequence = w.seq
	ev.ECS.Version = ECSVersion
	ev.Event.Module, ev.Event.Dataset = "tend", "tend.events"
	ev.Message = redact.String(ev.Message)
	ev.Tend.Stderr = redact.String(ev.Tend.Stderr)
	if ev.Error != nil {
		ev.Error.Message = redact.String(ev.Error.Message)
	}
	b, err := json.Marshal(ev)
	if err != nil {
		w.err = err
		return
	}
	// The last line of defence, as for every stream leaving tend.
	b = append([]byte(redact.String(string(b))), '\n')
	if _, err := w.f.Write(b); err != nil {
		w.err = fmt.Errorf("--events: %w", err)
	}
}

func (w *eventWriter) close() error {
	if w == nil {
		return nil
	}
	err := w.f.Close()
	if w.err != nil {
		return w.err
	}
	if err != nil {
		return fmt.Errorf("--events: %w", err)
	}
	return nil
}

// base is an event of the run about host (none when "").
func (o *runOutputs) base(t time.Time, action, host string) *ECSEvent {
	ev := &ECSEvent{Timestamp: t.UTC().Format(time.RFC3339Nano), Event: ECSEventFields{Kind: "event", Action: action},
		User: ECSUser{Name: o.user}, Tend: TendFields{RunID: o.runID, Command: o.command, Controller: controllerName()}}
	if host != "" {
		ev.Host = &ECSHost{Name: host}
	}
	return ev
}

func intp(n int) *int { return &n }

// planEvents writes what planning found on a host: the host, then each
// change pending on it (drift, for tend drift).
func (o *runOutputs) planEvents(hp *plan.HostPlan, t time.Time) {
	if o.events == nil {
		return
	}
	ev := o.base(t, "host_checked", hp.Name)
	ev.Event.Category, ev.Event.Type, ev.Event.Duration = []string{"host"}, []string{"info"}, hp.Duration.Nanoseconds()
	switch {
	case hp.Err != nil:
		ev.Event.Outcome = "failure"
		ev.Error = &ECSError{Message: hp.Err.Error()}
		ev.Tend.Outcome = engine.Failed
		if plan.Unreachable(hp.Err) {
			ev.Tend.Outcome = engine.Unreachable
		}
		ev.Message = fmt.Sprintf("%s: could not be planned: %s", hp.Name, eventLine(hp.Err.Error()))
	default:
		n := len(hp.Pending())
		ev.Event.Outcome, ev.Tend.Outcome = "success", engine.Success
		ev.Tend.Resources, ev.Tend.Pending = intp(len(hp.Changes)), intp(n)
		ev.Message = fmt.Sprintf("%s: %s, %s pending", hp.Name, plural(len(hp.Changes), "resource", "resources"), plural(n, "change", "changes"))
	}
	o.events.write(ev)
	if hp.Err != nil {
		return
	}
	action := "change_planned"
	if o.command == "drift" {
		action = "drift_detected"
	}
	for _, ch := range hp.Pending() {
		ev := o.base(t, action, hp.Name)
		ev.Event.Category, ev.Event.Type = []string{"configuration"}, []string{"info"}
		ev.Tend.Address, ev.Tend.ResourceType, ev.Tend.ChangeAction = ch.Address, ch.Type, string(ch.Action)
		ev.Message = fmt.Sprintf("%s: %s %s %s", hp.Name, ch.Action.Symbol(), ch.Address, plan.Verb(ch))
		o.events.write(ev)
	}
}

// patchEvent writes the upgrades pending on a host.
func (o *runOutputs) patchEvent(ph *patchHost, t time.Time) {
	if o.events == nil {
		return
	}
	ev := o.base(t, "upgrades_checked", ph.inv.Name)
	ev.Event.Category, ev.Event.Type = []string{"package"}, []string{"info"}
	if ph.err != nil {
		ev.Event.Outcome, ev.Tend.Outcome = "failure", ph.outcome
		ev.Error = &ECSError{Message: ph.err.Error()}
		ev.Message = fmt.Sprintf("%s: %s", ph.inv.Name, eventLine(ph.err.Error()))
	} else {
		ev.Event.Outcome, ev.Tend.Outcome = "success", engine.Success
		ev.Tend.Upgrades = intp(len(ph.pending))
		ev.Message = fmt.Sprintf("%s: %s pending", ph.inv.Name, plural(len(ph.pending), "upgrade", "upgrades"))
	}
	o.events.write(ev)
}

// finishEvent ends a command the engine did not run (plan, drift, a
// check, an apply with nothing to do).
func (o *runOutputs) finishEvent(t time.Time, ok bool, code int) {
	ev := o.base(t, "run_finished", "")
	ev.Event.Category, ev.Event.Type, ev.Event.Duration = []string{"process"}, []string{"end"}, t.Sub(o.started).Nanoseconds()
	ev.Event.Outcome, ev.Tend.Outcome = "success", engine.Success
	if !ok {
		ev.Event.Outcome, ev.Tend.Outcome = "failure", engine.Failed
	}
	ev.Tend.Hosts, ev.Tend.ExitCode = append([]string{}, o.order...), intp(code)
	ev.Message = fmt.Sprintf("tend %s finished: %s on %s", o.command, ev.Tend.Outcome, plural(len(o.order), "host", "hosts"))
	o.events.write(ev)
}

// writeEngineEvent writes an engine event.
func (o *runOutputs) writeEngineEvent(e *engine.Event) {
	if o.events == nil {
		return
	}
	switch e.Kind {
	case engine.BatchesPlanned, engine.Changes:
		return
	}
	ev := o.base(e.Time, string(e.Kind), e.Host)
	ev.Tend.Address, ev.Tend.ResourceType, ev.Tend.ChangeAction = e.Address, e.Type, string(e.Action)
	ev.Tend.Outcome, ev.Tend.Stderr = e.Outcome, e.Stderr
	ev.Tend.Batch, ev.Tend.Batches, ev.Tend.Hosts = e.Batch, e.Batches, e.Hosts
	ev.Event.Duration = e.Duration.Nanoseconds()
	if e.Error != "" {
		ev.Error = &ECSError{Message: e.Error}
	}
	ev.Event.Category, ev.Event.Type = ecsClass(e)
	ev.Event.Outcome = ecsOutcome(e)
	switch e.Kind {
	case engine.HostPlanned:
		if e.Plan != nil {
			ev.Tend.Pending = intp(len(e.Plan.Pending()))
		}
	case engine.HostOutcome:
		ev.Tend.Applied, ev.Tend.Reverted, ev.Tend.NotReverted = intp(e.Applied), intp(e.Reverted), intp(e.NotRevertedN)
	}
	ev.Message = eventMessage(e)
	o.events.write(ev)
}

// ecsClass is an event's ECS event.category and event.type.
func ecsClass(e *engine.Event) (category, typ []string) {
	switch e.Kind {
	case engine.RunStarted:
		return []string{"process"}, []string{"start"}
	case engine.RunFinished:
		return []string{"process"}, []string{"end"}
	case engine.Upgraded:
		return []string{"package"}, []string{"change"}
	case engine.ChangeStarted, engine.ChangeApplied, engine.ChangeFailed, engine.ChangeSkipped, engine.ChangePending,
		engine.ChangeUnknown, engine.Refreshed, engine.Verified, engine.Reverting, engine.Reverted, engine.RevertFailed,
		engine.NotReverted, engine.NotApplied:
		t := "change"
		switch {
		case e.Kind == engine.ChangeFailed || e.Kind == engine.RevertFailed || e.Kind == engine.NotReverted:
			t = "error"
		case e.Kind == engine.Verified:
			t = "info"
		case e.Action == plan.Create && e.Kind != engine.Reverted:
			t = "creation"
		case e.Action == plan.Delete && e.Kind != engine.Reverted:
			t = "deletion"
		}
		return []string{"configuration"}, []string{t}
	}
	if e.Host == "" {
		return []string{"process"}, []string{"info"}
	}
	if e.Kind == engine.ChangeFailed || e.Kind == engine.Unhealthy {
		return []string{"host"}, []string{"error"}
	}
	return []string{"host"}, []string{"info"}
}

// ecsOutcome is an event's event.outcome: "" for an event that reports
// no result.
func ecsOutcome(e *engine.Event) string {
	switch e.Kind {
	case engine.ChangeApplied, engine.Verified, engine.Healthy, engine.Reverted, engine.NotApplied, engine.Refreshed,
		engine.Upgraded, engine.Rebooted, engine.HostLocked, engine.Reconnected:
		return "success"
	case engine.ChangeFailed, engine.Unhealthy, engine.RevertFailed, engine.NotReverted:
		return "failure"
	case engine.ChangeUnknown:
		return "unknown"
	case engine.HostOutcome, engine.RunFinished:
		switch e.Outcome {
		case engine.Success:
			return "success"
		case engine.NotStarted, "":
			return "unknown"
		}
		return "failure"
	case engine.BatchFinished:
		if e.Outcome == "applied" {
			return "success"
		}
		return "failure"
	}
	return ""
}

// eventMessage is a line for people reading the log.
func eventMessage(e *engine.Event) string {
	who := e.Host
	if who == "" {
		who = "run " + e.RunID
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", who, strings.ReplaceAll(string(e.Kind), "_", " "))
	if e.Address != "" {
		fmt.Fprintf(&b, " %s", e.Address)
	}
	if e.Action != "" && e.Address != "" {
		fmt.Fprintf(&b, " (%s)", e.Action)
	}
	if e.Outcome != "" {
		fmt.Fprintf(&b, ": %s", e.Outcome)
	}
	if e.Batch > 0 {
		fmt.Fprintf(&b, " [batch %d", e.Batch)
		if e.Batches > 0 {
			fmt.Fprintf(&b, " of %d", e.Batches)
		}
		b.WriteString("]")
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", eventLine(e.Message))
	}
	if e.Error != "" {
		fmt.Fprintf(&b, ": %s", eventLine(e.Error))
	}
	return b.String()
}

func eventLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}
