// Package resourcetest holds the idempotence contract every resource type
// must keep, runnable against any transport (local in unit tests, SSH on
// lab hosts): probe, apply, re-probe equals desired, a second plan is a
// no-op, and a revert restores the probed pre-state exactly.
package resourcetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/probe"
	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/transport"
)

// Step is one configuration applied in a contract timeline.
type Step struct {
	Name string
	Type resources.Type
	// Config maps attribute names to values; unset attributes are null.
	Config map[string]cty.Value
	// Want is the action the first plan must show.
	Want plan.Action
	// Setup runs on the host before the step (e.g. a hand change).
	Setup string
}

// Object builds a full configuration object for a type from the set
// attributes.
func Object(t resources.Type, attrs map[string]cty.Value) cty.Value {
	m := map[string]cty.Value{}
	for _, a := range t.Schema().Attributes {
		if v, ok := attrs[a.Name]; ok {
			m[a.Name] = v
		} else {
			m[a.Name] = cty.NullVal(a.Type)
		}
	}
	return cty.ObjectVal(m)
}

// Read probes one resource on the host and returns its current state.
// It probes twice, the way the planner does (probe.For: the type's
// prelude, the prefetch of its path, its inline answer, in the script's
// own shell when the type says so) and with the bare fragment in a
// subshell, and fails unless both read the same state: the fast paths
// must say what the fragment says.
func Read(t testing.TB, tr transport.Transport, typ resources.Type, cfg cty.Value, want *resources.State) *resources.State {
	t.Helper()
	st := read(t, tr, typ, cfg, probe.For("r", typ, cfg, want))
	bare := read(t, tr, typ, cfg, probe.Fragment{ID: "r", Script: typ.Probe(cfg, want)})
	if d := cmp.Diff(comparable(bare), comparable(st)); d != "" {
		t.Fatalf("the planner's probe (prelude, prefetch, inline, in-shell) reads another state than the bare fragment (-bare +planner):\n%s", d)
	}
	return st
}

func read(t testing.TB, tr transport.Transport, typ resources.Type, cfg cty.Value, f probe.Fragment) *resources.State {
	t.Helper()
	res, err := probe.Run(context.Background(), tr, false, []probe.Fragment{f})
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	if msg, ok := res.Failed["r"]; ok {
		t.Fatalf("probe failed: %s", msg)
	}
	st, err := typ.Read(cfg, res.Outputs["r"])
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return st
}

// comparable is a state as text for comparing two reads: attributes by
// their Go-syntax rendering, content by digest and size (an inline probe
// sends no bytes for content that is as desired).
func comparable(st *resources.State) map[string]string {
	m := map[string]string{"present": fmt.Sprint(st.Present)}
	for k, v := range st.Attrs {
		m["attr "+k] = v.GoString()
	}
	if st.Content != nil {
		m["content"] = fmt.Sprintf("sha256 %s, %d bytes", st.Content.SHA256, st.Content.Size)
	}
	return m
}

// Run plays the steps in order on the host, each as a subtest:
// plan shows Want; apply (a Batcher's as a batch of one); re-read equals
// desired; a second plan is a no-op; revert restores the pre-state;
// apply again (with Apply) to go on.
func Run(t *testing.T, tr transport.Transport, host *resources.Host, env resources.Env, steps []Step) {
	ctx := context.Background()
	for _, s := range steps {
		ok := t.Run(s.Name, func(t *testing.T) {
			if s.Setup != "" {
				if _, err := transport.Output(ctx, tr, transport.Command{Script: s.Setup}); err != nil {
					t.Fatalf("setup: %v", err)
				}
			}
			cfg := Object(s.Type, s.Config)
			want, err := s.Type.Desired(cfg, env)
			if err != nil {
				t.Fatalf("desired: %v", err)
			}
			before := Read(t, tr, s.Type, cfg, want)
			want = resolve(t, s.Type, cfg, before, want)
			act, changed := plan.Diff(before, want)
			if act != s.Want {
				t.Fatalf("first plan: %s %v, want %s", act, changed, s.Want)
			}
			if act == plan.NoOp {
				return
			}
			// A Batcher's change goes through ApplyBatch first (as apply
			// does with several), then, after the revert, through Apply.
			var undo resources.Undo
			if b, ok := s.Type.(resources.Batcher); ok {
				rs := b.ApplyBatch(ctx, host, []resources.BatchItem{{Config: cfg, Before: before, After: want}})
				if len(rs) != 1 {
					t.Fatalf("apply batch: %d results for 1 item", len(rs))
				}
				undo, err = rs[0].Undo, rs[0].Err
			} else {
				undo, err = s.Type.Apply(ctx, host, before, want)
			}
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			after := Read(t, tr, s.Type, cfg, want)
			if act, changed := plan.Diff(after, resolve(t, s.Type, cfg, after, want)); act != plan.NoOp {
				t.Fatalf("after apply the state still differs: %s %v", act, changed)
			}
			if err := s.Type.Revert(ctx, host, before, want, undo); err != nil {
				t.Fatalf("revert: %v", err)
			}
			reverted := Read(t, tr, s.Type, cfg, want)
			if plan.Fingerprint(reverted) != plan.Fingerprint(before) {
				t.Fatalf("revert did not restore the pre-state:\nbefore %s\nafter  %s", show(before), show(reverted))
			}
			if _, err := s.Type.Apply(ctx, host, reverted, want); err != nil {
				t.Fatalf("apply after revert: %v", err)
			}
			final := Read(t, tr, s.Type, cfg, want)
			if act, _ := plan.Diff(final, resolve(t, s.Type, cfg, final, want)); act != plan.NoOp {
				t.Fatalf("second plan is not a no-op: %s", act)
			}
		})
		if !ok {
			return // later steps build on this one
		}
	}
}

// resolve lets a type whose desired state depends on the current one
// (resources.Resolver) compute it, as the planner does.
func resolve(t testing.TB, typ resources.Type, cfg cty.Value, current, want *resources.State) *resources.State {
	t.Helper()
	rs, ok := typ.(resources.Resolver)
	if !ok {
		return want
	}
	got, err := rs.Resolve(cfg, current, want)
	if err != nil {
		t.Fatalf("resolve: %v", err)
	}
	return got
}

func show(s *resources.State) string {
	b, _ := s.MarshalJSON()
	return string(b)
}
