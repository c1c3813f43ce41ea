package inventory

import (
	"slices"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Well-known group names. Every host is in GroupAll; a host that names no
// group of its own is also in GroupUngrouped (Ansible's convention, so
// patterns written for Ansible keep working).
const (
	GroupAll       = "all"
	GroupUngrouped = "ungrouped"
)

// Inventory is a resolved set of hosts and groups: every Host already
// carries its merged vars and connection settings, so consumers never
// re-apply precedence rules.
type Inventory struct {
	hosts  []*Host // sorted by name
	byName map[string]*Host
	groups map[string][]*Host // group name -> members, sorted by name
	files  map[string]*hcl.File

	// Ansible's order, which subscripts (web[0]) and globs count in:
	// groups and hosts in the order sources created them, and each
	// group's members as Ansible's Group.get_hosts() lists them. For an
	// inventory of native HCL files only, these are nil and name order
	// is used instead.
	groupOrder []string
	hostOrder  []*Host
	ordered    map[string][]*Host

	facts FactsCache // nil: fact selectors use only what the inventory says
}

// newInventory indexes hosts whose Groups are already resolved. Groups in
// extra exist even when no host is in them (declared but empty groups).
func newInventory(hosts []*Host, extra []string) *Inventory {
	inv := &Inventory{
		hosts:  slices.Clone(hosts),
		byName: make(map[string]*Host, len(hosts)),
		groups: map[string][]*Host{GroupAll: nil, GroupUngrouped: nil},
	}
	sort.Slice(inv.hosts, func(i, j int) bool { return inv.hosts[i].Name < inv.hosts[j].Name })
	for _, g := range extra {
		if _, ok := inv.groups[g]; !ok {
			inv.groups[g] = nil
		}
	}
	for _, h := range inv.hosts {
		inv.byName[h.Name] = h
		for _, g := range h.Groups {
			inv.groups[g] = append(inv.groups[g], h)
		}
	}
	return inv
}

// Localhost is the inventory used when none is given: tend then manages
// the machine it runs on, without ssh.
func Localhost() *Inventory {
	return newInventory([]*Host{{
		Name:      "localhost",
		Address:   "localhost",
		Transport: "local",
		Groups:    []string{GroupAll, GroupUngrouped},
		Vars:      map[string]cty.Value{},
	}}, nil)
}

// Hosts returns every host sorted by name; that order is also the order of
// every selection, so runs and output are deterministic.
func (inv *Inventory) Hosts() []*Host {
	return slices.Clone(inv.hosts)
}

// Host returns the host with this inventory name, or nil.
func (inv *Inventory) Host(name string) *Host {
	return inv.byName[name]
}

// Groups returns every group name, sorted, including "all" and
// "ungrouped" and groups that are only named by a host or as a child.
func (inv *Inventory) Groups() []string {
	names := make([]string, 0, len(inv.groups))
	for g := range inv.groups {
		names = append(names, g)
	}
	sort.Strings(names)
	return names
}

// GroupHosts returns the members of a group (including members of its
// child groups), sorted by name; nil for an unknown group.
func (inv *Inventory) GroupHosts(name string) []*Host {
	return slices.Clone(inv.groups[name])
}

// HasGroup reports whether name is a group, even an empty one; patterns
// use it to tell an empty group from a typo.
func (inv *Inventory) HasGroup(name string) bool {
	_, ok := inv.groups[name]
	return ok
}

// Files returns the parsed inventory sources by file name, so the CLI can
// print diagnostics with source snippets (hcl.NewDiagnosticTextWriter).
func (inv *Inventory) Files() map[string]*hcl.File {
	return inv.files
}
