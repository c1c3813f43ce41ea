package resources

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"sync/atomic"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/redact"
	"github.com/tendhq/tend/transport"
)

// Sensitive is the cty mark of values never to be displayed or saved:
// secrets from configuration (lang.Sensitive is this mark) and secret
// current state a type reads (a password hash).
const Sensitive = marker("sensitive")

type marker string

// SecretRef is the cty mark secret(...) puts on the value it returns,
// beside Sensitive: the reference it resolved ("env:NAME") and the
// value's SHA-256. A saved state (run journal, saved plan) keeps the
// reference of a sensitive attribute whose value is exactly that secret
// (the digest tells it from a value derived from the secret), never the
// value, so `tend rollback` can resolve it again (State.SecretRefs).
type SecretRef struct {
	Ref string
	Sum [32]byte
}

// UnresolvedSecret is the cty mark, beside Sensitive, of the unknown
// value secret(Ref) evaluates to when its source cannot give the value
// now, and the error resolving it returns then. Reason says why ("the
// environment variable DB_PASS is not set"); it never holds the value or
// a command's output.
type UnresolvedSecret struct {
	Ref    string
	Reason string
	// Var, when set, names an inventory variable whose value cannot be
	// had (an Ansible template tend does not render); Ref is then empty
	// and Reason names the template and where it was set.
	Var string
}

func (e UnresolvedSecret) Error() string {
	if e.Var != "" {
		return fmt.Sprintf("inventory variable %s: %s", e.Var, e.Reason)
	}
	return fmt.Sprintf("secret(%q): %s", e.Ref, e.Reason)
}

// SecretRefOf returns the reference of the secret v is, or "" when v is
// not exactly one secret(...)'s value.
func SecretRefOf(v cty.Value) string {
	if v == cty.NilVal {
		return ""
	}
	u, marks := v.Unmark()
	if !u.IsKnown() || u.IsNull() || u.Type() != cty.String {
		return ""
	}
	ref := ""
	for m := range marks {
		if r, ok := m.(SecretRef); ok {
			if ref != "" || r.Sum != sha256.Sum256([]byte(u.AsString())) {
				return ""
			}
			ref = r.Ref
		}
	}
	return ref
}

// Attribute is one argument of a resource type's configuration.
type Attribute struct {
	Name      string
	Type      cty.Type
	Required  bool
	Sensitive bool
	// OS is "" when the attribute applies on every host, OSWindows when
	// only on Windows hosts, OSPOSIX when only on POSIX hosts (CheckOS).
	OS string
	// Doc is one or two sentences for docs/resources.md.
	Doc string
	// Script marks an attribute whose value is a shell script tend runs
	// as it is (an exec's command): its text is the declared behaviour,
	// never data to quote.
	Script bool
}

// Schema is a resource type's configuration shape.
type Schema struct {
	Doc        string
	Attributes []Attribute
}

// Spec turns the schema into an hcldec spec decoding a resource body into
// an object with every attribute (null when unset).
func (s *Schema) Spec() hcldec.Spec {
	spec := hcldec.ObjectSpec{}
	for _, a := range s.Attributes {
		spec[a.Name] = &hcldec.AttrSpec{Name: a.Name, Type: a.Type, Required: a.Required}
	}
	return spec
}

// Attribute returns the named attribute, or nil.
func (s *Schema) Attribute(name string) *Attribute {
	for i := range s.Attributes {
		if s.Attributes[i].Name == name {
			return &s.Attributes[i]
		}
	}
	return nil
}

// Env is what a type may need from the controller while computing desired
// state: files relative to the configuration directory.
type Env interface {
	// ReadFile reads a file relative to the configuration directory.
	ReadFile(path string) ([]byte, error)
	// RenderTemplate renders a template file with the given variables.
	RenderTemplate(path string, vars cty.Value) (string, error)
}

// Host is what a type sees of the host it is applied to.
type Host struct {
	Name string
	// T runs scripts on the host.
	T transport.Transport
	// RunID names the run, for backups.
	RunID string
	// BackupDir is the host's directory for pre-change copies of this run.
	BackupDir string
	// BackupKey, when set, names the change this Host is handed to (the
	// run engine gives each change its own): its backups are then named
	// after it, in order, so where they will be is known before the
	// change is made (UndoPredictor) and can be journaled ahead of it.
	BackupKey string

	backups atomic.Int64
}

