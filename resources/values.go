package resources

import "github.com/zclconf/go-cty/cty"

// Str returns a configuration's string attribute, unmarked, or def when
// the attribute is absent, null, unknown or not a string.
func Str(cfg cty.Value, name, def string) string {
	if cfg == cty.NilVal || cfg.IsNull() || !cfg.Type().IsObjectType() || !cfg.Type().HasAttribute(name) {
		return def
	}
	v := cfg.GetAttr(name)
	if v.IsNull() || !v.IsKnown() {
		return def
	}
	v, _ = v.Unmark()
	if v.Type() != cty.String {
		return def
	}
	return v.AsString()
}

// StringList is a list of strings as a cty list (an empty list for none).
func StringList(ss []string) cty.Value {
	if len(ss) == 0 {
		return cty.ListValEmpty(cty.String)
	}
	vals := make([]cty.Value, len(ss))
	for i, s := range ss {
		vals[i] = cty.StringVal(s)
	}
	return cty.ListVal(vals)
}

// Strings returns the strings of a list, set or tuple, unmarked: nil when
// v is null, unknown or not a collection; elements that are null or not
// strings are left out.
func Strings(v cty.Value) []string {
	if v == cty.NilVal || v.IsNull() || !v.IsKnown() || !v.CanIterateElements() {
		return nil
	}
	v, _ = v.UnmarkDeep()
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.IsNull() || !e.IsKnown() || e.Type() != cty.String {
			continue
		}
		out = append(out, e.AsString())
	}
	return out
}

// List returns a list-of-strings attribute (see Strings) and whether it
// is set; a set attribute's list is never nil.
func (s *State) List(name string) ([]string, bool) {
	v := s.Attr(name)
	if v == cty.NilVal || v.IsNull() || !v.IsKnown() || !v.CanIterateElements() {
		return nil, false
	}
	if l := Strings(v); l != nil {
		return l, true
	}
	return []string{}, true
}

// Bool returns a bool attribute, unmarked, and whether it is set.
func (s *State) Bool(name string) (bool, bool) {
	v := s.Attr(name)
	if v == cty.NilVal || v.IsNull() || !v.IsKnown() || v.Type() != cty.Bool {
		return false, false
	}
	v, _ = v.Unmark()
	return v.True(), true
}
