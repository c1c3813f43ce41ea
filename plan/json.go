package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/tendhq/tend/probe"
	"github.com/tendhq/tend/redact"
	"github.com/tendhq/tend/resources"
)

// FormatVersion is the version of the JSON plan schema (docs/json.md).
// It changes in its major part when a field is removed or changes meaning.
const FormatVersion = "1.0"

// JSONPlan is the machine-readable plan (`tend plan --json-document`).
type JSONPlan struct {
	FormatVersion string      `json:"format_version"`
	Created       time.Time   `json:"created"`
	Target        string      `json:"target,omitempty"`
	Hosts         []JSONHost  `json:"hosts"`
	Summary       JSONSummary `json:"summary"`
}

// JSONHost is one host of a JSON plan.
type JSONHost struct {
	Name    string   `json:"name"`
	Address string   `json:"address,omitempty"`
	Groups  []string `json:"groups,omitempty"`
	Error   string   `json:"error,omitempty"`
	// Unreachable says the error is that the host could not be reached.
	Unreachable bool         `json:"unreachable,omitempty"`
	Facts       *probe.Facts `json:"facts,omitempty"`
	Changes     []JSONChange `json:"changes"`
}

// JSONChange is one resource instance of a JSON plan.
type JSONChange struct {
	Address     string           `json:"address"`
	Type        string           `json:"type"`
	Action      Action           `json:"action"`
	Changed     []string         `json:"changed,omitempty"`
	Before      *resources.State `json:"before"`
	After       *resources.State `json:"after"`
	ContentDiff string           `json:"content_diff,omitempty"`
	// ContentNote says what changed in the content when no diff can be
	// shown (sensitive, too large, binary).
	ContentNote  string   `json:"content_note,omitempty"`
	Irreversible string   `json:"irreversible,omitempty"`
	Deferred     string   `json:"deferred,omitempty"`
	Notes        []string `json:"notes,omitempty"`
	DependsOn    []string `json:"depends_on,omitempty"`
	NotifiedBy   []string `json:"notified_by,omitempty"`
	// Fingerprints identify the before and after states (sensitive
	// values included, as digests), so a saved plan can be checked for
	// staleness without holding the values.
	BeforeFingerprint string `json:"before_fingerprint"`
	AfterFingerprint  string `json:"after_fingerprint"`
}

// JSONSummary counts a plan's actions.
type JSONSummary struct {
	Add            int `json:"add"`
	Change         int `json:"change"`
	Remove         int `json:"remove"`
	HostsChanged   int `json:"hosts_changed"`
	HostsUnchanged int `json:"hosts_unchanged"`
	HostsFailed    int `json:"hosts_failed"`
}

// JSON converts a plan to its JSON form.
func (p *Plan) JSON() *JSONPlan {
	c := p.Count()
	out := &JSONPlan{FormatVersion: FormatVersion, Created: p.Created, Target: p.Target,
		Summary: JSONSummary{Add: c.Add, Change: c.Change, Remove: c.Remove, HostsChanged: c.HostsChanged, HostsUnchanged: c.HostsUnchanged, HostsFailed: c.Failed}}
	for _, h := range p.Hosts {
		jh := JSONHost{Name: h.Name, Address: h.Address, Groups: h.Groups, Changes: []JSONChange{}}
		if h.Err != nil {
			jh.Error = h.Err.Error()
			jh.Unreachable = Unreachable(h.Err)
		} else {
			f := h.Facts
			jh.Facts = &f
		}
		for _, ch := range h.Changes {
			var diff, note string
			if changesContent(ch) {
				diff, note = contentView(ch)
			}
			jh.Changes = append(jh.Changes, JSONChange{
				Address: ch.Address, Type: ch.Type, Action: ch.Action, Changed: ch.Changed,
				Before: ch.Before, After: ch.After, ContentDiff: diff, ContentNote: note,
				Irreversible: ch.Irreversible, Deferred: ch.Deferred, Notes: ch.Notes, DependsOn: ch.Deps, NotifiedBy: ch.NotifiedBy,
				BeforeFingerprint: Fingerprint(ch.Before), AfterFingerprint: Fingerprint(ch.After),
			})
		}
		out.Hosts = append(out.Hosts, jh)
	}
	return out
}

