package plan

import (
	"errors"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/lang"
	"github.com/tendhq/tend/probe"
	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/transport"
)

// Action is what applying a change does to a resource.
type Action string

// Actions, with the symbols the human plan shows for them.
const (
	NoOp    Action = "no-op"
	Create  Action = "create"
	Update  Action = "update"
	Delete  Action = "delete"
	Replace Action = "replace"
	// Refresh runs a notified resource's refresh action (a restart, a
	// command) without changing the resource itself.
	Refresh Action = "refresh"
)

// Symbol is the plan's marker for the action.
func (a Action) Symbol() string {
	switch a {
	case Create:
		return "+"
	case Update:
		return "~"
	case Delete:
		return "-"
	case Replace:
		return "-/+"
	case Refresh:
		return "~"
	}
	return " "
}

// UnreachableError is a host's plan error when tend could not connect to
// it or run its probe; other plan errors are about the configuration or
// what the host holds.
type UnreachableError struct{ Err error }

func (e *UnreachableError) Error() string { return e.Err.Error() }
func (e *UnreachableError) Unwrap() error { return e.Err }

// Unreachable reports whether a host's plan error is that it could not be
// reached.
func Unreachable(err error) bool {
	var u *UnreachableError
	return errors.As(err, &u)
}

// Change is one resource instance on one host.
type Change struct {
	Address string
	Type    string
	Action  Action
	Before  *resources.State
	After   *resources.State
	// Changed lists the attributes that differ (ContentChange for content).
	Changed []string
	// Irreversible says why a rollback could not undo this change.
	Irreversible string
	// Notes are what the type says about the resource beyond its
	// attributes (resources.Noter), such as a password it cannot check.
	Notes []string
	// Deferred says why the current state could not be read yet (the
	// object does not exist before a change it follows is applied); apply
	// reads it again just before this change. Before is then empty.
	Deferred string
	// Deps are addresses of changes on the same host this one follows.
	Deps []string
	// Notify are addresses this change notifies when it changes something;
	// NotifiedBy the reverse.
	Notify     []string
	NotifiedBy []string

	// Resource and Config are the evaluated declaration; they are not
	// saved (apply re-evaluates configuration).
	Resource resources.Type
	Config   cty.Value
	Instance *lang.Instance

	// saved holds, for a change read back from a saved plan, how its
	// content change was shown when it was planned.
	saved *savedContent
}

// HasChange reports whether applying the change does anything.
func (c *Change) HasChange() bool { return c.Action != NoOp }

// HostPlan is the plan for one host.
type HostPlan struct {
	Name    string
	Address string
	// Groups are the inventory groups the host belongs to.
	Groups []string
	// Duration is how long planning the host took.
	Duration time.Duration
	// Windows is set for hosts reached over WinRM: their probes and
	// changes are PowerShell (see inventory.Host.Windows).
	Windows bool
	Facts   probe.Facts
	// Changes holds every resource instance on the host, in apply order,
	// no-ops included.
	Changes []*Change
	// Err is set when the host could not be planned (unreachable, a probe
	// failed); Changes is then incomplete.
	Err error
	// T is the host's open connection, reused by apply.
	T transport.Transport
	// Summarized is set on a host's summary (Summary), which keeps only
	// what counting a plan's actions needs.
	Summarized bool
}

// Summary returns what a plan's summary needs of the host's plan: its
// name, address, groups, duration and error, and of its changes the
// address, type and action of those that do something. It holds neither
// states, facts, configuration nor a connection, and cannot be applied
// or rendered as the host's plan (Summarized is set).
func (h *HostPlan) Summary() *HostPlan {
	s := &HostPlan{Name: h.Name, Address: h.Address, Groups: h.Groups, Duration: h.Duration, Windows: h.Windows, Err: h.Err, Summarized: true}
	for _, c := range h.Changes {
		if c.HasChange() {
			s.Changes = append(s.Changes, &Change{Address: c.Address, Type: c.Type, Action: c.Action})
		}
	}
	return s
}

// Pending returns the changes that do something.
func (h *HostPlan) Pending() []*Change {
	var out []*Change
	for _, c := range h.Changes {
		if c.HasChange() {
			out = append(out, c)
		}
	}
	return out
}

// Plan is the plan for every targeted host.
type Plan struct {
	Created time.Time
	Target  string
	Hosts   []*HostPlan
}

// Counts sums the actions of a plan.
type Counts struct {
	Add, Change, Remove, Failed, HostsChanged, HostsUnchanged int
}

// Count returns the plan's action counts.
func (p *Plan) Count() Counts {
	var c Counts
	for _, h := range p.Hosts {
		if h.Err != nil {
			c.Failed++
			continue
		}
		changed := false
		for _, ch := range h.Changes {
			switch ch.Action {
			case Create:
				c.Add++
			case Update, Refresh:
				c.Change++
			case Delete:
				c.Remove++
			case Replace:
				c.Add++
				c.Remove++
			default:
				continue
			}
			changed = true
		}
		if changed {
			c.HostsChanged++
		} else {
			c.HostsUnchanged++
		}
	}
	return c
}

// HasChanges reports whether any host has a change.
func (p *Plan) HasChanges() bool { return p.Count().HostsChanged > 0 }

// HasErrors reports whether any host failed to plan.
func (p *Plan) HasErrors() bool { return p.Count().Failed > 0 }
