package inventory

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/zclconf/go-cty/cty"
)

// pyLiteral evaluates s the way Ansible's INI plugin does with Python's
// ast.literal_eval: strings, numbers, booleans, None, lists, tuples,
// dicts and sets, so that `port=22` is a number and `debug=True` a bool.
// ok is false when Python would not accept s as a literal (a bare word,
// an expression, a syntax error); Ansible then keeps the text as it is,
// and so does the caller.
//
// Two results Ansible cannot list either are also refused, keeping the
// text: complex numbers, and NaN (cty has no NaN). Sets become tuples.
func pyLiteral(s string) (v cty.Value, ok bool) {
	p := &pyParser{src: strings.TrimLeft(s, " \t")}
	defer func() {
		// The parser signals "not a literal" by panicking with
		// errNotLiteral; anything else is a bug and must surface.
		if r := recover(); r != nil {
			if r != errNotLiteral {
				panic(r)
			}
			v, ok = cty.NilVal, false
		}
	}()
	p.next()
	val := p.testlist()
	if p.tok.kind != tokEOF {
		p.fail()
	}
	return val.cty(), true
}

type notLiteral struct{}

var errNotLiteral = &notLiteral{}

// pyVal is a Python value as literal_eval builds it, before conversion
// to cty: kept apart so bytes and str can be told apart while parsing
// (concatenating them is a syntax error) and dict keys can be converted
// the way json.dumps converts them.
type pyVal struct {
	kind  pyKind
	str   string
	num   *big.Float // pyInt and pyFloat
	b     bool
	items []pyVal // list, tuple, set
	// signed marks a number written with a sign: literal_eval accepts
	// -1 and -(1) but not -(-1).
	signed bool
	keys   []pyVal // dict, in insertion order
	vals   []pyVal
}

type pyKind int

const (
	pyNone pyKind = iota
	pyBool
	pyInt
	pyFloat
	pyComplex
	pyStr
	pyBytes
	pyList // list, tuple and set alike: all become JSON arrays
	pyDict
)

func (v pyVal) cty() cty.Value {
	switch v.kind {
	case pyNone:
		return cty.NullVal(cty.DynamicPseudoType)
	case pyBool:
		return cty.BoolVal(v.b)
	case pyInt, pyFloat:
		return cty.NumberVal(v.num)
	case pyStr, pyBytes:
		return cty.StringVal(v.str)
	case pyList:
		if len(v.items) == 0 {
			return cty.EmptyTupleVal
		}
		elems := make([]cty.Value, len(v.items))
		for i, it := range v.items {
			elems[i] = it.cty()
		}
		return cty.TupleVal(elems)
	case pyDict:
		if len(v.keys) == 0 {
			return cty.EmptyObjectVal
		}
		attrs := make(map[string]cty.Value, len(v.keys))
		for i, k := range v.keys {
			attrs[k.jsonKey()] = v.vals[i].cty()
		}
		return cty.ObjectVal(attrs)
	}
	panic(fmt.Sprintf("inventory: pyVal kind %d has no cty value", v.kind))
}

// jsonKey is the object key json.dumps writes for a dict key.
func (v pyVal) jsonKey() string {
	switch v.kind {
	case pyStr, pyBytes:
		return v.str
	case pyNone:
		return "null"
	case pyBool:
		if v.b {
			return "true"
		}
		return "false"
	case pyInt:
		return v.num.Text('f', 0)
	case pyFloat:
		return pyFloatRepr(v.num)
	}
	return v.str
}

// pyFloatRepr formats a float as Python's repr does (shortest
// round-tripping digits, always with a "." or an exponent).
func pyFloatRepr(f *big.Float) string {
	x, _ := f.Float64()
	switch {
	case math.IsInf(x, 1):
		return "inf"
	case math.IsInf(x, -1):
		return "-inf"
	}
	abs := math.Abs(x)
	if abs != 0 && (abs < 1e-4 || abs >= 1e16) {
		s := strconv.FormatFloat(x, 'e', -1, 64)
		// Python writes 1e+16 and 1e-05; Go writes 1e+16 and 1e-05 too.
		return s
	}
	s := strconv.FormatFloat(x, 'f', -1, 64)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}

