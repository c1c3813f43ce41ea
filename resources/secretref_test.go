package resources_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/lang"
	"github.com/tendhq/tend/resources"
)

// TestSecretRefsInSavedStates: a saved state keeps the secret(...)
// reference of an attribute that is exactly a secret, never its value,
// and ResolveSecrets puts the value back from the same source.
func TestSecretRefsInSavedStates(t *testing.T) {
	t.Setenv("TEND_TEST_REF_PW", "s3cret-value")
	v, err := lang.ResolveSecret("env:TEND_TEST_REF_PW")
	if err != nil {
		t.Fatal(err)
	}
	u, marks := v.Unmark()
	derived := cty.StringVal(u.AsString() + "-suffix").WithMarks(marks)
	st := &resources.State{Present: true, Attrs: map[string]cty.Value{
		"admin_password": v.Mark(resources.Sensitive),
		"derived":        derived,
		"plain":          cty.StringVal("x"),
	}}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	j := string(b)
	if strings.Contains(j, "s3cret") {
		t.Fatalf("the secret is in the saved state: %s", j)
	}
	if !strings.Contains(j, `"secret_refs":{"admin_password":"env:TEND_TEST_REF_PW"}`) {
		t.Errorf("the reference is not saved (only for the attribute that is exactly the secret): %s", j)
	}
	var back resources.State
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if _, ok := back.Attrs["admin_password"]; ok {
		t.Fatalf("a secret came back from the saved state")
	}
	if err := back.ResolveSecrets(lang.ResolveSecret); err != nil {
		t.Fatal(err)
	}
	if got := back.Str("admin_password"); got != "s3cret-value" || !back.Attrs["admin_password"].HasMark(resources.Sensitive) {
		t.Errorf("resolved admin_password = %q (sensitive %v)", got, back.Attrs["admin_password"].HasMark(resources.Sensitive))
	}
	if _, ok := back.Attrs["derived"]; ok {
		t.Errorf("a value derived from a secret was put back")
	}
	// Saved again, resolved: the reference is still there, the value not.
	b2, _ := json.Marshal(&back)
	if strings.Contains(string(b2), "s3cret") || !strings.Contains(string(b2), "env:TEND_TEST_REF_PW") {
		t.Errorf("saved again: %s", b2)
	}
	// Not resolvable: the error names the attribute and what to set.
	var again resources.State
	_ = json.Unmarshal(b, &again)
	t.Setenv("TEND_TEST_REF_PW", "")
	if err := again.ResolveSecrets(func(ref string) (cty.Value, error) {
		return lang.ResolveSecret("env:TEND_TEST_REF_UNSET_VAR")
	}); err == nil || !strings.Contains(err.Error(), `admin_password comes from secret("env:TEND_TEST_REF_PW")`) || !strings.Contains(err.Error(), "TEND_TEST_REF_UNSET_VAR is not set") {
		t.Errorf("unresolvable secret: %v", err)
	}
	// Unresolved, saved again: the reference is kept.
	b3, _ := json.Marshal(&again)
	if !strings.Contains(string(b3), `"secret_refs":{"admin_password":"env:TEND_TEST_REF_PW"}`) {
		t.Errorf("an unresolved reference was lost: %s", b3)
	}
}
