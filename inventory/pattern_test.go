package inventory

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const patternInventory = `
group "web" {
  children = ["edge"]
}
group "empty" {}

host "web1" { groups = ["web", "prod"] }
host "web2" { groups = ["web", "prod"] }
host "web3" { groups = ["web", "staging"] }
host "edge1" { groups = ["edge"] }
host "db1" { groups = ["db", "prod"] }
host "db2" { groups = ["db", "staging"] }
host "lone" {}
`

func hostNames(hs []*Host) []string {
	out := []string{}
	for _, h := range hs {
		out = append(out, h.Name)
	}
	return out
}

func TestSelect(t *testing.T) {
	inv := mustLoad(t, map[string]string{"inventory.hcl": patternInventory}, nil)

	all := []string{"db1", "db2", "edge1", "lone", "web1", "web2", "web3"}
	tests := map[string]struct {
		pattern string
		want    []string
	}{
		"group":                       {"web", []string{"edge1", "web1", "web2", "web3"}},
		"child group":                 {"edge", []string{"edge1"}},
		"host":                        {"web2", []string{"web2"}},
		"all":                         {"all", all},
		"star":                        {"*", all},
		"ungrouped":                   {"ungrouped", []string{"lone"}},
		"declared empty group":        {"empty", []string{}},
		"union colon":                 {"web:db", []string{"db1", "db2", "edge1", "web1", "web2", "web3"}},
		"union comma":                 {"web1,db2", []string{"db2", "web1"}},
		"union of host and group":     {"lone:db", []string{"db1", "db2", "lone"}},
		"union keeps no duplicates":   {"web1:web:web1", []string{"edge1", "web1", "web2", "web3"}},
		"spaces around terms":         {" web1 , db1 ", []string{"db1", "web1"}},
		"intersection":                {"web:&prod", []string{"web1", "web2"}},
		"two intersections":           {"all:&prod:&web", []string{"web1", "web2"}},
		"exclusion":                   {"web:!web3", []string{"edge1", "web1", "web2"}},
		"exclude a group":             {"all:!web", []string{"db1", "db2", "lone"}},
		"intersect then exclude":      {"web:&prod:!web3", []string{"web1", "web2"}},
		"exclude the intersected":     {"web:&prod:!web1", []string{"web2"}},
		"ansible docs combination":    {"web:db:&prod:!web2", []string{"db1", "web1"}},
		"order does not matter":       {"!web2:&prod:web:db", []string{"db1", "web1"}},
		"comma operators":             {"web,db,&staging,!db2", []string{"web3"}},
		"only exclusion starts all":   {"!web", []string{"db1", "db2", "lone"}},
		"only intersection":           {"&staging", []string{"db2", "web3"}},
		"glob hosts and groups":       {"web*", []string{"edge1", "web1", "web2", "web3"}},
		"glob hosts only":             {"w?b1", []string{"web1"}},
		"glob char class":             {"db[!1]", []string{"db2"}},
		"glob matching nothing":       {"nothing*", []string{}},
		"glob in exclusion":           {"all:!*1", []string{"db2", "lone", "web2", "web3"}},
		"regex":                       {"~web[0-9]", []string{"web1", "web2", "web3"}},
		"regex matches group":         {"~(db|edge)$", []string{"db1", "db2", "edge1"}},
		"regex anchored at start":     {"~eb", []string{}},
		"subscript first":             {"db[0]", []string{"db1"}},
		"subscript last":              {"web[-1]", []string{"web3"}},
		"subscript range inclusive":   {"web[1:2]", []string{"web1", "web2"}},
		"subscript range with dash":   {"web[1-2]", []string{"web1", "web2"}},
		"subscript open end":          {"web[2:]", []string{"web2", "web3"}},
		"open start is a glob":        {"web[:1]", []string{"web1"}}, // as in Ansible: [:1] is a class
		"subscript range past end":    {"db[1:5]", []string{"db2"}},
		"subscript range after end":   {"db[3:5]", []string{}},
		"subscript end zero is start": {"web[2:0]", []string{"web2"}}, // Python reads the 0 as "no end"
		"reversed glob range":         {"web[z-a]*", []string{}},      // dropped, as Python's fnmatch does
		"glob class of a colon":       {"web[:]", []string{}},
		"subscript with other terms":  {"web[0]:db[-1]", []string{"db2", "edge1"}},
		"subscript on a glob":         {"*[0]", []string{"db1"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := inv.SelectString(tc.pattern)
			if err != nil {
				t.Fatalf("SelectString(%q): %v", tc.pattern, err)
			}
			if diff := cmp.Diff(tc.want, hostNames(got)); diff != "" {
				t.Errorf("SelectString(%q) (-want +got):\n%s", tc.pattern, diff)
			}
		})
	}
}

