package report

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/journal"
	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/redact"
	"github.com/tendhq/tend/resources"
)

// Report is what a fleet report shows. It is embedded in the page as
// JSON under short field names: a thousand hosts of thirty resources
// each repeat them thirty thousand times.
type Report struct {
	// Kind is plan, drift or run.
	Kind    string  `json:"kind"`
	Title   string  `json:"title"`
	Summary string  `json:"summary"`
	Meta    []Field `json:"meta"`
	// Statuses are the host statuses a report of its kind can show, in
	// display order, with how many hosts have each.
	Statuses []Status `json:"statuses"`
	Hosts    []Host   `json:"hosts"`
	// Changes are the distinct changes of all hosts: hosts with the same
	// change refer to one entry.
	Changes []Change `json:"changes"`
	// Diffs are the distinct content diffs, referred to by changes.
	Diffs []string `json:"diffs"`

	changeIndex map[string]int
	diffIndex   map[string]int
}

// Field is one line of the report's metadata.
type Field struct {
	Label string `json:"k"`
	Value string `json:"v"`
}

// Status is a host status: its identifier (a CSS class suffix), what the
// page calls it, and how many hosts have it.
type Status struct {
	ID    string `json:"id"`
	Label string `json:"label"`
	Count int    `json:"count"`
}

// Host is one host of the report.
type Host struct {
	Name   string   `json:"n"`
	Status string   `json:"s"`
	Groups []string `json:"g,omitempty"`
	Error  string   `json:"e,omitempty"`
	// Pending counts the changes that do something (or, for a run, the
	// changes recorded).
	Pending int `json:"p"`
	// Changes index Report.Changes, in the host's order.
	Changes []int `json:"c"`
	// Info is a short line about the host (duration, exit status).
	Info string `json:"i,omitempty"`
}

// Change is one change as the report shows it.
type Change struct {
	Address string `json:"a"`
	Action  string `json:"t"`
	Symbol  string `json:"y,omitempty"`
	// Status is a run's status of the change (applied, reverted, ...).
	Status string `json:"st,omitempty"`
	// Lines say what the change does: attributes before → after, notes.
	Lines []string `json:"l,omitempty"`
	Error string   `json:"e,omitempty"`
	// Diff is 1 + the index of the content diff in Report.Diffs, 0 for
	// none.
	Diff int `json:"x,omitempty"`
}

// Meta is what a report says about how it was made.
type Meta struct {
	// Command is the command that wrote the report ("tend plan").
	Command string
	User    string
	Version string
	Time    time.Time
	// Fields come first: what the report is of.
	Fields []Field
}

// Host statuses of plans and drift checks.
const (
	StatusChanges     = "changes"
	StatusDrifted     = "drifted"
	StatusInSync      = "in_sync"
	StatusFailed      = "failed"
	StatusUnreachable = "unreachable"
	// StatusOther is a run outcome this tend does not know.
	StatusOther = "other"
)

// runStatuses are the outcomes of a run's hosts, in display order.
var runStatuses = []Status{
	{ID: "success", Label: "success"}, {ID: "partial", Label: "partial"},
	{ID: "rolled_back", Label: "rolled back"}, {ID: "failed", Label: "failed"},
	{ID: "unhealthy", Label: "unhealthy"}, {ID: "unreachable", Label: "unreachable"},
	{ID: "not_started", Label: "not started"}, {ID: "running", Label: "not finished"},
	{ID: StatusOther, Label: "other"},
}

func newReport(kind, title string, statuses []Status, m Meta) *Report {
	r := &Report{Kind: kind, Title: redact.String(title), Statuses: slices.Clone(statuses),
		Hosts: []Host{}, Changes: []Change{}, Diffs: []string{},
		changeIndex: map[string]int{}, diffIndex: map[string]int{}}
	for _, f := range m.Fields {
		r.Meta = append(r.Meta, Field{Label: f.Label, Value: redact.String(f.Value)})
	}
	if m.Command != "" {
		r.Meta = append(r.Meta, Field{Label: "report by", Value: redact.String(m.Command)})
	}
	if m.User != "" {
		r.Meta = append(r.Meta, Field{Label: "user", Value: redact.String(m.User)})
	}
	if !m.Time.IsZero() {
		r.Meta = append(r.Meta, Field{Label: "written", Value: m.Time.UTC().Format(time.RFC3339)})
	}
	if m.Version != "" {
		r.Meta = append(r.Meta, Field{Label: "tend version", Value: m.Version})
	}
	return r
}

