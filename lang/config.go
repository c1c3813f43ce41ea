package lang

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/tendhq/tend/resources"
)

// Config is a loaded configuration directory.
type Config struct {
	Dir       string
	Parser    *hclparse.Parser
	Variables map[string]*Variable
	// Locals are the values of locals blocks, by name.
	Locals     map[string]*Local
	localOrder []*Local
	Roles      []*Role
	// Rollout is the rollout block, nil when there is none.
	Rollout *Rollout
	// Backend is the backend block, nil when there is none.
	Backend *Backend
	// Resources in declaration order.
	Resources []*Resource
	byAddr    map[string]*Resource
	types     map[string]resources.Type
	// Secrets resolves secret(...) for this Config's life (one run).
	// Load sets it; a caller may configure it before evaluating.
	Secrets *Secrets
	// files caches what file and templatefile read, for this Config's
	// life (one run).
	files *fileCache

	factsOnce sync.Once
	usesFacts bool

	// shared holds the evaluations of resources that read nothing of
	// the host (see Expand), for every host of the run.
	sharedOnce sync.Once
	hostFree   map[*Resource]bool
	sharedMu   sync.Mutex
	sharedVars map[string]cty.Value
	shared     map[*Resource]*evaluation
}

// Variable is a `variable` block.
type Variable struct {
	Name        string
	Type        cty.Type
	Default     cty.Value
	Description string
	Sensitive   bool
	// Validations are its validation blocks, in order.
	Validations []*Validation
	DeclRange   hcl.Range
}

// Role is a `role` block: resources for the hosts its pattern selects.
type Role struct {
	Name      string
	HostsExpr hcl.Expression
	DeclRange hcl.Range
}

// Resource is a resource block before evaluation.
type Resource struct {
	Type      resources.Type
	Name      string
	Role      *Role // nil for a top-level resource, which applies to every host
	Body      hcl.Body
	Spec      hcldec.ObjectSpec
	DependsOn []hcl.Traversal
	Notify    []hcl.Traversal
	When      hcl.Expression
	ForEach   hcl.Expression
	DeclRange hcl.Range
	// Deps are the addresses this resource must follow: references and
	// depends_on. NotifyAddrs are the resources it notifies (which also
	// follow it).
	Deps        []string
	NotifyAddrs []string
}

// references returns every variable reference of the resource's body,
// when and for_each.
func (r *Resource) references() []hcl.Traversal {
	trs := hcldec.Variables(r.Body, r.Spec)
	for _, e := range []hcl.Expression{r.When, r.ForEach} {
		if e != nil {
			trs = append(trs, e.Variables()...)
		}
	}
	return trs
}

// Addr is the resource's address, TYPE.NAME.
func (r *Resource) Addr() string { return r.Type.Name() + "." + r.Name }

// Addrs returns every resource's address, in declaration order.
func (c *Config) Addrs() []string {
	out := make([]string, len(c.Resources))
	for i, r := range c.Resources {
		out[i] = r.Addr()
	}
	return out
}

// Resource returns the resource with the given address, or nil.
func (c *Config) Resource(addr string) *Resource { return c.byAddr[addr] }

var metaAttrs = []hcl.AttributeSchema{
	{Name: "depends_on"}, {Name: "notify"}, {Name: "when"}, {Name: "for_each"},
}

// isConfigFile reports whether a file in the configuration directory is
// configuration: inventories and variable files live beside it.
func isConfigFile(name string) bool {
	return strings.HasSuffix(name, ".hcl") && name != "inventory.hcl" && !strings.HasSuffix(name, ".vars.hcl")
}

// Load reads every configuration file in dir (*.hcl except inventory.hcl
// and *.vars.hcl) with the given resource types.
func Load(dir string, types []resources.Type) (*Config, hcl.Diagnostics) {
	given := dir
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	c := &Config{
		Dir:       dir,
		Parser:    hclparse.NewParser(),
		Variables: map[string]*Variable{},
		Locals:    map[string]*Local{},
		byAddr:    map[string]*Resource{},
		types:     resources.ByName(types),
		files:     &fileCache{},
		Secrets:   NewSecrets(dir),
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read configuration directory", Detail: err.Error()}}
	}
	var diags hcl.Diagnostics
	var names []string
	for _, e := range entries {
		if !e.IsDir() && isConfigFile(e.Name()) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "No configuration files",
			Detail: fmt.Sprintf("The directory %s holds no *.hcl configuration files.", dir)}}
	}
	for _, n := range names {
		// Files keep the path as given, so diagnostics read as the user
		// wrote it.
		f, ds := c.Parser.ParseHCLFile(filepath.Join(given, n))
		diags = append(diags, ds...)
		if f == nil {
			continue
		}
		diags = append(diags, c.loadBody(f.Body, nil)...)
	}
	if diags.HasErrors() {
		return c, diags
	}
	diags = append(diags, c.resolveReferences()...)
	if diags.HasErrors() {
		return c, diags
	}
	diags = append(diags, c.checkCycles()...)
	return c, diags
}

