package plan

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/lang"
	"github.com/tendhq/tend/resources"
)

// TestOrderPaths: a change whose path lies inside another's follows it
// when created and precedes it when removed; a path that only shares a
// prefix ("/srv/ab" and "/srv/a") or a trailing slash ("/srv/a/") does not
// confuse it; unrelated changes keep their order.
func TestOrderPaths(t *testing.T) {
	mk := func(name, path string, present bool) *Change {
		r := &lang.Resource{Type: resources.File{}, Name: name}
		return &Change{Address: "file." + name, Action: Create,
			After:    &resources.State{Present: present, Attrs: map[string]cty.Value{"path": cty.StringVal(path)}},
			Instance: &lang.Instance{Resource: r, Addr: "file." + name}}
	}
	hp := &HostPlan{Changes: []*Change{
		mk("inner", "/srv/a/b/c", true),
		mk("gone", "/srv/a/old", false),
		mk("sibling", "/srv/ab", true),
		mk("file", "/srv/a/b", true),
		mk("dir", "/srv/a/", true),
		mk("other", "/etc/x", true),
	}}
	order(hp, nil)
	var got []string
	deps := map[string][]string{}
	for _, ch := range hp.Changes {
		got = append(got, ch.Address)
		deps[ch.Address] = ch.Deps
	}
	want := []string{"file.gone", "file.dir", "file.file", "file.inner", "file.sibling", "file.other"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("order (-want +got):\n%s", d)
	}
	wantDeps := map[string][]string{
		"file.inner":   {"file.dir", "file.file"},
		"file.gone":    nil,
		"file.sibling": nil,
		"file.file":    {"file.dir"},
		"file.dir":     {"file.gone"},
		"file.other":   nil,
	}
	if d := cmp.Diff(wantDeps, deps); d != "" {
		t.Errorf("deps (-want +got):\n%s", d)
	}
}
