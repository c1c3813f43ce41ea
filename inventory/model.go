package inventory

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/redact"
	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/vault"
)

// model is every source's declarations merged the way Ansible's
// InventoryData merges them: one graph of groups and hosts shared by all
// sources, so a group's vars from one file apply to its hosts from
// another, and a host or group seen twice is the same host or group,
// with the later source's vars winning. Native HCL blocks add to the
// same graph. Nothing is resolved until resolve.
type model struct {
	groups     map[string]*group
	groupOrder []*group // in order of creation, as Ansible keeps them
	hosts      map[string]*host
	hostOrder  []*host
	defaults   *level   // a native defaults block, below everything
	varDirs    []string // directories whose group_vars/ and host_vars/ apply, in source order
	ansible    bool     // an Ansible source was read: subscripts use Ansible's order
	files      map[string]*hcl.File
	varsCache  map[string][]level
	diags      hcl.Diagnostics
	seenDiag   map[string]bool
	vault      *vault.Keyring  // passwords for Ansible Vault data; nil: none
	secret     map[string]bool // files that were encrypted: their vars are sensitive
}

// value is one variable as a source set it, and where. A native (HCL)
// value is never a Jinja template.
type value struct {
	v      cty.Value
	rng    hcl.Range
	native bool
}

// level is the variables and native settings one place contributes to a
// host: a defaults block, a group, a group_vars file, the host itself.
type level struct {
	vars  map[string]value
	layer *layer // native settings (HCL); nil for Ansible sources
}

type group struct {
	name      string
	priority  int // ansible_group_priority; 1 unless set
	depth     int // longest path from "all"; computed by resolve
	vars      map[string]value
	layer     *layer // settings of a native group block
	children  []*group
	parents   []*group
	hosts     []*host // direct members, in the order added
	declRange hcl.Range
}

type host struct {
	name      string
	vars      map[string]value
	layer     *layer // settings of a native host block, address included
	groups    []*group
	declRange hcl.Range
}

func newModel() *model {
	m := &model{
		groups:    map[string]*group{},
		hosts:     map[string]*host{},
		files:     map[string]*hcl.File{},
		varsCache: map[string][]level{},
		seenDiag:  map[string]bool{},
		secret:    map[string]bool{},
	}
	all := m.addGroup(GroupAll, hcl.Range{})
	m.addChild(all, m.addGroup(GroupUngrouped, hcl.Range{}))
	return m
}

// diag records a diagnostic once: a group's bad var is reported once,
// not once per host.
func (m *model) diag(d *hcl.Diagnostic) {
	key := fmt.Sprintf("%d|%s|%s|%v", d.Severity, d.Summary, d.Detail, d.Subject)
	if m.seenDiag[key] {
		return
	}
	m.seenDiag[key] = true
	m.diags = append(m.diags, d)
}

// addGroup returns the group with this name, creating it if needed.
func (m *model) addGroup(name string, rng hcl.Range) *group {
	if g := m.groups[name]; g != nil {
		if g.declRange.Filename == "" {
			g.declRange = rng
		}
		return g
	}
	g := &group{name: name, priority: 1, vars: map[string]value{}, declRange: rng}
	m.groups[name] = g
	m.groupOrder = append(m.groupOrder, g)
	return g
}

// addHost returns the host with this name, creating it if needed, and
// adds it to g (if not nil). A port is recorded as ansible_port only
// when the host is created, as in Ansible: "web1:2222" seen again later
// does not change the port.
func (m *model) addHost(name string, g *group, port int, rng hcl.Range) *host {
	h := m.hosts[name]
	if h == nil {
		h = &host{name: name, vars: map[string]value{}, declRange: rng}
		m.hosts[name] = h
		m.hostOrder = append(m.hostOrder, h)
		if port != 0 {
			h.vars["ansible_port"] = value{v: cty.NumberIntVal(int64(port)), rng: rng}
		}
	}
	if g != nil {
		g.addHost(h)
	}
	return h
}

func (g *group) addHost(h *host) {
	if slices.Contains(g.hosts, h) {
		return
	}
	g.hosts = append(g.hosts, h)
	h.groups = append(h.groups, g)
}

