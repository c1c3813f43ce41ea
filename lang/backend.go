package lang

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
)

// Backend is the `backend "postgres" { url = ... }` block: where runs
// are journaled when neither --backend nor TEND_BACKEND says.
type Backend struct {
	Kind      string
	URL       hcl.Expression
	DeclRange hcl.Range
}

// BackendKinds are the kinds a backend block may name.
var BackendKinds = []string{"postgres"}

var backendSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "backend", LabelNames: []string{"kind"}}}}

func (c *Config) loadBackend(b *hcl.Block) hcl.Diagnostics {
	be, diags := decodeBackend(b, c.Backend)
	if be != nil {
		c.Backend = be
	}
	return diags
}

// decodeBackend checks a backend block; prev is the one already read.
func decodeBackend(b *hcl.Block, prev *Backend) (*Backend, hcl.Diagnostics) {
	if prev != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Duplicate backend block",
			Detail: fmt.Sprintf("A backend block was already declared at %s.", prev.DeclRange), Subject: b.DefRange.Ptr()}}
	}
	if b.Labels[0] != "postgres" {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Unknown backend",
			Detail:  fmt.Sprintf("Backend %q is not one tend knows: the only kind is \"postgres\" (files, the default, need no block).", b.Labels[0]),
			Subject: b.LabelRanges[0].Ptr()}}
	}
	content, diags := b.Body.Content(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "url", Required: true}}})
	if diags.HasErrors() {
		return nil, diags
	}
	return &Backend{Kind: b.Labels[0], URL: content.Attributes["url"].Expr, DeclRange: b.DefRange}, diags
}

// BackendURL evaluates the block's url: a string, from a literal or
// from functions (secret("env:NAME"), file(...)), never variables
// (the backend is needed before variables are read).
func (b *Backend) BackendURL(dir string) (string, hcl.Diagnostics) {
	ctx := &hcl.EvalContext{Functions: Functions(dir, NewSecrets(dir))}
	v, diags := b.URL.Value(ctx)
	if diags.HasErrors() {
		return "", diags
	}
	v, _ = v.Unmark()
	if v.IsNull() || !v.IsKnown() || v.Type() != cty.String || v.AsString() == "" {
		return "", hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid backend url",
			Detail: "The url of a postgres backend is a postgres:// URL, as a non-empty string.", Subject: b.URL.Range().Ptr()}}
	}
	return v.AsString(), nil
}

// ReadBackend reads only the backend block of the configuration in dir
// and returns its url, or "" when dir declares none (or holds no
// configuration): commands that read runs use it without loading the
// whole configuration.
func ReadBackend(dir string) (string, hcl.Diagnostics) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", nil
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && isConfigFile(e.Name()) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	p := hclparse.NewParser()
	var be *Backend
	var diags hcl.Diagnostics
	for _, n := range names {
		f, ds := p.ParseHCLFile(filepath.Join(dir, n))
		diags = append(diags, ds...)
		if f == nil {
			continue
		}
		content, _, ds := f.Body.PartialContent(backendSchema)
		diags = append(diags, ds...)
		for _, b := range content.Blocks {
			nb, ds := decodeBackend(b, be)
			diags = append(diags, ds...)
			if nb != nil {
				be = nb
			}
		}
	}
	if diags.HasErrors() || be == nil {
		return "", diags
	}
	return be.BackendURL(dir)
}
