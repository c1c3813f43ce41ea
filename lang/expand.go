package lang

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/tendhq/tend/redact"
	"github.com/tendhq/tend/resources"
)

// HostScope is what configuration sees of the host being evaluated.
type HostScope struct {
	Name string
	Vars map[string]cty.Value
	// Facts is host.facts; an unknown value before facts are gathered.
	Facts cty.Value
}

// Instance is one resource evaluated for one host (one per for_each key).
type Instance struct {
	Resource *Resource
	// Addr is TYPE.NAME, or TYPE.NAME["key"] under for_each.
	Addr string
	// Config is the decoded body: an object with every schema attribute.
	Config cty.Value
	// Known reports whether Config is wholly known (no value waits for
	// facts), computed once.
	Known bool
	// Maybe is set when `when` is not known yet (it depends on facts not
	// gathered).
	Maybe bool
	// Unresolved are the secrets the instance needs, in its attributes
	// or its when, that could not be resolved (see Secrets); planning it
	// fails naming them.
	Unresolved []UnresolvedAt
	// skip is set when `when` is false: the instance lends its value to
	// references but is not applied.
	skip bool
}

// Order returns the resources in dependency order (each after everything
// it depends on), declaration order among equals.
func (c *Config) Order() []*Resource {
	edges := c.Edges()
	done := map[string]bool{}
	var out []*Resource
	var visit func(r *Resource)
	visit = func(r *Resource) {
		if done[r.Addr()] {
			return
		}
		done[r.Addr()] = true
		for _, d := range edges[r.Addr()] {
			visit(c.byAddr[d])
		}
		out = append(out, r)
	}
	for _, r := range c.Resources {
		visit(r)
	}
	return out
}

// functions returns the configuration's functions, made once per run
// (per Secrets) and only read afterwards: every host's evaluation uses
// them.
func (c *Config) functions() map[string]function.Function {
	c.fnsMu.Lock()
	defer c.fnsMu.Unlock()
	if c.fns == nil || c.fnsFor != c.Secrets {
		c.fns, c.fnsFor = functions(c.Dir, c.files, c.Secrets), c.Secrets
	}
	return c.fns
}

// RoleHosts evaluates each role's hosts pattern (which may use var.*).
func (c *Config) RoleHosts(vars map[string]cty.Value) (map[*Role]string, hcl.Diagnostics) {
	varVal := cty.ObjectVal(vars)
	locals, diags := c.localsValue(varVal, cty.NilVal)
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{"var": varVal, "local": locals}, Functions: c.functions()}
	out := map[*Role]string{}
	for _, r := range c.Roles {
		usesHost := false
		for _, tr := range r.HostsExpr.Variables() {
			if host, _ := c.localUsesHost(tr); host {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid hosts pattern",
					Detail:  fmt.Sprintf("Role %q: local.%s depends on the host, and a role's hosts are chosen before any host is.", r.Name, stepName(tr, 1)),
					Subject: tr.SourceRange().Ptr()})
				usesHost = true
			}
		}
		if usesHost {
			continue
		}
		v, ds := r.HostsExpr.Value(ctx)
		diags = append(diags, ds...)
		if ds.HasErrors() {
			continue
		}
		if u := UnresolvedIn(v); len(u) > 0 {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid hosts pattern",
				Detail: fmt.Sprintf("Role %q: the pattern must be known to select hosts: %s.", r.Name, u[0].Secret), Subject: r.HostsExpr.Range().Ptr()})
			continue
		}
		v, err := convert.Convert(v, cty.String)
		if err != nil || v.IsNull() || !v.IsKnown() {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid hosts pattern",
				Detail: "hosts must be a string such as \"web:&prod\".", Subject: r.HostsExpr.Range().Ptr()})
			continue
		}
		v, _ = v.Unmark()
		out[r] = v.AsString()
	}
	return out, diags
}