func TestSelectErrors(t *testing.T) {
	inv := mustLoad(t, map[string]string{"inventory.hcl": patternInventory}, nil)

	tests := map[string]struct {
		pattern   string
		unknown   *UnknownNameError // want an *UnknownNameError like this
		empty     bool              // want ErrEmptyPattern
		parse     bool              // want a ParsePattern error
		subscript bool              // want a *SubscriptError
	}{
		"typo of a group":             {pattern: "wbe", unknown: &UnknownNameError{Name: "wbe", Suggestion: "web"}},
		"typo in an exclusion":        {pattern: "web:!wbe3", unknown: &UnknownNameError{Name: "wbe3", Suggestion: "web3"}},
		"typo in intersection":        {pattern: "web:&prdo", unknown: &UnknownNameError{Name: "prdo", Suggestion: "prod"}},
		"first unknown reported":      {pattern: "web:!qqqq:zzzz", unknown: &UnknownNameError{Name: "qqqq"}},
		"no suggestion":               {pattern: "kubernetes", unknown: &UnknownNameError{Name: "kubernetes"}},
		"empty":                       {pattern: "", empty: true},
		"blank":                       {pattern: "  ", empty: true},
		"only commas":                 {pattern: ", ,", empty: true},
		"only a colon":                {pattern: ":", empty: true},
		"an IPv6 address is one term": {pattern: "::", unknown: &UnknownNameError{Name: "::"}},
		"subscript past the end":      {pattern: "db[5]", subscript: true},
		"negative subscript too far":  {pattern: "db[-3]", subscript: true},
		"operator alone":              {pattern: "web:!", parse: true},
		"bad regex":                   {pattern: "~web(", parse: true},
		"empty regex":                 {pattern: "~", parse: true},
		"missing @file":               {pattern: "@no-such-file.txt", parse: true},
		"@file with an operator":      {pattern: "web:!@x.txt", parse: true},
		"bad fact selector":           {pattern: "web,os:", parse: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, parseErr := ParsePattern(tc.pattern)
			got, err := inv.SelectString(tc.pattern)
			if err == nil {
				t.Fatalf("SelectString(%q) = %v, want an error", tc.pattern, hostNames(got))
			}
			if got != nil {
				t.Errorf("SelectString(%q) returned hosts with an error: %v", tc.pattern, hostNames(got))
			}
			if (parseErr != nil) != (tc.parse || tc.empty) {
				t.Errorf("ParsePattern(%q) error = %v, want error: %v", tc.pattern, parseErr, tc.parse || tc.empty)
			}
			if errors.Is(err, ErrEmptyPattern) != tc.empty {
				t.Errorf("errors.Is(%v, ErrEmptyPattern) = %v, want %v", err, !tc.empty, tc.empty)
			}
			var unknown *UnknownNameError
			if errors.As(err, &unknown) != (tc.unknown != nil) {
				t.Fatalf("error %v (%T): UnknownNameError = %v, want %v", err, err, unknown != nil, tc.unknown != nil)
			}
			if diff := cmp.Diff(tc.unknown, unknown); diff != "" {
				t.Errorf("UnknownNameError (-want +got):\n%s", diff)
			}
			var sub *SubscriptError
			if errors.As(err, &sub) != tc.subscript {
				t.Errorf("error %v (%T): SubscriptError = %v, want %v", err, err, sub != nil, tc.subscript)
			}
		})
	}
}

