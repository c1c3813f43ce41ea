package plan

import (
	"context"
	"errors"
	"fmt"
	"path"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/inventory"
	"github.com/tendhq/tend/lang"
	"github.com/tendhq/tend/probe"
	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/transport"
)

// Connector opens a host's transport.
type Connector func(ctx context.Context, h *inventory.Host) (transport.Transport, error)

// Planner makes plans.
type Planner struct {
	Config    *lang.Config
	Vars      map[string]cty.Value
	Inventory *inventory.Inventory
	Connect   Connector
	// Parallel bounds how many hosts are planned at once.
	Parallel int
	// Progress, when set, is told when each host is done.
	Progress func(h *HostPlan)
	// CloseEach closes each host's connection as soon as its plan is
	// complete (HostPlan.T is then nil), for a plan that will not be
	// applied: a fleet's connections are then open at most Parallel at a
	// time, not all until the end.
	CloseEach bool
	// Resources, when set, are the only resources planned (--resource):
	// addresses of resources (TYPE.NAME) or instances (TYPE.NAME["key"]),
	// and, whole, every resource they depend on or notify. CheckAddrs
	// checks them first.
	Resources []string
	// Replace are resources or instances planned as replaced even when
	// they match (--replace; see ReplaceBase).
	Replace []string

	targetOnce sync.Once
	targets    *targeting

	roles map[*lang.Role]map[string]bool

	// checked holds each host's evaluation by Check (facts unknown),
	// which planHost's first pass reuses: evaluating a host's
	// configuration is most of the controller's work for it.
	mu      sync.Mutex
	checked map[string]*evaluated
}

// evaluated is a host's evaluation: its instances, and the desired
// states of those whose configuration is wholly known, by address.
type evaluated struct {
	insts []*lang.Instance
	wants map[string]*resources.State
}

// expandStatic is expand with facts unknown, evaluated once per host
// for Check and planHost together.
func (p *Planner) expandStatic(h *inventory.Host) (*evaluated, hcl.Diagnostics) {
	p.mu.Lock()
	ev, ok := p.checked[h.Name]
	p.mu.Unlock()
	if ok {
		return ev, nil
	}
	ev, diags := p.expand(h, probe.UnknownValue(), true)
	if !diags.HasErrors() {
		p.mu.Lock()
		if p.checked == nil {
			p.checked = map[string]*evaluated{}
		}
		if len(p.checked) < p.keepChecked() {
			p.checked[h.Name] = ev
		}
		p.mu.Unlock()
	}
	return ev, diags
}

// keepChecked is how many hosts' evaluations Check keeps for planning:
// the first hosts planned, a few times Parallel. The others are evaluated
// again when planned, so that a large fleet's evaluations are not all
// held at once.
func (p *Planner) keepChecked() int {
	n := p.Parallel
	if n <= 0 {
		n = 32
	}
	return max(4*n, 256)
}

// Check validates configuration against the targeted hosts without
// connecting to any: role patterns, evaluation with facts unknown,
// attribute values, and two resources managing the same thing on a host.
//
// The hosts are evaluated in parallel, one per CPU (it is CPU work, which
// for a large fleet would otherwise delay every connection), and the
// evaluations of the first hosts are kept for planning (keepChecked). The diagnostics are those of the
// hosts in order, up to the first with errors: the same mistake would
// repeat for every host, so hosts after one that failed are skipped.
func (p *Planner) Check(hosts []*inventory.Host) hcl.Diagnostics {
	diags := p.selectRoles()
	if diags.HasErrors() {
		return diags
	}
	per := make([]hcl.Diagnostics, len(hosts))
	var mu sync.Mutex
	firstErr := len(hosts) // the first host, in order, known to fail
	next := 0              // the next host to evaluate
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(hosts)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				if i >= firstErr {
					mu.Unlock()
					return
				}
				mu.Unlock()
				_, ds := p.expandStatic(hosts[i])
				mu.Lock()
				per[i] = ds
				if ds.HasErrors() && i < firstErr {
					firstErr = i
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, ds := range per {
		diags = append(diags, ds...)
		if ds.HasErrors() {
			break
		}
	}
	return dedupe(diags)
}

func dedupe(diags hcl.Diagnostics) hcl.Diagnostics {
	seen := map[string]bool{}
	var out hcl.Diagnostics
	for _, d := range diags {
		k := d.Summary + "|" + d.Detail
		if d.Subject != nil {
			k += "|" + d.Subject.String()
		}
		if !seen[k] {
			seen[k] = true
			out = append(out, d)
		}
	}
	return out
}

// selectRoles evaluates every role's hosts pattern against the inventory.
func (p *Planner) selectRoles() hcl.Diagnostics {
	if p.roles != nil {
		return nil
	}
	pats, diags := p.Config.RoleHosts(p.Vars)
	if diags.HasErrors() {
		return diags
	}
	p.roles = map[*lang.Role]map[string]bool{}
	for _, r := range p.Config.Roles {
		pat, ok := pats[r]
		if !ok {
			continue
		}
		hosts, err := p.Inventory.SelectString(pat)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid hosts pattern",
				Detail: fmt.Sprintf("Role %q: %s.", r.Name, err), Subject: r.HostsExpr.Range().Ptr()})
			continue
		}
		set := map[string]bool{}
		for _, h := range hosts {
			set[h.Name] = true
		}
		p.roles[r] = set
	}
	return diags
}

