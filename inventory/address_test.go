package inventory

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
)

// The expectations in these tests are what Ansible 2.14's own functions
// return (shlex.split, parse_address, expand_hostname_range), recorded
// by running them.

func TestShlexSplit(t *testing.T) {
	tests := map[string][]string{
		`a b  c`:         {"a", "b", "c"},
		`k="a b" x=1`:    {"k=a b", "x=1"},
		`k='a "b" c'`:    {`k=a "b" c`},
		`pw=abc#def`:     {"pw=abc"},
		`a #comment`:     {"a"},
		`#all comment`:   nil,
		`a "" b`:         {"a", "", "b"},
		`x=a\ b`:         {"x=a b"},
		`x="a\"b"`:       {`x=a"b`},
		`x="a\nb"`:       {`x=a\nb`},
		`x='a\nb'`:       {`x=a\nb`},
		`x="#in"`:        {"x=#in"},
		`a"b"c`:          {"abc"},
		"tab\tseparated": {"tab", "separated"},
	}
	for in, want := range tests {
		got, err := shlexSplit(in, true)
		if err != nil {
			t.Errorf("shlexSplit(%q): %v", in, err)
			continue
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("shlexSplit(%q) (-want +got):\n%s", in, diff)
		}
	}
	for _, in := range []string{`"unterminated`, `trailing\`, `x='open`} {
		if got, err := shlexSplit(in, true); err == nil {
			t.Errorf("shlexSplit(%q) = %q, want an error", in, got)
		}
	}
	if got, _ := shlexSplit("a #b", false); !cmp.Equal(got, []string{"a", "#b"}) {
		t.Errorf("without comments, # is a character: got %q", got)
	}
}

func TestParseAddress(t *testing.T) {
	type result struct {
		Host string
		Port int
	}
	tests := map[string]*result{ // nil: not an address
		"web1":            {"web1", 0},
		"web1:2222":       {"web1", 2222},
		"web[01:20]:22":   {"web[01:20]", 22},
		"10.0.0.1":        {"10.0.0.1", 0},
		"10.0.0.1:22":     {"10.0.0.1", 22},
		"fe80::1":         {"fe80::1", 0},
		"[fe80::1]:22":    {"fe80::1", 22},
		"[web1]:22":       {"web1", 22},
		"db-[a:f]":        {"db-[a:f]", 0},
		"a-b.c_d":         {"a-b.c_d", 0},
		"10.0.0.[1:3]":    {"10.0.0.[1:3]", 0},
		"münchen":         {"münchen", 0},
		"web[1:2]x":       {"web[1:2]x", 0},
		"2001:db8::[1:3]": {"2001:db8::[1:3]", 0},
		"::":              {"::", 0},
		"web*":            nil,
		"foo_":            nil,
		"a..b":            nil,
		"-bad":            nil,
		"host:":           nil,
		"[::1]":           nil,
		"web:db":          nil,
	}
	for in, want := range tests {
		host, port, err := parseAddress(in)
		var got *result
		if err == nil {
			got = &result{host, port}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("parseAddress(%q) (-want +got):\n%s", in, diff)
		}
	}
}

func TestExpandHostRange(t *testing.T) {
	tests := map[string][]string{ // nil: an error
		"plain":           {"plain"},
		"web[01:03]":      {"web01", "web02", "web03"},
		"db-[a:c]":        {"db-a", "db-b", "db-c"},
		"n[1:10:3]":       {"n1", "n4", "n7", "n10"},
		"r[1:2]-u[01:02]": {"r1-u01", "r1-u02", "r2-u01", "r2-u02"},
		"h[A:C]":          {"hA", "hB", "hC"},
		"x[9:11]":         {"x9", "x10", "x11"},
		"l[a:g:3]":        {"la", "ld", "lg"},
		"z[y:B]":          {"zy", "zz", "zA", "zB"},
		"w[:2]":           {"w0", "w1", "w2"},
		"w[3:1]":          {},
		"w[a:c:-1]":       {},
		"w[3:1:-1]":       {"w3"},
		"w[ab:cd]":        {"wa", "wb", "wc"},
		"w[01:100]":       nil,
		"w[1:]":           nil,
		"w[a:]":           nil,
		"w[1:3:0]":        nil,
		"w[b:a]":          nil,
		"w[1]":            nil,
		"w[1:3:x]":        nil,
		"a|b[1:2]":        nil,
		"w[1:9999999]":    nil, // more than a million names
	}
	for in, want := range tests {
		got, err := expandHostRange(in)
		if want == nil {
			if err == nil {
				t.Errorf("expandHostRange(%q) = %q, want an error", in, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("expandHostRange(%q): %v", in, err)
			continue
		}
		if diff := cmp.Diff(want, got, cmpEmptyAsNil); diff != "" {
			t.Errorf("expandHostRange(%q) (-want +got):\n%s", in, diff)
		}
	}
}

var cmpEmptyAsNil = cmp.Transformer("emptyAsNil", func(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
})

func hclRange(file string) hcl.Range {
	return hcl.Range{Filename: file, Start: hcl.InitialPos, End: hcl.InitialPos}
}