func TestSelectNameMeansGroup(t *testing.T) {
	inv, diags := func() (*Inventory, int) {
		_, paths := writeFiles(t, map[string]string{"inventory.hcl": `
host "db" {}
host "db1" { groups = ["db"] }
`})
		inv, diags := Load(paths, nil)
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		return inv, len(diags)
	}()
	if diags != 1 {
		t.Errorf("want one warning about the shared name, got %d diagnostics", diags)
	}
	tests := map[string][]string{
		"db":      {"db"},        // alone, the host, as in Ansible
		"all:&db": {"db1"},       // with & or !, the group
		"!db":     {"db"},        // (Ansible's _evaluate_patterns checks hosts first only for unions)
		"db[0]":   {"db1"},       // with a subscript, the group
		"db*":     {"db", "db1"}, // globs match group and host names
	}
	for pattern, want := range tests {
		got, err := inv.SelectString(pattern)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, hostNames(got)); diff != "" {
			t.Errorf("SelectString(%q) (-want +got):\n%s", pattern, diff)
		}
	}
}

func TestParsePatternReuse(t *testing.T) {
	p, err := ParsePattern("web:&prod")
	if err != nil {
		t.Fatal(err)
	}
	if p.String() != "web:&prod" {
		t.Errorf("String() = %q", p.String())
	}
	a := mustLoad(t, map[string]string{"a.hcl": `host "w1" { groups = ["web", "prod"] }`}, nil)
	b := mustLoad(t, map[string]string{"b.hcl": `
host "w2" { groups = ["web", "prod"] }
host "w3" { groups = ["web"] }
`}, nil)
	got := map[string][]string{}
	for name, inv := range map[string]*Inventory{"a": a, "b": b} {
		hs, err := inv.Select(p)
		if err != nil {
			t.Fatal(err)
		}
		got[name] = hostNames(hs)
	}
	want := map[string][]string{"a": {"w1"}, "b": {"w2"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := a.Select(nil); !errors.Is(err, ErrEmptyPattern) {
		t.Errorf("Select(nil) error = %v, want ErrEmptyPattern", err)
	}
}

func TestGlobRegexp(t *testing.T) {
	tests := map[string]struct {
		glob      string
		match, no []string
	}{
		"star":           {"web*", []string{"web", "web1", "web.example.com"}, []string{"we", "aweb"}},
		"question":       {"db?", []string{"db1", "dbx"}, []string{"db", "db12"}},
		"class":          {"db[12]x", []string{"db1x", "db2x"}, []string{"db3x", "db12x"}},
		"negated class":  {"db[!1]", []string{"db2"}, []string{"db1", "db"}},
		"range":          {"n[a-c]", []string{"na", "nc"}, []string{"nd"}},
		"bracket first":  {"a[]]b", []string{"a]b"}, []string{"ab"}},
		"unclosed":       {"a[b", []string{"a[b"}, []string{"ab"}},
		"regex meta":     {"10.0.*", []string{"10.0.0.1"}, []string{"10x0.1"}},
		"caret in class": {"[^a]", []string{"^", "a"}, []string{"b"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			re, err := globRegexp(tc.glob)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tc.match {
				if !re.MatchString(s) {
					t.Errorf("%q should match %q (%s)", tc.glob, s, re)
				}
			}
			for _, s := range tc.no {
				if re.MatchString(s) {
					t.Errorf("%q should not match %q (%s)", tc.glob, s, re)
				}
			}
		})
	}
}

// TestGlobRegexpPython checks globs against what Python 3.11's
// fnmatch.fnmatchcase matches among a fixed set of names.
func TestGlobRegexpPython(t *testing.T) {
	names := []string{"web1", "db1", "db2", "x", "!", "ax", "b", "e", "-", `\`, "^", "&", "]", "a[b", "ab", "aXb", "a", "d"}
	tests := map[string][]string{
		"web*":    {"web1"},
		"db[!1]":  {"db2"},
		"[z-a]x":  nil,
		"[!]":     nil,
		"[]]":     {"]"},
		"a[b":     {"a[b"},
		"[a-c-e]": {"b", "e", "-", "a"},
		"[---]":   {"-"},
		"[!a-]":   {"x", "!", "b", "e", `\`, "^", "&", "]", "d"},
		`[\]`:     {`\`},
		"a**b":    {"a[b", "ab", "aXb"},
		"[^x]":    {"x", "^"},
		"[&&]":    {"&"},
		"[a-a]":   {"a"},
	}
	for glob, want := range tests {
		re, err := globRegexp(glob)
		if err != nil {
			t.Errorf("globRegexp(%q): %v", glob, err)
			continue
		}
		var got []string
		for _, n := range names {
			if re.MatchString(n) {
				got = append(got, n)
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("glob %q (%s) matches (-python +tend):\n%s", glob, re, diff)
		}
	}
}