func (g *group) removeHost(h *host) {
	if i := slices.Index(g.hosts, h); i >= 0 {
		g.hosts = slices.Delete(g.hosts, i, i+1)
	}
	if i := slices.Index(h.groups, g); i >= 0 {
		h.groups = slices.Delete(h.groups, i, i+1)
	}
}

// addChild makes child a child group of parent. It refuses an edge that
// would make a group its own ancestor and returns the cycle it would
// close (child -> ... -> parent -> child).
func (m *model) addChild(parent, child *group) []string {
	if slices.Contains(parent.children, child) {
		return nil
	}
	if path := descentPath(child, parent); path != nil {
		return append(path, child.name)
	}
	parent.children = append(parent.children, child)
	child.parents = append(child.parents, parent)
	return nil
}

// descentPath returns the names of a chain of children from -> ... -> to,
// or nil when to is not from or a descendant of it.
func descentPath(from, to *group) []string {
	seen := map[*group]bool{}
	var walk func(g *group) []string
	walk = func(g *group) []string {
		if g == to {
			return []string{g.name}
		}
		if seen[g] {
			return nil
		}
		seen[g] = true
		for _, c := range g.children {
			if p := walk(c); p != nil {
				return append([]string{g.name}, p...)
			}
		}
		return nil
	}
	return walk(from)
}

// setGroupVar sets a group variable as Ansible's Group.set_variable does:
// ansible_group_priority is not a variable but the group's priority.
func (m *model) setGroupVar(g *group, key string, v value) {
	if key == "ansible_group_priority" {
		p, err := groupPriority(v.v)
		if err != nil {
			m.diag(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid ansible_group_priority",
				Detail:   fmt.Sprintf("Group %q: %s.", g.name, err),
				Subject:  v.rng.Ptr(),
			})
			return
		}
		g.priority = p
		return
	}
	g.vars[key] = v
}

// groupPriority is Python's int() of the value, as Ansible applies it.
func groupPriority(v cty.Value) (int, error) {
	v, _ = v.Unmark()
	switch {
	case v.IsNull():
		return 0, fmt.Errorf("the priority must be a number, not null")
	case v.Type() == cty.Bool:
		if v.True() {
			return 1, nil
		}
		return 0, nil
	case v.Type() == cty.Number:
		f := v.AsBigFloat()
		i, _ := f.Int64()
		return int(i), nil
	case v.Type() == cty.String:
		n, err := parsePyInt(v.AsString())
		if err != nil {
			return 0, fmt.Errorf("%q is not an integer", v.AsString())
		}
		return n, nil
	}
	return 0, fmt.Errorf("the priority must be a number")
}

// reconcile applies Ansible's rules once every source is read: every
// group without a parent is a child of "all"; a host in no group but
// "all" is in "ungrouped", and a host in another group is not.
func (m *model) reconcile() {
	all, ungrouped := m.groups[GroupAll], m.groups[GroupUngrouped]
	for _, g := range m.groupOrder {
		if g != all && len(g.parents) == 0 {
			m.addChild(all, g)
		}
	}
	for _, h := range m.hostOrder {
		mine := h.memberOf()
		if mine[ungrouped] {
			for g := range mine {
				if g != all && g != ungrouped {
					ungrouped.removeHost(h)
					break
				}
			}
		} else if len(mine) == 0 || (len(mine) == 1 && mine[all]) {
			ungrouped.addHost(h)
		}
	}
	// A group's depth is the longest path to it from "all", which is
	// where Ansible's incremental bookkeeping ends up.
	var depth func(g *group, seen map[*group]bool) int
	memo := map[*group]int{}
	depth = func(g *group, seen map[*group]bool) int {
		if d, ok := memo[g]; ok {
			return d
		}
		if g == all || seen[g] {
			return 0
		}
		seen[g] = true
		d := 0
		for _, p := range g.parents {
			d = max(d, depth(p, seen)+1)
		}
		delete(seen, g)
		memo[g] = d
		return d
	}
	for _, g := range m.groupOrder {
		g.depth = depth(g, map[*group]bool{})
	}
}