// FromPlan makes the report of a plan; drift names the statuses as a
// drift check does (drifted rather than changes).
func FromPlan(pl *plan.Plan, drift bool, m Meta) *Report {
	kind, changes, title := "plan", Status{ID: StatusChanges, Label: "changes"}, "tend plan"
	if drift {
		kind, changes, title = "drift", Status{ID: StatusDrifted, Label: "drifted"}, "tend drift"
	}
	r := newReport(kind, title, []Status{changes, {ID: StatusInSync, Label: "in sync"},
		{ID: StatusFailed, Label: "failed"}, {ID: StatusUnreachable, Label: "unreachable"}}, m)
	r.Summary = redact.String((&plan.Renderer{}).Summary(pl))
	for _, hp := range pl.Hosts {
		h := Host{Name: redact.String(hp.Name), Groups: redactAll(hp.Groups), Changes: []int{}}
		if hp.Duration > 0 {
			h.Info = "planned in " + hp.Duration.Round(time.Millisecond).String()
		}
		switch {
		case hp.Err != nil && plan.Unreachable(hp.Err):
			h.Status, h.Error = StatusUnreachable, redact.String(hp.Err.Error())
		case hp.Err != nil:
			h.Status, h.Error = StatusFailed, redact.String(hp.Err.Error())
		case len(hp.Pending()) > 0:
			h.Status = changes.ID
		default:
			h.Status = StatusInSync
		}
		for _, ch := range hp.Changes {
			if ch.HasChange() {
				h.Pending++
			}
			h.Changes = append(h.Changes, r.change(planChange(ch, r)))
		}
		r.addHost(h)
	}
	return r
}

// FromRun makes the report of a journaled run.
func FromRun(run *journal.Run, m Meta) *Report {
	title := fmt.Sprintf("tend %s: run %s", run.Command, run.ID)
	r := newReport("run", title, runStatuses, m)
	r.Summary = fmt.Sprintf("Run %s: %s, %s.", run.ID, run.Command, run.Outcome)
	for _, jh := range run.Hosts {
		h := Host{Name: redact.String(jh.Name), Status: runStatus(jh.Outcome), Error: redact.String(jh.Error), Changes: []int{}}
		if res := jh.Result; res != nil {
			if res.ExitStatus != nil {
				h.Info = fmt.Sprintf("exit status %d", *res.ExitStatus)
			}
			if !res.Started.IsZero() && !res.Finished.IsZero() {
				h.Info = strings.TrimPrefix(h.Info+", ", ", ") + "took " + res.Finished.Sub(res.Started).Round(time.Millisecond).String()
			}
		}
		for _, e := range jh.Changes {
			h.Pending++
			h.Changes = append(h.Changes, r.change(entryChange(e)))
		}
		for _, a := range jh.Refreshed {
			h.Changes = append(h.Changes, r.change(Change{Address: redact.String(a), Action: string(plan.Refresh), Symbol: plan.Refresh.Symbol(), Status: "refreshed"}))
		}
		r.addHost(h)
	}
	return r
}

func runStatus(outcome string) string {
	if outcome == "" {
		return "running"
	}
	for _, s := range runStatuses {
		if s.ID == outcome {
			return outcome
		}
	}
	return StatusOther
}

func (r *Report) addHost(h Host) {
	for i := range r.Statuses {
		if r.Statuses[i].ID == h.Status {
			r.Statuses[i].Count++
		}
	}
	r.Hosts = append(r.Hosts, h)
}

// change returns the index of c in r.Changes, adding it if it is new.
func (r *Report) change(c Change) int {
	key := fmt.Sprintf("%q %q %q %q %q %q %d", c.Address, c.Action, c.Symbol, c.Status, c.Lines, c.Error, c.Diff)
	if i, ok := r.changeIndex[key]; ok {
		return i
	}
	r.Changes = append(r.Changes, c)
	r.changeIndex[key] = len(r.Changes) - 1
	return len(r.Changes) - 1
}

// diff returns Change.Diff for a diff text, adding it if it is new.
func (r *Report) diff(d string) int {
	if d == "" {
		return 0
	}
	if i, ok := r.diffIndex[d]; ok {
		return i
	}
	r.Diffs = append(r.Diffs, d)
	r.diffIndex[d] = len(r.Diffs)
	return len(r.Diffs)
}