// NextBackup returns a name, unique within the run on this host, for a
// pre-change copy of p (several changes may touch one file).
func (h *Host) NextBackup(p string) string {
	n := h.backups.Add(1)
	if h.BackupKey != "" {
		return h.BackupName(h.BackupKey, p, int(n))
	}
	sum := sha256.Sum256([]byte(p))
	return fmt.Sprintf("%s/%03d-%s-%s", h.BackupDir, n, hex.EncodeToString(sum[:4]), path.Base(p))
}

// TempPrefix is the prefix of the temporary names a change of this run
// makes next to the files it writes (".tend.RUNTAG-"): a run killed in
// the middle of a write leaves them behind, and Tidier finds them by it.
func (h *Host) TempPrefix() string {
	if h.RunID == "" {
		return ".tend."
	}
	sum := sha256.Sum256([]byte(h.RunID))
	return ".tend." + hex.EncodeToString(sum[:4]) + "-"
}

// Tidier is implemented by types whose changes write temporary files next
// to the paths they manage: Tidy removes what a run (h.RunID) left behind
// in the directories of states (a run killed in mid-write), without
// touching anything else.
type Tidier interface {
	Tidy(ctx context.Context, h *Host, states []*State) error
}

// BackupName is the name of the n-th backup (from 1) a change keyed key
// makes of p.
func (h *Host) BackupName(key, p string, n int) string {
	sum := sha256.Sum256([]byte(p))
	return fmt.Sprintf("%s/%s.%d-%s-%s", h.BackupDir, key, n, hex.EncodeToString(sum[:4]), path.Base(p))
}

// itemBackup is the backup name of a batch item's path: the item's own
// first backup when it is keyed, else the host's next.
func (h *Host) itemBackup(it BatchItem, p string) string {
	if it.BackupKey != "" {
		return h.BackupName(it.BackupKey, p, 1)
	}
	return h.NextBackup(p)
}

// UndoPredictor is implemented by types whose undo data names host-side
// backups: before a change is made, they say what its undo data will be
// (for the same Host), so a journal can make it durable ahead of the
// change, and a run interrupted in the middle of the change can still be
// rolled back from its backup.
type UndoPredictor interface {
	PredictUndo(h *Host, before, after *State) Undo
}

// Type is one kind of resource (file, directory, package, ...).
type Type interface {
	// Name is the block type used in configuration ("file").
	Name() string
	// Schema describes the configuration.
	Schema() *Schema
	// Key names what the resource manages on a host ("path /etc/motd"), so
	// two declarations managing the same thing can be refused. An error
	// means the configuration is unusable (reported at its declaration).
	Key(cfg cty.Value) (string, error)
	// Desired computes the state the configuration asks for. It reports
	// invalid attribute values as *AttrError.
	Desired(cfg cty.Value, env Env) (*State, error)
	// Probe returns a POSIX sh fragment that prints the current state with
	// `out KEY VALUE` lines (see ProbeHelpers). It runs in a subshell.
	Probe(cfg cty.Value, want *State) string
	// Read turns the probe's output into the current state.
	Read(cfg cty.Value, out ProbeOutput) (*State, error)
	// Apply changes the host from before to after. It returns data needed
	// to revert the change later, stored in the run journal: values that
	// are secret only under the keys its SecretUndoer names (encrypted).
	Apply(ctx context.Context, h *Host, before, after *State) (Undo, error)
	// Revert restores before, undoing a change Apply made (from the
	// journal: after carries no secret values).
	Revert(ctx context.Context, h *Host, before, after *State, undo Undo) error
}

// Resolver is implemented by types whose desired state depends on the
// current one: a package's "latest" version is the candidate the host
// offers, a line edited into a file is the file's current content with the
// edit. The planner calls Resolve after reading the current state, and
// apply calls it again on the re-read state when verifying.
type Resolver interface {
	Resolve(cfg cty.Value, current, desired *State) (*State, error)
}

