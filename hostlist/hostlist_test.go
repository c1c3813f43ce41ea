package hostlist

import (
	"math/rand"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFold(t *testing.T) {
	tests := map[string]struct {
		names []string
		want  string
	}{
		"empty":                {nil, ""},
		"one":                  {[]string{"web01"}, "web01"},
		"no digits":            {[]string{"db", "cache"}, "cache,db"},
		"range with padding":   {[]string{"web03", "web01", "web02", "web07"}, "web[01-03,07]"},
		"the issue's example":  {[]string{"web01", "web02", "web03", "web07", "db1"}, "db1,web[01-03,07]"},
		"padding kept":         {[]string{"n08", "n09", "n10", "n11"}, "n[08-11]"},
		"no padding":           {[]string{"n9", "n10", "n11"}, "n[9-11]"},
		"mixed padding":        {[]string{"n1", "n01", "n02", "n3"}, "n[01-02,1,3]"},
		"unpadded after gap":   {[]string{"n07", "n8"}, "n[07,8]"},
		"wider than padding":   {[]string{"n099", "n100", "n101"}, "n[099-101]"},
		"suffix":               {[]string{"web1.example.com", "web2.example.com", "web1.example.org"}, "web[1-2].example.com,web1.example.org"},
		"last number varies":   {[]string{"rack1-node03", "rack1-node04", "rack2-node03"}, "rack1-node[03-04],rack2-node03"},
		"duplicates":           {[]string{"a1", "a1", "a2", "b", "b"}, "a[1-2],b"},
		"zero":                 {[]string{"h0", "h1"}, "h[0-1]"},
		"brackets stay":        {[]string{"odd[1]", "x,y"}, "odd[1],x,y"},
		"lab hosts":            {[]string{"lab1", "lab2", "lab3", "lab4", "lab10", "lab11"}, "lab[1-4,10-11]"},
		"same number, padding": {[]string{"w001", "w01", "w1"}, "w[001,01,1]"},
		"huge number":          {[]string{"h99999999999999999999999"}, "h99999999999999999999999"},
		"ipv4 addresses":       {[]string{"10.0.0.1", "10.0.0.2", "10.0.1.1"}, "10.0.0.[1-2],10.0.1.1"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Fold(tc.names); got != tc.want {
				t.Errorf("Fold(%q) = %q, want %q", tc.names, got, tc.want)
			}
		})
	}
}

func TestExpand(t *testing.T) {
	tests := map[string][]string{
		"db1":               {"db1"},
		"db1,web[01-03,07]": {"db1", "web01", "web02", "web03", "web07"},
		"n[08-11]":          {"n08", "n09", "n10", "n11"},
		"n[9-11].dc":        {"n9.dc", "n10.dc", "n11.dc"},
		"n[099-101]":        {"n099", "n100", "n101"},
		"a[1],b":            {"a1", "b"},
	}
	for in, want := range tests {
		got, err := Expand(in)
		if err != nil {
			t.Errorf("Expand(%q): %v", in, err)
			continue
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("Expand(%q) (-want +got):\n%s", in, d)
		}
	}
}

func TestExpandErrors(t *testing.T) {
	tests := map[string]string{
		"":             "column 1: an empty name",
		"a,,b":         "column 3: an empty name",
		"a,":           "column 3: an empty name",
		"web[1-3":      "column 4: [ without ]",
		"web1-3]":      "] without [",
		"web[3-1]":     `column 5: "3-1" is not a number`,
		"web[a]":       `"a" is not a number`,
		"web[1-]":      `"1-" is not a number`,
		"w[1][2]":      "one bracket per name",
		"w[1-1000000]": "more than 100000 names",
	}
	for in, want := range tests {
		_, err := Expand(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Expand(%q) = %v, want an error containing %q", in, err, want)
		}
	}
}

// TestRoundTrip: whatever names Fold is given, Expand gives them back
// (as a set), each once.
func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	prefixes := []string{"web", "db", "rack1-n", "x", "node-"}
	suffixes := []string{"", ".dc1", "-a"}
	for iter := 0; iter < 2000; iter++ {
		var names []string
		for k := r.Intn(30); k >= 0; k-- {
			var b strings.Builder
			b.WriteString(prefixes[r.Intn(len(prefixes))])
			n := r.Intn(120)
			switch r.Intn(3) {
			case 0:
				b.WriteString(pad(uint64(n), 0))
			case 1:
				b.WriteString(pad(uint64(n), 2))
			default:
				b.WriteString(pad(uint64(n), 3))
			}
			b.WriteString(suffixes[r.Intn(len(suffixes))])
			names = append(names, b.String())
		}
		if r.Intn(5) == 0 {
			names = append(names, "plain")
		}
		folded := Fold(names)
		got, err := Expand(folded)
		if err != nil {
			t.Fatalf("Expand(Fold(%q)) = %q: %v", names, folded, err)
		}
		if d := cmp.Diff(set(names), set(got)); d != "" {
			t.Fatalf("Expand(Fold(%q)) via %q (-want +got):\n%s", names, folded, d)
		}
		if len(got) != len(set(names)) {
			t.Fatalf("Expand(Fold(%q)) via %q has duplicates: %q", names, folded, got)
		}
	}
}

func set(names []string) []string {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
