package pkg

import (
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/resources/pkg/pkgtest"
)

// versionsStep is the contract timeline every provider must pass, with
// its own spelling of versions.
func versionsSteps(t *testing.T, provider, v1, v2, v1pin string, installed func(name string) string) []pkgtest.Step {
	s := cty.StringVal
	cfg := func(kv ...string) map[string]cty.Value {
		m := map[string]cty.Value{"provider": s(provider)}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = s(kv[i+1])
		}
		return m
	}
	expect := func(name, want string) func(t *testing.T, _ *resources.State) {
		return func(t *testing.T, _ *resources.State) {
			t.Helper()
			if got := installed(name); got != want {
				t.Errorf("%s installed: %q, want %q", name, got, want)
			}
		}
	}
	return []pkgtest.Step{
		{Name: "install", Config: cfg("name", "tend-other"), Want: plan.Create, Check: expect("tend-other", v1),
			AfterRevert: func(t *testing.T) { expect("tend-other", "")(t, nil) }},
		{Name: "no-op", Config: cfg("name", "tend-other"), Want: plan.NoOp},
		{Name: "pin", Config: cfg("name", "tend-hello", "version", v1pin), Want: plan.Create, Check: expect("tend-hello", v1)},
		{Name: "pinned no-op", Config: cfg("name", "tend-hello", "version", v1pin), Want: plan.NoOp},
		{Name: "latest", Config: cfg("name", "tend-hello", "state", "latest"), Want: plan.Update,
			Check: func(t *testing.T, st *resources.State) {
				expect("tend-hello", v2)(t, st)
				expect("tend-dep", v1)(t, st) // pulled in by tend-hello 2.0
			},
			// The rollback reinstalls 1.0 and removes the dependency
			// the upgrade pulled in.
			AfterRevert: func(t *testing.T) {
				expect("tend-hello", v1)(t, nil)
				expect("tend-dep", "")(t, nil)
			}},
		{Name: "latest no-op", Config: cfg("name", "tend-hello", "state", "latest"), Want: plan.NoOp},
		{Name: "downgrade", Config: cfg("name", "tend-hello", "version", v1pin), Want: plan.Update, Check: expect("tend-hello", v1)},
		{Name: "unavailable pin", Config: cfg("name", "tend-hello", "version", "9.9"),
			WantError: `version "9.9" of tend-hello is not available from the host's package sources (available: `},
		{Name: "absent", Config: cfg("name", "tend-hello", "state", "absent"), Want: plan.Delete, Check: expect("tend-hello", ""),
			AfterRevert: func(t *testing.T) { expect("tend-hello", v1)(t, nil) }},
		{Name: "absent no-op", Config: cfg("name", "tend-nonexistent", "state", "absent"), Want: plan.NoOp},
	}
}
