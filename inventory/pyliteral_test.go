package inventory

import (
	"math"
	"testing"

	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// TestPyLiteral checks pyLiteral against what Python 3.11's
// ast.literal_eval returns, as json.dumps prints it ("" means Python
// refuses the text, and Ansible keeps it as a string).
func TestPyLiteral(t *testing.T) {
	tests := map[string]string{
		"22": "22", "-3": "-3", "+7": "7", "0x1F": "31", "0o17": "15", "0b101": "5", "0X_ff": "255",
		"1_000": "1000", "0123": "", "00": "0", "0_0": "0", "1__0": "", "1_": "",
		"1.5": "1.5", "1.": "1", ".5": "0.5", "1e3": "1000", "1E-2": "0.01", "1.5e+3": "1500", "1_000.5": "1000.5",
		"-0": "0", "0.0": "0", "1e-5": "0.00001",
		"1j": "", "1+2j": "", "[1j]": "",
		"True": "true", "False": "false", "None": "null",
		"true": "", "yes": "", "hello": "", "hello world": "", "a=b": "", "~": "", "": "",
		"'quoted'": `"quoted"`, `"double"`: `"double"`, `'a' "b"`: `"ab"`, "b'raw'": `"raw"`, "u'uni'": `"uni"`,
		`r'\n'`: `"\\n"`, `'\n'`: `"\n"`, `'\x41\u00e9'`: `"Aé"`, `'\101'`: `"A"`, `'\q'`: `"\\q"`,
		"f'x'": "", "'a' b'b'": "", `'it\'s'`: `"it's"`, "'''triple'''": `"triple"`, "'#'": `"#"`,
		"'unterminated": "", "'''unterminated'": "",
		"[1, 2]": "[1,2]", "[1,2,]": "[1,2]", "(1,)": "[1]", "1,": "[1]", "1,2": "[1,2]", "()": "[]", "[]": "[]",
		"(1)": "1", "((1, 2))": "[1,2]", "[1, [2, [3]]]": "[1,[2,[3]]]",
		"{}": "{}", "{'a': 1}": `{"a":1}`, "{'a': 1,}": `{"a":1}`, "{'a': [True, None]}": `{"a":[true,null]}`,
		"{1: 'x', 2.5: 'y', None: 1, True: 2}": `{"1":2,"2.5":"y","null":1}`,
		"{[1]: 2}":                             "", "{1, 2}": "[1,2]", "set()": "[]", "set(1)": "", "list()": "",
		"-True": "", "--1": "", "-'a'": "", "-(1)": "-1", "1 + 2": "", "2**3": "", "not True": "",
		"1 # comment": "1", "'a' # comment": `"a"`, "  12": "12", "\t12": "12", "12  ": "12",
		"[1,": "", "1.2.3": "", "1abc": "", "0x": "", "0xg": "", "{'k': 'v'} extra": "", "[1 2]": "",
		"3.14159265358979323846264338327950288": "3.141592653589793",
		"123456789012345678901234567890":        "123456789012345678901234567890",
	}
	for in, want := range tests {
		v, ok := pyLiteral(in)
		got := ""
		if ok {
			b, err := ctyjson.SimpleJSONValue{Value: v}.MarshalJSON()
			if err != nil {
				t.Errorf("pyLiteral(%q) = %#v: %v", in, v, err)
				continue
			}
			got = string(b)
		}
		if got != want {
			t.Errorf("pyLiteral(%q) = %s (ok %v), want %s", in, got, ok, want)
		}
	}
	v, ok := pyLiteral("1e999")
	if f, _ := v.AsBigFloat().Float64(); !ok || !math.IsInf(f, 1) {
		t.Errorf("pyLiteral(1e999) = %#v, %v; want +Inf", v, ok)
	}
}