// planChange is a planned change as the report shows it: the lines the
// human plan prints for it, its content diff stored once.
func planChange(ch *plan.Change, r *Report) Change {
	c := Change{Address: redact.String(ch.Address), Action: string(ch.Action), Symbol: strings.TrimSpace(ch.Action.Symbol())}
	var lines []string
	switch ch.Action {
	case plan.Create, plan.Replace:
		for _, k := range ch.After.AttrNames() {
			lines = append(lines, fmt.Sprintf("%s = %s", k, plan.FormatValue(ch.After.Attrs[k])))
		}
	case plan.Delete:
		if id, ok := ch.Resource.(resources.Identifier); ok {
			for _, k := range id.Identity() {
				if v := ch.Before.Attr(k); v != cty.NilVal {
					lines = append(lines, fmt.Sprintf("%s = %s", k, plan.FormatValue(v)))
				}
			}
		}
	case plan.Update:
		for _, k := range ch.Changed {
			if k != plan.ContentChange {
				lines = append(lines, fmt.Sprintf("%s: %s → %s", k, plan.FormatValue(ch.Before.Attr(k)), plan.FormatValue(ch.After.Attr(k))))
			}
		}
	}
	if ch.HasChange() {
		d, note := plan.ContentView(ch)
		switch {
		case d != "":
			c.Diff = r.diff(redact.String(d))
		case note != "":
			lines = append(lines, "content: "+note)
		}
	}
	if len(ch.NotifiedBy) > 0 {
		lines = append(lines, "notified by "+strings.Join(ch.NotifiedBy, ", "))
	}
	lines = append(lines, ch.Notes...)
	if ch.Deferred != "" {
		lines = append(lines, "not there yet: "+ch.Deferred)
	}
	if ch.Irreversible != "" {
		lines = append(lines, "cannot be rolled back: "+ch.Irreversible)
	}
	c.Lines = redactAll(lines)
	return c
}

// entryChange is a journaled change as the report shows it. A journal
// keeps no content, only its digest; sensitive attributes it keeps by
// name only, and they show as (sensitive).
func entryChange(e *journal.Entry) Change {
	c := Change{Address: redact.String(e.Address), Action: string(e.Action), Symbol: strings.TrimSpace(e.Action.Symbol()),
		Status: string(e.Status), Error: redact.String(e.Error)}
	before, after := shown(e.Before), shown(e.After)
	var lines []string
	switch e.Action {
	case plan.Create, plan.Replace:
		for _, k := range after.AttrNames() {
			lines = append(lines, fmt.Sprintf("%s = %s", k, plan.FormatValue(after.Attrs[k])))
		}
	case plan.Update:
		for _, k := range after.AttrNames() {
			b, a := before.Attr(k), after.Attr(k)
			if b.ContainsMarked() || a.ContainsMarked() {
				lines = append(lines, fmt.Sprintf("%s: %s", k, plan.FormatValue(a)))
				continue
			}
			if b == cty.NilVal || b.IsNull() != a.IsNull() || !b.IsNull() && b.IsWhollyKnown() && a.IsWhollyKnown() && !b.Equals(a).True() {
				lines = append(lines, fmt.Sprintf("%s: %s → %s", k, plan.FormatValue(b), plan.FormatValue(a)))
			}
		}
	}
	if bc, ac := before.Content, after.Content; ac != nil && (bc == nil || !resources.SameDigest(bc.SHA256, ac.SHA256)) {
		switch {
		case ac.Sensitive || bc != nil && bc.Sensitive:
			lines = append(lines, fmt.Sprintf("content: (sensitive, %d bytes)", ac.Size))
		case bc == nil:
			lines = append(lines, fmt.Sprintf("content: %s (%d bytes)", short(ac.SHA256), ac.Size))
		default:
			lines = append(lines, fmt.Sprintf("content: %s (%d bytes) → %s (%d bytes)", short(bc.SHA256), bc.Size, short(ac.SHA256), ac.Size))
		}
	}
	if !e.Started.IsZero() && !e.Finished.IsZero() {
		lines = append(lines, "took "+e.Finished.Sub(e.Started).Round(time.Millisecond).String())
	}
	if e.Refreshed {
		lines = append(lines, "refreshed")
	}
	if e.Irreversible != "" {
		lines = append(lines, "cannot be reverted: "+e.Irreversible)
	}
	c.Lines = redactAll(lines)
	return c
}

// shown returns a journaled state with each attribute it names as
// sensitive, and so left out, put back as a sensitive placeholder.
func shown(s *resources.State) *resources.State {
	if s == nil {
		return &resources.State{}
	}
	names := slices.Clone(s.Redacted)
	for k := range s.SecretRefs {
		names = append(names, k)
	}
	if len(names) == 0 {
		return s
	}
	c := *s
	c.Attrs = make(map[string]cty.Value, len(s.Attrs)+len(names))
	for k, v := range s.Attrs {
		c.Attrs[k] = v
	}
	for _, k := range names {
		if _, ok := c.Attrs[k]; !ok {
			c.Attrs[k] = cty.UnknownVal(cty.String).Mark(resources.Sensitive)
		}
	}
	return &c
}

func short(sum string) string {
	if len(sum) > 12 && !redact.IsKeyed(sum) {
		return sum[:12]
	}
	if redact.IsKeyed(sum) {
		return "(keyed digest)"
	}
	return sum
}

func redactAll(ss []string) []string {
	if len(ss) == 0 {
		return nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = redact.String(s)
	}
	return out
}
