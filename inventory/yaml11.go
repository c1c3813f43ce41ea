package inventory

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	yaml "go.yaml.in/yaml/v3"

	"github.com/tendhq/tend/vault"
)

// Ansible reads YAML with PyYAML, which implements YAML 1.1: yes/no/on/off
// are booleans, 0755 is octal, 1:30 is 90 (base 60), 2024-01-02 is a date
// and 1e3 (no dot) is a string. go.yaml.in/yaml/v3 resolves plain
// scalars by YAML 1.2 rules, so only its parse tree is used here and
// every plain scalar is resolved by PyYAML's rules below. Dates become
// their ISO text, which is what Ansible's JSON output shows.
var (
	yamlBoolRE  = regexp.MustCompile(`^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$`)
	yamlFloatRE = regexp.MustCompile(`^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$`)
	yamlIntRE   = regexp.MustCompile(`^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$`)
	yamlNullRE  = regexp.MustCompile(`^(?:~|null|Null|NULL|)$`)
	yamlDateRE  = regexp.MustCompile(`^([0-9][0-9][0-9][0-9])-([0-9][0-9])-([0-9][0-9])$`)
	yamlTimeRE  = regexp.MustCompile(`^([0-9][0-9][0-9][0-9])-([0-9][0-9]?)-([0-9][0-9]?)(?:[Tt]|[ \t]+)([0-9][0-9]?):([0-9][0-9]):([0-9][0-9])(?:\.([0-9]*))?(?:[ \t]*(Z|([-+])([0-9][0-9]?)(?::([0-9][0-9]))?))?$`)
)

// yamlDoc parses one YAML document with PyYAML's semantics. An empty
// document is a nil value (no error). src is kept for the line offsets
// of diagnostics.
func yamlDoc(src []byte, filename string, k *vault.Keyring) (*aval, error) {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			return nil, nil
		}
		return nil, err
	}
	var more yaml.Node
	if err := dec.Decode(&more); err != io.EOF {
		if err != nil {
			return nil, err
		}
		return nil, errors.New("expected a single document in the stream, but found another document")
	}
	c := &yamlConv{file: filename, lines: lineOffsets(src), src: src, vault: k}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	return c.value(doc.Content[0], 0)
}

// lineOffsets returns the byte offset at which each line starts.
func lineOffsets(src []byte) []int {
	offs := []int{0}
	for i, b := range src {
		if b == '\n' {
			offs = append(offs, i+1)
		}
	}
	return offs
}

// posAt converts a 1-based line and column (in characters, as yaml.v3
// counts) into an hcl.Pos with its byte offset.
func posAt(lines []int, src []byte, line, col int) hcl.Pos {
	if line < 1 || line > len(lines) {
		return hcl.Pos{Line: max(line, 1), Column: max(col, 1)}
	}
	off := lines[line-1]
	for c := 1; c < col && off < len(src) && src[off] != '\n'; c++ {
		_, size := utf8.DecodeRune(src[off:])
		off += size
	}
	return hcl.Pos{Line: line, Column: col, Byte: off}
}

type yamlConv struct {
	file  string
	lines []int
	src   []byte
	vault *vault.Keyring // for !vault values
}

// yamlError is a problem at a place in a YAML file.
type yamlError struct {
	rng hcl.Range
	msg string
}

func (e *yamlError) Error() string { return e.msg }

func (c *yamlConv) rangeOf(n *yaml.Node) hcl.Range {
	start := posAt(c.lines, c.src, n.Line, n.Column)
	end := start
	if n.Kind == yaml.ScalarNode && !strings.Contains(n.Value, "\n") {
		end.Column += len([]rune(n.Value))
		end.Byte += len(n.Value)
	}
	return hcl.Range{Filename: c.file, Start: start, End: end}
}

func (c *yamlConv) errorf(n *yaml.Node, format string, args ...any) error {
	return &yamlError{rng: c.rangeOf(n), msg: fmt.Sprintf(format, args...)}
}

