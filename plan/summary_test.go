package plan

import (
	"errors"
	"testing"
)

// TestSummaryOfFailedHost: a plan whose only host failed does not say
// "No changes.": that host may well need some.
func TestSummaryOfFailedHost(t *testing.T) {
	cases := map[string]struct {
		p    *Plan
		want string
	}{
		"failed": {&Plan{Hosts: []*HostPlan{{Name: "h1", Err: errors.New("unreachable")}}},
			"Plan: no changes on 0 of 1 hosts. 1 host failed: h1."},
		"one failed, one unchanged": {&Plan{Hosts: []*HostPlan{{Name: "h1", Err: errors.New("unreachable")}, {Name: "h2"}}},
			"Plan: no changes on 1 of 2 hosts. 1 host failed: h1."},
		"unchanged": {&Plan{Hosts: []*HostPlan{{Name: "h2"}}},
			"No changes. 1 of 1 hosts match the configuration."},
	}
	for name, c := range cases {
		if got := (&Renderer{}).Summary(c.p); got != c.want {
			t.Errorf("%s: %q, want %q", name, got, c.want)
		}
	}
}
