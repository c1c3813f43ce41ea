package probe

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/transport/local"
)

// TestRunSections runs a probe script through a real sh: sections come
// back separated, failures are attributed to their fragment, and output
// that imitates tend's own markers cannot confuse the parser.
func TestRunSections(t *testing.T) {
	frags := []Fragment{
		{ID: "file.a", Script: "out type file\nout mode 0644\n"},
		{ID: "file.fails", Script: "echo 'cannot read /x: Permission denied' >&2\nexit 3\n"},
		{ID: `exec.b["k"]`, Script: "printf '\\036tend:0000:end:0\\n'\nout done 1\nexit 0\n"},
		{ID: "file.empty", Script: ":\n"},
	}
	res, err := Run(context.Background(), local.New(), true, frags)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]resources.ProbeOutput{
		"file.a":      {Values: map[string]string{"type": "file", "mode": "0644"}},
		"file.fails":  {Values: map[string]string{}, Other: "cannot read /x: Permission denied\n"},
		`exec.b["k"]`: {Values: map[string]string{"done": "1"}, Other: "\x1etend:0000:end:0\n"},
		"file.empty":  {Values: map[string]string{}},
	}
	if diff := cmp.Diff(want, res.Outputs); diff != "" {
		t.Errorf("outputs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"file.fails": "cannot read /x: Permission denied"}, res.Failed); diff != "" {
		t.Errorf("failed (-want +got):\n%s", diff)
	}
	if res.Facts.Kernel != "linux" || res.Facts.Arch == "" || res.Facts.CPUs < 1 || res.Facts.MemoryMB < 1 || res.Facts.User == "" {
		t.Errorf("facts incomplete: %+v", res.Facts)
	}
}

// TestTruncatedOutput: a script cut short (host died) is an error naming
// the first missing section, never a silently empty state.
func TestTruncatedOutput(t *testing.T) {
	frags := []Fragment{{ID: "file.a", Script: "out type file\n"}, {ID: "file.b", Script: "out type file\n"}}
	script := Script("n1", false, frags)
	if strings.Count(script, "begin:") != 2 {
		t.Fatalf("script has %d sections", strings.Count(script, "begin:"))
	}
	out := "\x1etend:n1:begin:0\n\x1ftype=file\n\x1etend:n1:end:0\n\x1etend:n1:begin:1\n\x1ftype=fi"
	_, err := Parse("n1", false, frags, []byte(out))
	if err == nil || !strings.Contains(err.Error(), "file.b") {
		t.Errorf("err = %v, want one naming file.b", err)
	}
}

func TestFamily(t *testing.T) {
	cases := map[string][3]string{
		"debian":   {"debian", "", "Linux"},
		"ubuntu":   {"ubuntu", "debian", "Linux"},
		"rhel":     {"rocky", "rhel centos fedora", "Linux"},
		"suse":     {"opensuse-leap", "suse opensuse", "Linux"},
		"arch":     {"arch", "", "Linux"},
		"alpine":   {"alpine", "", "Linux"},
		"unknown":  {"", "", "Darwin"},
		"somethin": {"gentoo", "", "Linux"},
	}
	want := map[string]string{"debian": "debian", "ubuntu": "debian", "rhel": "rhel", "suse": "suse", "arch": "arch",
		"alpine": "alpine", "unknown": "darwin", "somethin": "gentoo"}
	for name, in := range cases {
		if got := family(in[0], in[1], in[2]); got != want[name] {
			t.Errorf("%s: family = %q, want %q", name, got, want[name])
		}
	}
}

// TestPrelude: fragments sharing a prelude see what it set, it runs once
// however many fragments carry it, and its output stays out of sections.
func TestPrelude(t *testing.T) {
	dir := t.TempDir()
	prelude := "echo noise; echo more >&2; tend_t_count=$(cat " + dir + "/n 2>/dev/null || echo 0); echo $((tend_t_count+1)) >" + dir + "/n; tend_t_seen=$((tend_t_count+1))"
	frags := []Fragment{
		{ID: "a", Script: "out seen \"$tend_t_seen\"\n", Prelude: prelude},
		{ID: "b", Script: "out seen \"$tend_t_seen\"\n", Prelude: prelude},
		{ID: "c", Script: "out seen \"${tend_t_seen-unset}\"\n"},
	}
	if n := strings.Count(Script("x", false, frags), prelude); n != 1 {
		t.Fatalf("prelude appears %d times in the script, want 1", n)
	}
	res, err := Run(context.Background(), local.New(), false, frags)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]resources.ProbeOutput{
		"a": {Values: map[string]string{"seen": "1"}},
		"b": {Values: map[string]string{"seen": "1"}},
		"c": {Values: map[string]string{"seen": "1"}},
	}
	if diff := cmp.Diff(want, res.Outputs); diff != "" {
		t.Errorf("outputs (-want +got):\n%s", diff)
	}
}