func (c *Config) bodySchema(top bool) *hcl.BodySchema {
	s := &hcl.BodySchema{}
	if top {
		s.Blocks = append(s.Blocks,
			hcl.BlockHeaderSchema{Type: "variable", LabelNames: []string{"name"}},
			hcl.BlockHeaderSchema{Type: "role", LabelNames: []string{"name"}},
			hcl.BlockHeaderSchema{Type: "locals"},
			hcl.BlockHeaderSchema{Type: "rollout"},
			hcl.BlockHeaderSchema{Type: "backend", LabelNames: []string{"kind"}})
	} else {
		s.Attributes = []hcl.AttributeSchema{{Name: "hosts", Required: true}}
	}
	names := make([]string, 0, len(c.types))
	for n := range c.types {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s.Blocks = append(s.Blocks, hcl.BlockHeaderSchema{Type: n, LabelNames: []string{"name"}})
	}
	return s
}

func (c *Config) loadBody(body hcl.Body, role *Role) hcl.Diagnostics {
	content, diags := body.Content(c.bodySchema(role == nil))
	if role != nil {
		role.HostsExpr = content.Attributes["hosts"].Expr
	}
	for _, b := range content.Blocks {
		switch b.Type {
		case "variable":
			diags = append(diags, c.loadVariable(b)...)
		case "rollout":
			diags = append(diags, c.loadRollout(b)...)
		case "backend":
			diags = append(diags, c.loadBackend(b)...)
		case "locals":
			diags = append(diags, c.loadLocals(b)...)
		case "role":
			r := &Role{Name: b.Labels[0], DeclRange: b.DefRange}
			for _, o := range c.Roles {
				if o.Name == r.Name {
					diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate role",
						Detail: fmt.Sprintf("A role named %q was already declared at %s.", r.Name, o.DeclRange), Subject: b.DefRange.Ptr()})
				}
			}
			c.Roles = append(c.Roles, r)
			diags = append(diags, c.loadBody(b.Body, r)...)
		default:
			diags = append(diags, c.loadResource(b, role)...)
		}
	}
	return diags
}

func (c *Config) loadVariable(b *hcl.Block) hcl.Diagnostics {
	v := &Variable{Name: b.Labels[0], Type: cty.DynamicPseudoType, DeclRange: b.DefRange}
	content, diags := b.Body.Content(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "type"}, {Name: "default"}, {Name: "description"}, {Name: "sensitive"},
	}, Blocks: []hcl.BlockHeaderSchema{{Type: "validation"}}})
	for _, vb := range content.Blocks {
		diags = append(diags, c.loadValidation(v, vb)...)
	}
	if !hclsyntaxValidName(v.Name) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid variable name",
			Detail: "A name must start with a letter and may contain letters, digits, underscores and dashes.", Subject: b.LabelRanges[0].Ptr()})
	}
	if a, ok := content.Attributes["type"]; ok {
		ty, ds := typeexpr.TypeConstraint(a.Expr)
		diags = append(diags, ds...)
		v.Type = ty
	}
	if a, ok := content.Attributes["description"]; ok {
		diags = append(diags, decodeAttr(a, cty.String, func(x cty.Value) { v.Description = x.AsString() })...)
	}
	if a, ok := content.Attributes["sensitive"]; ok {
		diags = append(diags, decodeAttr(a, cty.Bool, func(x cty.Value) { v.Sensitive = x.True() })...)
	}
	if a, ok := content.Attributes["default"]; ok {
		val, ds := a.Expr.Value(nil)
		diags = append(diags, ds...)
		if !ds.HasErrors() {
			cv, err := convert.Convert(val, v.Type)
			if err != nil {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid default value for variable",
					Detail: fmt.Sprintf("This default value is not compatible with the variable's type constraint: %s.", err), Subject: a.Expr.Range().Ptr()})
			} else {
				v.Default = cv
			}
		}
	}
	if o, ok := c.Variables[v.Name]; ok {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate variable",
			Detail: fmt.Sprintf("A variable named %q was already declared at %s.", v.Name, o.DeclRange), Subject: b.DefRange.Ptr()})
	}
	c.Variables[v.Name] = v
	return diags
}

