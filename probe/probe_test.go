//go:build unix

package probe

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"

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

// countPrelude is a prelude that counts its runs in a file and names the
// configurations it was given.
type countPrelude struct{ dir string }

func (p countPrelude) ProbePrelude(cfgs []cty.Value) string {
	var names []string
	for _, c := range cfgs {
		names = append(names, c.AsString())
	}
	return "echo noise; echo more >&2; tend_t_count=$(cat " + p.dir + "/n 2>/dev/null || echo 0); echo $((tend_t_count+1)) >" + p.dir +
		"/n; tend_t_seen=$((tend_t_count+1)); tend_t_cfgs='" + strings.Join(names, ",") + "'"
}

// TestPrelude: fragments sharing a prelude see what it set, it runs once
// however many fragments carry it, given all their configurations, and
// its output stays out of sections.
func TestPrelude(t *testing.T) {
	dir := t.TempDir()
	prelude := countPrelude{dir: dir}
	frags := []Fragment{
		{ID: "a", Script: "out seen \"$tend_t_seen\"; out cfgs \"$tend_t_cfgs\"\n", Prelude: prelude, Config: cty.StringVal("a")},
		{ID: "b", Script: "out seen \"$tend_t_seen\"\n", Prelude: prelude, Config: cty.StringVal("b")},
		{ID: "c", Script: "out seen \"${tend_t_seen-unset}\"\n"},
	}
	if n := strings.Count(Script("x", false, frags), "echo noise"); n != 1 {
		t.Fatalf("prelude appears %d times in the script, want 1", n)
	}
	res, err := Run(context.Background(), local.New(), false, frags)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]resources.ProbeOutput{
		"a": {Values: map[string]string{"seen": "1", "cfgs": "a,b"}},
		"b": {Values: map[string]string{"seen": "1"}},
		"c": {Values: map[string]string{"seen": "1"}},
	}
	if diff := cmp.Diff(want, res.Outputs); diff != "" {
		t.Errorf("outputs (-want +got):\n%s", diff)
	}
}