// DirectReader is implemented by types whose current state is read over
// a connection of their own rather than by the host's probe script: a
// database account is read over a database session dialed through the
// host's transport (transport.Dialer). The planner calls ReadCurrent
// after the probe (h carries the host's name and transport), and apply
// calls it again to verify; Probe returns "" and Read is not called.
type DirectReader interface {
	ReadCurrent(ctx context.Context, h *Host, cfg cty.Value, want *State) (*State, error)
}

// Batcher is implemented by types whose changes on one host are best made
// together, such as package installs in one package manager transaction.
// Apply hands it every pending change of the type whose dependencies are
// met at that point; it returns one result per item, in order.
type Batcher interface {
	ApplyBatch(ctx context.Context, h *Host, items []BatchItem) []BatchResult
}

// BatchItem is one change in a batch.
type BatchItem struct {
	Config        cty.Value
	Before, After *State
	// BackupKey names the item's backups as Host.BackupKey does.
	BackupKey string
}

// BatchResult is what happened to one item of a batch.
type BatchResult struct {
	Undo Undo
	Err  error
}

// NotYetError is what Read returns when the object a resource acts on
// does not exist on the host (a service's unit) but another change of the
// same run could create it (a package). The planner accepts it only for a
// resource that follows a change on the host, and then apply reads the
// resource again just before changing it: still missing is that
// change's failure.
type NotYetError struct{ Err error }

func (e *NotYetError) Error() string { return e.Err.Error() }
func (e *NotYetError) Unwrap() error { return e.Err }

// Noter is implemented by types with something to say about a resource
// that its attributes do not show, such as a password whose stored
// verifier tend cannot check: whether it matches is unknown, which is
// not a change. The plan shows the notes, for no-op resources too.
type Noter interface {
	Notes(current, desired *State) []string
}

// ProbePreluder is implemented by types whose probe fragments share work
// done once per host: the probe script runs the prelude in its own shell,
// once however many of the type's resources it probes, before the
// fragments (whose subshells inherit the variables it sets). cfgs are the
// configurations of all the resources of the type the script probes. A
// prelude must not print, and its fragments must still work when it did
// not run. Implementations must be comparable (the script groups
// fragments by their type with ==).
type ProbePreluder interface {
	ProbePrelude(cfgs []cty.Value) string
}

// Refresher is implemented by types that have an action to run when a
// resource notifying them changes (a service restart, a command).
type Refresher interface {
	Refresh(ctx context.Context, h *Host, cfg cty.Value) error
}

// Undo is a type's own record of how to revert one applied change.
type Undo map[string]string

// AttrError is an invalid attribute value, reported at the attribute.
type AttrError struct {
	Attr string
	Msg  string
}

func (e *AttrError) Error() string { return fmt.Sprintf("%s: %s", e.Attr, e.Msg) }

// State is a resource's state on a host: desired (from configuration) or
// current (from a probe). Attrs holds the comparable attributes; in a
// desired state only the attributes the configuration sets.
type State struct {
	Present bool
	Attrs   map[string]cty.Value
	// Content is file-like content, compared by digest.
	Content *Content `json:",omitempty"`
	// SecretRefs names, for a state read back from a run journal or a
	// saved plan, the secret(...) reference of each sensitive attribute
	// that was exactly a secret: its value is not saved, ResolveSecrets
	// puts it back.
	SecretRefs map[string]string `json:"-"`
	// Redacted names, for a state read back from a run journal or a
	// saved plan, the sensitive attributes whose values were left out,
	// so the state is written back as it was read and displayed with
	// them as (sensitive).
	Redacted []string `json:"-"`
}

// ErrSecretNeeded is what a Revert returns (wrapped) when it needs a
// secret the journaled state does not have: rollback then says which
// secret(...) reference it could not resolve.
var ErrSecretNeeded = errors.New("a secret is needed")