// Expand evaluates every resource that applies to the host (top-level
// resources, and those of the roles for which selected reports true), in
// dependency order.
func (c *Config) Expand(vars map[string]cty.Value, h HostScope, selected func(*Role) bool) ([]*Instance, hcl.Diagnostics) {
	hostVars := cty.EmptyObjectVal
	if len(h.Vars) > 0 {
		hostVars = cty.ObjectVal(h.Vars)
	}
	facts := h.Facts
	if facts == cty.NilVal {
		facts = cty.DynamicVal
	}
	hostVal := cty.ObjectVal(map[string]cty.Value{
		"name":  cty.StringVal(h.Name),
		"vars":  hostVars,
		"facts": facts,
	})
	varVal := cty.EmptyObjectVal
	if len(vars) > 0 {
		varVal = cty.ObjectVal(vars)
	}
	fns := HostFunctions(c.functions(), facts)
	reads := c.hostReadsOf()
	values := map[string]map[string]cty.Value{} // type → name → value
	var out []*Instance
	localVal, diags := c.localsValue(varVal, hostVal)
	applies := map[string]bool{}
	for _, r := range c.Order() {
		if r.Role != nil && !selected(r.Role) {
			continue
		}
		applies[r.Addr()] = true
		missing := false
		for _, d := range r.Deps {
			if !applies[d] {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Reference to a resource not on this host",
					Detail:  fmt.Sprintf("%s depends on %s, whose role does not apply to host %s.", r.Addr(), d, h.Name),
					Subject: r.DeclRange.Ptr()})
				missing = true
			}
		}
		if missing {
			continue
		}
		var ev *evaluation
		k, shareable := sharedKey{r: r}, !reads[r].whole
		if shareable {
			k.key, shareable = hostKey(reads[r].paths, h, hostVars)
		}
		if shareable {
			ev = c.sharedEvaluation(k, vars)
		}
		if ev == nil {
			ctx := &hcl.EvalContext{Variables: map[string]cty.Value{"var": varVal, "host": hostVal, "local": localVal}, Functions: fns}
			for _, d := range r.Deps {
				// Only the types the resource refers to (or follows).
				t, _, _ := strings.Cut(d, ".")
				if m, ok := values[t]; ok {
					if _, done := ctx.Variables[t]; !done {
						ctx.Variables[t] = cty.ObjectVal(m)
					}
				}
			}
			ev = &evaluation{}
			ev.insts, ev.val, ev.diags = c.expandResource(r, ctx)
			if shareable {
				c.share(k, vars, ev)
			}
		}
		insts, val, ds := ev.insts, ev.val, ev.diags
		diags = append(diags, ds...)
		if ds.HasErrors() {
			continue
		}
		if values[r.Type.Name()] == nil {
			values[r.Type.Name()] = map[string]cty.Value{}
		}
		values[r.Type.Name()][r.Name] = val
		out = append(out, insts...)
	}
	return out, diags
}

// evaluation is one resource's instances, the value other resources see
// when they refer to it, and what evaluating it said.
type evaluation struct {
	insts []*Instance
	val   cty.Value
	diags hcl.Diagnostics
}

// hostReads is what a resource's evaluation reads of the host: named
// parts (hostPath: "name", "vars", "vars.NAME"), or anything (whole).
type hostReads struct {
	paths []string
	whole bool
}

// sharedKey names one resource's evaluation for the hosts whose parts
// that it reads hold the same values.
type sharedKey struct {
	r   *Resource
	key string
}

// maxShared bounds the evaluations kept for sharing: a configuration
// reading host.name in a resource shares nothing of it across hosts, and
// a fleet's worth of its evaluations would then all be held.
const maxShared = 4096

