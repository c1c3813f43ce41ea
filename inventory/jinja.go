package inventory

import (
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/resources"
)

// Ansible inventories template their variables with Jinja2:
// `ansible_user: "{{ deploy_user }}"`, `ansible_host:
// "{{ inventory_hostname }}.corp"`. Ansible renders a variable when it is
// used, with the host's merged variables, so a group variable may refer to
// a host variable. tend renders the forms inventories use, the same way:
//
//	{{ name }}                       a variable of the host, or a magic one
//	{{ name | default(x) }}          x a quoted string, a number, a variable
//	{{ name | default(x, true) }}    x also when name is empty or false
//	{{ a ~ '-' ~ b }}                Jinja's string concatenation
//	text{{ ... }}text                text around expressions
//
// with the magic variables inventory_hostname, inventory_hostname_short
// and group_names. Anything else (other filters, attribute access,
// arithmetic, {% %} blocks, lookups) is an error naming the variable and
// where it was set: a template is never used as literal text.

// unsafeMark marks a string Ansible must not template (YAML's !unsafe,
// JSON's __ansible_unsafe). It never leaves the package: rendering drops it.
type unsafeMark struct{}

// isTemplate reports whether Ansible would treat s as a template.
func isTemplate(s string) bool {
	return strings.Contains(s, "{{") || strings.Contains(s, "{%") || strings.Contains(s, "{#")
}

// tmplNode is a parsed Jinja expression.
type tmplNode interface{ isNode() }

type (
	tmplVar     struct{ name string }
	tmplLiteral struct{ v cty.Value }
	tmplConcat  struct{ parts []tmplNode }
	tmplDefault struct {
		x, fallback tmplNode
		boolean     bool
	}
)

func (tmplVar) isNode()     {}
func (tmplLiteral) isNode() {}
func (tmplConcat) isNode()  {}
func (tmplDefault) isNode() {}

// tmplPart is a piece of a template: literal text, or an expression.
type tmplPart struct {
	text string
	expr tmplNode
}

// parseTemplate splits s into text and {{ }} expressions.
func parseTemplate(s string) ([]tmplPart, error) {
	var parts []tmplPart
	rest := s
	for {
		i := strings.Index(rest, "{")
		for i >= 0 && i+1 < len(rest) && rest[i+1] != '{' && rest[i+1] != '%' && rest[i+1] != '#' {
			j := strings.Index(rest[i+1:], "{")
			if j < 0 {
				i = -1
				break
			}
			i += 1 + j
		}
		if i < 0 || i+1 >= len(rest) {
			if rest != "" {
				parts = append(parts, tmplPart{text: rest})
			}
			return parts, nil
		}
		switch rest[i+1] {
		case '%':
			return nil, fmt.Errorf("a {%% %%} block is not supported")
		case '#':
			return nil, fmt.Errorf("a {# #} comment is not supported")
		}
		text := rest[:i]
		body := rest[i+2:]
		if strings.HasPrefix(body, "-") {
			text = strings.TrimRightFunc(text, unicode.IsSpace)
			body = body[1:]
		}
		if text != "" {
			parts = append(parts, tmplPart{text: text})
		}
		p := &exprParser{src: body}
		expr, err := p.expr()
		if err != nil {
			return nil, err
		}
		p.space()
		after := p.src[p.pos:]
		trim := false
		if strings.HasPrefix(after, "-}}") {
			trim, after = true, after[1:]
		}
		if !strings.HasPrefix(after, "}}") {
			if after == "" {
				return nil, fmt.Errorf("unclosed {{")
			}
			return nil, fmt.Errorf("%s is not supported", describeUnsupported(after))
		}
		parts = append(parts, tmplPart{expr: expr})
		rest = after[2:]
		if trim {
			rest = strings.TrimLeftFunc(rest, unicode.IsSpace)
		}
	}
}

