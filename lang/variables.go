package lang

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/tendhq/tend/redact"
)

// VarInputs are the variable values given on the command line and in the
// environment. Precedence, lowest first: default, TEND_VAR_name, var
// files in order, -var flags in order.
type VarInputs struct {
	Flags []string // "name=value"
	Files []string
	// Env is the environment to read TEND_VAR_* from; nil means os.Environ.
	Env []string
}

// Values evaluates every declared variable.
func (c *Config) Values(in VarInputs) (map[string]cty.Value, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	raw := map[string]cty.Value{}
	rng := map[string]*hcl.Range{}
	env := in.Env
	if env == nil {
		env = os.Environ()
	}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, "TEND_VAR_") {
			continue
		}
		name := strings.TrimPrefix(k, "TEND_VAR_")
		if decl, ok := c.Variables[name]; ok {
			val, ds := parseRaw(decl, v, "environment variable "+k)
			diags = append(diags, ds...)
			raw[name] = val
		}
	}
	for _, path := range in.Files {
		f, ds := c.Parser.ParseHCLFile(path)
		diags = append(diags, ds...)
		if f == nil {
			continue
		}
		attrs, ds := f.Body.JustAttributes()
		diags = append(diags, ds...)
		names := make([]string, 0, len(attrs))
		for n := range attrs {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			a := attrs[n]
			if _, ok := c.Variables[n]; !ok {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Value for undeclared variable",
					Detail: fmt.Sprintf("The variable file sets %q, which is not declared.", n), Subject: a.NameRange.Ptr()})
				continue
			}
			v, ds := a.Expr.Value(nil)
			diags = append(diags, ds...)
			raw[n] = v
			rng[n] = a.Expr.Range().Ptr()
		}
	}
	for _, kv := range in.Flags {
		name, v, ok := strings.Cut(kv, "=")
		if !ok {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid -var option",
				Detail: fmt.Sprintf("The option -var %q is not of the form name=value.", kv)})
			continue
		}
		decl, ok := c.Variables[name]
		if !ok {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Value for undeclared variable",
				Detail: fmt.Sprintf("-var sets %q, which is not declared in %s.", name, c.Dir)})
			continue
		}
		val, ds := parseRaw(decl, v, "-var "+name)
		diags = append(diags, ds...)
		raw[name] = val
		delete(rng, name)
	}
	out := map[string]cty.Value{}
	for _, name := range c.varNames() {
		decl := c.Variables[name]
		v, ok := raw[name]
		if !ok {
			if decl.Default == cty.NilVal {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "No value for required variable",
					Detail:  fmt.Sprintf("The variable %q has no default; set it with -var %s=..., a -var-file or TEND_VAR_%s.", name, name, name),
					Subject: decl.DeclRange.Ptr()})
				continue
			}
			v = decl.Default
		}
		if decl.Sensitive {
			// Before anything can quote it, a value not fitting the type
			// included.
			redact.Default.AddValue(v)
		}
		cv, err := convert.Convert(v, decl.Type)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid value for variable",
				Detail: fmt.Sprintf("The value given for %q does not fit its type: %s.", name, err), Subject: rng[name]})
			continue
		}
		if decl.Sensitive {
			redact.Default.AddValue(cv)
			cv = cv.Mark(Sensitive)
		}
		if ds := c.validate(decl, cv, rng[name]); len(ds) > 0 {
			diags = append(diags, ds...)
			if ds.HasErrors() {
				continue
			}
		}
		out[name] = cv
	}
	return out, diags
}

// parseRaw reads a value given as text: a primitive or unconstrained type
// takes the text as it is, other types parse it as an HCL expression (as
// Terraform does).
func parseRaw(decl *Variable, s, what string) (cty.Value, hcl.Diagnostics) {
	if decl.Type.IsPrimitiveType() || decl.Type == cty.DynamicPseudoType {
		return cty.StringVal(s), nil
	}
	expr, diags := hclsyntax.ParseExpression([]byte(s), what, hcl.Pos{Line: 1, Column: 1})
	if diags.HasErrors() {
		return cty.DynamicVal, diags
	}
	return expr.Value(nil)
}