// Fingerprint digests a state, sensitive values included, so two states
// can be compared without storing them. The digest of a state holding
// sensitive values is keyed (redact.KeyedHash): a plain one would let
// whoever tries candidates for a short secret find it.
func Fingerprint(s *resources.State) string {
	h, prefix := sha256.New(), ""
	if stateSensitive(s) {
		h, prefix = redact.KeyedHash(), redact.KeyedPrefix
	}
	fmt.Fprintf(h, "present=%v\n", s.Present)
	for _, k := range s.AttrNames() {
		v := s.Attrs[k]
		if v == cty.NilVal {
			continue
		}
		v, _ = v.UnmarkDeep()
		b, err := ctyjson.Marshal(v, cty.DynamicPseudoType)
		if err != nil {
			b = []byte(v.GoString())
		}
		fmt.Fprintf(h, "%s=%s\n", k, b)
	}
	if s.Content != nil {
		fmt.Fprintf(h, "content=%s\n", s.Content.SHA256)
	}
	return prefix + hex.EncodeToString(h.Sum(nil))
}

// stateSensitive reports whether s holds a sensitive value.
func stateSensitive(s *resources.State) bool {
	if s == nil {
		return false
	}
	if len(s.SecretRefs) > 0 || s.Content != nil && s.Content.Sensitive {
		return true
	}
	for _, v := range s.Attrs {
		if v != cty.NilVal && v.ContainsMarked() {
			return true
		}
	}
	return false
}

// Saved is a plan file (`tend plan --out FILE`): the plan, and the inputs
// that produced it. Apply re-plans from the same inputs and refuses the
// plan as stale unless the result is the same; secrets are resolved again
// from their references then, never stored.
type Saved struct {
	Kind   string    `json:"kind"`
	Inputs Inputs    `json:"inputs"`
	Plan   *JSONPlan `json:"plan"`
	// DigestKey names the key of the plan's keyed digests (of states
	// holding sensitive values; redact.DigestKeyID), when it has any:
	// they compare only under the same key.
	DigestKey string `json:"digest_key,omitempty"`
}

// KeyMismatch says why the saved plan cannot be checked here, or "": its
// keyed digests were made with another key than this process's.
func (s *Saved) KeyMismatch() string {
	if s.DigestKey == "" || s.DigestKey == redact.DigestKeyID() {
		return ""
	}
	return "the plan's digests of sensitive values were made with another digest key (" + s.DigestKey + ") than this user's (" + redact.DigestKeyID() + "): apply it as the user who made it, on the same machine, or plan again"
}

// Inputs are what a saved plan was made from.
type Inputs struct {
	ConfigDir   string   `json:"config_dir"`
	Inventories []string `json:"inventories,omitempty"`
	Target      string   `json:"target,omitempty"`
	// Vars are -var flags ("name=value") of variables that are not
	// sensitive.
	Vars []string `json:"vars,omitempty"`
	// SensitiveVars names the sensitive variables -var gave: their
	// values are not stored, and apply needs them given again.
	SensitiveVars []string `json:"sensitive_vars,omitempty"`
	VarFiles      []string `json:"var_files,omitempty"`
	// Resources and Replace are the --resource and --replace addresses.
	Resources []string `json:"resources,omitempty"`
	Replace   []string `json:"replace,omitempty"`
}

// MissingSensitive returns, for each sensitive variable the plan was
// made with, an error unless given says it was given again.
func (in Inputs) MissingSensitive(given func(name string) bool) []error {
	var errs []error
	for _, n := range in.SensitiveVars {
		if !given(n) {
			errs = append(errs, fmt.Errorf("variable %s is sensitive and was not saved with the plan: give -var %s=... again", n, n))
		}
	}
	return errs
}