// describeUnsupported names what stopped the parser, for the error.
func describeUnsupported(s string) string {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(s, "|"):
		name := strings.TrimSpace(s[1:])
		end := strings.IndexFunc(name, func(r rune) bool { return !isIdentRune(r) && r != '.' })
		if end > 0 {
			name = name[:end]
		}
		return fmt.Sprintf("the filter %q (only default is)", name)
	case strings.HasPrefix(s, "."), strings.HasPrefix(s, "["):
		return "attribute and item access (" + clip(s) + ")"
	case strings.HasPrefix(s, "("):
		return "a function call (" + clip(s) + ")"
	}
	return "the expression " + strconv.Quote(clip(s))
}

func clip(s string) string {
	if i := strings.Index(s, "}}"); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimSpace(s)
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return s
}

func isIdentRune(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

// exprParser reads one Jinja expression of the supported forms.
type exprParser struct {
	src string
	pos int
}

func (p *exprParser) space() {
	for p.pos < len(p.src) && strings.IndexByte(" \t\r\n", p.src[p.pos]) >= 0 {
		p.pos++
	}
}

func (p *exprParser) peek(s string) bool {
	p.space()
	return strings.HasPrefix(p.src[p.pos:], s)
}

// expr := filtered ('~' filtered)*
func (p *exprParser) expr() (tmplNode, error) {
	first, err := p.filtered()
	if err != nil {
		return nil, err
	}
	parts := []tmplNode{first}
	for p.peek("~") {
		p.pos++
		n, err := p.filtered()
		if err != nil {
			return nil, err
		}
		parts = append(parts, n)
	}
	if len(parts) == 1 {
		return first, nil
	}
	return tmplConcat{parts: parts}, nil
}

// filtered := primary ('|' ('default'|'d') '(' expr [',' bool] ')')*
func (p *exprParser) filtered() (tmplNode, error) {
	n, err := p.primary()
	if err != nil {
		return nil, err
	}
	for p.peek("|") && !strings.HasPrefix(p.src[p.pos:], "||") {
		save := p.pos
		p.pos++
		p.space()
		name := p.ident()
		if name != "default" && name != "d" {
			p.pos = save
			return n, nil // reported by the caller as an unsupported filter
		}
		if !p.peek("(") {
			return nil, fmt.Errorf("default needs a value: default(x)")
		}
		p.pos++
		fb, err := p.expr()
		if err != nil {
			return nil, err
		}
		d := tmplDefault{x: n, fallback: fb}
		if p.peek(",") {
			p.pos++
			b, err := p.primary()
			if err != nil {
				return nil, err
			}
			lit, ok := b.(tmplLiteral)
			if !ok || lit.v.Type() != cty.Bool {
				return nil, fmt.Errorf("the second argument of default must be true or false")
			}
			d.boolean = lit.v.True()
		}
		if !p.peek(")") {
			return nil, fmt.Errorf("default takes one value (and optionally true): %s", describeUnsupported(p.src[p.pos:]))
		}
		p.pos++
		n = d
	}
	return n, nil
}

func (p *exprParser) ident() string {
	start := p.pos
	for p.pos < len(p.src) {
		r := rune(p.src[p.pos])
		if r >= 0x80 || !isIdentRune(r) || (p.pos == start && unicode.IsDigit(r)) {
			break
		}
		p.pos++
	}
	return p.src[start:p.pos]
}

// primary := name | 'string' | "string" | number | true | false | none | '(' expr ')'
func (p *exprParser) primary() (tmplNode, error) {
	p.space()
	if p.pos >= len(p.src) {
		return nil, fmt.Errorf("unclosed {{")
	}
	c := p.src[p.pos]
	switch {
	case c == '(':
		p.pos++
		n, err := p.expr()
		if err != nil {
			return nil, err
		}
		if !p.peek(")") {
			return nil, fmt.Errorf("%s is not supported", describeUnsupported(p.src[p.pos:]))
		}
		p.pos++
		return n, nil
	case c == '\'' || c == '"':
		return p.str(c)
	case c >= '0' && c <= '9' || c == '-' && p.pos+1 < len(p.src) && p.src[p.pos+1] >= '0' && p.src[p.pos+1] <= '9':
		start := p.pos
		p.pos++
		for p.pos < len(p.src) && (p.src[p.pos] >= '0' && p.src[p.pos] <= '9' || p.src[p.pos] == '.' || p.src[p.pos] == '_') {
			p.pos++
		}
		text := strings.ReplaceAll(p.src[start:p.pos], "_", "")
		f, _, err := big.ParseFloat(text, 10, 512, big.ToNearestEven)
		if err != nil {
			return nil, fmt.Errorf("invalid number %q", text)
		}
		return tmplLiteral{v: cty.NumberVal(f)}, nil
	}
	name := p.ident()
	if name == "" {
		return nil, fmt.Errorf("%s is not supported", describeUnsupported(p.src[p.pos:]))
	}
	switch name {
	case "true", "True":
		return tmplLiteral{v: cty.True}, nil
	case "false", "False":
		return tmplLiteral{v: cty.False}, nil
	case "none", "None":
		return tmplLiteral{v: cty.NullVal(cty.DynamicPseudoType)}, nil
	case "lookup", "query", "q":
		return nil, fmt.Errorf("%s(...) is not supported", name)
	}
	return tmplVar{name: name}, nil
}

// str reads a quoted Jinja string with Python's common escapes.
func (p *exprParser) str(q byte) (tmplNode, error) {
	p.pos++
	var b strings.Builder
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == q:
			p.pos++
			return tmplLiteral{v: cty.StringVal(b.String())}, nil
		case c == '\\' && p.pos+1 < len(p.src):
			p.pos++
			switch e := p.src[p.pos]; e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case '\\', '\'', '"':
				b.WriteByte(e)
			default:
				b.WriteByte('\\')
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
		}
		p.pos++
	}
	return nil, fmt.Errorf("unterminated string")
}

