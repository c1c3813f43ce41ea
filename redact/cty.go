package redact

import (
	"github.com/zclconf/go-cty/cty"
)

// Strings returns the known strings (and numbers, as text) within v, its
// marks ignored.
func Strings(v cty.Value) []string {
	v, _ = v.UnmarkDeep()
	var out []string
	_ = cty.Walk(v, func(_ cty.Path, x cty.Value) (bool, error) {
		if !x.IsKnown() || x.IsNull() {
			return false, nil
		}
		switch x.Type() {
		case cty.String:
			out = append(out, x.AsString())
		case cty.Number:
			out = append(out, x.AsBigFloat().Text('f', -1))
		}
		return true, nil
	})
	return out
}

// AddValue registers every string within v (see Strings).
func (r *Redactor) AddValue(v cty.Value) {
	for _, s := range Strings(v) {
		r.Add(s)
	}
}

// Marked returns the parts of v that carry mark (with what they hold),
// each once: a marked object gives itself, not its attributes too.
func Marked(v cty.Value, mark any) []cty.Value {
	if v.HasMark(mark) {
		return []cty.Value{v}
	}
	if !v.ContainsMarked() {
		return nil
	}
	u, pvm := v.UnmarkDeepWithPaths()
	var out []cty.Value
	for _, pm := range pvm {
		if _, ok := pm.Marks[mark]; !ok {
			continue
		}
		if x, err := pm.Path.Apply(u); err == nil {
			out = append(out, x)
		}
	}
	return out
}
