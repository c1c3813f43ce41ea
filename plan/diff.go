package plan

import (
	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/resources"
)

// Diff compares a resource's current state with its desired state. Only
// the attributes the desired state sets are compared: what the
// configuration does not mention is not tend's to change.
func Diff(before, after *resources.State) (Action, []string) {
	switch {
	case !before.Present && !after.Present:
		return NoOp, nil
	case !before.Present:
		return Create, nil
	case !after.Present:
		return Delete, nil
	}
	var changed []string
	for _, k := range after.AttrNames() {
		if !equal(before.Attrs[k], after.Attrs[k]) {
			changed = append(changed, k)
		}
	}
	if after.Content != nil && (before.Content == nil || !resources.SameDigest(before.Content.SHA256, after.Content.SHA256)) {
		changed = append(changed, ContentChange)
	}
	if len(changed) == 0 {
		return NoOp, nil
	}
	return Update, changed
}

// ContentChange is the name Change.Changed gives a change of a state's
// Content (file-like content, compared by digest).
const ContentChange = "content"

func equal(a, b cty.Value) bool {
	if a == cty.NilVal || b == cty.NilVal {
		return a == b
	}
	a, _ = a.UnmarkDeep()
	b, _ = b.UnmarkDeep()
	if a.IsNull() || b.IsNull() {
		return a.IsNull() == b.IsNull()
	}
	if !a.IsWhollyKnown() || !b.IsWhollyKnown() {
		return false
	}
	return a.Equals(b).True()
}