// undefined is the result of a variable the host does not have.
type undefinedError struct{ name string }

func (e *undefinedError) Error() string { return fmt.Sprintf("%q is undefined", e.name) }

// tmplScope renders one host's variables: vars are the host's merged
// variables; rendered caches results; active detects a variable that
// refers back to itself.
type tmplScope struct {
	host     string
	groups   []string // group_names
	vars     map[string]value
	rendered map[string]renderResult
	active   map[string]bool
}

type renderResult struct {
	v   cty.Value
	err error
}

func newTmplScope(host string, groups []string, vars map[string]value) *tmplScope {
	var names []string
	for _, g := range groups {
		if g != GroupAll {
			names = append(names, g)
		}
	}
	sort.Strings(names)
	return &tmplScope{host: host, groups: names, vars: vars, rendered: map[string]renderResult{}, active: map[string]bool{}}
}

// varError says which variable a rendering failed in, and where that
// variable was set.
type varError struct {
	name string
	at   string // file:line, "" when unknown
	text string // the template
	err  error
}

func (e *varError) Error() string {
	at := ""
	if e.at != "" {
		at = " (" + e.at + ")"
	}
	if inner, ok := e.err.(*varError); ok {
		return fmt.Sprintf("%s = %q%s uses %s", e.name, e.text, at, inner)
	}
	return fmt.Sprintf("%s = %q%s: %s", e.name, e.text, at, e.err)
}