// expand evaluates the configuration for one host and checks it. With
// facts unknown, checks needing values not known yet are left for later.
func (p *Planner) expand(h *inventory.Host, facts cty.Value, static bool) (*evaluated, hcl.Diagnostics) {
	insts, diags := p.Config.Expand(p.Vars, lang.HostScope{Name: h.Name, Vars: h.Vars, Facts: facts},
		func(r *lang.Role) bool { return p.roles[r][h.Name] })
	if diags.HasErrors() {
		return nil, diags
	}
	p.targetOnce.Do(func() { p.targets = newTargeting(p.Config, p.Resources) })
	if p.targets != nil {
		kept := insts[:0:0]
		for _, in := range insts {
			if p.targets.keep(in) {
				kept = append(kept, in)
			}
		}
		insts = kept
	}
	ev := &evaluated{insts: insts, wants: make(map[string]*resources.State, len(insts))}
	keys := map[string]*lang.Instance{}
	windows := h.Windows()
	for _, in := range insts {
		typ := resources.OnHost(in.Resource.Type, windows)
		cfg := in.Config
		if static && !in.Known {
			cfg = nullUnknowns(cfg)
		}
		if err := resources.CheckOS(typ, cfg, windows); err != nil {
			diags = append(diags, attrDiag(in, err))
			continue
		}
		key, err := typ.Key(cfg)
		if err != nil {
			if !static || in.Known {
				diags = append(diags, attrDiag(in, err))
			}
			continue
		}
		if key != "" {
			if o, ok := keys[key]; ok {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Two resources manage the same thing",
					Detail: fmt.Sprintf("On host %s, %s and %s (declared at %s) both manage %s. Remove one of them.",
						h.Name, in.Addr, o.Addr, o.Resource.DeclRange, key),
					Subject: in.Resource.DeclRange.Ptr()})
				continue
			}
			keys[key] = in
		}
		if in.Known {
			want, err := typ.Desired(in.Config, p.Config.Env())
			if err != nil {
				diags = append(diags, attrDiag(in, err))
				continue
			}
			ev.wants[in.Addr] = want
		}
	}
	return ev, diags
}

// unresolvedSecrets reports each secret a host's instances need that
// could not be resolved (lang.Secrets), naming the reference, the
// resource and the host. Checking the configuration lets such a secret be
// unknown; planning a host that needs it cannot.
func unresolvedSecrets(h *inventory.Host, insts []*lang.Instance) hcl.Diagnostics {
	var diags hcl.Diagnostics
	seen := map[string]bool{}
	for _, in := range insts {
		for _, u := range in.Unresolved {
			if k := in.Addr + "\x00" + u.Secret.Ref + "\x00" + u.Secret.Var; !seen[k] {
				seen[k] = true
				subject := in.Resource.DeclRange
				switch a := u.Attr(); {
				case a == "when" && in.Resource.When != nil:
					subject = in.Resource.When.Range()
				case a != "":
					subject = in.Resource.AttrRange(a)
				}
				if u.Secret.Var != "" {
					diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Inventory variable not available",
						Detail:  fmt.Sprintf("host.vars.%s is needed by %s on %s: %s.", u.Secret.Var, in.Addr, h.Name, u.Secret.Reason),
						Subject: &subject})
					continue
				}
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Secret not available",
					Detail:  fmt.Sprintf("secret(%q) is needed by %s on %s: %s.", u.Secret.Ref, in.Addr, h.Name, u.Secret.Reason),
					Subject: &subject})
			}
		}
	}
	return diags
}

