// Package pkgtest runs the idempotence contract of resourcetest for the
// package type, with what that contract does not do yet: it resolves the
// desired state against the current one (state "latest" needs the
// host's candidate version) as the planner and apply's verification do,
// and it checks the plan's irreversibility verdict. It is shared by the
// package type's tests on installroots and on lab hosts.
package pkgtest

import (
	"context"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/resources/resourcetest"
	"github.com/tendhq/tend/transport"
)

// Step is one configuration applied in a contract timeline.
type Step struct {
	Name string
	// Config maps attribute names to values; unset attributes are null.
	Config map[string]cty.Value
	// Want is the action the first plan must show.
	Want plan.Action
	// Prepare runs on the controller before the step (rebuild a
	// repository), then Setup on the host (a hand change).
	Prepare func(t *testing.T)
	Setup   string
	// Irreversible, when set, must be what the plan says about reverting
	// the change (the revert is then not attempted).
	Irreversible bool
	// Check runs after the first apply, with the state read back.
	Check func(t *testing.T, st *resources.State)
	// AfterRevert runs once the change has been reverted.
	AfterRevert func(t *testing.T)
	// WantError, when set, is the start of the plan error expected.
	WantError string
}

// Plan probes and resolves one package resource: its current and desired
// states, as the planner computes them.
func Plan(t testing.TB, tr transport.Transport, typ resources.Type, cfg cty.Value) (cur, want *resources.State, err error) {
	t.Helper()
	want, err = typ.Desired(cfg, nil)
	if err != nil {
		return nil, nil, err
	}
	cur = resourcetest.Read(t, tr, typ, cfg, want)
	if rs, ok := typ.(resources.Resolver); ok {
		want, err = rs.Resolve(cfg, cur, want)
	}
	return cur, want, err
}

// identity is the part of a package's state a revert must restore:
// presence and version. The index attributes (candidate, available) are
// the package sources' state, not the package's: pacman's cache, for
// one, keeps the files an apply downloaded.
func identity(s *resources.State) string {
	return plan.Fingerprint(&resources.State{Present: s.Present, Attrs: map[string]cty.Value{
		"name": s.Attr("name"), "installed": s.Attr("installed"),
	}})
}

// Run plays the steps in order on the host, each as a subtest: the plan
// shows Want; apply; the state read back, resolved again, is what was
// desired; revert restores the pre-state; apply again; a last plan is a
// no-op. It stops at the first failing step: later steps build on it.
func Run(t *testing.T, tr transport.Transport, host *resources.Host, typ resources.Type, steps []Step) {
	ctx := context.Background()
	for _, s := range steps {
		ok := t.Run(s.Name, func(t *testing.T) {
			if s.Prepare != nil {
				s.Prepare(t)
			}
			if s.Setup != "" {
				if _, err := transport.Output(ctx, tr, transport.Command{Script: s.Setup}); err != nil {
					t.Fatalf("setup: %v", err)
				}
			}
			cfg := resourcetest.Object(typ, s.Config)
			before, want, err := Plan(t, tr, typ, cfg)
			if s.WantError != "" {
				if err == nil || len(err.Error()) < len(s.WantError) || err.Error()[:len(s.WantError)] != s.WantError {
					t.Fatalf("plan error %v, want one starting %q", err, s.WantError)
				}
				return
			}
			if err != nil {
				t.Fatalf("plan: %v", err)
			}
			act, changed := plan.Diff(before, want)
			if act != s.Want {
				t.Fatalf("first plan: %s %v, want %s (before %s, desired %s)", act, changed, s.Want, show(before), show(want))
			}
			if act == plan.NoOp {
				return
			}
			irr := ""
			if ir, ok := typ.(resources.Irreversibler); ok {
				irr = ir.Irreversible(before, want)
			}
			if (irr != "") != s.Irreversible {
				t.Fatalf("plan says irreversible = %q, want irreversible %v", irr, s.Irreversible)
			}
			undo, err := typ.Apply(ctx, host, before, want)
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			after, want2, err := Plan(t, tr, typ, cfg)
			if err != nil {
				t.Fatalf("plan after apply: %v", err)
			}
			if act, changed := plan.Diff(after, want2); act != plan.NoOp {
				t.Fatalf("after apply the state still differs: %s %v (%s)", act, changed, show(after))
			}
			if s.Check != nil {
				s.Check(t, after)
			}
			if irr != "" {
				return
			}
			if err := typ.Revert(ctx, host, before, want, undo); err != nil {
				t.Fatalf("revert: %v", err)
			}
			reverted, want3, err := Plan(t, tr, typ, cfg)
			if err != nil {
				t.Fatalf("plan after revert: %v", err)
			}
			if identity(reverted) != identity(before) {
				t.Fatalf("revert did not restore the pre-state:\nbefore %s\nafter  %s", show(before), show(reverted))
			}
			if s.AfterRevert != nil {
				s.AfterRevert(t)
			}
			if _, err := typ.Apply(ctx, host, reverted, want3); err != nil {
				t.Fatalf("apply after revert: %v", err)
			}
			last, want4, err := Plan(t, tr, typ, cfg)
			if err != nil {
				t.Fatalf("last plan: %v", err)
			}
			if act, changed := plan.Diff(last, want4); act != plan.NoOp {
				t.Fatalf("second plan is not a no-op: %s %v", act, changed)
			}
		})
		if !ok {
			return
		}
	}
}

func show(s *resources.State) string {
	b, _ := s.MarshalJSON()
	return string(b)
}