// lookup returns the rendered value of a variable of the host.
func (s *tmplScope) lookup(name string) (cty.Value, error) {
	switch name {
	case "inventory_hostname":
		return cty.StringVal(s.host), nil
	case "inventory_hostname_short":
		short, _, _ := strings.Cut(s.host, ".")
		return cty.StringVal(short), nil
	case "group_names":
		if len(s.groups) == 0 {
			return cty.EmptyTupleVal, nil
		}
		var vs []cty.Value
		for _, g := range s.groups {
			vs = append(vs, cty.StringVal(g))
		}
		return cty.TupleVal(vs), nil
	case "hostvars", "groups", "vars", "omit", "playbook_dir", "inventory_dir", "inventory_file", "ansible_facts":
		return cty.NilVal, fmt.Errorf("%s is not supported in inventory templates", name)
	}
	if r, ok := s.rendered[name]; ok {
		return r.v, r.err
	}
	v, ok := s.vars[name]
	if !ok {
		return cty.NilVal, &undefinedError{name: name}
	}
	if v.native {
		return v.v, nil
	}
	if s.active[name] {
		return cty.NilVal, fmt.Errorf("%s refers to itself (a loop of variables)", name)
	}
	s.active[name] = true
	out, err := s.renderValue(v.v)
	delete(s.active, name)
	if err != nil {
		text := ""
		if sv, marks := v.v.UnmarkDeep(); sv.Type() == cty.String && !sv.IsNull() && sv.IsKnown() {
			text = sv.AsString()
			if _, secret := marks[resources.Sensitive]; secret {
				text = "(sensitive)" // from an encrypted file: never quoted
			}
		}
		at := ""
		if v.rng.Filename != "" {
			at = fmt.Sprintf("%s:%d", v.rng.Filename, v.rng.Start.Line)
		}
		err = &varError{name: name, at: at, text: text, err: err}
	}
	s.rendered[name] = renderResult{v: out, err: err}
	return out, err
}

// renderValue renders every template string in v, recursively, keeping
// v's marks (sensitive values stay sensitive) and dropping unsafeMark.
func (s *tmplScope) renderValue(v cty.Value) (cty.Value, error) {
	v, marks := v.Unmark()
	unsafe := false
	if _, ok := marks[unsafeMark{}]; ok {
		unsafe = true
		delete(marks, unsafeMark{})
	}
	if v.IsNull() || !v.IsKnown() {
		return v.WithMarks(marks), nil
	}
	t := v.Type()
	switch {
	case t == cty.String:
		if unsafe || !isTemplate(v.AsString()) {
			return v.WithMarks(marks), nil
		}
		out, used, err := s.render(v.AsString())
		if err != nil {
			return cty.NilVal, err
		}
		return out.WithMarks(marks, used), nil
	case t.IsObjectType() || t.IsMapType():
		attrs := map[string]cty.Value{}
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			r, err := s.renderValue(e)
			if err != nil {
				return cty.NilVal, err
			}
			attrs[k.AsString()] = r
		}
		if t.IsMapType() {
			if len(attrs) == 0 {
				return v.WithMarks(marks), nil
			}
			return cty.ObjectVal(attrs).WithMarks(marks), nil
		}
		return cty.ObjectVal(attrs).WithMarks(marks), nil
	case t.IsTupleType() || t.IsListType() || t.IsSetType():
		if v.LengthInt() == 0 {
			return v.WithMarks(marks), nil
		}
		var elems []cty.Value
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			r, err := s.renderValue(e)
			if err != nil {
				return cty.NilVal, err
			}
			elems = append(elems, r)
		}
		return cty.TupleVal(elems).WithMarks(marks), nil
	}
	return v.WithMarks(marks), nil
}

