package inventory

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/redact"
	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/vault"
)

// aval is a value read from an Ansible source (YAML or JSON) before it
// becomes a cty.Value. Mappings keep their order, because Ansible's
// order of groups and hosts is the order its sources list them, and
// keys keep their type, because Ansible refuses a host or group name
// that is not a string.
type aval struct {
	kind  avalKind
	v     cty.Value      // scalars: the resolved value (a string, number, bool or null)
	keys  []*aval        // mapping keys, in order, without duplicates
	vals  []*aval        // mapping values, parallel to keys
	items []*aval        // sequence items
	rng   hcl.Range      // where the value starts, for diagnostics
	index map[string]int // mapping: keyID -> position in keys
	// secret is set on a scalar decrypted from an inline Ansible Vault
	// value: its cty value is marked sensitive.
	secret bool
	// unsafe is set on a string Ansible must not template (!unsafe,
	// __ansible_unsafe).
	unsafe bool
}

// markUnsafe marks every string in a as not to be templated.
func (a *aval) markUnsafe() *aval {
	if a == nil {
		return a
	}
	a.unsafe = true
	for _, x := range a.vals {
		x.markUnsafe()
	}
	for _, x := range a.items {
		x.markUnsafe()
	}
	return a
}

type avalKind int

const (
	aScalar avalKind = iota
	aSeq
	aMap
)

// isStr reports whether a is a string scalar.
func (a *aval) isStr() bool {
	return a != nil && a.kind == aScalar && a.v.Type() == cty.String
}

// isNull reports whether a is absent or null (YAML "~" or an empty value).
func (a *aval) isNull() bool {
	return a == nil || (a.kind == aScalar && a.v.IsNull())
}

// str returns a string scalar's text.
func (a *aval) str() string { return a.v.AsString() }

// truthy is Python's bool(): Ansible writes `data or {}` in places.
func (a *aval) truthy() bool {
	switch {
	case a.isNull():
		return false
	case a.kind == aMap:
		return len(a.keys) > 0
	case a.kind == aSeq:
		return len(a.items) > 0
	}
	switch a.v.Type() {
	case cty.String:
		return a.v.AsString() != ""
	case cty.Bool:
		return a.v.True()
	case cty.Number:
		return a.v.AsBigFloat().Sign() != 0
	}
	return true
}

// keyString is the name a mapping key becomes as a variable name: the
// text of a string, else what json.dumps writes for the key.
func (a *aval) keyString() string {
	if a.isStr() {
		return a.str()
	}
	if a.kind != aScalar {
		return "" // mappings refuse such keys before this is needed
	}
	switch {
	case a.v.IsNull():
		return "null"
	case a.v.Type() == cty.Bool:
		if a.v.True() {
			return "true"
		}
		return "false"
	case a.v.Type() == cty.Number:
		f := a.v.AsBigFloat()
		if f.IsInt() {
			return f.Text('f', 0)
		}
		return pyFloatRepr(f)
	}
	return a.v.GoString()
}

// typeName names a's type as Python would, for messages that quote
// Ansible's.
func (a *aval) typeName() string {
	switch {
	case a == nil || a.isNull():
		return "NoneType"
	case a.kind == aMap:
		return "dict"
	case a.kind == aSeq:
		return "list"
	}
	switch a.v.Type() {
	case cty.String:
		return "str"
	case cty.Bool:
		return "bool"
	case cty.Number:
		if a.v.AsBigFloat().IsInt() {
			return "int"
		}
		return "float"
	}
	return "value"
}

// keyID identifies a mapping key: its type and text, so the string "1"
// and the number 1 are different keys, as in Python.
func (a *aval) keyID() string {
	if a.isStr() {
		return "s" + a.str()
	}
	return a.v.Type().FriendlyName() + ":" + a.keyString()
}

// get returns the value for a string key, or nil.
func (a *aval) get(key string) *aval {
	if i, ok := a.lookup(strVal(key, hcl.Range{})); ok {
		return a.vals[i]
	}
	return nil
}

// has reports whether a mapping has a string key.
func (a *aval) has(key string) bool {
	_, ok := a.lookup(strVal(key, hcl.Range{}))
	return ok
}

func (a *aval) lookup(k *aval) (int, bool) {
	if a == nil || a.kind != aMap {
		return 0, false
	}
	if a.index == nil {
		a.index = make(map[string]int, len(a.keys))
		for i, k := range a.keys {
			a.index[k.keyID()] = i
		}
	}
	i, ok := a.index[k.keyID()]
	return i, ok
}

// set adds or replaces a mapping entry: a repeated key keeps its first
// position and takes the last value, as a Python dict does.
func (a *aval) set(k, v *aval) {
	if i, ok := a.lookup(k); ok {
		a.vals[i] = v
		return
	}
	a.index[k.keyID()] = len(a.keys)
	a.keys = append(a.keys, k)
	a.vals = append(a.vals, v)
}

