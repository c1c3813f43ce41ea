package inventory

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSplitPattern(t *testing.T) {
	tests := map[string][]string{
		"web:db":            {"web", "db"},
		"web,db":            {"web", "db"},
		" web , db ,":       {"web", "db"},
		"web db":            {"web", "db"},
		"web:&prod:!web3":   {"web", "&prod", "!web3"},
		"web[1:3]:db":       {"web[1:3]", "db"},
		"~web:x,db":         {"~web:x", "db"},
		"fe80::1":           {"fe80::1"},
		"10.0.0.1":          {"10.0.0.1"},
		"web1:2222":         {"web1:2222"},
		"os:linux":          {"os:linux"},
		"web:&os:windows":   {"web", "&os:windows"},
		"web:!os:debian:db": {"web", "!os:debian", "db"},
		"web,os:linux":      {"web", "os:linux"},
		"os: linux":         {"os", "linux"},
		"web]":              {"web"},
		"":                  nil,
		"::":                {"::"},
		":":                 nil,
	}
	for in, want := range tests {
		if diff := cmp.Diff(want, splitPattern(in)); diff != "" {
			t.Errorf("splitPattern(%q) (-want +got):\n%s", in, diff)
		}
	}
}

// TestAnsibleOrder checks that, in an inventory read from Ansible
// sources, subscripts count hosts in Ansible's order (as the file lists
// them, a group's own hosts before its children's), not by name.
func TestAnsibleOrder(t *testing.T) {
	inv := mustLoadSources(t, map[string]string{"hosts": `
[web]
zeta
alpha
[web:children]
edge
[edge]
beta
[db]
alpha
delta
`}, "hosts")
	tests := map[string][]string{
		"web[0]":   {"zeta"},
		"web[1]":   {"alpha"},
		"web[-1]":  {"beta"},
		"web[1:]":  {"alpha", "beta"},
		"all[0]":   {"zeta"},
		"db[0]":    {"alpha"},
		"*a[2]":    {"beta"}, // no group ends in "a": hosts, in the order created
		"*[3]":     {"beta"}, // all's members: zeta alpha delta, then its grandchild edge's beta
		"*[4]":     {"zeta"}, // then web's, duplicates kept until the subscript applies
		"~.*a$[0]": {},       // a regex takes no subscript: this regex matches nothing
		"web":      {"alpha", "beta", "zeta"},
	}
	for pattern, want := range tests {
		got, err := inv.SelectString(pattern)
		if err != nil {
			t.Errorf("%s: %v", pattern, err)
			continue
		}
		if diff := cmp.Diff(want, hostNames(got)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", pattern, diff)
		}
	}
}

func TestPatternFile(t *testing.T) {
	inv := mustLoad(t, map[string]string{"inventory.hcl": patternInventory}, nil)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	limit := write("limit.txt", "web1\n\n  !web2  \ndb\n&prod\n")
	colons := write("colons.txt", "web:db\n")
	empty := write("empty.txt", "\n\n")
	nested := write("nested.txt", "@"+limit+"\n")

	tests := map[string]struct {
		pattern string
		want    []string
		err     bool
	}{
		"lines are terms":        {pattern: "@" + limit, want: []string{"db1", "web1"}},
		"with other terms":       {pattern: "@" + limit + ",web3", want: []string{"db1", "web1"}},
		"a line is not split":    {pattern: "@" + colons, err: true}, // "web:db" is one (unknown) name
		"an empty file":          {pattern: "@" + empty, err: true},
		"nested":                 {pattern: "@" + nested, err: true},
		"a directory":            {pattern: "@" + dir, err: true},
		"missing":                {pattern: "@" + filepath.Join(dir, "nope"), err: true},
		"with an operator":       {pattern: "web,!@" + limit, err: true},
		"operators apply to all": {pattern: "db2:@" + limit, want: []string{"db1", "web1"}}, // &prod drops db2
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := inv.SelectString(tc.pattern)
			if (err != nil) != tc.err {
				t.Fatalf("SelectString(%q) = %v, %v; want error %v", tc.pattern, hostNames(got), err, tc.err)
			}
			if !tc.err {
				if diff := cmp.Diff(tc.want, hostNames(got)); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			}
		})
	}
}

// fakeFacts is a FactsCache from a map.
type fakeFacts map[string]OSFacts

func (f fakeFacts) OSFacts(host string) (OSFacts, bool) {
	o, ok := f[host]
	return o, ok
}

func TestFactSelectors(t *testing.T) {
	inv := mustLoadSources(t, map[string]string{"hosts": `
[linux]
deb1
ubu1
rh1
[windows]
win1 ansible_connection=winrm
win2 ansible_connection=psrp
[other]
ssh-win
`}, "hosts")
	tests := map[string]struct {
		facts   FactsCache
		pattern string
		want    []string
		missing []string // want a *MissingFactsError for these hosts
	}{
		"linux from the inventory":   {pattern: "os:linux", want: []string{"deb1", "rh1", "ssh-win", "ubu1"}},
		"windows from the inventory": {pattern: "os:windows", want: []string{"win1", "win2"}},
		"excluding windows":          {pattern: "all:!os:windows", want: []string{"deb1", "rh1", "ssh-win", "ubu1"}},
		"intersection":               {pattern: "linux:&os:Linux", want: []string{"deb1", "rh1", "ubu1"}},
		"comma form":                 {pattern: "windows,&os:windows", want: []string{"win1", "win2"}},
		"family without facts":       {pattern: "linux:&os:debian", missing: []string{"deb1", "rh1", "ubu1"}},
		"a winrm host is no Linux":   {pattern: "windows:!os:debian", want: []string{"win1", "win2"}},
		"facts only for candidates":  {pattern: "deb1:&os:debian", missing: []string{"deb1"}},
		"kernel never needs facts":   {pattern: "os:darwin", want: []string{}},
		"cache: family and name": {
			facts: fakeFacts{
				"deb1": {Family: "debian", Name: "debian"}, "ubu1": {Family: "debian", Name: "Ubuntu"},
				"rh1": {Family: "redhat", Name: "rocky"}, "ssh-win": {Kernel: "windows", Family: "windows"},
				"win1": {Family: "windows"}, "win2": {Family: "windows"},
			},
			pattern: "os:debian", want: []string{"deb1", "ubu1"},
		},
		"cache: name": {
			facts:   fakeFacts{"deb1": {Family: "debian", Name: "debian"}, "ubu1": {Family: "debian", Name: "ubuntu"}, "rh1": {Family: "redhat", Name: "rocky"}},
			pattern: "linux:&os:ubuntu", want: []string{"ubu1"},
		},
		"cache beats the transport": {
			facts:   fakeFacts{"ssh-win": {Family: "windows", Name: "windows"}},
			pattern: "os:windows", want: []string{"ssh-win", "win1", "win2"},
		},
		"partial cache": {
			facts:   fakeFacts{"deb1": {Family: "debian"}},
			pattern: "os:debian", missing: []string{"rh1", "ssh-win", "ubu1"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			inv := inv
			if tc.facts != nil {
				inv = inv.WithFacts(tc.facts)
			}
			got, err := inv.SelectString(tc.pattern)
			var missing *MissingFactsError
			if tc.missing != nil {
				if !errors.As(err, &missing) {
					t.Fatalf("SelectString(%q) = %v, %v; want a MissingFactsError", tc.pattern, hostNames(got), err)
				}
				if diff := cmp.Diff(tc.missing, missing.Hosts); diff != "" {
					t.Errorf("missing facts (-want +got):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, hostNames(got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