// TestPrefetchMatchesFragments: the prefetched stat and sha256sum give
// every fragment exactly what its own commands would, for paths of every
// kind (regular files, names with spaces, newlines, backslashes, leading
// dashes and quotes, directories, symlinks, dangling symlinks, a FIFO that
// must not be opened, missing paths), and a script without hints still
// works.
func TestPrefetchMatchesFragments(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
		return p
	}
	paths := []string{
		write("plain", "hello\n"),
		write("with space", "a b\n"),
		write("new\nline", "nl\n"),
		write(`back\slash`, "bs\n"),
		write("-dash", "dash\n"),
		write("it's", "quote\n"),
		write("empty", ""),
		dir,
		filepath.Join(dir, "missing"),
		filepath.Join(dir, "missing"), // the same path twice
	}
	if err := os.Symlink(paths[0], filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "nowhere"), filepath.Join(dir, "dangling")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	paths = append(paths, filepath.Join(dir, "link"), filepath.Join(dir, "dangling"), filepath.Join(dir, "fifo"), paths[0])
	var hinted, plain []Fragment
	for i, p := range paths {
		typ := resources.Type(resources.File{})
		if i%3 == 1 {
			typ = resources.Directory{}
		}
		cfg := cty.ObjectVal(map[string]cty.Value{"path": cty.StringVal(p)})
		// Most files are probed as matching their desired content (the
		// inline answer), some as differing (the fragment sends content).
		var want *resources.State
		if fi, err := os.Lstat(p); err == nil && fi.Mode().IsRegular() && i%4 != 3 {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			want = &resources.State{Content: &resources.Content{SHA256: fmt.Sprintf("%x", sha256.Sum256(data))}}
		}
		f := For(fmt.Sprintf("r%d", i), typ, cfg, want)
		if f.Path != p {
			t.Fatalf("fragment of %s has path hint %q", p, f.Path)
		}
		hinted = append(hinted, f)
		f.Path, f.Hash, f.Inline = "", false, ""
		plain = append(plain, f)
	}
	// stat and sha256sum log each run, to count the processes.
	bin, log := t.TempDir(), filepath.Join(t.TempDir(), "log")
	for _, c := range []string{"stat", "sha256sum"} {
		real, err := exec.LookPath(c)
		if err != nil {
			t.Fatal(err)
		}
		wrapper := "#!/bin/sh\necho " + c + " >> '" + log + "'\nexec '" + real + "' \"$@\"\n"
		if err := os.WriteFile(filepath.Join(bin, c), []byte(wrapper), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	want, err := Run(ctx, local.New(), false, plain)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(log)
	got, err := Run(ctx, local.New(), false, hinted)
	if err != nil {
		t.Fatal(err)
	}
	// One stat and one sha256sum for all, plus their own for the two
	// names with a newline or a backslash.
	calls, _ := os.ReadFile(log)
	if n, m := strings.Count(string(calls), "stat"), strings.Count(string(calls), "sha256sum"); n != 3 || m != 3 {
		t.Errorf("prefetched probe ran stat %d and sha256sum %d times, want 3 and 3", n, m)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("prefetched probe differs (-own commands +prefetched):\n%s", diff)
	}
	if got.Outputs["r0"].Values["sha256"] == "" || got.Outputs["r7"].Values["type"] != "directory" {
		t.Errorf("probe read nothing: %+v", got.Outputs)
	}
	script := Script("n", false, hinted)
	// Every prefetched file or directory is answered inline when it can.
	if n, want := strings.Count(script, "if [ -n \"$_tok\" ]"), len(paths)-2; n != want {
		t.Errorf("script has %d inline sections, want %d", n, want)
	}
	if n := strings.Count(script, "_tps "); n != 1 {
		t.Errorf("script runs the stat prefetch %d times, want 1", n)
	}
}

// TestFactsMatchCommands: the facts read from /proc and /etc/passwd
// without a process are what uname and id say, for the test's own user
// and, when the test runs as root, for nobody (setpriv).
func TestFactsMatchCommands(t *testing.T) {
	sh := func(args ...string) string {
		out, err := exec.Command(args[0], args[1:]...).Output()
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	type who struct {
		name   string
		prefix []string // runs the probe as the user
	}
	users := []who{{name: "self"}}
	if os.Geteuid() == 0 {
		if _, err := exec.LookPath("setpriv"); err != nil {
			t.Fatal("setpriv (util-linux) is needed to check the facts of another user as root")
		}
		users = append(users, who{name: "nobody", prefix: []string{"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"}})
	}
	for _, u := range users {
		t.Run(u.name, func(t *testing.T) {
			script := Script("f4cts", true, nil)
			args := append(append([]string{}, u.prefix...), "/bin/sh", "-c", script)
			cmd := exec.Command(args[0], args[1:]...)
			cmd.Dir = "/"
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			res, err := Parse("f4cts", true, nil, out)
			if err != nil {
				t.Fatal(err)
			}
			id := append(append([]string{}, u.prefix...), "id")
			want := Facts{
				Kernel:   strings.ToLower(sh("uname", "-s")),
				Hostname: sh("uname", "-n"),
				Arch:     sh("uname", "-m"),
				User:     sh(append(id, "-un")...),
			}
			want.UID, _ = strconv.Atoi(sh(append(id, "-u")...))
			got := Facts{Kernel: res.Facts.Kernel, Hostname: res.Facts.Hostname, Arch: res.Facts.Arch, User: res.Facts.User, UID: res.Facts.UID}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("facts (-uname/id +probe):\n%s", d)
			}
		})
	}
}

// TestPrefetchLargeFiles: when a prefetched file is 1 MiB or more, the
// digests come from one openssl (faster on large files) and equal what
// the fragments' own sha256sum says, for names with spaces and quotes
// too; an openssl that fails leaves every fragment to its own command,
// with the same answers.
func TestPrefetchLargeFiles(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	dir := t.TempDir()
	var paths []string
	for name, size := range map[string]int{"big": 2 << 20, "big it's here": 1 << 20, "small": 10, "empty": 0} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, bytes.Repeat([]byte(name), size/len(name)+1)[:size], 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var hinted, plain []Fragment
	for i, p := range paths {
		cfg := cty.ObjectVal(map[string]cty.Value{"path": cty.StringVal(p)})
		f := For(fmt.Sprintf("r%d", i), resources.File{}, cfg, nil)
		hinted = append(hinted, f)
		f.Path, f.Hash, f.Inline = "", false, ""
		plain = append(plain, f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	want, err := Run(ctx, local.New(), false, plain)
	if err != nil {
		t.Fatal(err)
	}
	for _, broken := range []bool{false, true} {
		bin, log := t.TempDir(), filepath.Join(t.TempDir(), "log")
		for _, c := range []string{"openssl", "sha256sum"} {
			real, err := exec.LookPath(c)
			if err != nil {
				t.Fatal(err)
			}
			run := "exec '" + real + "' \"$@\"\n"
			if broken && c == "openssl" {
				run = "exit 1\n"
			}
			wrapper := "#!/bin/sh\necho " + c + " >> '" + log + "'\n" + run
			if err := os.WriteFile(filepath.Join(bin, c), []byte(wrapper), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
		got, err := Run(ctx, local.New(), false, hinted)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("broken openssl %v: prefetched probe differs (-own commands +prefetched):\n%s", broken, diff)
		}
		calls, _ := os.ReadFile(log)
		wantSums := 0
		if broken {
			wantSums = len(paths) // each fragment's own
		}
		if n, m := strings.Count(string(calls), "openssl"), strings.Count(string(calls), "sha256sum"); n != 1 || m != wantSums {
			t.Errorf("broken openssl %v: openssl ran %d times and sha256sum %d, want 1 and %d", broken, n, m, wantSums)
		}
	}
	if want.Outputs["r0"].Values["sha256"] == "" {
		t.Errorf("probe read nothing: %+v", want.Outputs)
	}
}
