package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"

	"github.com/tendhq/tend/engine"
	"github.com/tendhq/tend/plan"
)

// UIVersion is the version of the JSON lines every command prints with
// --json (docs/json.md, docs/tend-ui.schema.json). Its major part changes
// when a message loses a field or a field changes meaning.
const UIVersion = "1.0"

// jsonUI writes a command's output as JSON lines of typed messages: a
// version message first, then what the command has to say (diagnostics,
// the plan, the run's events), and an outcome last. One is shared by
// every command of a command line; on says whether --json was given.
type jsonUI struct {
	on bool

	mu      sync.Mutex
	w       io.Writer
	started bool
	// extra are fields a command adds to its outcome message.
	extra map[string]any
}

// active reports whether the command line asked for JSON lines.
func (u *jsonUI) active() bool { return u != nil && u.on }

// emit writes one message of type typ; fields is a struct or map whose
// JSON object fields follow "type" and "timestamp".
func (u *jsonUI) emit(typ string, fields any) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.emitLocked(typ, time.Now(), fields)
}

func (u *jsonUI) emitLocked(typ string, at time.Time, fields any) {
	if !u.started {
		u.started = true
		u.line("version", at, map[string]string{"tend": Version, "ui": UIVersion})
	}
	u.line(typ, at, fields)
}

func (u *jsonUI) line(typ string, at time.Time, fields any) {
	var b bytes.Buffer
	b.WriteString(`{"type":`)
	t, _ := json.Marshal(typ)
	b.Write(t)
	b.WriteString(`,"timestamp":`)
	ts, _ := json.Marshal(at.UTC().Format(time.RFC3339Nano))
	b.Write(ts)
	if fields != nil {
		f, err := json.Marshal(fields)
		if err != nil {
			f, _ = json.Marshal(map[string]string{"error": "cannot encode message: " + err.Error()})
		}
		if f = bytes.TrimSpace(f); len(f) > 2 && f[0] == '{' {
			b.WriteByte(',')
			b.Write(f[1:])
		} else {
			b.WriteByte('}')
		}
	} else {
		b.WriteByte('}')
	}
	b.WriteByte('\n')
	_, _ = u.w.Write(b.Bytes())
}

// set adds a field to the outcome message.
func (u *jsonUI) set(k string, v any) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.extra == nil {
		u.extra = map[string]any{}
	}
	u.extra[k] = v
}

// outcome writes the last message: the command, its exit code and what
// the command added.
func (u *jsonUI) outcome(command string, code int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	m := map[string]any{"command": command, "exit_code": code}
	for k, v := range u.extra {
		m[k] = v
	}
	u.emitLocked("outcome", time.Now(), m)
}

// wantsJSON reports whether a command line asks for JSON lines, for
// errors met before its flags could be parsed.
func wantsJSON(args []string) bool {
	for i, a := range args {
		switch {
		case a == "--":
			return false
		case a == "--json" || a == "-json" || a == "--json=true" || a == "-json=true" || a == "--format=json" || a == "-format=json":
			return true
		case (a == "--format" || a == "-format") && i+1 < len(args) && args[i+1] == "json":
			return true
		}
	}
	return false
}

// uiDiagnostic is a diagnostic message's body.
type uiDiagnostic struct {
	Severity string     `json:"severity"`
	Summary  string     `json:"summary"`
	Detail   string     `json:"detail,omitempty"`
	Range    *uiRange   `json:"range,omitempty"`
	Snippet  *uiSnippet `json:"snippet,omitempty"`
}

type uiRange struct {
	Filename string `json:"filename"`
	Start    uiPos  `json:"start"`
	End      uiPos  `json:"end"`
}

type uiPos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
	Byte   int `json:"byte"`
}

// uiSnippet is the source line a diagnostic points at.
type uiSnippet struct {
	Code      string `json:"code"`
	StartLine int    `json:"start_line"`
}

// diagnostics writes one diagnostic message per diagnostic.
func (u *jsonUI) diagnostics(files map[string]*hcl.File, diags hcl.Diagnostics) {
	for _, d := range diags {
		ud := uiDiagnostic{Severity: "error", Summary: d.Summary, Detail: d.Detail}
		if d.Severity == hcl.DiagWarning {
			ud.Severity = "warning"
		}
		if s := d.Subject; s != nil {
			ud.Range = &uiRange{Filename: s.Filename,
				Start: uiPos{s.Start.Line, s.Start.Column, s.Start.Byte}, End: uiPos{s.End.Line, s.End.Column, s.End.Byte}}
			if f, ok := files[s.Filename]; ok && f != nil {
				if line, ok := sourceLine(f.Bytes, s.Start.Line); ok {
					ud.Snippet = &uiSnippet{Code: line, StartLine: s.Start.Line}
				}
			}
		}
		u.emit("diagnostic", map[string]any{"diagnostic": ud})
	}
}

// diagnostic writes an error that has no source position.
func (u *jsonUI) diagnostic(severity, summary, detail string) {
	u.emit("diagnostic", map[string]any{"diagnostic": uiDiagnostic{Severity: severity, Summary: summary, Detail: detail}})
}