// hostReadsOf reports, for each resource, what its evaluation reads of
// the host: its attributes, when and for_each, the locals they refer to,
// and every resource it refers to (functions and templates see only
// their arguments). A resource reading only named parts of the host
// (host.name, host.vars, host.vars.NAME), or nothing of it, evaluates to
// the same instances on every host where those parts hold the same
// values, so Expand evaluates it once per distinct value; on a fleet
// that is most of the controller's work per host. One reading host.facts
// or host as a whole is evaluated for every host.
func (c *Config) hostReadsOf() map[*Resource]*hostReads {
	c.sharedOnce.Do(func() {
		c.hostReads = map[*Resource]*hostReads{}
		for _, r := range c.Order() {
			hr := &hostReads{whole: r.callsDefaultVersionCompare()}
			for _, tr := range r.references() {
				switch tr.RootName() {
				case "host":
					if p := hostPath(tr); p != "" {
						hr.paths = append(hr.paths, p)
					} else {
						hr.whole = true
					}
				case "local":
					if l := c.Locals[stepName(tr, 1)]; l != nil {
						hr.paths = append(hr.paths, l.hostPaths...)
						hr.whole = hr.whole || l.hostWhole
					}
				}
			}
			for _, d := range r.Deps {
				dr := c.hostReads[c.byAddr[d]]
				if dr == nil {
					hr.whole = true
					continue
				}
				hr.paths = append(hr.paths, dr.paths...)
				hr.whole = hr.whole || dr.whole
			}
			sort.Strings(hr.paths)
			hr.paths = slices.Compact(hr.paths)
			c.hostReads[r] = hr
		}
	})
	return c.hostReads
}

// hostPath names the part of the host a traversal from host reads, ""
// when it is host.facts, host as a whole, or not a named part.
func hostPath(tr hcl.Traversal) string {
	step := func(i int) (string, bool) {
		if len(tr) <= i {
			return "", false
		}
		switch s := tr[i].(type) {
		case hcl.TraverseAttr:
			return s.Name, true
		case hcl.TraverseIndex:
			k := s.Key
			if k.IsKnown() && !k.IsNull() && k.Type() == cty.String && !k.IsMarked() {
				return k.AsString(), true
			}
		}
		return "", false
	}
	first, ok := step(1)
	switch {
	case !ok:
		return ""
	case first == "name":
		return "name"
	case first == "vars":
		if v, ok := step(2); ok {
			return "vars." + v
		}
		if len(tr) == 2 {
			return "vars"
		}
	}
	return ""
}

// hostKey is the values of the named parts of the host h, as one string
// (their types and JSON encodings), or false when a value cannot be told
// apart by its encoding (marked sensitive, unknown).
func hostKey(paths []string, h HostScope, hostVars cty.Value) (string, bool) {
	var sb strings.Builder
	for _, p := range paths {
		var v cty.Value
		switch {
		case p == "name":
			v = cty.StringVal(h.Name)
		case p == "vars":
			v = hostVars
		default:
			var ok bool
			if v, ok = h.Vars[strings.TrimPrefix(p, "vars.")]; !ok {
				sb.WriteString(p + "\x00absent\x00")
				continue
			}
		}
		if v.ContainsMarked() || !v.IsWhollyKnown() {
			return "", false
		}
		js, err := ctyjson.Marshal(v, v.Type())
		if err != nil {
			return "", false
		}
		sb.WriteString(p + "\x00" + v.Type().GoString() + "\x00")
		sb.Write(js)
		sb.WriteString("\x00")
	}
	return sb.String(), true
}

// sharedEvaluation returns r's evaluation from an earlier host of the run
// with the same variables and key, or nil.
func (c *Config) sharedEvaluation(k sharedKey, vars map[string]cty.Value) *evaluation {
	c.sharedMu.Lock()
	defer c.sharedMu.Unlock()
	if c.shared == nil || !sameVars(c.sharedVars, vars) {
		return nil
	}
	return c.shared[k]
}

// share keeps r's evaluation for the next hosts evaluated with vars and
// the same key, up to maxShared evaluations.
func (c *Config) share(k sharedKey, vars map[string]cty.Value, ev *evaluation) {
	c.sharedMu.Lock()
	defer c.sharedMu.Unlock()
	if c.shared == nil || !sameVars(c.sharedVars, vars) {
		c.shared, c.sharedVars = map[sharedKey]*evaluation{}, vars
	}
	if _, ok := c.shared[k]; !ok && len(c.shared) < maxShared {
		c.shared[k] = ev
	}
}