// memberOf returns the groups h is in, directly or through children.
func (h *host) memberOf() map[*group]bool {
	in := map[*group]bool{}
	var up func(g *group)
	up = func(g *group) {
		if in[g] {
			return
		}
		in[g] = true
		for _, p := range g.parents {
			up(p)
		}
	}
	for _, g := range h.groups {
		up(g)
	}
	return in
}

// sortGroups orders groups as Ansible's sort_groups does, which is the
// order their vars apply in: by depth, then ansible_group_priority, then
// name; later wins.
func sortGroups(gs []*group) {
	sort.SliceStable(gs, func(i, j int) bool {
		a, b := gs[i], gs[j]
		if a.depth != b.depth {
			return a.depth < b.depth
		}
		if a.priority != b.priority {
			return a.priority < b.priority
		}
		return a.name < b.name
	})
}

// orderedHosts is Ansible's Group.get_hosts(): the group's own hosts in
// the order added, then its children's, level by level. (Ansible walks
// the levels below the first in hash order; here they are walked in the
// order the children were added.)
func (g *group) orderedHosts() []*host {
	var out []*host
	seenHost := map[*host]bool{}
	seenGroup := map[*group]bool{g: true}
	levelGroups := []*group{g}
	for len(levelGroups) > 0 {
		var next []*group
		for _, lg := range levelGroups {
			for _, h := range lg.hosts {
				if !seenHost[h] {
					seenHost[h] = true
					out = append(out, h)
				}
			}
		}
		for _, lg := range levelGroups {
			for _, c := range lg.children {
				if !seenGroup[c] {
					seenGroup[c] = true
					next = append(next, c)
				}
			}
		}
		levelGroups = next
	}
	return out
}

// resolve computes every host's groups, vars and settings, and indexes
// them into an Inventory.
func (m *model) resolve() *Inventory {
	m.reconcile()

	hosts := make(map[*host]*Host, len(m.hostOrder))
	for _, h := range m.hostOrder {
		hosts[h] = m.resolveHost(h)
	}

	var out []*Host
	for _, h := range m.hostOrder {
		out = append(out, hosts[h])
	}
	var names []string
	for _, g := range m.groupOrder {
		names = append(names, g.name)
	}
	inv := newInventory(out, names)
	if m.ansible {
		inv.groupOrder = names
		inv.hostOrder = out
		inv.ordered = map[string][]*Host{}
		for _, g := range m.groupOrder {
			var members []*Host
			for _, h := range g.orderedHosts() {
				members = append(members, hosts[h])
			}
			inv.ordered[g.name] = members
		}
	}

	for _, g := range m.groupOrder {
		h := m.hosts[g.name]
		if h == nil {
			continue
		}
		r := g.declRange
		if r.Filename == "" {
			r = h.declRange
		}
		m.diag(&hcl.Diagnostic{
			Severity: hcl.DiagWarning,
			Summary:  "Host and group share a name",
			Detail:   fmt.Sprintf("%q is both a host and a group. In host patterns, as in Ansible, the name alone selects the host, and &%s or !%s the group.", g.name, g.name, g.name),
			Subject:  r.Ptr(),
		})
	}
	return inv
}