// render renders one template string as ansible-core does without
// Jinja's native types: one expression alone keeps a list, a mapping or
// a boolean as it is and turns anything else into text; text around
// expressions makes text; text that is a Python list, mapping or boolean
// literal becomes that value. used are the marks of the values it took.
func (s *tmplScope) render(text string) (cty.Value, cty.ValueMarks, error) {
	parts, err := parseTemplate(text)
	if err != nil {
		return cty.NilVal, nil, err
	}
	used := cty.ValueMarks{}
	if len(parts) == 1 && parts[0].expr != nil {
		v, err := s.eval(parts[0].expr)
		if err != nil {
			return cty.NilVal, nil, err
		}
		v, m := v.UnmarkDeep()
		for k := range m {
			used[k] = struct{}{}
		}
		if t := v.Type(); !v.IsNull() && (t == cty.Bool || t.IsObjectType() || t.IsTupleType() || t.IsMapType() || t.IsListType()) {
			return v, used, nil
		}
		str, err := pyText(v)
		if err != nil {
			return cty.NilVal, nil, err
		}
		return literalOrText(str), used, nil
	}
	var b strings.Builder
	for _, p := range parts {
		if p.expr == nil {
			b.WriteString(p.text)
			continue
		}
		v, err := s.eval(p.expr)
		if err != nil {
			return cty.NilVal, nil, err
		}
		v, m := v.UnmarkDeep()
		for k := range m {
			used[k] = struct{}{}
		}
		str, err := pyText(v)
		if err != nil {
			return cty.NilVal, nil, err
		}
		b.WriteString(str)
	}
	return literalOrText(b.String()), used, nil
}

// literalOrText is ansible-core's last step of rendering: text that
// looks like a list, a mapping or a boolean and is a Python literal
// becomes that value ("[{{ a }}, 2]" is a list).
func literalOrText(s string) cty.Value {
	if strings.HasPrefix(s, "{") || strings.HasPrefix(s, "[") || s == "True" || s == "False" {
		if v, ok := pyLiteral(s); ok {
			return v
		}
	}
	return cty.StringVal(s)
}

func (s *tmplScope) eval(n tmplNode) (cty.Value, error) {
	switch n := n.(type) {
	case tmplLiteral:
		return n.v, nil
	case tmplVar:
		return s.lookup(n.name)
	case tmplDefault:
		v, err := s.eval(n.x)
		if _, undef := err.(*undefinedError); undef {
			return s.eval(n.fallback)
		}
		if err != nil {
			return cty.NilVal, err
		}
		if n.boolean && !pyTruthy(v) {
			return s.eval(n.fallback)
		}
		return v, nil
	case tmplConcat:
		var b strings.Builder
		marks := cty.ValueMarks{}
		for _, p := range n.parts {
			v, err := s.eval(p)
			if err != nil {
				return cty.NilVal, err
			}
			v, m := v.UnmarkDeep()
			for k := range m {
				marks[k] = struct{}{}
			}
			str, err := pyText(v)
			if err != nil {
				return cty.NilVal, err
			}
			b.WriteString(str)
		}
		return cty.StringVal(b.String()).WithMarks(marks), nil
	}
	return cty.NilVal, fmt.Errorf("unsupported expression")
}

// pyText is the text Jinja writes for a scalar (Ansible writes nothing
// for None); lists and mappings are refused rather than printed as
// Python would.
func pyText(v cty.Value) (string, error) {
	if v.IsNull() {
		return "", nil
	}
	switch v.Type() {
	case cty.String, cty.Number, cty.Bool:
		return settingText(v)
	}
	return "", fmt.Errorf("a %s cannot be joined into text", v.Type().FriendlyName())
}

// pyTruthy is Python's truth of a value, for default(x, true).
func pyTruthy(v cty.Value) bool {
	v, _ = v.UnmarkDeep()
	if v.IsNull() {
		return false
	}
	switch t := v.Type(); {
	case t == cty.Bool:
		return v.True()
	case t == cty.String:
		return v.AsString() != ""
	case t == cty.Number:
		return v.AsBigFloat().Sign() != 0
	case t.IsObjectType() || t.IsTupleType() || t.IsMapType() || t.IsListType() || t.IsSetType():
		return v.LengthInt() > 0
	}
	return true
}

// Unrendered returns why an inventory variable's value is unknown: a
// template tend cannot render (the variable, where it was set, and
// what is not supported), or "" when v is not such a value.
func Unrendered(v cty.Value) string {
	_, marks := v.Unmark()
	for m := range marks {
		if us, ok := m.(resources.UnresolvedSecret); ok && us.Var != "" {
			return us.Reason
		}
	}
	return ""
}
