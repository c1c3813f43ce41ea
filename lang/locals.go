package lang

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Local is one named value of a `locals` block, referred to as
// local.NAME. A local may use variables, other locals and the host
// (host.name, host.vars, host.facts): one that uses the host has a value
// per host, like the resources that refer to it.
type Local struct {
	Name      string
	Expr      hcl.Expression
	DeclRange hcl.Range
	// refs are the locals it refers to.
	refs []string
	// usesHost and readsFacts say whether it, or a local it refers to,
	// reads the host, or the host's facts.
	usesHost, readsFacts bool
	// hostPaths are the parts of the host it and the locals it refers to
	// read (hostPath), unless hostWhole: one read is not of a named part.
	hostPaths []string
	hostWhole bool
}

func (c *Config) loadLocals(b *hcl.Block) hcl.Diagnostics {
	attrs, diags := b.Body.JustAttributes()
	names := make([]string, 0, len(attrs))
	for n := range attrs {
		names = append(names, n)
	}
	sort.Slice(names, func(i, k int) bool {
		a, b := attrs[names[i]].NameRange, attrs[names[k]].NameRange
		return a.Start.Byte < b.Start.Byte
	})
	for _, n := range names {
		a := attrs[n]
		if o, ok := c.Locals[n]; ok {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate local value",
				Detail: fmt.Sprintf("A local value named %q was already defined at %s. Local value names are unique per configuration.", n, o.DeclRange), Subject: a.NameRange.Ptr()})
			continue
		}
		c.Locals[n] = &Local{Name: n, Expr: a.Expr, DeclRange: a.NameRange}
		c.localOrder = append(c.localOrder, c.Locals[n])
	}
	return diags
}

func (c *Config) localNames() []string {
	out := make([]string, 0, len(c.Locals))
	for n := range c.Locals {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (c *Config) varNames() []string {
	out := make([]string, 0, len(c.Variables))
	for n := range c.Variables {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// checkLocalRef checks a reference to local.NAME.
func (c *Config) checkLocalRef(tr hcl.Traversal) (string, hcl.Diagnostics) {
	name := stepName(tr, 1)
	if name == "" {
		return "", hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid reference to a local value",
			Detail: "A local value is referred to as local.NAME.", Subject: tr.SourceRange().Ptr()}}
	}
	if _, ok := c.Locals[name]; !ok {
		return "", hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Reference to undeclared local value",
			Detail:  fmt.Sprintf("No local value named %q is defined in a locals block.%s", name, didYouMean(name, c.localNames())),
			Subject: tr.SourceRange().Ptr()}}
	}
	return name, nil
}

// resolveLocals checks every reference of the locals, rejects cycles,
// orders them so each comes after the locals it uses, and works out which
// use the host.
func (c *Config) resolveLocals() hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, l := range c.localOrder {
		seen := map[string]bool{}
		if n := syntaxNode(l.Expr); n != nil && callsDefaultVersionCompare(n) {
			// Its scheme is the host's package manager's.
			l.usesHost, l.readsFacts, l.hostWhole = true, true, true
		}
		for _, tr := range l.Expr.Variables() {
			switch root := tr.RootName(); root {
			case "var":
				diags = append(diags, c.checkVarRef(tr)...)
			case "local":
				n, ds := c.checkLocalRef(tr)
				diags = append(diags, ds...)
				if n != "" && !seen[n] {
					seen[n] = true
					l.refs = append(l.refs, n)
				}
			case "host":
				l.usesHost = true
				l.readsFacts = l.readsFacts || readsFacts(tr)
				if p := hostPath(tr); p != "" {
					l.hostPaths = append(l.hostPaths, p)
				} else {
					l.hostWhole = true
				}
			case "each":
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Reference to \"each\" in a local value",
					Detail: "each.key and each.value are only available in a resource that sets for_each.", Subject: tr.SourceRange().Ptr()})
			default:
				if _, ok := c.types[root]; ok {
					diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Reference to a resource in a local value",
						Detail:  "A local value may use variables, other local values and host; resources refer to locals, not the other way round.",
						Subject: tr.SourceRange().Ptr()})
					continue
				}
				diags = append(diags, c.unknownRoot(tr))
			}
		}
	}
	if diags.HasErrors() {
		return diags
	}
	// Depth-first, reporting each cycle at the local where it closes.
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var order []*Local
	var visit func(l *Local)
	visit = func(l *Local) {
		color[l.Name] = grey
		stack = append(stack, l.Name)
		for _, n := range l.refs {
			d := c.Locals[n]
			switch color[n] {
			case white:
				visit(d)
			case grey:
				i := len(stack) - 1
				for stack[i] != n {
					i--
				}
				var chain []string
				for _, s := range append(append([]string{}, stack[i:]...), n) {
					chain = append(chain, "local."+s)
				}
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cycle in local values",
					Detail:  fmt.Sprintf("These local values refer to each other in a cycle: %s.", strings.Join(chain, " → ")),
					Subject: l.Expr.Range().Ptr()})
			}
			l.usesHost = l.usesHost || d.usesHost
			l.readsFacts = l.readsFacts || d.readsFacts
			l.hostPaths = append(l.hostPaths, d.hostPaths...)
			l.hostWhole = l.hostWhole || d.hostWhole
		}
		stack = stack[:len(stack)-1]
		color[l.Name] = black
		order = append(order, l)
	}
	for _, l := range c.localOrder {
		if color[l.Name] == white {
			visit(l)
		}
	}
	c.localOrder = order
	return diags
}