// ResolveSecrets puts back the sensitive attributes of a state read back
// from a journal whose secret references it knows, resolving each with
// resolve (lang.ResolveSecret). The error names the attribute and the
// reference; the others are resolved all the same.
func (s *State) ResolveSecrets(resolve func(ref string) (cty.Value, error)) error {
	if s == nil {
		return nil
	}
	var errs []error
	for _, k := range sortedKeys(s.SecretRefs) {
		if _, ok := s.Attrs[k]; ok {
			continue
		}
		ref := s.SecretRefs[k]
		v, err := resolve(ref)
		var us UnresolvedSecret
		switch {
		case errors.As(err, &us) && us.Ref == ref:
			errs = append(errs, fmt.Errorf("%s comes from %w", k, err))
			continue
		case err != nil:
			errs = append(errs, fmt.Errorf("%s comes from secret(%q): %w", k, ref, err))
			continue
		}
		if s.Attrs == nil {
			s.Attrs = map[string]cty.Value{}
		}
		s.Attrs[k] = v
	}
	return errors.Join(errs...)
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Content is file content. Data is the bytes when known to the
// controller; it is never serialized (a saved plan or journal holds the
// digest only).
type Content struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	Data   []byte `json:"-"`
	// Source, for desired content too large to hold in memory, is the
	// controller file it is streamed from when written (Data is nil and
	// Known false).
	Source string `json:"-"`
	// Known reports whether Data holds the content (current content is
	// fetched only when it differs and is small).
	Known bool `json:"-"`
	// Sensitive content is never displayed.
	Sensitive bool `json:"sensitive,omitempty"`
	// Installed, set by the change that wrote this content, is the
	// identity the written file had on the host once the change had
	// checked its SHA-256 and renamed it into place (see
	// installedProof); a read in the same run may take the digest from
	// it while the file's identity is still exactly that. Never saved.
	Installed string `json:"-"`
}

// MarshalJSON implements json.Marshaler. The digest of sensitive content
// is keyed (redact.Keyed): a plain SHA-256 of a short secret, or of a
// file holding little else, tells the value to whoever tries candidates.
// Keyed digests still compare equal when their contents are.
func (c Content) MarshalJSON() ([]byte, error) {
	type plain Content
	p := plain(c)
	if c.Sensitive && p.SHA256 != "" {
		p.SHA256 = redact.Keyed(p.SHA256)
	}
	return json.Marshal(p)
}

// SameDigest reports whether two content digests are of the same content.
// A keyed digest (sensitive content read back from a journal or a saved
// plan) is compared with the other keyed the same way.
func SameDigest(a, b string) bool {
	if a == b {
		return true
	}
	if redact.IsKeyed(a) || redact.IsKeyed(b) {
		return redact.Keyed(a) == redact.Keyed(b)
	}
	return false
}

// Attr returns the named attribute, or cty.NilVal.
func (s *State) Attr(name string) cty.Value {
	if s == nil || s.Attrs == nil {
		return cty.NilVal
	}
	return s.Attrs[name]
}

// Str returns a string attribute, or "".
func (s *State) Str(name string) string {
	v := s.Attr(name)
	if v == cty.NilVal || v.IsNull() || !v.IsKnown() || v.Type() != cty.String {
		return ""
	}
	v, _ = v.Unmark()
	return v.AsString()
}

// AttrNames returns the attribute names, sorted.
func (s *State) AttrNames() []string {
	names := make([]string, 0, len(s.Attrs))
	for k := range s.Attrs {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// ProbeOutput is the parsed output of one probe fragment: the values of
// its `out` lines, in order, plus anything it wrote that was not an `out`
// line (error text).
type ProbeOutput struct {
	Values map[string]string
	Other  string
}

// Get returns a value and whether it was printed.
func (o ProbeOutput) Get(key string) (string, bool) {
	v, ok := o.Values[key]
	return v, ok
}

// Core returns the resource types of this package: paths and commands.
// The full list of built-in types is builtin.Types.
func Core() []Type {
	return []Type{File{}, Directory{}, Symlink{}, Exec{}}
}

// ByName indexes types by name.
func ByName(types []Type) map[string]Type {
	m := make(map[string]Type, len(types))
	for _, t := range types {
		m[t.Name()] = t
	}
	return m
}

// isSet reports whether a config attribute is set.
func isSet(cfg cty.Value, name string) bool {
	return !cfg.GetAttr(name).IsNull()
}
