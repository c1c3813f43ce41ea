package resources

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"

	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// stateJSON is a State as saved plans and run journals store it. Marked
// (sensitive) attribute values are left out: the journal and the saved
// plan must never hold a secret. Sensitive lists their names; SecretRefs
// the secret(...) reference of those that were exactly a secret.
type stateJSON struct {
	Present    bool                       `json:"present"`
	Attrs      map[string]json.RawMessage `json:"attrs,omitempty"`
	Sensitive  []string                   `json:"sensitive,omitempty"`
	SecretRefs map[string]string          `json:"secret_refs,omitempty"`
	Content    *Content                   `json:"content,omitempty"`
}

// MarshalJSON implements json.Marshaler, redacting sensitive values.
func (s *State) MarshalJSON() ([]byte, error) {
	out := stateJSON{Present: s.Present, Content: s.Content, Attrs: map[string]json.RawMessage{}}
	for _, k := range s.AttrNames() {
		v := s.Attrs[k]
		if v == cty.NilVal {
			continue
		}
		if v.ContainsMarked() {
			out.Sensitive = append(out.Sensitive, k)
			if ref := SecretRefOf(v); ref != "" {
				if out.SecretRefs == nil {
					out.SecretRefs = map[string]string{}
				}
				out.SecretRefs[k] = ref
			}
			continue
		}
		b, err := ctyjson.Marshal(v, cty.DynamicPseudoType)
		if err != nil {
			return nil, fmt.Errorf("attribute %s: %w", k, err)
		}
		out.Attrs[k] = b
	}
	// References of secrets not resolved again since being read back.
	for k, ref := range s.SecretRefs {
		if _, ok := s.Attrs[k]; !ok {
			if out.SecretRefs == nil {
				out.SecretRefs = map[string]string{}
			}
			out.SecretRefs[k] = ref
			out.Sensitive = append(out.Sensitive, k)
		}
	}
	// Sensitive attributes left out of the state this one was read from.
	for _, k := range s.Redacted {
		if _, ok := s.Attrs[k]; !ok && !slices.Contains(out.Sensitive, k) {
			out.Sensitive = append(out.Sensitive, k)
		}
	}
	sort.Strings(out.Sensitive)
	return json.Marshal(out)
}

// UnmarshalJSON implements json.Unmarshaler.
func (s *State) UnmarshalJSON(b []byte) error {
	var in stateJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	s.Present = in.Present
	s.Content = in.Content
	s.SecretRefs = in.SecretRefs
	s.Redacted = in.Sensitive
	s.Attrs = map[string]cty.Value{}
	for k, raw := range in.Attrs {
		v, err := ctyjson.Unmarshal(raw, cty.DynamicPseudoType)
		if err != nil {
			return fmt.Errorf("attribute %s: %w", k, err)
		}
		s.Attrs[k] = v
	}
	return nil
}

// Sensitive returns the names of attributes holding sensitive values.
func (s *State) Sensitive() []string {
	var out []string
	for k, v := range s.Attrs {
		if v != cty.NilVal && v.ContainsMarked() {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