type pyTokKind int

const (
	tokEOF pyTokKind = iota
	tokNum
	tokStr
	tokName
	tokOp
)

type pyTok struct {
	kind  pyTokKind
	text  string // operator or name
	val   pyVal  // number or string
	bytes bool   // a bytes string
}

type pyParser struct {
	src   string
	pos   int
	depth int // bracket nesting: newlines are whitespace inside brackets
	tok   pyTok
}

func (p *pyParser) fail() { panic(errNotLiteral) }

// next scans one token, as Python's tokenizer would for the subset of
// the language a literal can use. Anything else ends the parse.
func (p *pyParser) next() {
	p.skipSpace()
	if p.pos >= len(p.src) {
		p.tok = pyTok{kind: tokEOF}
		return
	}
	c := p.src[p.pos]
	switch {
	case c >= '0' && c <= '9', c == '.' && p.pos+1 < len(p.src) && isDigit(p.src[p.pos+1]):
		p.tok = pyTok{kind: tokNum, val: p.number()}
	case c == '\'' || c == '"':
		p.tok = p.stringTok("")
	case strings.ContainsRune("()[]{},:+-", rune(c)):
		p.tok = pyTok{kind: tokOp, text: string(c)}
		p.pos++
		switch c {
		case '(', '[', '{':
			p.depth++
		case ')', ']', '}':
			p.depth--
		}
	default:
		r, _ := utf8.DecodeRuneInString(p.src[p.pos:])
		if !isIdentStart(r) {
			p.fail()
		}
		start := p.pos
		for p.pos < len(p.src) {
			r, size := utf8.DecodeRuneInString(p.src[p.pos:])
			if !isIdentPart(r) {
				break
			}
			p.pos += size
		}
		name := p.src[start:p.pos]
		if p.pos < len(p.src) && (p.src[p.pos] == '\'' || p.src[p.pos] == '"') {
			if prefix := strings.ToLower(name); isStringPrefix(prefix) {
				p.tok = p.stringTok(prefix)
				return
			}
		}
		p.tok = pyTok{kind: tokName, text: name}
	}
}

func (p *pyParser) skipSpace() {
	for p.pos < len(p.src) {
		switch c := p.src[p.pos]; {
		case c == ' ' || c == '\t' || c == '\f':
			p.pos++
		case c == '\\' && p.pos+1 < len(p.src) && p.src[p.pos+1] == '\n':
			p.pos += 2
		case c == '\n' || c == '\r':
			if p.depth == 0 {
				// A second logical line: eval mode accepts only trailing
				// blank lines and comments.
				rest := p.src[p.pos:]
				for _, line := range strings.Split(rest, "\n") {
					line = strings.TrimSpace(line)
					if line != "" && !strings.HasPrefix(line, "#") {
						p.fail()
					}
				}
				p.pos = len(p.src)
				return
			}
			p.pos++
		case c == '#':
			for p.pos < len(p.src) && p.src[p.pos] != '\n' {
				p.pos++
			}
		default:
			return
		}
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isIdentStart(r rune) bool { return r == '_' || unicode.IsLetter(r) }

func isIdentPart(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Mc, r) || unicode.Is(unicode.Nd, r)
}

func isStringPrefix(p string) bool {
	switch p {
	case "r", "u", "b", "br", "rb", "f", "fr", "rf":
		return true
	}
	return false
}

// digits scans digits of one base with single underscores between them
// (Python's "1_000"), returning them without underscores.
func (p *pyParser) digits(ok func(byte) bool, leadingUnderscore bool) string {
	var b strings.Builder
	first := true
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if c == '_' && (!first || leadingUnderscore) && p.pos+1 < len(p.src) && ok(p.src[p.pos+1]) {
			p.pos++
			continue
		}
		if !ok(c) {
			break
		}
		b.WriteByte(c)
		p.pos++
		first = false
	}
	return b.String()
}