// localsValue evaluates the locals, in order, to the object local.NAME
// reads. Without a host (host is cty.NilVal), the locals that use the
// host are left out.
func (c *Config) localsValue(varVal, hostVal cty.Value) (cty.Value, hcl.Diagnostics) {
	if len(c.localOrder) == 0 {
		return cty.EmptyObjectVal, nil
	}
	vals := map[string]cty.Value{}
	fns := c.functions()
	if hostVal != cty.NilVal && hostVal.Type().IsObjectType() && hostVal.Type().HasAttribute("facts") {
		fns = HostFunctions(fns, hostVal.GetAttr("facts"))
	}
	var diags hcl.Diagnostics
	for _, l := range c.localOrder {
		if l.usesHost && hostVal == cty.NilVal {
			continue
		}
		ctx := &hcl.EvalContext{Variables: map[string]cty.Value{"var": varVal, "local": cty.ObjectVal(vals)}, Functions: fns}
		if hostVal != cty.NilVal {
			ctx.Variables["host"] = hostVal
		}
		v, ds := l.Expr.Value(ctx)
		diags = append(diags, ds...)
		if ds.HasErrors() {
			v = cty.DynamicVal
		}
		vals[l.Name] = v
	}
	return cty.ObjectVal(vals), diags
}

// localUsesHost reports whether a traversal reads a local value that uses
// the host, and whether one that reads its facts.
func (c *Config) localUsesHost(tr hcl.Traversal) (host, facts bool) {
	if tr.RootName() != "local" {
		return false, false
	}
	l := c.Locals[stepName(tr, 1)]
	if l == nil {
		return false, false
	}
	return l.usesHost, l.readsFacts
}

// Validation is a `validation` block of a variable: a condition the
// value must meet, and the message when it does not.
type Validation struct {
	Condition    hcl.Expression
	ErrorMessage hcl.Expression
	DeclRange    hcl.Range
}

func (c *Config) loadValidation(v *Variable, b *hcl.Block) hcl.Diagnostics {
	content, diags := b.Body.Content(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "condition", Required: true}, {Name: "error_message", Required: true},
	}})
	if diags.HasErrors() {
		return diags
	}
	val := &Validation{Condition: content.Attributes["condition"].Expr, ErrorMessage: content.Attributes["error_message"].Expr, DeclRange: b.DefRange}
	for _, e := range []hcl.Expression{val.Condition, val.ErrorMessage} {
		for _, tr := range e.Variables() {
			if tr.RootName() == "var" && stepName(tr, 1) == v.Name {
				continue
			}
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid reference in variable validation",
				Detail:  fmt.Sprintf("A validation of variable %q may refer only to the variable itself, as var.%s.", v.Name, v.Name),
				Subject: tr.SourceRange().Ptr()})
		}
	}
	v.Validations = append(v.Validations, val)
	return diags
}

// validate checks a variable's value against its validation blocks.
func (c *Config) validate(decl *Variable, v cty.Value, valueRange *hcl.Range) hcl.Diagnostics {
	var diags hcl.Diagnostics
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{"var": cty.ObjectVal(map[string]cty.Value{decl.Name: v})}, Functions: c.functions()}
	for _, val := range decl.Validations {
		res, ds := val.Condition.Value(ctx)
		diags = append(diags, ds...)
		if ds.HasErrors() {
			continue
		}
		res, _ = res.UnmarkDeep()
		if !res.IsKnown() {
			continue // it waits for a secret: checked when the value is known
		}
		res, err := convert.Convert(res, cty.Bool)
		if err != nil || res.IsNull() {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid validation condition",
				Detail: "The condition must be true or false.", Subject: val.Condition.Range().Ptr()})
			continue
		}
		if res.True() {
			continue
		}
		msg, ds := val.ErrorMessage.Value(ctx)
		text := "The value does not meet the variable's validation."
		if !ds.HasErrors() {
			m, err := convert.Convert(msg, cty.String)
			switch {
			case err != nil || m.IsNull() || !m.IsWhollyKnown():
			case m.ContainsMarked():
				text = "The value does not meet the variable's validation; its error_message uses a sensitive value, so it is not shown."
			default:
				text = m.AsString()
			}
		}
		from := ""
		if valueRange != nil {
			from = fmt.Sprintf(" The value was set at %s.", valueRange)
		}
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid value for variable",
			Detail:  fmt.Sprintf("%s\n\nVariable %q failed the validation at %s.%s", text, decl.Name, val.DeclRange, from),
			Subject: decl.DeclRange.Ptr()})
	}
	return diags
}
