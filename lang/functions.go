package lang

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"

	"github.com/tendhq/tend/redact"
	"github.com/tendhq/tend/resources"
)

// Sensitive marks values that must never be displayed: results of
// secret(...) and variables declared sensitive. HCL carries the mark
// through expressions and templates, so anything derived from a secret is
// sensitive too.
const Sensitive = resources.Sensitive

// Functions returns the functions configuration may call: HCL's standard
// library plus file, templatefile and secret. Paths are relative to dir.
// secret(...) resolves with secrets (see Secrets), a new resolver for
// dir when nil.
func Functions(dir string, secrets *Secrets) map[string]function.Function {
	if secrets == nil {
		secrets = NewSecrets(dir)
	}
	return functions(dir, nil, secrets)
}

// fileCache keeps the files a configuration's functions read, and the
// templates parsed from them, for one run: a template rendered for 50
// hosts is read and parsed once, not 50 times (it was most of a plan's
// controller time). Safe for concurrent use; nil reads every time.
type fileCache struct {
	mu sync.Mutex
	m  map[string]*cachedFile
	// digests remembers large sources' digests across runs.
	digests digestCache
}

type cachedFile struct {
	read sync.Once
	src  []byte
	err  error
	// The SHA-256 and size of a file read as a stream (sourceSHA256).
	hash    sync.Once
	sum     string
	size    int64
	hashErr error
	parse   sync.Once
	expr    hclsyntax.Expression
	diags   hcl.Diagnostics
}

