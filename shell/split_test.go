package shell

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSplit(t *testing.T) {
	tests := map[string][]string{
		`pass show db/prod`:          {"pass", "show", "db/prod"},
		`vault kv get -field=pw x`:   {"vault", "kv", "get", "-field=pw", "x"},
		`sh -c 'echo "a b"; exit 3'`: {"sh", "-c", `echo "a b"; exit 3`},
		`a\ b "c\"d" e#f`:            {"a b", `c"d`, "e#f"},
	}
	for in, want := range tests {
		got, err := Split(in, false)
		if err != nil {
			t.Errorf("Split(%q): %v", in, err)
			continue
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Split(%q) (-want +got):\n%s", in, diff)
		}
	}
	for _, s := range []string{"", "it's", `a\b`, "$(x) `y` \"z\"", "tab\tnew\nline"} {
		if got, err := Split(Quote(s), false); err != nil || !cmp.Equal(got, []string{s}) {
			t.Errorf("Split(Quote(%q)) = %q, %v", s, got, err)
		}
	}
}