// attrDiag turns a type's error into a diagnostic at the attribute.
func attrDiag(in *lang.Instance, err error) *hcl.Diagnostic {
	var ae *resources.AttrError
	if errors.As(err, &ae) {
		return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid value for " + ae.Attr,
			Detail: fmt.Sprintf("%s: %s", in.Addr, ae.Msg), Subject: in.Resource.AttrRange(ae.Attr).Ptr()}
	}
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid resource",
		Detail: fmt.Sprintf("%s: %s", in.Addr, err), Subject: in.Resource.DeclRange.Ptr()}
}

// nullUnknowns replaces unknown values with nulls, so a type can build a
// probe from what is known.
func nullUnknowns(v cty.Value) cty.Value {
	out, _ := cty.Transform(v, func(_ cty.Path, v cty.Value) (cty.Value, error) {
		if !v.IsKnown() {
			return cty.NullVal(v.Type()), nil
		}
		return v, nil
	})
	return out
}

// DiagError is a host's configuration error found only once its facts
// were known; it keeps the diagnostics' positions.
type DiagError struct{ Diags hcl.Diagnostics }

func (e *DiagError) Error() string { return e.Diags.Error() }

// Plan connects to each host, probes it in one round trip and computes
// its changes. Host failures are recorded in the host's plan, not
// returned: the other hosts proceed.
func (p *Planner) Plan(ctx context.Context, hosts []*inventory.Host) (*Plan, hcl.Diagnostics) {
	if diags := p.Check(hosts); diags.HasErrors() {
		return nil, diags
	}
	pl := &Plan{Created: time.Now().UTC(), Hosts: make([]*HostPlan, len(hosts))}
	n := p.Parallel
	if n <= 0 {
		n = 32
	}
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			start := time.Now()
			hp := p.planHost(ctx, h)
			hp.Duration = time.Since(start)
			if p.CloseEach && hp.T != nil {
				hp.T.Close()
				hp.T = nil
			}
			pl.Hosts[i] = hp
			if p.Progress != nil {
				p.Progress(hp)
			}
		}()
	}
	wg.Wait()
	return pl, nil
}

