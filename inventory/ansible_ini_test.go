package inventory

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestINI(t *testing.T) {
	v := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := map[string]struct {
		src  string
		want map[string]hostSummary
	}{
		"ungrouped, groups, comments": {
			src: "# comment\n; comment\nlone\n\n[web]\nweb1  # trailing\n  web2\n[all:vars]\nntp=pool\n",
			want: map[string]hostSummary{
				"lone": {Groups: []string{"all", "ungrouped"}, Vars: v("ntp", `"pool"`)},
				"web1": {Groups: []string{"all", "web"}, Vars: v("ntp", `"pool"`)},
				"web2": {Groups: []string{"all", "web"}, Vars: v("ntp", `"pool"`)},
			},
		},
		"a host in a group leaves ungrouped": {
			src: "h1\n[g]\nh1\n",
			want: map[string]hostSummary{
				"h1": {Groups: []string{"all", "g"}, Vars: v()},
			},
		},
		// list=[1,'a'] loses its quotes to shlex and is text, as in
		// Ansible; "#" outside quotes starts a comment (cut=a#b gone=1).
		"inline values are Python literals": {
			src: `[g]
h port=22 debug=True off=False none=None name="'quoted'" list=[1,'a'] dict="{'k': [True]}" tuple=1,2 word=yes text="two words" hash="a#b" empty= big=12345678901234567890 float=1.5 hex=0x10 cut=a#b gone=1
`,
			want: map[string]hostSummary{
				"h": {Groups: []string{"all", "g"}, Vars: v(
					"port", "22", "debug", "true", "off", "false", "none", "null", "name", `"quoted"`,
					"list", `"[1,a]"`, "dict", `{"k":[true]}`, "tuple", "[1,2]", "word", `"yes"`, "text", `"two words"`,
					"hash", `"a#b"`, "cut", `"a"`, "empty", `""`, "big", "12345678901234567890", "float", "1.5", "hex", "16")},
			},
		},
		"group vars are literals too, despite Ansible's docs": {
			src: "[g]\nh\n[g:vars]\nn=23 # a comment\nb = True\nf=FALSE\ns = two words # kept: not a literal\nq=\"x\"\neq=a=b\n",
			want: map[string]hostSummary{
				"h": {Groups: []string{"all", "g"}, Vars: v("n", "23", "b", "true", "f", `"FALSE"`, "s", `"two words # kept: not a literal"`, "q", `"x"`, "eq", `"a=b"`)},
			},
		},
		"sections before their group": {
			src: "[p:vars]\nx=1\n[p:children]\nc\n[c]\nh\n[p]\n",
			want: map[string]hostSummary{
				"h": {Groups: []string{"all", "c", "p"}, Vars: v("x", "1")},
			},
		},
		"a host seen twice merges, port only the first time": {
			src: "[a]\nh:2200 x=1 y=1\n[b]\nh:2300 y=2\n",
			want: map[string]hostSummary{
				"h": {Groups: []string{"a", "all", "b"}, Vars: v("x", "1", "y", "2")},
			},
		},
		"ranges": {
			src: "[g]\nweb[1:3:2]-[a:b]\n",
			want: map[string]hostSummary{
				"web1-a": {Groups: []string{"all", "g"}, Vars: v()},
				"web1-b": {Groups: []string{"all", "g"}, Vars: v()},
				"web3-a": {Groups: []string{"all", "g"}, Vars: v()},
				"web3-b": {Groups: []string{"all", "g"}, Vars: v()},
			},
		},
		"an IPv6 address and a bracketed one with a port": {
			src: "fe80::1\n[2001:db8::5]:2201\n",
			want: map[string]hostSummary{
				"fe80::1":     {Groups: []string{"all", "ungrouped"}, Vars: v()},
				"2001:db8::5": {Groups: []string{"all", "ungrouped"}, Vars: v()},
			},
		},
		"CRLF line ends": {
			src: "[g]\r\nh x=1\r\n",
			want: map[string]hostSummary{
				"h": {Groups: []string{"all", "g"}, Vars: v("x", "1")},
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			inv := mustLoadSources(t, map[string]string{"hosts.ini": tc.src}, "hosts.ini")
			if diff := cmp.Diff(tc.want, summarize(t, inv)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestINIPort(t *testing.T) {
	inv := mustLoadSources(t, map[string]string{"hosts": "[g]\nweb[1:2]:2222\n"}, "hosts")
	for _, h := range inv.Hosts() {
		if h.Port != 2222 {
			t.Errorf("%s: Port = %d, want 2222", h.Name, h.Port)
		}
	}
}

func TestINIErrors(t *testing.T) {
	tests := map[string]struct {
		src, want, detail string
	}{
		"unknown section type":       {"[web]\nh\n[web:foo]\n", "hosts.ini:3,1: Invalid INI inventory", "unknown type: foo"},
		"space in a section":         {"[web servers]\n", "hosts.ini:1,1: Invalid INI inventory", "Invalid section entry"},
		"vars line without =":        {"[g]\nh\n[g:vars]\n  justaword\n", "hosts.ini:4,3: Invalid INI inventory", "Expected key=value, got: justaword"},
		"host var without =":         {"[g]\nh flag\n", "hosts.ini:2,1: Invalid INI inventory", "Expected key=value host variable assignment, got: flag"},
		"vars of an undefined group": {"[ghost:vars]\nx=1\n", "hosts.ini:1,1: Invalid INI inventory", "[ghost:vars] not valid for undefined group"},
		"undefined child":            {"[p:children]\nghost\n", "hosts.ini:2,1: Invalid INI inventory", "[p:children] includes undefined group: ghost"},
		"unclosed quote":             {"[g]\nh x=\"open\n", "hosts.ini:2,1: Invalid INI inventory", "no closing quotation"},
		"bad range":                  {"[g]\nweb[1:]\n", "hosts.ini:2,1: Invalid INI inventory", "must specify end value"},
		"host ending in a colon":     {"[g]\nweb1:\n", "hosts.ini:2,1: Invalid INI inventory", "ending in ':' is not allowed"},
		"YAML in an INI file":        {"---\nall:\n", "hosts.ini:1,1: Invalid INI inventory", "'---' is normally a sign this is a YAML file"},
		"children cycle":             {"[a:children]\nb\n[b:children]\na\n", "hosts.ini:4,1: Group cycle", "a -> b -> a"},
		"group is its own child":     {"[a:children]\na\n", "hosts.ini:2,1: Group cycle", "a -> a"},
		"bad child line":             {"[a:children]\nb c\n", "hosts.ini:2,1: Invalid INI inventory", "Expected group name"},
		"bad group priority":         {"[g]\nh\n[g:vars]\nansible_group_priority=high\n", "hosts.ini:4,1: Invalid ansible_group_priority", `"high" is not an integer`},
		"invalid UTF-8":              {"[g]\nh\xff\n", "hosts.ini:2,1: Invalid INI inventory", "not valid UTF-8"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := writeTree(t, map[string]string{"hosts.ini": tc.src})
			_, diags := loadSources(t, dir, Options{}, "hosts.ini")
			got := diagStrings(dir, diags)
			if diff := cmp.Diff([]string{tc.want}, got); diff != "" {
				t.Fatalf("diagnostics (-want +got):\n%s\n%s", diff, diags.Error())
			}
			if !strings.Contains(diags[0].Detail, tc.detail) {
				t.Errorf("detail %q does not contain %q", diags[0].Detail, tc.detail)
			}
		})
	}
}

// TestINISnippet checks that INI sources are registered for diagnostics
// with source snippets.
func TestINISnippet(t *testing.T) {
	dir := writeTree(t, map[string]string{"hosts.ini": "[g]\nh flag\n"})
	inv, diags := loadSources(t, dir, Options{}, "hosts.ini")
	if !diags.HasErrors() {
		t.Fatal("want an error")
	}
	var b strings.Builder
	w := hclTextWriter(&b, inv)
	if err := w.WriteDiagnostics(diags); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "2: h flag") {
		t.Errorf("no snippet of the line in:\n%s", b.String())
	}
}
