package journal

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/engine"
	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/resources/account"
)

const oldHash = "$y$j9T$OLDSALTcanary$OLDHASHcanary0123456789"

// recordUserChange journals, through the recorder, a user's password
// change whose undo data holds the previous hash (as account.User's
// Apply returns it), and returns the run's journal file.
func recordUserChange(t *testing.T, dir, id string) string {
	t.Helper()
	j, err := Create(dir, &Run{ID: id, Command: "apply", Outcome: "running"})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	before := &resources.State{Present: true, Attrs: map[string]cty.Value{"name": cty.StringVal("deploy"),
		"password_hash": cty.StringVal(oldHash).Mark(resources.Sensitive)}}
	after := &resources.State{Present: true, Attrs: map[string]cty.Value{"name": cty.StringVal("deploy"),
		"password_hash": cty.StringVal("$y$NEW").Mark(resources.Sensitive)}}
	ch := &plan.Change{Address: "user.deploy", Type: "user", Action: plan.Update, Before: before, After: after, Resource: account.User{}}
	r := NewRecorder(j, id)
	undo := resources.Undo{"password_hash": oldHash, "keys_home": "/home/deploy"}
	for _, e := range []*engine.Event{
		{Kind: engine.HostPlanned, Host: "h1", Plan: &plan.HostPlan{Name: "h1", Changes: []*plan.Change{ch}}},
		{Kind: engine.ChangeStarted, Host: "h1", Address: ch.Address, Type: "user", Before: before, After: after},
		{Kind: engine.ChangeApplied, Host: "h1", Address: ch.Address, Type: "user", Before: before, After: after, Undo: undo},
		// A revert cut short records the undo data it had again.
		{Kind: engine.ChangeUnknown, Host: "h1", Address: ch.Address, Undo: undo},
		{Kind: engine.RunFinished, Outcome: "success"},
	} {
		if err := r.Event(e); err != nil {
			t.Fatal(err)
		}
	}
	if undo["password_hash"] != oldHash {
		t.Errorf("the engine's undo data was changed: %v", undo)
	}
	return j.Path()
}

// TestSecretUndoSealed: the previous password hash a user change keeps
// for rollback is not in the journal file in clear (nor base64), the key
// file is 0600 in a 0700 directory outside the configuration, and the
// undo data read back opens to the hash.
func TestSecretUndoSealed(t *testing.T) {
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	dir := t.TempDir()
	id := NewID(time.Now())
	path := recordUserChange(t, dir, id)
	raw := readFileT(t, path)
	for _, leak := range []string{oldHash, "OLDHASHcanary", "OLDSALTcanary"} {
		if bytes.Contains(raw, []byte(leak)) {
			t.Errorf("the journal file holds %q in clear:\n%s", leak, raw)
		}
	}
	run, err := Read(dir, id)
	if err != nil {
		t.Fatal(err)
	}
	e := run.Hosts[0].Changes[0]
	if !Sealed(e.Undo["password_hash"]) || e.Undo["keys_home"] != "/home/deploy" {
		t.Errorf("journaled undo %v: want password_hash sealed, keys_home as it was", e.Undo)
	}
	got, err := OpenUndo(id, e.Undo)
	if err != nil || got["password_hash"] != oldHash || got["keys_home"] != "/home/deploy" {
		t.Errorf("OpenUndo = %v, %v", got, err)
	}
	key := filepath.Join(state, "tend", "keys", id+".key")
	for p, want := range map[string]os.FileMode{key: 0o600, filepath.Dir(key): 0o700 | os.ModeDir} {
		if fi, err := os.Stat(p); err != nil {
			t.Error(err)
		} else if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode(), want)
		}
	}
	if b := readFileT(t, key); bytes.Contains(raw, bytes.TrimSpace(b)) {
		t.Error("the key is in the journal")
	}
	// A value moved to another key or run does not open.
	moved := resources.Undo{"verifier": e.Undo["password_hash"]}
	if _, err := OpenUndo(id, moved); err == nil {
		t.Error("a sealed value opened under another undo key")
	}
}