func (p *Planner) planHost(ctx context.Context, h *inventory.Host) *HostPlan {
	hp := &HostPlan{Name: h.Name, Address: h.Address, Groups: h.Groups, Windows: h.Windows()}
	// Pass 1: facts unknown; probe everything whose identity is known.
	ev1, diags := p.expandStatic(h)
	if diags.HasErrors() {
		hp.Err = &DiagError{diags}
		return hp
	}
	// Check's evaluation serves this pass only: not kept for the fleet.
	p.mu.Lock()
	delete(p.checked, h.Name)
	p.mu.Unlock()
	insts1, wants := ev1.insts, ev1.wants
	// same: no resource reads the facts, so the first pass's evaluation
	// is the host's (and its desired states too).
	same := !p.Config.UsesFacts()
	if same {
		if diags := unresolvedSecrets(h, insts1); diags.HasErrors() {
			hp.Err = &DiagError{diags}
			return hp
		}
	}
	var frags []probe.Fragment
	// probed: what pass 1 probes; base: its probe without a desired
	// state, to tell in pass 2 whether the facts changed what a resource
	// reads (only when there is a pass 2).
	probed, base := map[string]bool{}, map[string]string{}
	for _, in := range insts1 {
		typ := resources.OnHost(in.Resource.Type, hp.Windows)
		cfg := in.Config
		if !in.Known {
			cfg = nullUnknowns(cfg)
		}
		if _, err := typ.Key(cfg); err != nil {
			continue
		}
		if _, direct := typ.(resources.DirectReader); direct {
			continue // read over its own connection, below
		}
		probed[in.Addr] = true
		if !same {
			base[in.Addr] = typ.Probe(cfg, nil)
		}
		frags = append(frags, probe.For(in.Addr, typ, cfg, wants[in.Addr]))
	}
	t, err := p.Connect(ctx, h)
	if err != nil {
		hp.Err = &UnreachableError{err}
		return hp
	}
	hp.T = t
	res, err := probe.RunOn(ctx, t, hp.Windows, true, frags)
	if err != nil {
		hp.Err = &UnreachableError{fmt.Errorf("probe: %w", err)}
		return hp
	}
	hp.Facts = res.Facts
	// Pass 2: with facts, unless no resource reads them.
	insts := insts1
	if !same {
		ev, diags := p.expand(h, res.Facts.Value(), false)
		if !diags.HasErrors() {
			diags = unresolvedSecrets(h, ev.insts)
		}
		if diags.HasErrors() {
			hp.Err = &DiagError{diags}
			return hp
		}
		insts, wants = ev.insts, ev.wants
	}
	type planned struct {
		in     *lang.Instance
		desire *resources.State
	}
	var items []planned
	var again []probe.Fragment
	for _, in := range insts {
		typ := resources.OnHost(in.Resource.Type, hp.Windows)
		d, err := wants[in.Addr], error(nil)
		if d == nil {
			d, err = typ.Desired(in.Config, p.Config.Env())
		}
		if err != nil {
			hp.Err = &DiagError{hcl.Diagnostics{attrDiag(in, err)}}
			return hp
		}
		items = append(items, planned{in, d})
		if _, direct := typ.(resources.DirectReader); direct {
			continue
		}
		if !probed[in.Addr] || (!same && base[in.Addr] != typ.Probe(in.Config, nil)) {
			again = append(again, probe.For(in.Addr, typ, in.Config, d))
		}
	}
	if len(again) > 0 {
		// Only resources whose identity depends on facts need this second
		// round trip.
		res2, err := probe.RunOn(ctx, t, hp.Windows, false, again)
		if err != nil {
			hp.Err = fmt.Errorf("probe: %w", err)
			return hp
		}
		for k, v := range res2.Outputs {
			res.Outputs[k] = v
		}
		for k, v := range res2.Failed {
			res.Failed[k] = v
		}
	}
	byAddr := map[string]*Change{}
	deferred := map[string]*resources.NotYetError{}
	for _, it := range items {
		in := it.in
		typ := resources.OnHost(in.Resource.Type, hp.Windows)
		if msg, ok := res.Failed[in.Addr]; ok {
			hp.Err = fmt.Errorf("probe of %s failed: %s", in.Addr, msg)
			return hp
		}
		var cur *resources.State
		if dr, ok := typ.(resources.DirectReader); ok {
			cur, err = dr.ReadCurrent(ctx, &resources.Host{Name: h.Name, T: t}, in.Config, it.desire)
		} else {
			cur, err = typ.Read(in.Config, res.Outputs[in.Addr])
		}
		var notYet *resources.NotYetError
		if errors.As(err, &notYet) {
			cur, err = &resources.State{Attrs: map[string]cty.Value{}}, nil
			deferred[in.Addr] = notYet
		}
		if err != nil {
			hp.Err = fmt.Errorf("%s: %w", in.Addr, err)
			return hp
		}
		desire := it.desire
		if rs, ok := typ.(resources.Resolver); ok {
			if desire, err = rs.Resolve(in.Config, cur, desire); err != nil {
				hp.Err = fmt.Errorf("%s: %w", in.Addr, err)
				return hp
			}
		}
		if desire.Content != nil && cur.Content != nil && desire.Content.Sensitive {
			cur.Content.Sensitive = true
		}
		act, changed := Diff(cur, desire)
		var notes []string
		if replaced(p.Replace, in) {
			switch act {
			case NoOp, Update:
				act, changed = Replace, desire.AttrNames()
				if desire.Content != nil {
					changed = append(changed, "content")
				}
				cur = ReplaceBase(typ, cur, desire)
				notes = append(notes, "replaced as asked (--replace): made again from its configuration")
			case Delete:
				notes = append(notes, "not replaced (--replace): the configuration removes it")
			}
		}
		ch := &Change{Address: in.Addr, Type: typ.Name(), Action: act, Before: cur, After: desire,
			Changed: changed, Resource: typ, Config: in.Config, Instance: in}
		if n, ok := typ.(resources.Noter); ok {
			ch.Notes = n.Notes(cur, desire)
		}
		ch.Notes = append(ch.Notes, notes...)
		if ir, ok := typ.(resources.Irreversibler); ok && act != NoOp {
			ch.Irreversible = ir.Irreversible(cur, desire)
		}
		hp.Changes = append(hp.Changes, ch)
		byAddr[in.Addr] = ch
	}
	order(hp, byAddr)
	for _, ch := range hp.Changes {
		ny := deferred[ch.Address]
		if ny == nil {
			continue
		}
		creator := changedDep(ch, byAddr, map[string]bool{})
		if creator == "" {
			hp.Err = fmt.Errorf("%s: %w", ch.Address, ny.Err)
			return hp
		}
		ch.Deferred = fmt.Sprintf("%s; read again when applied, after %s", ny.Err, creator)
	}
	return hp
}

