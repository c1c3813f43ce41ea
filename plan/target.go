package plan

import (
	"fmt"
	"slices"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/lang"
	"github.com/tendhq/tend/resources"
)

// ResourceOf returns the resource address of a resource or instance
// address: file.site for file.site["a"].
func ResourceOf(addr string) string {
	if i := strings.IndexByte(addr, '['); i >= 0 {
		return addr[:i]
	}
	return addr
}

// CheckAddrs checks that each address (TYPE.NAME, or an instance
// TYPE.NAME["key"]) names a resource of the configuration; flag names
// the option they were given with, for the error, which suggests a
// declared address close to a misspelled one.
func CheckAddrs(cfg *lang.Config, flag string, addrs []string) error {
	for _, a := range addrs {
		r := ResourceOf(a)
		if cfg.Resource(r) != nil {
			if r != a && (!strings.HasPrefix(a[len(r):], "[") || !strings.HasSuffix(a, "]")) {
				return fmt.Errorf("%s %s: not a resource address (TYPE.NAME or TYPE.NAME[\"key\"])", flag, a)
			}
			continue
		}
		msg := fmt.Sprintf("%s %s: no resource %s is declared in %s", flag, a, r, cfg.Dir)
		if s := lang.Suggest(r, cfg.Addrs()); s != "" {
			msg += fmt.Sprintf("; did you mean %s?", s)
		}
		return fmt.Errorf("%s", msg)
	}
	return nil
}

// targeting is what --resource selects: whole resources (the targets
// given as TYPE.NAME, and everything a target depends on or notifies,
// transitively) and single instances (targets given as
// TYPE.NAME["key"]).
type targeting struct {
	resources map[string]bool
	instances map[string]bool
}

// newTargeting computes the resources and instances addrs select.
func newTargeting(cfg *lang.Config, addrs []string) *targeting {
	if len(addrs) == 0 {
		return nil
	}
	t := &targeting{resources: map[string]bool{}, instances: map[string]bool{}}
	var visit func(a string)
	visit = func(a string) {
		if t.resources[a] {
			return
		}
		t.resources[a] = true
		r := cfg.Resource(a)
		if r == nil {
			return
		}
		for _, d := range r.Deps {
			visit(d)
		}
		for _, n := range r.NotifyAddrs {
			visit(n)
		}
	}
	for _, a := range addrs {
		r := ResourceOf(a)
		if r != a {
			t.instances[a] = true
			rs := cfg.Resource(r)
			if rs == nil {
				continue
			}
			// The instance's dependencies come along whole.
			for _, d := range rs.Deps {
				visit(d)
			}
			for _, n := range rs.NotifyAddrs {
				visit(n)
			}
			continue
		}
		visit(a)
	}
	return t
}

// keep reports whether an instance is selected.
func (t *targeting) keep(in *lang.Instance) bool {
	return t == nil || t.resources[in.Resource.Addr()] || t.instances[in.Addr]
}

// replaced reports whether addrs (from --replace) name the instance, as
// itself or as its resource.
func replaced(addrs []string, in *lang.Instance) bool {
	return slices.Contains(addrs, in.Addr) || slices.Contains(addrs, in.Resource.Addr())
}

// ReplaceBase is the current state a replaced resource is applied from:
// what the host holds, without the attributes the configuration sets and
// without its content, so apply makes each of them again. It stays
// present: what apply replaces is kept for rollback (a file's content is
// backed up) as for any update.
// The attributes naming the resource (resources.Identifier) are kept.
func ReplaceBase(typ resources.Type, cur, desire *resources.State) *resources.State {
	var ident []string
	if id, ok := typ.(resources.Identifier); ok {
		ident = id.Identity()
	}
	c := *cur
	c.Attrs = make(map[string]cty.Value, len(cur.Attrs))
	for k, v := range cur.Attrs {
		if _, set := desire.Attrs[k]; !set || slices.Contains(ident, k) {
			c.Attrs[k] = v
		}
	}
	c.Content = nil
	return &c
}