const savedKind = "tend-plan"

// Save writes a plan file atomically with mode 0600.
func Save(path string, in Inputs, p *Plan) error {
	saved := &Saved{Kind: savedKind, Inputs: in, Plan: p.JSON()}
	for _, h := range saved.Plan.Hosts {
		for _, c := range h.Changes {
			if redact.IsKeyed(c.BeforeFingerprint) || redact.IsKeyed(c.AfterFingerprint) {
				saved.DigestKey = redact.DigestKeyID()
			}
		}
	}
	if saved.DigestKey != "" {
		if err := redact.DigestKeyError(); err != nil {
			return fmt.Errorf("the plan holds digests of sensitive values, keyed with the user's digest key, which cannot be had: %w", err)
		}
	}
	b, err := json.MarshalIndent(saved, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, append(b, '\n'), 0o600)
}

// Load reads a plan file.
func Load(path string) (*Saved, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s Saved
	if err := json.Unmarshal(b, &s); err != nil || s.Kind != savedKind || s.Plan == nil {
		return nil, fmt.Errorf("%s is not a tend plan file", path)
	}
	if s.Plan.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("%s has plan format %s; this tend reads %s", path, s.Plan.FormatVersion, FormatVersion)
	}
	return &s, nil
}

// Stale compares a fresh plan with a saved one and describes every
// difference: a host or resource whose state or configuration changed
// since the plan was made.
func Stale(saved *JSONPlan, fresh *Plan) []string {
	type key struct{ host, addr string }
	old := map[key]JSONChange{}
	hosts := map[string]bool{}
	for _, h := range saved.Hosts {
		hosts[h.Name] = true
		for _, c := range h.Changes {
			old[key{h.Name, c.Address}] = c
		}
	}
	var diffs []string
	seen := map[key]bool{}
	for _, h := range fresh.Hosts {
		if !hosts[h.Name] {
			diffs = append(diffs, fmt.Sprintf("%s: host was not in the plan", h.Name))
			continue
		}
		if h.Err != nil {
			diffs = append(diffs, fmt.Sprintf("%s: %s", h.Name, h.Err))
			continue
		}
		for _, sh := range saved.Hosts {
			if sh.Name == h.Name && sh.Error != "" {
				diffs = append(diffs, fmt.Sprintf("%s: could not be planned when the plan was made (%s)", h.Name, sh.Error))
			}
		}
		for _, ch := range h.Changes {
			k := key{h.Name, ch.Address}
			seen[k] = true
			o, ok := old[k]
			switch {
			case !ok:
				diffs = append(diffs, fmt.Sprintf("%s: %s was not in the plan", h.Name, ch.Address))
			case o.BeforeFingerprint != Fingerprint(ch.Before):
				diffs = append(diffs, fmt.Sprintf("%s: %s changed on the host since the plan was made", h.Name, ch.Address))
			case o.AfterFingerprint != Fingerprint(ch.After):
				diffs = append(diffs, fmt.Sprintf("%s: %s is configured differently than when the plan was made", h.Name, ch.Address))
			case o.Action != ch.Action:
				diffs = append(diffs, fmt.Sprintf("%s: %s would now %s instead of %s", h.Name, ch.Address, ch.Action, o.Action))
			}
		}
	}
	for k := range old {
		if !seen[k] && hosts[k.host] {
			found := false
			for _, h := range fresh.Hosts {
				if h.Name == k.host && h.Err == nil {
					found = true
				}
			}
			if found {
				diffs = append(diffs, fmt.Sprintf("%s: %s is no longer in the configuration", k.host, k.addr))
			}
		}
	}
	sort.Strings(diffs)
	return diffs
}

// WriteFileAtomic writes a file through a temporary file in the same
// directory and a rename, so a reader never sees it half-written.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