// TestSecretUndoMissingKey: without its key the undo data does not open,
// and the error names the run and the key file.
func TestSecretUndoMissingKey(t *testing.T) {
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	dir := t.TempDir()
	id := NewID(time.Now())
	recordUserChange(t, dir, id)
	key := filepath.Join(state, "tend", "keys", id+".key")
	if err := os.Remove(key); err != nil {
		t.Fatal(err)
	}
	run, err := Read(dir, id)
	if err != nil {
		t.Fatal(err)
	}
	_, err = OpenUndo(id, run.Hosts[0].Changes[0].Undo)
	var mk *MissingKeyError
	if !errors.As(err, &mk) || !strings.Contains(err.Error(), "run "+id) || !strings.Contains(err.Error(), key) {
		t.Errorf("OpenUndo without the key: %v, want an error naming run %s and %s", err, id, key)
	}
	// Undo data with nothing sealed needs no key.
	if u, err := OpenUndo(id, resources.Undo{"backup": "/b/1"}); err != nil || u["backup"] != "/b/1" {
		t.Errorf("plain undo data: %v %v", u, err)
	}
}

// TestSecretUndoKeyUnwritable: a run key that cannot be written stops the
// change before it is made, rather than the hash being journaled.
func TestSecretUndoKeyUnwritable(t *testing.T) {
	state := t.TempDir()
	if err := os.WriteFile(filepath.Join(state, "tend"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_STATE_HOME", state)
	dir := t.TempDir()
	id := NewID(time.Now())
	j, err := Create(dir, &Run{ID: id, Outcome: "running"})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	before := &resources.State{Present: true, Attrs: map[string]cty.Value{"password_hash": cty.StringVal(oldHash).Mark(resources.Sensitive)}}
	ch := &plan.Change{Address: "user.deploy", Type: "user", Action: plan.Update, Before: before, After: &resources.State{Present: true}, Resource: account.User{}}
	r := NewRecorder(j, id)
	if err := r.Event(&engine.Event{Kind: engine.HostPlanned, Plan: &plan.HostPlan{Name: "h1", Changes: []*plan.Change{ch}}}); err != nil {
		t.Fatal(err)
	}
	// The intent is refused: the engine does not make the change.
	err = r.Event(&engine.Event{Kind: engine.ChangeStarted, Address: ch.Address, Type: "user", Before: before, After: ch.After})
	if err == nil || !strings.Contains(err.Error(), "cannot be encrypted") {
		t.Errorf("the intent of a password change with no key: %v, want a refusal", err)
	}
	err = r.Event(&engine.Event{Kind: engine.ChangeApplied, Address: ch.Address, Undo: resources.Undo{"password_hash": oldHash}})
	if err == nil || !strings.Contains(err.Error(), "cannot be encrypted") {
		t.Errorf("recording with no key: %v, want a refusal", err)
	}
	if bytes.Contains(readFileT(t, j.Path()), []byte(oldHash)) {
		t.Error("the hash was journaled in clear")
	}
}

// TestDigestKey: the user's digest key is made once (0600) and read back;
// TEND_DIGEST_KEY_FILE names another, which must exist and be a key.
func TestDigestKey(t *testing.T) {
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	t.Setenv("TEND_DIGEST_KEY_FILE", "")
	k1, err := DigestKey()
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(state, "tend", "keys", "digest.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the key file: %v, %v", fi, err)
	}
	if k2, err := DigestKey(); err != nil || string(k2) != string(k1) {
		t.Errorf("read back: %v", err)
	}
	other := filepath.Join(t.TempDir(), "ci.key")
	t.Setenv("TEND_DIGEST_KEY_FILE", other)
	if _, err := DigestKey(); err == nil || !strings.Contains(err.Error(), "TEND_DIGEST_KEY_FILE "+other) {
		t.Errorf("a missing key file: %v", err)
	}
	if err := os.WriteFile(other, []byte(base64.StdEncoding.EncodeToString(make([]byte, 32))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if k, err := DigestKey(); err != nil || len(k) != 32 || string(k) == string(k1) {
		t.Errorf("the named key: %v", err)
	}
}