func (p *pyParser) number() pyVal {
	src := p.src
	if src[p.pos] == '0' && p.pos+1 < len(src) && strings.ContainsRune("xXoObB", rune(src[p.pos+1])) {
		base := map[byte]int{'x': 16, 'o': 8, 'b': 2}[src[p.pos+1]|0x20]
		p.pos += 2
		d := p.digits(func(c byte) bool {
			_, err := strconv.ParseUint(string(c), base, 8)
			return err == nil
		}, true)
		if d == "" {
			p.fail()
		}
		p.noIdentAfterNumber()
		n, _ := new(big.Int).SetString(d, base)
		return pyVal{kind: pyInt, num: new(big.Float).SetInt(n)}
	}
	intPart := p.digits(isDigit, false)
	isFloat := false
	frac, exp := "", ""
	if p.pos < len(src) && src[p.pos] == '.' {
		isFloat = true
		p.pos++
		if p.pos < len(src) && isDigit(src[p.pos]) {
			frac = p.digits(isDigit, false)
		}
	}
	if p.pos < len(src) && (src[p.pos] == 'e' || src[p.pos] == 'E') {
		save := p.pos
		p.pos++
		sign := ""
		if p.pos < len(src) && (src[p.pos] == '+' || src[p.pos] == '-') {
			sign = src[p.pos : p.pos+1]
			p.pos++
		}
		if p.pos < len(src) && isDigit(src[p.pos]) {
			exp = sign + p.digits(isDigit, false)
			isFloat = true
		} else {
			p.pos = save
		}
	}
	if p.pos < len(src) && (src[p.pos] == 'j' || src[p.pos] == 'J') {
		p.pos++
		p.noIdentAfterNumber()
		return pyVal{kind: pyComplex}
	}
	p.noIdentAfterNumber()
	if !isFloat {
		// Python 3 refuses leading zeros in decimal integers ("0123"),
		// but accepts "0", "00" and "0_0".
		if len(intPart) > 1 && intPart[0] == '0' && strings.Trim(intPart, "0") != "" {
			p.fail()
		}
		n, _ := new(big.Int).SetString(intPart, 10)
		return pyVal{kind: pyInt, num: new(big.Float).SetInt(n)}
	}
	text := intPart
	if text == "" {
		text = "0"
	}
	text += "." + frac
	if exp != "" {
		text += "e" + exp
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil && !math.IsInf(f, 0) {
		p.fail()
	}
	return pyVal{kind: pyFloat, num: big.NewFloat(f)}
}

// noIdentAfterNumber rejects "1abc" and "0x1g", which Python's tokenizer
// refuses as invalid literals.
func (p *pyParser) noIdentAfterNumber() {
	if p.pos < len(p.src) {
		r, _ := utf8.DecodeRuneInString(p.src[p.pos:])
		if isIdentPart(r) || r == '.' {
			p.fail()
		}
	}
}

// stringTok scans a string literal after its prefix (lower-cased).
func (p *pyParser) stringTok(prefix string) pyTok {
	raw := strings.Contains(prefix, "r")
	isBytes := strings.Contains(prefix, "b")
	if strings.Contains(prefix, "f") {
		p.fail() // an f-string is an expression, not a literal
	}
	q := p.src[p.pos]
	triple := strings.HasPrefix(p.src[p.pos:], strings.Repeat(string(q), 3))
	if triple {
		p.pos += 3
	} else {
		p.pos++
	}
	var b strings.Builder
	for {
		if p.pos >= len(p.src) {
			p.fail() // unterminated
		}
		c := p.src[p.pos]
		if triple && strings.HasPrefix(p.src[p.pos:], strings.Repeat(string(q), 3)) {
			p.pos += 3
			break
		}
		if !triple && c == q {
			p.pos++
			break
		}
		if !triple && c == '\n' {
			p.fail()
		}
		if c == '\\' {
			if p.pos+1 >= len(p.src) {
				p.fail()
			}
			if raw {
				// A raw string keeps the backslash; it still escapes
				// the quote from ending the string.
				b.WriteByte('\\')
				b.WriteByte(p.src[p.pos+1])
				p.pos += 2
				continue
			}
			p.escape(&b, isBytes)
			continue
		}
		if isBytes && c >= 0x80 {
			p.fail() // bytes literals are ASCII only
		}
		b.WriteByte(c)
		p.pos++
	}
	kind := pyStr
	if isBytes {
		kind = pyBytes
	}
	return pyTok{kind: tokStr, val: pyVal{kind: kind, str: b.String()}, bytes: isBytes}
}

// escape decodes one backslash escape of a non-raw string.
func (p *pyParser) escape(b *strings.Builder, isBytes bool) {
	p.pos++ // the backslash
	c := p.src[p.pos]
	p.pos++
	simple := map[byte]byte{'\\': '\\', '\'': '\'', '"': '"', 'a': 7, 'b': 8, 'f': 12, 'n': '\n', 'r': '\r', 't': '\t', 'v': 11}
	if r, ok := simple[c]; ok {
		b.WriteByte(r)
		return
	}
	hex := func(n int) rune {
		if p.pos+n > len(p.src) {
			p.fail()
		}
		v, err := strconv.ParseUint(p.src[p.pos:p.pos+n], 16, 32)
		if err != nil {
			p.fail()
		}
		p.pos += n
		return rune(v)
	}
	switch {
	case c == '\n':
		// line continuation inside the string
	case c >= '0' && c <= '7':
		v := int(c - '0')
		for i := 0; i < 2 && p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '7'; i++ {
			v = v*8 + int(p.src[p.pos]-'0')
			p.pos++
		}
		if isBytes {
			b.WriteByte(byte(v))
		} else {
			b.WriteRune(rune(v))
		}
	case c == 'x':
		r := hex(2)
		if isBytes {
			b.WriteByte(byte(r))
		} else {
			b.WriteRune(r)
		}
	case c == 'u' && !isBytes:
		b.WriteRune(hex(4))
	case c == 'U' && !isBytes:
		r := hex(8)
		if r > unicode.MaxRune {
			p.fail()
		}
		b.WriteRune(r)
	case c == 'N' && !isBytes:
		p.fail() // named escapes would need the Unicode name table
	default:
		// Python keeps unknown escapes as written (with a warning).
		b.WriteByte('\\')
		b.WriteByte(c)
	}
}

func (p *pyParser) isOp(s string) bool { return p.tok.kind == tokOp && p.tok.text == s }

func (p *pyParser) expect(s string) {
	if !p.isOp(s) {
		p.fail()
	}
	p.next()
}

// testlist parses "a, b, c": a tuple when it has a comma.
func (p *pyParser) testlist() pyVal {
	first := p.expr()
	if !p.isOp(",") {
		return first
	}
	items := []pyVal{first}
	for p.isOp(",") {
		p.next()
		if p.atEndOfList() {
			break
		}
		items = append(items, p.expr())
	}
	return pyVal{kind: pyList, items: items}
}

func (p *pyParser) atEndOfList() bool {
	return p.tok.kind == tokEOF || p.isOp(")") || p.isOp("]") || p.isOp("}")
}

// expr parses one element: a literal, a signed number, or int/float
// plus or minus an imaginary number (the only binary operation
// literal_eval accepts, since that is how complex literals are written).
func (p *pyParser) expr() pyVal {
	v := p.signed()
	for p.isOp("+") || p.isOp("-") {
		// Only "number ± imaginary" evaluates; anything else is an
		// expression Python parses but literal_eval refuses.
		p.next()
		right := p.signed()
		if (v.kind == pyInt || v.kind == pyFloat || v.kind == pyComplex) && right.kind == pyComplex {
			v = pyVal{kind: pyComplex}
			continue
		}
		p.fail()
	}
	if v.kind == pyComplex {
		p.fail() // JSON, and so Ansible's output, has no complex numbers
	}
	return v
}

func (p *pyParser) signed() pyVal {
	if p.isOp("-") || p.isOp("+") {
		neg := p.isOp("-")
		p.next()
		v := p.atom()
		if v.signed || (v.kind != pyInt && v.kind != pyFloat && v.kind != pyComplex) {
			p.fail() // -True, --1, -"x": literal_eval refuses them
		}
		if neg && v.num != nil && v.num.Sign() != 0 {
			v.num = new(big.Float).Neg(v.num)
		}
		v.signed = true
		return v
	}
	return p.atom()
}

func (p *pyParser) atom() pyVal {
	switch p.tok.kind {
	case tokNum:
		v := p.tok.val
		p.next()
		return v
	case tokStr:
		v := p.tok.val
		isBytes := p.tok.bytes
		p.next()
		// Adjacent literals concatenate ("a" 'b'); str and bytes do not mix.
		for p.tok.kind == tokStr {
			if p.tok.bytes != isBytes {
				p.fail()
			}
			v.str += p.tok.val.str
			p.next()
		}
		return v
	case tokName:
		name := p.tok.text
		p.next()
		switch name {
		case "True":
			return pyVal{kind: pyBool, b: true}
		case "False":
			return pyVal{kind: pyBool, b: false}
		case "None":
			return pyVal{kind: pyNone}
		case "set":
			// set() is the one call literal_eval accepts.
			p.expect("(")
			p.expect(")")
			return pyVal{kind: pyList}
		}
		p.fail()
	case tokOp:
		switch p.tok.text {
		case "(":
			p.next()
			if p.isOp(")") {
				p.next()
				return pyVal{kind: pyList}
			}
			v := p.testlist()
			p.expect(")")
			return v
		case "[":
			p.next()
			items := []pyVal{}
			for !p.isOp("]") {
				items = append(items, p.expr())
				if !p.isOp(",") {
					break
				}
				p.next()
			}
			p.expect("]")
			return pyVal{kind: pyList, items: items}
		case "{":
			return p.dictOrSet()
		}
	}
	p.fail()
	return pyVal{}
}

func (p *pyParser) dictOrSet() pyVal {
	p.next() // {
	if p.isOp("}") {
		p.next()
		return pyVal{kind: pyDict}
	}
	first := p.expr()
	if !p.isOp(":") {
		items := []pyVal{first}
		for p.isOp(",") {
			p.next()
			if p.isOp("}") {
				break
			}
			items = append(items, p.expr())
		}
		p.expect("}")
		return pyVal{kind: pyList, items: items}
	}
	d := pyVal{kind: pyDict}
	key := first
	for {
		p.expect(":")
		val := p.expr()
		if key.kind == pyList || key.kind == pyDict {
			p.fail() // unhashable key
		}
		d.setKey(key, val)
		if !p.isOp(",") {
			break
		}
		p.next()
		if p.isOp("}") {
			break
		}
		key = p.expr()
	}
	p.expect("}")
	return d
}

// setKey sets a dict entry: a repeated key keeps its first position (and
// spelling) and takes the last value, as in a Python dict, where 1, 1.0
// and True are the same key.
func (d *pyVal) setKey(k, v pyVal) {
	for i, old := range d.keys {
		if old.sameKey(k) {
			d.vals[i] = v
			return
		}
	}
	d.keys = append(d.keys, k)
	d.vals = append(d.vals, v)
}

// sameKey is Python's == for the hashable literals a dict key can be.
func (v pyVal) sameKey(o pyVal) bool {
	num := func(x pyVal) (*big.Float, bool) {
		switch x.kind {
		case pyInt, pyFloat:
			return x.num, true
		case pyBool:
			if x.b {
				return big.NewFloat(1), true
			}
			return big.NewFloat(0), true
		}
		return nil, false
	}
	if a, ok := num(v); ok {
		b, ok := num(o)
		return ok && a.Cmp(b) == 0
	}
	return v.kind == o.kind && v.str == o.str
}