func decodeAttr(a *hcl.Attribute, ty cty.Type, set func(cty.Value)) hcl.Diagnostics {
	val, diags := a.Expr.Value(nil)
	if diags.HasErrors() {
		return diags
	}
	cv, err := convert.Convert(val, ty)
	if err != nil || cv.IsNull() {
		return append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid value",
			Detail: fmt.Sprintf("%s must be a %s.", a.Name, ty.FriendlyName()), Subject: a.Expr.Range().Ptr()})
	}
	set(cv)
	return diags
}

func hclsyntaxValidName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '_':
		case (r >= '0' && r <= '9') || r == '-':
			if i == 0 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func (c *Config) loadResource(b *hcl.Block, role *Role) hcl.Diagnostics {
	ty := c.types[b.Type]
	r := &Resource{Type: ty, Name: b.Labels[0], Role: role, DeclRange: b.DefRange}
	var diags hcl.Diagnostics
	if !hclsyntaxValidName(r.Name) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid resource name",
			Detail: "A name must start with a letter or underscore and may contain letters, digits, underscores and dashes.", Subject: b.LabelRanges[0].Ptr()})
	}
	content, remain, ds := b.Body.PartialContent(&hcl.BodySchema{Attributes: metaAttrs})
	diags = append(diags, ds...)
	r.Body = remain
	r.Spec = ty.Schema().Spec().(hcldec.ObjectSpec)
	if a, ok := content.Attributes["depends_on"]; ok {
		trs, ds := traversalList(a.Expr)
		diags = append(diags, ds...)
		r.DependsOn = trs
	}
	if a, ok := content.Attributes["notify"]; ok {
		trs, ds := traversalList(a.Expr)
		diags = append(diags, ds...)
		r.Notify = trs
	}
	if a, ok := content.Attributes["when"]; ok {
		r.When = a.Expr
	}
	if a, ok := content.Attributes["for_each"]; ok {
		r.ForEach = a.Expr
	}
	if o, ok := c.byAddr[r.Addr()]; ok {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate resource",
			Detail: fmt.Sprintf("A resource %s was already declared at %s. Names are unique per configuration.", r.Addr(), o.DeclRange), Subject: b.DefRange.Ptr()})
		return diags
	}
	c.byAddr[r.Addr()] = r
	c.Resources = append(c.Resources, r)
	return diags
}

// traversalList reads `[type.name, ...]` as traversals.
func traversalList(expr hcl.Expression) ([]hcl.Traversal, hcl.Diagnostics) {
	exprs, diags := hcl.ExprList(expr)
	var out []hcl.Traversal
	for _, e := range exprs {
		tr, ds := hcl.AbsTraversalForExpr(e)
		diags = append(diags, ds...)
		if !ds.HasErrors() {
			out = append(out, tr)
		}
	}
	return out, diags
}

// resolveReferences checks every reference in resource bodies and
// meta-arguments and records the dependencies they imply.
func (c *Config) resolveReferences() hcl.Diagnostics {
	diags := c.resolveLocals()
	for _, r := range c.Resources {
		deps := map[string]bool{}
		for _, tr := range r.references() {
			addr, ds := c.checkReference(r, tr)
			diags = append(diags, ds...)
			if addr != "" && addr != r.Addr() {
				deps[addr] = true
			} else if addr == r.Addr() {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Self-referential resource",
					Detail: fmt.Sprintf("%s refers to itself.", r.Addr()), Subject: tr.SourceRange().Ptr()})
			}
		}
		for _, tr := range r.DependsOn {
			addr, ds := c.resourceAddr(tr, "depends_on")
			diags = append(diags, ds...)
			if addr != "" {
				deps[addr] = true
			}
		}
		for _, tr := range r.Notify {
			addr, ds := c.resourceAddr(tr, "notify")
			diags = append(diags, ds...)
			if addr == "" {
				continue
			}
			if _, ok := c.byAddr[addr].Type.(resources.Refresher); !ok {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Resource cannot be notified",
					Detail:  fmt.Sprintf("%s has no action to run when notified; resources of type %s cannot be notify targets.", addr, c.byAddr[addr].Type.Name()),
					Subject: tr.SourceRange().Ptr()})
				continue
			}
			r.NotifyAddrs = append(r.NotifyAddrs, addr)
		}
		for a := range deps {
			r.Deps = append(r.Deps, a)
		}
		sort.Strings(r.Deps)
	}
	return diags
}

