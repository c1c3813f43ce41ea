package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/engine"
	"github.com/tendhq/tend/journal"
	"github.com/tendhq/tend/lang"
	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/resources/account"
	"github.com/tendhq/tend/resources/builtin"
	"github.com/tendhq/tend/transport"
)

// stdinRecorder is a host that runs nothing and keeps each script's
// stdin.
type stdinRecorder struct{ scripts, stdins []string }

func (f *stdinRecorder) Run(_ context.Context, cmd transport.Command) (*transport.Result, error) {
	in := []byte{}
	if cmd.Stdin != nil {
		in, _ = io.ReadAll(cmd.Stdin)
	}
	f.scripts, f.stdins = append(f.scripts, cmd.Script), append(f.stdins, string(in))
	return &transport.Result{}, nil
}
func (f *stdinRecorder) Close() error { return nil }

// journalUserPassword applies a password change of user deploy through
// account.User on a fake host, journaled by the recorder as apply does,
// and returns the run's id.
func journalUserPassword(t *testing.T, dir, oldHash string) string {
	t.Helper()
	id := journal.NewID(time.Now())
	j, err := journal.Create(dir, &journal.Run{ID: id, Command: "apply", Outcome: "running"})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	mk := func(hash string) *resources.State {
		return &resources.State{Present: true, Attrs: map[string]cty.Value{"name": cty.StringVal("deploy"), "shell": cty.StringVal("/bin/sh"),
			"password_hash": cty.StringVal(hash).Mark(resources.Sensitive)}}
	}
	before, after := mk(oldHash), mk("$y$j9T$new$NEWHASH")
	ch := &plan.Change{Address: "user.deploy", Type: "user", Action: plan.Update, Before: before, After: after, Resource: account.User{}}
	undo, err := account.User{}.Apply(context.Background(), &resources.Host{Name: "h1", T: &stdinRecorder{}, RunID: id}, before, after)
	if err != nil || undo["password_hash"] != oldHash {
		t.Fatalf("apply: undo %v, %v", undo, err)
	}
	r := journal.NewRecorder(j, id)
	for _, e := range []*engine.Event{
		{Kind: engine.HostPlanned, Host: "h1", Plan: &plan.HostPlan{Name: "h1", Changes: []*plan.Change{ch}}},
		{Kind: engine.ChangeStarted, Host: "h1", Address: ch.Address, Type: "user", Before: before, After: after},
		{Kind: engine.ChangeApplied, Host: "h1", Address: ch.Address, Type: "user", Before: before, After: after, Undo: undo},
		{Kind: engine.RunFinished, Outcome: "success"},
	} {
		if err := r.Event(e); err != nil {
			t.Fatal(err)
		}
	}
	return id
}

// TestRollbackSecretUndo: a user's password change is journaled without
// the previous hash in clear; rollback's entry gets it back, sends it to
// chpasswd on stdin, and checks the host against it (a change of the
// password alone is not taken for reverted already).
func TestRollbackSecretUndo(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	dir := t.TempDir()
	const old = "$y$j9T$oldsalt$OLDHASHcanaryXYZ"
	id := journalUserPassword(t, dir, old)
	raw, err := os.ReadFile(filepath.Join(journal.Dir(dir), id+".journal"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("OLDHASHcanary")) {
		t.Errorf("the journal holds the previous hash in clear:\n%s", raw)
	}
	run, err := journal.Read(dir, id)
	if err != nil {
		t.Fatal(err)
	}
	re := revertEntry(id, run.Hosts[0].Changes[0], resources.ByName(builtin.Types()), false, lang.NewSecrets(dir))
	if re.UndoErr != nil {
		t.Fatal(re.UndoErr)
	}
	if v := re.Before.Attr("password_hash"); v == cty.NilVal || !v.IsMarked() || re.Before.Str("password_hash") != old {
		t.Errorf("the state before the run has password_hash %#v, want the previous hash, sensitive", v)
	}
	host := &stdinRecorder{}
	if err := re.Type.Revert(context.Background(), &resources.Host{Name: "h1", T: host}, re.Before, re.After, re.Undo); err != nil {
		t.Fatal(err)
	}
	if len(host.stdins) != 1 || !strings.Contains(host.stdins[0], "deploy:"+old) {
		t.Errorf("revert sent %q on stdin, want deploy:%s", host.stdins, old)
	}
	if strings.Contains(strings.Join(host.scripts, ""), "OLDHASHcanary") {
		t.Error("the hash is in the revert script")
	}
	// The journal's own entry keeps the value sealed.
	if !journal.Sealed(run.Hosts[0].Changes[0].Undo["password_hash"]) {
		t.Error("the journaled entry was changed")
	}
}

// TestRollbackSecretUndoMissingKey: with the run key gone, the entry
// carries an error naming the run and the key file, and the rollback
// preview shows it.
func TestRollbackSecretUndoMissingKey(t *testing.T) {
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	dir := t.TempDir()
	id := journalUserPassword(t, dir, "$y$j9T$oldsalt$OLDHASHcanaryXYZ")
	key := filepath.Join(state, "tend", "keys", id+".key")
	if err := os.Remove(key); err != nil {
		t.Fatal(err)
	}
	run, err := journal.Read(dir, id)
	if err != nil {
		t.Fatal(err)
	}
	re := revertEntry(id, run.Hosts[0].Changes[0], resources.ByName(builtin.Types()), false, lang.NewSecrets(dir))
	if re.UndoErr == nil || !strings.Contains(re.UndoErr.Error(), id) || !strings.Contains(re.UndoErr.Error(), key) {
		t.Errorf("UndoErr = %v, want one naming run %s and %s", re.UndoErr, id, key)
	}
}