// resolveHost merges a host's vars and settings, lowest first, in
// Ansible's order (VARIABLE_PRECEDENCE's default): the native defaults
// block; group "all"; the host's other groups by sortGroups; every
// source's group_vars/all; every source's group_vars for those groups;
// the host itself; every source's host_vars. Vars replace whole values.
func (m *model) resolveHost(h *host) *Host {
	mine := h.memberOf()
	all := m.groups[GroupAll]
	var groups []*group
	for g := range mine {
		if g != all {
			groups = append(groups, g)
		}
	}
	sortGroups(groups)

	var levels []level
	if m.defaults != nil {
		levels = append(levels, *m.defaults)
	}
	levels = append(levels, level{vars: all.vars, layer: all.layer})
	for _, g := range groups {
		levels = append(levels, level{vars: g.vars, layer: g.layer})
	}
	for _, dir := range m.varDirs {
		levels = append(levels, m.varsFiles(dir, "group_vars", GroupAll)...)
	}
	for _, dir := range m.varDirs {
		for _, g := range groups {
			levels = append(levels, m.varsFiles(dir, "group_vars", g.name)...)
		}
	}
	levels = append(levels, level{vars: h.vars, layer: h.layer})
	for _, dir := range m.varDirs {
		levels = append(levels, m.varsFiles(dir, "host_vars", h.name)...)
	}

	out := &Host{
		Name:      h.name,
		Address:   h.name,
		Transport: "ssh",
		Vars:      map[string]cty.Value{},
		DeclRange: h.declRange,
	}
	for g := range mine {
		out.Groups = append(out.Groups, g.name)
	}
	if !mine[all] {
		out.Groups = append(out.Groups, GroupAll)
	}
	sort.Strings(out.Groups)

	merged := map[string]value{}
	rank := map[string]int{}
	var layers []rankedLayer
	for i, lv := range levels {
		for k, v := range lv.vars {
			merged[k] = v
			rank[k] = i
		}
		if lv.layer != nil {
			layers = append(layers, rankedLayer{rank: i, layer: lv.layer})
		}
	}
	// Vars of encrypted files are sensitive, and so is what a template
	// makes of them. (Connection settings are not registered for
	// redaction by value: an address would be scrubbed from every line.)
	for k, v := range merged {
		if m.secret[v.rng.Filename] {
			if !connectionVars[k] {
				redact.Default.AddValue(v.v)
			}
			v.v = v.v.Mark(resources.Sensitive)
			merged[k] = v
		}
	}
	scope := newTmplScope(h.name, out.Groups, merged)
	layers = append(layers, m.connectionLayers(scope, merged, rank)...)
	// Native settings and settings from Ansible's connection variables
	// apply together, by where they were set; at the same place the
	// variable wins.
	sort.SliceStable(layers, func(i, j int) bool { return layers[i].rank < layers[j].rank })
	ansibleTransport, schemeSet := false, false
	for _, l := range layers {
		l.layer.applyTo(out)
		if l.layer.transport != nil {
			ansibleTransport = l.ansible
		}
		schemeSet = schemeSet || l.layer.winrmHTTPS != nil
	}
	for k := range merged {
		if connectionVars[k] {
			continue
		}
		// A template tend cannot render leaves the variable unknown,
		// marked with why: configuration that uses it fails with that
		// reason, and an inventory var nothing uses does no harm, as
		// Ansible renders a variable only where it is used.
		rv, err := scope.lookup(k)
		if err != nil {
			rv = cty.DynamicVal.Mark(resources.UnresolvedSecret{Var: k, Reason: err.Error()})
		}
		out.Vars[k] = rv
	}
	if out.Transport == "winrm" && ansibleTransport {
		finishWinRM(out, schemeSet)
	}
	return out
}

// rankedLayer is a layer of settings and the precedence of the place
// that set it; ansible marks one made from Ansible connection variables.
type rankedLayer struct {
	rank    int
	layer   *layer
	ansible bool
}

// joinNames lists names for a message, shortening long lists.
func joinNames(names []string) string {
	const most = 5
	if len(names) > most {
		return strings.Join(names[:most], ", ") + fmt.Sprintf(" and %d more", len(names)-most)
	}
	return strings.Join(names, ", ")
}

// decrypt returns src decrypted when it is an Ansible Vault text (a
// whole file encrypted with ansible-vault), and records the file as
// secret: its vars are marked sensitive and its text is never shown in
// a diagnostic. Other sources are returned as they are.
func (m *model) decrypt(src []byte, path string) ([]byte, error) {
	if !vault.IsEncrypted(src) {
		return src, nil
	}
	plain, err := m.vault.Decrypt(src, path)
	if err != nil {
		return nil, err
	}
	m.secret[path] = true
	return plain, nil
}

// hideSecretFiles keeps only the names of decrypted files, so that a
// diagnostic in one shows its place but not its text.
func (m *model) hideSecretFiles() {
	for path := range m.secret {
		m.files[path] = &hcl.File{Body: hcl.EmptyBody()}
	}
}