// changedDep returns the first change ch follows, directly or not, that
// changes something on the host, or "".
func changedDep(ch *Change, byAddr map[string]*Change, seen map[string]bool) string {
	for _, d := range ch.Deps {
		if seen[d] {
			continue
		}
		seen[d] = true
		dc := byAddr[d]
		if dc == nil {
			continue
		}
		if dc.HasChange() && dc.Action != Refresh {
			return d
		}
		if c := changedDep(dc, byAddr, seen); c != "" {
			return c
		}
	}
	return ""
}

// order links each change to the changes it follows (declared and
// implied dependencies, notifications, paths inside managed directories)
// and sorts the host's changes into an order that respects them.
func order(hp *HostPlan, byAddr map[string]*Change) {
	instancesOf := map[string][]*Change{}
	for _, ch := range hp.Changes {
		instancesOf[ch.Instance.Resource.Addr()] = append(instancesOf[ch.Instance.Resource.Addr()], ch)
	}
	deps := map[*Change]map[*Change]bool{}
	add := func(after, before *Change) {
		if after == before {
			return
		}
		if deps[after] == nil {
			deps[after] = map[*Change]bool{}
		}
		deps[after][before] = true
	}
	for _, ch := range hp.Changes {
		for _, d := range ch.Instance.Resource.Deps {
			for _, o := range instancesOf[d] {
				add(ch, o)
			}
		}
		for _, n := range ch.Instance.Resource.NotifyAddrs {
			for _, o := range instancesOf[n] {
				add(o, ch)
				ch.Notify = append(ch.Notify, o.Address)
				if ch.HasChange() {
					o.NotifiedBy = append(o.NotifiedBy, ch.Address)
				}
			}
		}
	}
	implied := map[*Change]map[*Change]bool{}
	// The changes that occupy a path, sorted by it: those inside a directory
	// follow each other from the first at or after "DIR/" (a host's
	// hundreds of files cost n log n, not n² comparisons).
	type withPath struct {
		ch *Change
		p  string
	}
	var paths []withPath
	for _, ch := range hp.Changes {
		if o, ok := ch.Resource.(resources.Occupant); ok {
			if p := o.Occupies(ch.After); p != "" {
				paths = append(paths, withPath{ch, p})
			}
		}
	}
	sort.Slice(paths, func(i, j int) bool { return paths[i].p < paths[j].p })
	for _, wa := range paths {
		a := wa.ch
		prefix := strings.TrimSuffix(path.Clean(wa.p), "/") + "/"
		first := sort.Search(len(paths), func(i int) bool { return paths[i].p >= prefix })
		for _, wb := range paths[first:] {
			if !strings.HasPrefix(wb.p, prefix) {
				break
			}
			b := wb.ch
			if a == b {
				continue
			}
			// b lies inside a: create a before b, remove b before a.
			if implied[b] == nil {
				implied[b] = map[*Change]bool{}
			}
			if implied[a] == nil {
				implied[a] = map[*Change]bool{}
			}
			if b.After.Present {
				implied[b][a] = true
			} else {
				implied[a][b] = true
			}
		}
	}
	sorted, ok := topo(hp.Changes, deps, implied)
	if !ok {
		sorted, _ = topo(hp.Changes, deps, nil)
	}
	hp.Changes = sorted
	for _, ch := range hp.Changes {
		for d := range deps[ch] {
			ch.Deps = append(ch.Deps, d.Address)
		}
		for d := range implied[ch] {
			ch.Deps = append(ch.Deps, d.Address)
		}
		sort.Strings(ch.Deps)
		if ch.Action == NoOp && len(ch.NotifiedBy) > 0 {
			ch.Action = Refresh
		}
	}
}

// topo sorts changes so each follows its dependencies, keeping the
// original order among independent changes. It reports false on a cycle.
func topo(chs []*Change, a, b map[*Change]map[*Change]bool) ([]*Change, bool) {
	pos := make(map[*Change]int, len(chs))
	for i, c := range chs {
		pos[c] = i
	}
	done := map[*Change]int{}
	var out []*Change
	ok := true
	var visit func(c *Change)
	visit = func(c *Change) {
		switch done[c] {
		case 1:
			ok = false
			return
		case 2:
			return
		}
		done[c] = 1
		for _, m := range []map[*Change]map[*Change]bool{a, b} {
			var ds []*Change
			for d := range m[c] {
				ds = append(ds, d)
			}
			sort.Slice(ds, func(i, j int) bool { return pos[ds[i]] < pos[ds[j]] })
			for _, d := range ds {
				visit(d)
			}
		}
		done[c] = 2
		out = append(out, c)
	}
	for _, c := range chs {
		visit(c)
	}
	return out, ok
}
