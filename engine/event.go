package engine

import (
	"time"

	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/resources"
)

// Kind says what an event reports.
type Kind string

// Event kinds, in the order a run goes through them.
const (
	RunStarted Kind = "run_started"
	// HostPlanned registers a host and its pending changes (Plan) before
	// any of them starts; Entries says, on a resumed run, which entry of
	// the run each change continues.
	HostPlanned Kind = "host_planned"
	// HostReplanned replaces a host's pending changes (Plan) before any
	// started: it was planned again after waiting for its lock.
	HostReplanned  Kind = "host_replanned"
	LockWaiting    Kind = "lock_waiting"
	HostLocked     Kind = "host_locked"
	Reconnecting   Kind = "reconnecting"
	Reconnected    Kind = "reconnected"
	ChangeStarted  Kind = "change_started"
	ChangeApplied  Kind = "change_applied"
	ChangeFailed   Kind = "change_failed"
	ChangeSkipped  Kind = "change_skipped"
	ChangePending  Kind = "change_pending" // started, not attempted: pending again
	ChangeUnknown  Kind = "change_unknown" // outcome could not be read back
	Refreshed      Kind = "refreshed"
	Verified       Kind = "verified"
	Healthy        Kind = "healthy"
	Unhealthy      Kind = "unhealthy"
	Reverting      Kind = "reverting"
	Reverted       Kind = "reverted"
	RevertFailed   Kind = "revert_failed"
	NotReverted    Kind = "not_reverted"
	NotApplied     Kind = "not_applied" // rollback found the change never reached the host
	HostOutcome    Kind = "host_outcome"
	BatchesPlanned Kind = "batches_planned"
	BatchStarted   Kind = "batch_started"
	BatchFinished  Kind = "batch_finished"
	Pausing        Kind = "pausing"
	Interrupted    Kind = "interrupted"
	Diagnostic     Kind = "diagnostic"
	RunFinished    Kind = "run_finished"
	Upgraded       Kind = "upgraded"
	Rebooted       Kind = "rebooted"
	RebootPending  Kind = "reboot_pending" // patched, asks for a reboot it was not given
	// Changes carries the events of a batch's items (Items) together:
	// each item keeps its own record (intent with its undo data, then
	// outcome), and a journal writes them in one durable write.
	Changes Kind = "changes"
)

// Outcomes of a host.
const (
	Success     = "success"
	Failed      = "failed"
	RolledBack  = "rolled_back"
	Partial     = "partial"
	Unreachable = "unreachable"
	NotStarted  = "not_started"
	UnhealthyO  = "unhealthy"
	Interrupt   = "interrupted"
)

// Event is one step of a run. Subscribers get a pointer they must not
// keep or change.
type Event struct {
	Time  time.Time `json:"time"`
	Kind  Kind      `json:"event"`
	RunID string    `json:"run_id,omitempty"`
	Host  string    `json:"host,omitempty"`
	// Seq numbers a run's hosts in the order they were registered.
	Seq     int         `json:"-"`
	Address string      `json:"address,omitempty"`
	Type    string      `json:"type,omitempty"`
	Action  plan.Action `json:"action,omitempty"`
	// Entry is the change's index among its host's pending changes (or,
	// on a rollback, among the host's journaled entries being reverted).
	Entry    int           `json:"-"`
	Error    string        `json:"error,omitempty"`
	Stderr   string        `json:"stderr,omitempty"`
	Stdout   string        `json:"-"`
	Duration time.Duration `json:"duration_ns,omitempty"`
	Outcome  string        `json:"outcome,omitempty"`
	// Batch is the rollout batch (1-based) and Batches their number.
	Batch   int      `json:"batch,omitempty"`
	Batches int      `json:"batches,omitempty"`
	Hosts   []string `json:"hosts,omitempty"`
	Message string   `json:"message,omitempty"`

	// For subscribers that record the run (the journal): the host's plan
	// on HostPlanned, the change's states and undo data on its events.
	Plan   *plan.HostPlan   `json:"-"`
	Before *resources.State `json:"-"`
	After  *resources.State `json:"-"`
	Undo   resources.Undo   `json:"-"`
	// Entries maps, on HostPlanned of a resumed run, a change's address
	// to the run's existing entry it continues.
	Entries map[string]int `json:"-"`
	// Counts of a host's outcome.
	Applied, Reverted, NotRevertedN int `json:"-"`
	// BatchHosts lists every batch's hosts on BatchesPlanned.
	BatchHosts [][]string `json:"-"`
	// Items are the events a Changes event carries, each about one
	// change of the same host.
	Items []*Event `json:"-"`
}

// Subscriber receives a run's events. Calls come from the goroutines of
// the hosts concurrently: implementations serialize what they need. An
// error vetoes: on ChangeStarted the change is not made, on any other
// host event the host makes no further change.
type Subscriber interface {
	Event(e *Event) error
}

// SubscriberFunc adapts a function to Subscriber.
type SubscriberFunc func(e *Event) error

// Event implements Subscriber.
func (f SubscriberFunc) Event(e *Event) error { return f(e) }