// sameVars reports whether two sets of variable values are equal, marks
// (sensitive) included.
func sameVars(a, b map[string]cty.Value) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || !v.RawEquals(w) {
			return false
		}
	}
	return true
}

// expandResource evaluates one resource's instances and the value other
// resources see when they refer to it.
func (c *Config) expandResource(r *Resource, ctx *hcl.EvalContext) ([]*Instance, cty.Value, hcl.Diagnostics) {
	if r.ForEach == nil {
		inst, ds := c.instance(r, ctx, r.Addr())
		if inst == nil {
			return nil, cty.NilVal, ds
		}
		return keep(inst), inst.Config, ds
	}
	fe, diags := r.ForEach.Value(ctx)
	if diags.HasErrors() {
		return nil, cty.NilVal, diags
	}
	if u := UnresolvedIn(fe); len(u) > 0 {
		return nil, cty.NilVal, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "for_each needs a secret",
			Detail: fmt.Sprintf("The keys of for_each must be known to check the configuration: %s.", u[0].Secret), Subject: r.ForEach.Range().Ptr()})
	}
	if !fe.IsWhollyKnown() {
		return nil, cty.NilVal, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "for_each depends on facts",
			Detail: "The keys of for_each must be known before facts are gathered: it may use variables and inventory vars, not host.facts.", Subject: r.ForEach.Range().Ptr()})
	}
	fe, _ = fe.Unmark()
	if fe.IsNull() {
		return nil, cty.NilVal, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid for_each",
			Detail: "for_each must be a map, an object or a set of strings, not null.", Subject: r.ForEach.Range().Ptr()})
	}
	ty := fe.Type()
	elems := map[string]cty.Value{}
	switch {
	case ty.IsMapType() || ty.IsObjectType():
		for k, v := range fe.AsValueMap() {
			elems[k] = v
		}
	case ty.IsSetType() && ty.ElementType() == cty.String:
		for _, v := range fe.AsValueSlice() {
			elems[v.AsString()] = v
		}
	default:
		return nil, cty.NilVal, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid for_each",
			Detail: fmt.Sprintf("for_each must be a map, an object or a set of strings (use toset() for a list), not %s.", ty.FriendlyName()), Subject: r.ForEach.Range().Ptr()})
	}
	keys := make([]string, 0, len(elems))
	for k := range elems {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var insts []*Instance
	vals := map[string]cty.Value{}
	for _, k := range keys {
		ectx := ctx.NewChild()
		ectx.Variables = map[string]cty.Value{"each": cty.ObjectVal(map[string]cty.Value{"key": cty.StringVal(k), "value": elems[k]})}
		inst, ds := c.instance(r, ectx, fmt.Sprintf("%s[%q]", r.Addr(), k))
		diags = append(diags, ds...)
		if inst == nil {
			continue
		}
		vals[k] = inst.Config
		insts = append(insts, keep(inst)...)
	}
	val := cty.EmptyObjectVal
	if len(vals) > 0 {
		val = cty.ObjectVal(vals)
	}
	return insts, val, diags
}

// keep drops an instance whose `when` is false (it is still evaluated so
// that references to it work).
func keep(inst *Instance) []*Instance {
	if inst.skip {
		return nil
	}
	return []*Instance{inst}
}

// instance decodes the body and evaluates `when`.
func (c *Config) instance(r *Resource, ctx *hcl.EvalContext, addr string) (*Instance, hcl.Diagnostics) {
	cfg, diags := hcldec.Decode(r.Body, r.Spec, ctx)
	if diags.HasErrors() {
		return nil, diags
	}
	cfg = markSensitive(r, defaultName(r, cfg))
	inst := &Instance{Resource: r, Addr: addr, Config: cfg, Known: cfg.IsWhollyKnown()}
	if !inst.Known {
		inst.Unresolved = UnresolvedIn(cfg)
	}
	if r.When != nil {
		w, ds := r.When.Value(ctx)
		diags = append(diags, ds...)
		if ds.HasErrors() {
			return nil, diags
		}
		if !w.IsKnown() {
			for _, u := range UnresolvedIn(w) {
				inst.Unresolved = append(inst.Unresolved, UnresolvedAt{Path: cty.GetAttrPath("when"), Secret: u.Secret})
			}
		}
		w, err := convert.Convert(w, cty.Bool)
		if err != nil || w.IsNull() {
			return nil, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid when",
				Detail: "when must be a boolean.", Subject: r.When.Range().Ptr()})
		}
		w, _ = w.Unmark()
		switch {
		case !w.IsKnown():
			inst.Maybe = true
		case w.False():
			inst.skip = true
		}
	}
	return inst, diags
}

