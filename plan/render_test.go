package plan

import (
	"bytes"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/resources"
)

// TestNotesOfUnchangedResources: a no-op resource with notes (an unknown
// password) is shown with them, and the plan still has no changes; a
// host without notes or changes prints nothing.
func TestNotesOfUnchangedResources(t *testing.T) {
	st := &resources.State{Present: true, Attrs: map[string]cty.Value{"name": cty.StringVal("app")}}
	noted := &HostPlan{Name: "db1", Changes: []*Change{
		{Address: "db_user.app", Type: "db_user", Action: NoOp, Before: st, After: st, Notes: []string{"password: unknown: the stored verifier is of a form tend cannot check; not counted as a change"}},
	}}
	quiet := &HostPlan{Name: "db2", Changes: []*Change{{Address: "db_user.app", Type: "db_user", Action: NoOp, Before: st, After: st}}}
	var out bytes.Buffer
	(&Renderer{W: &out}).Plan(&Plan{Hosts: []*HostPlan{noted, quiet}})
	got := out.String()
	for _, want := range []string{
		"db1\n    ? db_user.app no change known\n        password: unknown: the stored verifier is of a form tend cannot check; not counted as a change\n",
		"No changes. 2 of 2 hosts match the configuration.",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "db2") {
		t.Errorf("a host with nothing to say is shown:\n%s", got)
	}
}