// checkReference validates one reference and returns the resource address
// it names, if any.
func (c *Config) checkReference(r *Resource, tr hcl.Traversal) (string, hcl.Diagnostics) {
	root := tr.RootName()
	switch root {
	case "var":
		return "", c.checkVarRef(tr)
	case "local":
		_, diags := c.checkLocalRef(tr)
		return "", diags
	case "host":
		return "", nil
	case "each":
		if r.ForEach == nil {
			return "", hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Reference to \"each\" without for_each",
				Detail: "each.key and each.value are only available in a resource that sets for_each.", Subject: tr.SourceRange().Ptr()}}
		}
		return "", nil
	}
	if _, ok := c.types[root]; ok {
		return c.resourceAddr(tr, "")
	}
	return "", hcl.Diagnostics{c.unknownRoot(tr)}
}

// checkVarRef checks a reference to var.NAME.
func (c *Config) checkVarRef(tr hcl.Traversal) hcl.Diagnostics {
	name := stepName(tr, 1)
	if name == "" {
		return nil
	}
	if _, ok := c.Variables[name]; !ok {
		hint := didYouMean(name, c.varNames())
		if hint == "" {
			hint = fmt.Sprintf(" Declare it with a variable \"%s\" {} block.", name)
		} else {
			hint = strings.Replace(hint, "mean ", "mean var.", 1)
		}
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Reference to undeclared variable",
			Detail: fmt.Sprintf("No variable named %q is declared.%s", name, hint), Subject: tr.SourceRange().Ptr()}}
	}
	return nil
}

// unknownRoot reports a reference whose first name is nothing tend knows.
func (c *Config) unknownRoot(tr hcl.Traversal) *hcl.Diagnostic {
	root := tr.RootName()
	roots := []string{"var", "local", "host", "each"}
	for n := range c.types {
		roots = append(roots, n)
	}
	sort.Strings(roots[4:])
	hint := didYouMean(root, roots)
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown reference",
		Detail: fmt.Sprintf("%q is not a variable, local value, resource type or host attribute. References start with var., local., host., each. or a resource type such as file.%s", root, hint), Subject: tr.SourceRange().Ptr()}
}

func stepName(tr hcl.Traversal, i int) string {
	if len(tr) <= i {
		return ""
	}
	if a, ok := tr[i].(hcl.TraverseAttr); ok {
		return a.Name
	}
	return ""
}

// resourceAddr resolves TYPE.NAME[...] to a declared resource's address.
func (c *Config) resourceAddr(tr hcl.Traversal, what string) (string, hcl.Diagnostics) {
	root := tr.RootName()
	name := stepName(tr, 1)
	if _, ok := c.types[root]; !ok || name == "" {
		return "", hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid reference in " + what,
			Detail: "Expected a resource address such as file.motd.", Subject: tr.SourceRange().Ptr()}}
	}
	addr := root + "." + name
	if _, ok := c.byAddr[addr]; !ok {
		return "", hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Reference to undeclared resource",
			Detail: fmt.Sprintf("No resource %s is declared in this configuration.%s", addr, didYouMean(addr, c.Addrs())), Subject: tr.SourceRange().Ptr()}}
	}
	return addr, nil
}

// checkCycles reports dependency cycles: references, depends_on and
// notify (a notified resource runs after its notifier).
func (c *Config) checkCycles() hcl.Diagnostics {
	edges := c.Edges()
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var diags hcl.Diagnostics
	var visit func(a string)
	visit = func(a string) {
		color[a] = grey
		stack = append(stack, a)
		for _, b := range edges[a] {
			switch color[b] {
			case white:
				visit(b)
			case grey:
				i := len(stack) - 1
				for stack[i] != b {
					i--
				}
				cycle := append(append([]string{}, stack[i:]...), b)
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Dependency cycle",
					Detail:  fmt.Sprintf("These resources depend on each other in a cycle: %s.", strings.Join(cycle, " → ")),
					Subject: c.byAddr[b].DeclRange.Ptr()})
			}
		}
		stack = stack[:len(stack)-1]
		color[a] = black
	}
	for _, r := range c.Resources {
		if color[r.Addr()] == white {
			visit(r.Addr())
		}
	}
	return diags
}

// Edges returns, for each resource address, the addresses it must come
// after.
func (c *Config) Edges() map[string][]string {
	edges := map[string][]string{}
	for _, r := range c.Resources {
		edges[r.Addr()] = append(edges[r.Addr()], r.Deps...)
		for _, n := range r.NotifyAddrs {
			edges[n] = append(edges[n], r.Addr())
		}
	}
	return edges
}
