package inventory

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// TestYAMLScalars checks scalar resolution against what Ansible's YAML
// loader (PyYAML) returns for "v: TEXT", as Ansible's JSON prints it
// ("ERR" for a load error).
func TestYAMLScalars(t *testing.T) {
	tests := map[string]string{
		"yes": "true", "Yes": "true", "YES": "true", "no": "false", "on": "true", "Off": "false",
		"y": `"y"`, "n": `"n"`, "true": "true", "True": "true", "TRUE": "true", "tRue": `"tRue"`,
		"null": "null", "Null": "null", "~": "null", "": "null",
		"0755": "493", "0o755": `"0o755"`, "08": `"08"`, "0b101": "5", "0x1F": "31", "1_000": "1000", "1__0": "10",
		"1:30": "90", "-1:30": "-90", "190:20:30": "685230", "+12": "12", "-0": "0", "0": "0", "00": "0", "0_7": "7",
		"1e3": `"1e3"`, "1.5e+3": "1500", "1.0e5": `"1.0e5"`, "1.5": "1.5", "2.50": "2.5", ".5": "0.5", "1.": "1", "3.": "3",
		".NaN":                         `".NaN"`,
		"2024-01-02":                   `"2024-01-02"`,
		"2024-1-2":                     `"2024-1-2"`,
		"2001-12-14 21:59:43.10 -5":    `"2001-12-14T21:59:43.100000-05:00"`,
		"2001-12-14t21:59:43.10-05:00": `"2001-12-14T21:59:43.100000-05:00"`,
		"2001-12-14T21:59:43Z":         `"2001-12-14T21:59:43+00:00"`,
		"2001-12-15 2:59:43.10":        `"2001-12-15T02:59:43.100000"`,
		"2001-02-30":                   "ERR",
		"'quoted'":                     `"quoted"`, `"yes"`: `"yes"`,
		"!!str 123": `"123"`, "!!int '42'": "42", "!!float '1'": "1", "!!bool 'yes'": "true", "!!null ''": "null",
		"!unsafe '{{ x }}'": `"{{ x }}"`, "!vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162": "ERR", "!custom x": "ERR",
		"<<": "ERR", "=": "ERR", "abc": `"abc"`, "12abc": `"12abc"`, "- 1": "ERR",
	}
	for in, want := range tests {
		got := "ERR"
		v, err := yamlDoc([]byte("v: "+in), "test.yml", nil)
		if err == nil {
			b, err := ctyjson.SimpleJSONValue{Value: unmarkUnsafe(v.get("v").cty())}.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			got = string(b)
		}
		if got != want {
			t.Errorf("v: %s → %s (%v), want %s", in, got, err, want)
		}
	}
}

func TestYAMLStructure(t *testing.T) {
	tests := map[string]struct {
		src  string
		want string // JSON, or "ERR: substring"
	}{
		"merge keys, own key wins": {"a: &a {x: 1, y: 2}\nb:\n  <<: *a\n  y: 3\n", `{"a":{"x":1,"y":2},"b":{"x":1,"y":3}}`},
		"merge list, first wins":   {"a: &a {x: 1}\nb: &b {x: 2, z: 2}\nc:\n  <<: [*a, *b]\n", `{"a":{"x":1},"b":{"x":2,"z":2},"c":{"x":1,"z":2}}`},
		"duplicate key, last wins": {"a: 1\nb: 2\na: 3\n", `{"a":3,"b":2}`},
		"non-string keys":          {"1: one\n2.5: two\ntrue: t\n~: n\n", `{"1":"one","2.5":"two","null":"n","true":"t"}`},
		"alias":                    {"a: &x [1, 2]\nb: *x\n", `{"a":[1,2],"b":[1,2]}`},
		"empty document":           {"", `null`},
		"two documents":            {"a: 1\n---\nb: 2\n", "ERR: single document"},
		"merge of a scalar":        {"a: 1\nb:\n  <<: 1\n", "ERR: for merging"},
		"list as a key":            {"? [1]\n: x\n", "ERR: unhashable"},
		"syntax error":             {"a: [1\n", "ERR: "},
		"block scalars":            {"a: |\n  x\n  y\nb: >\n  x\n  y\n", `{"a":"x\ny\n","b":"x y\n"}`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			v, err := yamlDoc([]byte(tc.src), "test.yml", nil)
			if strings.HasPrefix(tc.want, "ERR: ") {
				if err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(tc.want, "ERR: ")) {
					t.Fatalf("error = %v, want one containing %q", err, strings.TrimPrefix(tc.want, "ERR: "))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, err := ctyjson.SimpleJSONValue{Value: unmarkUnsafe(v.cty())}.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, string(b)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeJSON(t *testing.T) {
	tests := map[string]string{
		`{"b": 1, "a": [1.0, 1e3, null, true, "x"]}`: `{"a":[1,1000,null,true,"x"],"b":1}`,
		`{"big": 123456789012345678901234567890}`:    `{"big":123456789012345678901234567890}`,
		`{"u": {"__ansible_unsafe": "{{ x }}"}}`:     `{"u":"{{ x }}"}`,
		`{"v": {"__ansible_vault": "abc"}}`:          "ERR",
		`{"a": 1} trailing`:                          "ERR",
		`{"a": `:                                     "ERR",
	}
	for in, want := range tests {
		got := "ERR"
		if v, err := decodeJSON([]byte(in), hclRange("x.json"), nil); err == nil {
			b, err := ctyjson.SimpleJSONValue{Value: unmarkUnsafe(v.cty())}.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			got = string(b)
		}
		if got != want {
			t.Errorf("decodeJSON(%s) = %s, want %s", in, got, want)
		}
	}
	// Key order is kept: Ansible creates groups in the order listed.
	v, err := decodeJSON([]byte(`{"z": 1, "a": 2, "m": 3}`), hclRange("x.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, k := range v.keys {
		keys = append(keys, k.str())
	}
	if diff := cmp.Diff([]string{"z", "a", "m"}, keys); diff != "" {
		t.Errorf("key order (-want +got):\n%s", diff)
	}
}

// unmarkUnsafe drops the marks of strings Ansible does not template, so
// values can be compared as JSON.
func unmarkUnsafe(v cty.Value) cty.Value {
	v, _ = v.UnmarkDeep()
	return v
}