// defaultName fills a type's `name` attribute, when it has one and the
// configuration leaves it unset, with the block's label: package "nginx" {}
// manages the package nginx.
func defaultName(r *Resource, cfg cty.Value) cty.Value {
	if _, ok := r.Spec["name"]; !ok || cfg.IsNull() || !cfg.IsKnown() {
		return cfg
	}
	if !cfg.GetAttr("name").IsNull() {
		return cfg
	}
	m := cfg.AsValueMap()
	m["name"] = cty.StringVal(r.Name)
	return cty.ObjectVal(m)
}

// markSensitive marks the attributes the schema declares sensitive.
func markSensitive(r *Resource, cfg cty.Value) cty.Value {
	if cfg.IsNull() || !cfg.IsKnown() {
		return cfg
	}
	m := cfg.AsValueMap()
	changed := false
	for _, a := range r.Type.Schema().Attributes {
		if a.Sensitive {
			if v, ok := m[a.Name]; ok && !v.IsNull() {
				redact.Default.AddValue(v)
				m[a.Name] = v.Mark(Sensitive)
				changed = true
			}
		}
	}
	if !changed {
		return cfg
	}
	return cty.ObjectVal(m)
}

// AttrRange returns where an attribute of a resource is set, or the
// resource's declaration when it is not.
func (r *Resource) AttrRange(name string) hcl.Range {
	if spec, ok := r.Spec[name]; ok {
		rng := hcldec.SourceRange(r.Body, spec)
		if rng.Filename != "" {
			return rng
		}
	}
	return r.DeclRange
}

// Env returns the resources.Env of this configuration: files and
// templates relative to its directory.
func (c *Config) Env() Env { return Env{dir: c.Dir, files: c.files, secrets: c.Secrets} }

// Env implements resources.Env for a configuration directory.
type Env struct {
	dir     string
	files   *fileCache
	secrets *Secrets
}

// ReadFile implements resources.Env.
func (e Env) ReadFile(path string) ([]byte, error) { return e.files.readFile(resolve(e.dir, path)) }

var _ resources.SourceFiles = Env{}

// StatSource implements resources.SourceFiles.
func (e Env) StatSource(path string) (string, int64, error) {
	full := resolve(e.dir, path)
	fi, err := os.Stat(full)
	if err != nil {
		return "", 0, err
	}
	if !fi.Mode().IsRegular() {
		return "", 0, fmt.Errorf("%s is not a regular file", path)
	}
	return full, fi.Size(), nil
}

// SourceSHA256 implements resources.SourceFiles: a file is read once per
// configuration, as a stream.
func (e Env) SourceSHA256(full string) (string, int64, error) {
	return e.files.sourceSHA256(e.dir, full)
}

// RenderTemplate implements resources.Env.
func (e Env) RenderTemplate(path string, vars cty.Value) (string, error) {
	secrets := e.secrets
	if secrets == nil {
		secrets = NewSecrets(e.dir)
	}
	v, err := renderTemplate(e.dir, path, vars, functions(e.dir, e.files, secrets), e.files)
	if err != nil {
		return "", err
	}
	if u := UnresolvedIn(v); len(u) > 0 {
		return "", u[0].Secret
	}
	v, _ = v.Unmark()
	if !v.IsKnown() {
		return "", fmt.Errorf("template %s depends on values not known yet", path)
	}
	return v.AsString(), nil
}