// plan writes a plan as messages: per host a planned_host, per change a
// planned_change (no-ops left out), then a change_summary.
func (u *jsonUI) plan(pl *plan.Plan, operation string) {
	jp := pl.JSON()
	for _, h := range jp.Hosts {
		u.plannedHost(newUIHost(h))
	}
	u.changeSummary(operation, jp.Summary)
}

// uiHost is what a host's planned_host and planned_change messages say:
// the host's JSON plan with only the changes that do something, and how
// many resources it has.
type uiHost struct {
	h         plan.JSONHost
	resources int
}

func newUIHost(h plan.JSONHost) uiHost {
	out := uiHost{h: h, resources: len(h.Changes)}
	out.h.Changes = nil
	for _, c := range h.Changes {
		if c.Action != plan.NoOp {
			out.h.Changes = append(out.h.Changes, c)
		}
	}
	return out
}

// plannedHost writes a host's planned_host message and a planned_change
// per change that does something.
func (u *jsonUI) plannedHost(uh uiHost) {
	h := uh.h
	m := map[string]any{"host": h.Name, "resources": uh.resources, "changes": len(h.Changes)}
	if h.Address != "" {
		m["address"] = h.Address
	}
	if h.Error != "" {
		m["error"] = h.Error
	}
	u.emit("planned_host", m)
	for _, c := range h.Changes {
		u.emit("planned_change", map[string]any{"host": h.Name, "change": c})
	}
}

// changeSummary writes a plan's change_summary message.
func (u *jsonUI) changeSummary(operation string, s plan.JSONSummary) {
	u.emit("change_summary", map[string]any{"operation": operation, "changes": s})
}

// uiEvent is a run engine event as a message; its type is the event's
// kind.
type uiEvent struct {
	RunID      string      `json:"run_id,omitempty"`
	Host       string      `json:"host,omitempty"`
	Address    string      `json:"address,omitempty"`
	Resource   string      `json:"resource_type,omitempty"`
	Action     plan.Action `json:"action,omitempty"`
	Error      string      `json:"error,omitempty"`
	Stderr     string      `json:"stderr,omitempty"`
	Duration   int64       `json:"duration_ns,omitempty"`
	Outcome    string      `json:"outcome,omitempty"`
	Batch      int         `json:"batch,omitempty"`
	Batches    int         `json:"batches,omitempty"`
	Hosts      []string    `json:"hosts,omitempty"`
	BatchHosts [][]string  `json:"batch_hosts,omitempty"`
	Changes    *int        `json:"changes,omitempty"`
	Message    string      `json:"message,omitempty"`
}

// Event implements engine.Subscriber: the run's events as messages.
func (u *jsonUI) Event(e *engine.Event) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if e.Kind == engine.Changes {
		for _, it := range e.Items {
			u.event(it)
		}
		return nil
	}
	u.event(e)
	return nil
}

func (u *jsonUI) event(e *engine.Event) {
	ue := uiEvent{RunID: e.RunID, Host: e.Host, Address: e.Address, Resource: e.Type, Action: e.Action, Error: e.Error,
		Stderr: e.Stderr, Duration: int64(e.Duration), Outcome: e.Outcome, Batch: e.Batch, Batches: e.Batches,
		Hosts: e.Hosts, Message: e.Message}
	switch e.Kind {
	case engine.HostPlanned, engine.HostReplanned:
		if e.Plan != nil {
			n := len(e.Plan.Pending())
			ue.Changes = &n
			if ue.Host == "" {
				ue.Host = e.Plan.Name
			}
		}
	case engine.BatchesPlanned:
		ue.BatchHosts = e.BatchHosts
	}
	at := e.Time
	if at.IsZero() {
		at = time.Now()
	}
	u.emitLocked(string(e.Kind), at, ue)
}

// addJSONFlag adds --json to a command.
func addJSONFlag(cmd *cobra.Command, io IO) {
	cmd.Flags().BoolVar(&io.ui.on, "json", false, "print JSON lines of typed messages (docs/json.md)")
}

// fail reports an error without a source position: on stderr, or as a
// diagnostic message with --json. It returns exit code 1.
func (c *common) fail(summary string, detail ...string) error {
	d := strings.Join(detail, "\n")
	if c.io.ui.active() {
		c.io.ui.diagnostic("error", summary, d)
		return &exitError{ExitError}
	}
	fmt.Fprintf(c.io.Stderr, "Error: %s\n", summary)
	if d != "" {
		fmt.Fprintln(c.io.Stderr, d)
	}
	return &exitError{ExitError}
}

// uiHostOutcome is how one host's run ended, in an outcome message.
type uiHostOutcome struct {
	Host        string `json:"host"`
	Outcome     string `json:"outcome"`
	Error       string `json:"error,omitempty"`
	Applied     int    `json:"applied"`
	Reverted    int    `json:"reverted,omitempty"`
	NotReverted int    `json:"not_reverted,omitempty"`
}

func hostOutcomes(res *engine.Result) []uiHostOutcome {
	out := []uiHostOutcome{}
	for _, h := range res.Hosts {
		o := uiHostOutcome{Host: h.Name, Outcome: h.Outcome, Applied: h.Applied, Reverted: h.Reverted, NotReverted: h.NotReverted}
		if h.Err != nil {
			o.Error = h.Err.Error()
		}
		out = append(out, o)
	}
	return out
}