func (c *yamlConv) value(n *yaml.Node, depth int) (*aval, error) {
	if depth > 1000 {
		return nil, c.errorf(n, "YAML nested too deeply (or an alias refers to itself)")
	}
	rng := c.rangeOf(n)
	tagged := n.Style&yaml.TaggedStyle != 0
	switch n.Kind {
	case yaml.AliasNode:
		return c.value(n.Alias, depth+1)
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return c.value(n.Content[0], depth+1)
	case yaml.SequenceNode:
		if tagged && n.Tag != "!!seq" && n.Tag != "!unsafe" {
			return nil, c.errorf(n, "could not determine a constructor for the tag %q", n.Tag)
		}
		s := &aval{kind: aSeq, rng: rng}
		for _, it := range n.Content {
			v, err := c.value(it, depth+1)
			if err != nil {
				return nil, err
			}
			s.items = append(s.items, v)
		}
		if n.Tag == "!unsafe" {
			s.markUnsafe()
		}
		return s, nil
	case yaml.MappingNode:
		if tagged && n.Tag != "!!map" && n.Tag != "!unsafe" {
			return nil, c.errorf(n, "could not determine a constructor for the tag %q", n.Tag)
		}
		pairs, err := c.flatten(n, depth)
		if err != nil {
			return nil, err
		}
		m := &aval{kind: aMap, rng: rng}
		for i := 0; i < len(pairs); i += 2 {
			k, err := c.value(pairs[i], depth+1)
			if err != nil {
				return nil, err
			}
			if k.kind != aScalar {
				return nil, c.errorf(pairs[i], "found an unhashable key (a %s) while constructing a mapping", k.typeName())
			}
			v, err := c.value(pairs[i+1], depth+1)
			if err != nil {
				return nil, err
			}
			m.set(k, v)
		}
		if n.Tag == "!unsafe" {
			m.markUnsafe()
		}
		return m, nil
	case yaml.ScalarNode:
		if tagged && n.Tag == "!vault" {
			name := fmt.Sprintf("%s:%d", c.file, n.Line)
			a, err := decryptInline([]byte(n.Value), name, rng, c.vault)
			if err != nil {
				return nil, &yamlError{rng: rng, msg: err.Error()}
			}
			return a, nil
		}
		v, err := c.scalar(n)
		if err != nil {
			return nil, err
		}
		a := scalar(v, rng)
		a.unsafe = tagged && n.Tag == "!unsafe"
		return a, nil
	}
	return nil, c.errorf(n, "unexpected YAML node")
}

// flatten applies merge keys ("<<: *base") as PyYAML's flatten_mapping
// does: merged entries come first, so the mapping's own keys win, and of
// several merged mappings the first listed wins. It returns key, value,
// key, value, ...
func (c *yamlConv) flatten(n *yaml.Node, depth int) ([]*yaml.Node, error) {
	if depth > 1000 {
		return nil, c.errorf(n, "YAML nested too deeply (or an alias refers to itself)")
	}
	var merge, own []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			for v.Kind == yaml.AliasNode {
				v = v.Alias
			}
			switch v.Kind {
			case yaml.MappingNode:
				sub, err := c.flatten(v, depth+1)
				if err != nil {
					return nil, err
				}
				merge = append(merge, sub...)
			case yaml.SequenceNode:
				var subs [][]*yaml.Node
				for _, s := range v.Content {
					for s.Kind == yaml.AliasNode {
						s = s.Alias
					}
					if s.Kind != yaml.MappingNode {
						return nil, c.errorf(s, "while constructing a mapping: expected a mapping for merging, but found %s", kindName(s))
					}
					sub, err := c.flatten(s, depth+1)
					if err != nil {
						return nil, err
					}
					subs = append(subs, sub)
				}
				for i := len(subs) - 1; i >= 0; i-- {
					merge = append(merge, subs[i]...)
				}
			default:
				return nil, c.errorf(v, "while constructing a mapping: expected a mapping or list of mappings for merging, but found %s", kindName(v))
			}
			continue
		}
		own = append(own, k, v)
	}
	return append(merge, own...), nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.ScalarNode:
		return "scalar"
	case yaml.SequenceNode:
		return "sequence"
	case yaml.MappingNode:
		return "mapping"
	}
	return "node"
}

// scalar resolves a scalar: quoted and block scalars are strings, an
// explicit tag is obeyed, and a plain scalar is typed by PyYAML's
// implicit resolvers (bool, float, int, null, timestamp, else string).
func (c *yamlConv) scalar(n *yaml.Node) (cty.Value, error) {
	s := n.Value
	tag := ""
	switch {
	case n.Style&yaml.TaggedStyle != 0:
		tag = n.Tag
	case n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		return cty.StringVal(s), nil
	case s == "<<" || s == "=":
		// PyYAML resolves these to its merge and value tags, which its
		// safe loader cannot construct outside a mapping's keys.
		return cty.NilVal, c.errorf(n, "could not determine a constructor for %q", s)
	case yamlBoolRE.MatchString(s):
		tag = "!!bool"
	case yamlFloatRE.MatchString(s):
		tag = "!!float"
	case yamlIntRE.MatchString(s):
		tag = "!!int"
	case yamlNullRE.MatchString(s):
		tag = "!!null"
	case yamlDateRE.MatchString(s) || yamlTimeRE.MatchString(s):
		tag = "!!timestamp"
	default:
		return cty.StringVal(s), nil
	}
	bad := func(kind string) (cty.Value, error) {
		return cty.NilVal, c.errorf(n, "invalid %s value %q", kind, s)
	}
	switch tag {
	case "!!str", "!unsafe":
		return cty.StringVal(s), nil
	case "!!null":
		return cty.NullVal(cty.DynamicPseudoType), nil
	case "!!bool":
		switch strings.ToLower(s) {
		case "yes", "true", "on":
			return cty.True, nil
		case "no", "false", "off":
			return cty.False, nil
		}
		return bad("boolean")
	case "!!int":
		v, ok := yamlInt(s)
		if !ok {
			return bad("integer")
		}
		return v, nil
	case "!!float":
		v, ok := yamlFloat(s)
		if !ok {
			return bad("float")
		}
		return v, nil
	case "!!timestamp":
		v, ok := yamlTimestamp(s)
		if !ok {
			return bad("timestamp")
		}
		return cty.StringVal(v), nil
	}
	return cty.NilVal, c.errorf(n, "could not determine a constructor for the tag %q", tag)
}