// cty converts to the value tend's templates see: mappings become
// objects (keys as json.dumps writes them), sequences tuples.
func (a *aval) cty() cty.Value {
	if a == nil {
		return cty.NullVal(cty.DynamicPseudoType)
	}
	switch a.kind {
	case aMap:
		if len(a.keys) == 0 {
			return cty.EmptyObjectVal
		}
		attrs := make(map[string]cty.Value, len(a.keys))
		for i, k := range a.keys {
			attrs[k.keyString()] = a.vals[i].cty()
		}
		return cty.ObjectVal(attrs)
	case aSeq:
		if len(a.items) == 0 {
			return cty.EmptyTupleVal
		}
		elems := make([]cty.Value, len(a.items))
		for i, it := range a.items {
			elems[i] = it.cty()
		}
		return cty.TupleVal(elems)
	}
	if a.secret {
		redact.Default.AddValue(a.v)
		return a.v.Mark(resources.Sensitive)
	}
	if a.unsafe && a.isStr() {
		return a.v.Mark(unsafeMark{})
	}
	return a.v
}

func scalar(v cty.Value, rng hcl.Range) *aval {
	return &aval{kind: aScalar, v: v, rng: rng}
}

func strVal(s string, rng hcl.Range) *aval { return scalar(cty.StringVal(s), rng) }

// decodeJSON parses JSON keeping object key order, as Python's json
// module does, with numbers as Python reads them: integers exact,
// anything with a fraction or exponent a float. Objects with a
// "__ansible_unsafe" key stand for their value, as Ansible's JSON decoder
// has it; "__ansible_vault" (an encrypted value) is decrypted with k.
func decodeJSON(data []byte, rng hcl.Range, k *vault.Keyring) (*aval, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := jsonValue(dec, rng, 0, k)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("invalid character after top-level value")
	}
	return v, nil
}

func jsonValue(dec *json.Decoder, rng hcl.Range, depth int, k *vault.Keyring) (*aval, error) {
	if depth > 10000 {
		return nil, errors.New("JSON nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			return nil, errors.New("unexpected end of JSON input")
		}
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			m := &aval{kind: aMap, rng: rng}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				v, err := jsonValue(dec, rng, depth+1, k)
				if err != nil {
					return nil, err
				}
				m.set(strVal(kt.(string), rng), v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			if m.has("__ansible_vault") {
				text := m.get("__ansible_vault")
				if !text.isStr() {
					return nil, errors.New("__ansible_vault must hold a vault text")
				}
				return decryptInline([]byte(text.str()), rng.Filename, rng, k)
			}
			if m.has("__ansible_unsafe") {
				return m.get("__ansible_unsafe").markUnsafe(), nil
			}
			return m, nil
		case '[':
			s := &aval{kind: aSeq, rng: rng}
			for dec.More() {
				v, err := jsonValue(dec, rng, depth+1, k)
				if err != nil {
					return nil, err
				}
				s.items = append(s.items, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return s, nil
		}
	case string:
		return strVal(t, rng), nil
	case bool:
		return scalar(cty.BoolVal(t), rng), nil
	case nil:
		return scalar(cty.NullVal(cty.DynamicPseudoType), rng), nil
	case json.Number:
		n, err := jsonNumber(string(t))
		if err != nil {
			return nil, err
		}
		return scalar(n, rng), nil
	}
	return nil, fmt.Errorf("unexpected JSON token %v", tok)
}

func jsonNumber(s string) (cty.Value, error) {
	if !strings.ContainsAny(s, ".eE") {
		i, ok := new(big.Int).SetString(s, 10)
		if !ok {
			return cty.NilVal, fmt.Errorf("invalid number %s", s)
		}
		return cty.NumberVal(new(big.Float).SetInt(i)), nil
	}
	f, _, err := big.ParseFloat(s, 10, 53, big.ToNearestEven)
	if err != nil {
		return cty.NilVal, fmt.Errorf("invalid number %s", s)
	}
	x, _ := f.Float64() // Python floats are doubles: 1e400 is inf
	if math.IsInf(x, 0) {
		return cty.NumberVal(big.NewFloat(x)), nil
	}
	return cty.NumberFloatVal(x), nil
}

// errVault is returned for a whole file still encrypted with Ansible
// Vault where only its decrypted text can be read.
var errVault = errors.New("the data is encrypted with Ansible Vault")

// decryptInline decrypts an inline vault value (name says where it is)
// into a secret string scalar.
func decryptInline(text []byte, name string, rng hcl.Range, k *vault.Keyring) (*aval, error) {
	plain, err := k.Decrypt(text, name)
	if err != nil {
		return nil, err
	}
	if !utf8.Valid(plain) {
		return nil, fmt.Errorf("%s: the decrypted value is not UTF-8 text", name)
	}
	a := strVal(string(plain), rng)
	a.secret = true
	return a, nil
}
