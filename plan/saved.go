package plan

import (
	"errors"
	"slices"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/resources"
)

// savedContent is how a content change was shown when it was planned.
type savedContent struct{ diff, note string }

// Plan rebuilds a plan from its JSON form (a saved plan) for display:
// hosts, facts, actions, states and notes as they were planned, each
// change's type looked up in types for what the renderer asks of it.
// A saved state holds neither sensitive values nor content bytes: the
// former show as (sensitive), the content diff made at plan time stands
// in for the latter. The result has no connections and cannot be applied.
func (jp *JSONPlan) Plan(types map[string]resources.Type) *Plan {
	p := &Plan{Created: jp.Created, Target: jp.Target}
	for _, jh := range jp.Hosts {
		h := &HostPlan{Name: jh.Name, Address: jh.Address, Groups: jh.Groups}
		if jh.Facts != nil {
			h.Facts = *jh.Facts
			h.Windows = jh.Facts.OS.Family == "windows"
		}
		if jh.Error != "" {
			h.Err = errors.New(jh.Error)
			if jh.Unreachable {
				h.Err = &UnreachableError{Err: h.Err}
			}
		}
		for _, jc := range jh.Changes {
			ch := &Change{Address: jc.Address, Type: jc.Type, Action: jc.Action, Changed: jc.Changed,
				Before: redactedState(jc.Before), After: redactedState(jc.After),
				Irreversible: jc.Irreversible, Notes: jc.Notes, Deferred: jc.Deferred, Deps: jc.DependsOn, NotifiedBy: jc.NotifiedBy,
				saved: &savedContent{diff: jc.ContentDiff, note: jc.ContentNote}}
			if t, ok := types[jc.Type]; ok {
				ch.Resource = resources.OnHost(t, h.Windows)
			}
			h.Changes = append(h.Changes, ch)
		}
		p.Hosts = append(p.Hosts, h)
	}
	return p
}

// redactedState returns a saved state with its left-out sensitive
// attributes put back as sensitive placeholders, so they are displayed
// as the plan displayed them.
func redactedState(s *resources.State) *resources.State {
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