// yamlInt is PyYAML's construct_yaml_int.
func yamlInt(s string) (cty.Value, bool) {
	v := strings.ReplaceAll(s, "_", "")
	if v == "" {
		return cty.NilVal, false
	}
	sign := 1
	if v[0] == '-' {
		sign = -1
	}
	if v[0] == '+' || v[0] == '-' {
		v = v[1:]
	}
	n := new(big.Int)
	ok := true
	switch {
	case v == "":
		return cty.NilVal, false
	case v == "0":
	case strings.HasPrefix(v, "0b"):
		_, ok = n.SetString(v[2:], 2)
	case strings.HasPrefix(v, "0x"):
		_, ok = n.SetString(v[2:], 16)
	case v[0] == '0':
		_, ok = n.SetString(v, 8)
	case strings.Contains(v, ":"):
		base := big.NewInt(1)
		parts := strings.Split(v, ":")
		for i := len(parts) - 1; i >= 0; i-- {
			d, good := new(big.Int).SetString(parts[i], 10)
			if !good {
				return cty.NilVal, false
			}
			n.Add(n, d.Mul(d, base))
			base.Mul(base, big.NewInt(60))
		}
	default:
		_, ok = n.SetString(v, 10)
	}
	if !ok {
		return cty.NilVal, false
	}
	if sign < 0 {
		n.Neg(n)
	}
	return cty.NumberVal(new(big.Float).SetInt(n)), true
}

// yamlFloat is PyYAML's construct_yaml_float. NaN, which cty cannot
// hold, stays text.
func yamlFloat(s string) (cty.Value, bool) {
	v := strings.ToLower(strings.ReplaceAll(s, "_", ""))
	sign := 1.0
	if v != "" && v[0] == '-' {
		sign = -1
	}
	if v != "" && (v[0] == '+' || v[0] == '-') {
		v = v[1:]
	}
	var f float64
	switch {
	case v == ".inf":
		f = math.Inf(1)
	case v == ".nan":
		return cty.StringVal(s), true
	case strings.Contains(v, ":"):
		base := 1.0
		parts := strings.Split(v, ":")
		for i := len(parts) - 1; i >= 0; i-- {
			d, err := strconv.ParseFloat(parts[i], 64)
			if err != nil {
				return cty.NilVal, false
			}
			f += d * base
			base *= 60
		}
	default:
		var err error
		f, err = strconv.ParseFloat(v, 64)
		if err != nil && !math.IsInf(f, 0) {
			return cty.NilVal, false
		}
	}
	f *= sign
	if math.IsInf(f, 0) {
		return cty.NumberVal(big.NewFloat(f)), true
	}
	return cty.NumberFloatVal(f), true
}

// yamlTimestamp is PyYAML's construct_yaml_timestamp followed by
// Python's isoformat(), which is how Ansible prints dates.
func yamlTimestamp(s string) (string, bool) {
	m := yamlDateRE.FindStringSubmatch(s)
	if m == nil {
		m = yamlTimeRE.FindStringSubmatch(s)
	}
	if m == nil {
		return "", false
	}
	num := func(i int) int { n, _ := strconv.Atoi(m[i]); return n }
	year, month, day := num(1), num(2), num(3)
	if t := time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC); t.Year() != year || int(t.Month()) != month || t.Day() != day || year < 1 {
		return "", false // Python's date() refuses February 30
	}
	if len(m) == 4 {
		return fmt.Sprintf("%04d-%02d-%02d", year, month, day), true
	}
	hour, minute, second := num(4), num(5), num(6)
	if hour > 23 || minute > 59 || second > 59 {
		return "", false
	}
	out := fmt.Sprintf("%04d-%02d-%02dT%02d:%02d:%02d", year, month, day, hour, minute, second)
	if frac := m[7]; frac != "" {
		frac = (frac + "000000")[:6]
		if frac != "000000" {
			out += "." + frac
		}
	}
	switch {
	case m[9] != "":
		h, mm := num(10), 0
		if m[11] != "" {
			mm = num(11)
		}
		out += fmt.Sprintf("%s%02d:%02d", m[9], h, mm)
	case m[8] == "Z":
		out += "+00:00"
	}
	return out, true
}