func (fc *fileCache) get(full string) *cachedFile {
	if fc == nil {
		return &cachedFile{}
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.m == nil {
		fc.m = map[string]*cachedFile{}
	}
	f := fc.m[full]
	if f == nil {
		f = &cachedFile{}
		fc.m[full] = f
	}
	return f
}

// readFile returns the content of the file at full.
func (fc *fileCache) readFile(full string) ([]byte, error) {
	f := fc.get(full)
	f.read.Do(func() { f.src, f.err = os.ReadFile(full) })
	return f.src, f.err
}

// sourceSHA256 returns the hex SHA-256 of the file at full and its size,
// reading it as a stream (a large file is never held in memory), at most
// once per configuration, and not at all while the digest remembered in
// the configuration directory dir holds (digestCache).
func (fc *fileCache) sourceSHA256(dir, full string) (string, int64, error) {
	f := fc.get(full)
	f.hash.Do(func() {
		var dc *digestCache
		if fc != nil {
			dc = &fc.digests
		} else {
			dc = &digestCache{}
		}
		f.sum, f.size, f.hashErr = dc.hashSource(dir, full)
	})
	return f.sum, f.size, f.hashErr
}

// template returns the template parsed from the file at full. A parsed
// template is only read when evaluated, so hosts share it.
func (fc *fileCache) template(full string) (hclsyntax.Expression, error) {
	f := fc.get(full)
	f.read.Do(func() { f.src, f.err = os.ReadFile(full) })
	if f.err != nil {
		return nil, f.err
	}
	f.parse.Do(func() {
		f.expr, f.diags = hclsyntax.ParseTemplate(f.src, full, hcl.Pos{Line: 1, Column: 1, Byte: 0})
		if te, ok := f.expr.(*hclsyntax.TemplateExpr); ok {
			for i, p := range te.Parts {
				if _, lit := p.(*hclsyntax.LiteralValueExpr); !lit {
					te.Parts[i] = intString{p}
				}
			}
		}
	})
	if f.diags.HasErrors() {
		return nil, diagsError(f.diags)
	}
	return f.expr, nil
}

func functions(dir string, fc *fileCache, secrets *Secrets) map[string]function.Function {
	fns := map[string]function.Function{
		"abs": stdlib.AbsoluteFunc, "ceil": stdlib.CeilFunc, "chomp": stdlib.ChompFunc,
		"coalesce": stdlib.CoalesceFunc, "coalescelist": stdlib.CoalesceListFunc,
		"compact": stdlib.CompactFunc, "concat": stdlib.ConcatFunc, "contains": stdlib.ContainsFunc,
		"csvdecode": stdlib.CSVDecodeFunc, "distinct": stdlib.DistinctFunc, "element": stdlib.ElementFunc,
		"chunklist": stdlib.ChunklistFunc, "flatten": stdlib.FlattenFunc, "floor": stdlib.FloorFunc,
		"format": stdlib.FormatFunc, "formatdate": stdlib.FormatDateFunc, "formatlist": stdlib.FormatListFunc,
		"indent": stdlib.IndentFunc, "join": stdlib.JoinFunc, "jsondecode": stdlib.JSONDecodeFunc,
		"jsonencode": stdlib.JSONEncodeFunc, "keys": stdlib.KeysFunc, "length": stdlib.LengthFunc,
		"log": stdlib.LogFunc, "lookup": stdlib.LookupFunc, "lower": stdlib.LowerFunc, "max": stdlib.MaxFunc,
		"merge": stdlib.MergeFunc, "min": stdlib.MinFunc, "parseint": stdlib.ParseIntFunc, "pow": stdlib.PowFunc,
		"range": stdlib.RangeFunc, "regex": stdlib.RegexFunc, "regexall": stdlib.RegexAllFunc,
		"replace": stdlib.ReplaceFunc, "reverse": stdlib.ReverseListFunc, "setintersection": stdlib.SetIntersectionFunc,
		"setproduct": stdlib.SetProductFunc, "setsubtract": stdlib.SetSubtractFunc, "setunion": stdlib.SetUnionFunc,
		"signum": stdlib.SignumFunc, "slice": stdlib.SliceFunc, "sort": stdlib.SortFunc, "split": stdlib.SplitFunc,
		"strrev": stdlib.ReverseFunc, "substr": stdlib.SubstrFunc, "timeadd": stdlib.TimeAddFunc,
		"title": stdlib.TitleFunc, "trim": stdlib.TrimFunc, "trimprefix": stdlib.TrimPrefixFunc,
		"trimspace": stdlib.TrimSpaceFunc, "trimsuffix": stdlib.TrimSuffixFunc, "upper": stdlib.UpperFunc,
		"values": stdlib.ValuesFunc, "zipmap": stdlib.ZipmapFunc,
		"can": tryfunc.CanFunc, "try": tryfunc.TryFunc,
		"tostring": stdlib.MakeToFunc(cty.String), "tonumber": stdlib.MakeToFunc(cty.Number),
		"tobool": stdlib.MakeToFunc(cty.Bool), "tolist": stdlib.MakeToFunc(cty.List(cty.DynamicPseudoType)),
		"toset": stdlib.MakeToFunc(cty.Set(cty.DynamicPseudoType)), "tomap": stdlib.MakeToFunc(cty.Map(cty.DynamicPseudoType)),
		"base64encode": stringFunc(func(s string) (string, error) { return base64.StdEncoding.EncodeToString([]byte(s)), nil }),
		"base64decode": stringFunc(func(s string) (string, error) {
			b, err := base64.StdEncoding.DecodeString(s)
			return string(b), err
		}),
		"sha256": stringFunc(func(s string) (string, error) {
			sum := sha256.Sum256([]byte(s))
			return hex.EncodeToString(sum[:]), nil
		}),
		"secret":          secrets.function(),
		"version_compare": versionCompareFunc(SchemeDeb),
	}
	fns["file"] = function.New(&function.Spec{
		Params: []function.Parameter{{Name: "path", Type: cty.String}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			b, err := fc.readFile(resolve(dir, args[0].AsString()))
			if err != nil {
				return cty.NilVal, err
			}
			return cty.StringVal(string(b)), nil
		},
	})
	fns["templatefile"] = function.New(&function.Spec{
		Params: []function.Parameter{
			{Name: "path", Type: cty.String},
			{Name: "vars", Type: cty.DynamicPseudoType, AllowMarked: true},
		},
		Type: function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			return renderTemplate(dir, args[0].AsString(), args[1], fns, fc)
		},
	})
	for name, f := range fns {
		fns[name] = quietOnSensitive(f)
	}
	return fns
}

