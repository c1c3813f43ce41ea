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
		return &Change{Address: "file." + name, Action: Create, Resource: resources.File{},
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

// TestOrderNotByAttributeName: the planner orders by the path a type says
// its resources occupy, not by an attribute that happens to be called
// "path".
func TestOrderNotByAttributeName(t *testing.T) {
	mk := func(typ resources.Type, name, path string) *Change {
		r := &lang.Resource{Type: typ, Name: name}
		return &Change{Address: typ.Name() + "." + name, Action: Create, Resource: typ,
			After:    &resources.State{Present: true, Attrs: map[string]cty.Value{"path": cty.StringVal(path)}},
			Instance: &lang.Instance{Resource: r, Addr: typ.Name() + "." + name}}
	}
	hp := &HostPlan{Changes: []*Change{mk(notOccupant{}, "inner", "/srv/a/b"), mk(notOccupant{}, "outer", "/srv/a")}}
	order(hp, nil)
	if got := []string{hp.Changes[0].Address, hp.Changes[1].Address}; got[0] != "mount.inner" || len(hp.Changes[0].Deps)+len(hp.Changes[1].Deps) != 0 {
		t.Errorf("a type that occupies no path was ordered by its path attribute: %v, deps %v %v", got, hp.Changes[0].Deps, hp.Changes[1].Deps)
	}
	hp = &HostPlan{Changes: []*Change{mk(resources.File{}, "inner", "/srv/a/b"), mk(resources.Directory{}, "outer", "/srv/a")}}
	order(hp, nil)
	if hp.Changes[0].Address != "directory.outer" {
		t.Errorf("a file was not ordered after the directory holding it: %s first", hp.Changes[0].Address)
	}
}

// notOccupant has a schema with path but none of the file types' methods.
type notOccupant struct{ resources.Type }

func (notOccupant) Name() string { return "mount" }
