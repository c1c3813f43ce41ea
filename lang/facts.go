package lang

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// UsesFacts reports whether any resource may read host.facts: its
// attributes, when or for_each refer to host.facts, or to host as a
// whole (whose facts could then be read by index or inside a template).
// A configuration that does not evaluates to the same instances before
// and after the facts are gathered, so the planner evaluates it once.
func (c *Config) UsesFacts() bool {
	c.factsOnce.Do(func() {
		for _, r := range c.Resources {
			if r.callsDefaultVersionCompare() {
				c.usesFacts = true
				return
			}
			for _, tr := range r.references() {
				if _, facts := c.localUsesHost(tr); facts || readsFacts(tr) {
					c.usesFacts = true
					return
				}
			}
		}
	})
	return c.usesFacts
}

// readsFacts reports whether a traversal may reach host.facts.
func readsFacts(tr hcl.Traversal) bool {
	if tr.RootName() != "host" {
		return false
	}
	if len(tr) < 2 {
		return true
	}
	switch step := tr[1].(type) {
	case hcl.TraverseAttr:
		return step.Name == "facts"
	case hcl.TraverseIndex:
		k := step.Key
		return !k.IsKnown() || k.IsNull() || !k.Type().Equals(cty.String) || k.AsString() == "facts"
	}
	return true
}