// quietOnSensitive returns f, with its errors rid of the sensitive values
// it was given: cty's functions quote the value they could not use
// (tonumber: `cannot convert "..." to number`), and HCL makes the error
// a diagnostic. Marks are left to f, which drops and puts them back as
// it always does.
func quietOnSensitive(f function.Function) function.Function {
	allow := func(p function.Parameter) function.Parameter {
		p.AllowMarked = true
		return p
	}
	params := f.Params()
	for i := range params {
		params[i] = allow(params[i])
	}
	var vp *function.Parameter
	if p := f.VarParam(); p != nil {
		q := allow(*p)
		vp = &q
	}
	return function.New(&function.Spec{
		Description: f.Description(),
		Params:      params,
		VarParam:    vp,
		Type:        f.ReturnTypeForValues,
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			v, err := f.Call(args)
			if err == nil {
				return v, nil
			}
			return v, scrubError(err, args)
		},
	})
}

// scrubError returns err with the sensitive values among args (and any
// secret of the run) replaced by "(sensitive)"; an argument's error
// stays one, so HCL still points at the argument.
func scrubError(err error, args []cty.Value) error {
	var secrets []string
	for _, a := range args {
		for _, m := range redact.Marked(a, Sensitive) {
			secrets = append(secrets, redact.Strings(m)...)
		}
	}
	msg := err.Error()
	clean := msg
	for _, s := range secrets {
		if s == "" {
			continue
		}
		// Quoted, as cty quotes what it could not use, a value of any
		// length; bare, only one long enough not to hit ordinary words.
		clean = strings.ReplaceAll(clean, strconv.Quote(s), `"`+redact.Replacement+`"`)
		if len(s) >= redact.MinLen {
			clean = strings.ReplaceAll(clean, s, redact.Replacement)
		}
	}
	clean = redact.String(clean)
	if clean == msg {
		return err
	}
	var ae function.ArgError
	if errors.As(err, &ae) {
		return function.NewArgErrorf(ae.Index, "%s", clean)
	}
	return errors.New(clean)
}

func stringFunc(f func(string) (string, error)) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "str", Type: cty.String}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			s, err := f(args[0].AsString())
			if err != nil {
				return cty.NilVal, err
			}
			return cty.StringVal(s), nil
		},
	})
}

func resolve(dir, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// renderTemplate renders a template file with vars as its only variables,
// as Terraform's templatefile does.
func renderTemplate(dir, path string, vars cty.Value, fns map[string]function.Function, fc *fileCache) (cty.Value, error) {
	expr, err := fc.template(resolve(dir, path))
	if err != nil {
		return cty.NilVal, err
	}
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{}, Functions: fns}
	if !vars.IsNull() {
		uv, marks := vars.Unmark()
		if !uv.Type().IsObjectType() && !uv.Type().IsMapType() {
			return cty.NilVal, fmt.Errorf("template vars must be an object, got %s", uv.Type().FriendlyName())
		}
		for k, v := range uv.AsValueMap() {
			ctx.Variables[k] = v.WithMarks(marks)
		}
	}
	v, diags := expr.Value(ctx)
	if diags.HasErrors() {
		return cty.NilVal, diagsError(diags)
	}
	return v, nil
}

// diagsError flattens diagnostics for errors inside a function call, where
// HCL reports them at the call site.
func diagsError(diags hcl.Diagnostics) error {
	var msgs []string
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		m := d.Summary
		if d.Detail != "" {
			m += ": " + d.Detail
		}
		if d.Subject != nil {
			m = d.Subject.String() + ": " + m
		}
		msgs = append(msgs, m)
	}
	return fmt.Errorf("%s", strings.Join(msgs, "; "))
}

// intString is a template interpolation whose whole-number results it
// turns into strings itself: cty's conversion formats every number as a
// 512-bit float (math/big's shortest decimal), which was a tenth of a
// plan's controller time for templates with a port or an index in them.
// The text is the same; anything else is left to the template.
type intString struct{ hclsyntax.Expression }

func (e intString) Value(ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	v, diags := e.Expression.Value(ctx)
	uv, marks := v.Unmark()
	if !uv.IsKnown() || uv.IsNull() || !uv.Type().Equals(cty.Number) {
		return v, diags
	}
	bf := uv.AsBigFloat()
	if !bf.IsInt() {
		return v, diags
	}
	i, acc := bf.Int64()
	if acc != big.Exact {
		return v, diags
	}
	return cty.StringVal(strconv.FormatInt(i, 10)).WithMarks(marks), diags
}
