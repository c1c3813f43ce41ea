package docs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// tend is the binary the examples run, built once by TestMain.
var tend string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tend-docs-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tend = filepath.Join(dir, "tend")
	build := exec.Command("go", "build", "-o", tend, "github.com/tendhq/tend/cmd/tend")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building tend:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// block is one fenced example.
type block struct {
	page  string // relative to the repository, e.g. docs/inventory.md
	line  int    // of the opening fence
	lang  string
	attrs map[string]string // fragment, run, file=NAME
	text  string
}

func (b block) name() string { return fmt.Sprintf("%s:%d", b.page, b.line) }

var fenceRE = regexp.MustCompile("^( *)(```+)(.*)$")

// parseBlocks returns the fenced blocks of a Markdown file.
func parseBlocks(t *testing.T, root, page string) []block {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(root, page))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(src), "\n")
	var out []block
	for i := 0; i < len(lines); i++ {
		m := fenceRE.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		indent, fence := len(m[1]), m[2]
		words := strings.Fields(m[3])
		b := block{page: page, line: i + 1, attrs: map[string]string{}}
		if len(words) > 0 {
			b.lang = words[0]
			for _, w := range words[1:] {
				k, v, _ := strings.Cut(w, "=")
				b.attrs[k] = v
			}
		}
		var body []string
		closed := false
		for i++; i < len(lines); i++ {
			if strings.TrimSpace(lines[i]) == fence || (strings.HasPrefix(strings.TrimSpace(lines[i]), fence) && strings.Trim(strings.TrimSpace(lines[i]), "`") == "") {
				closed = true
				break
			}
			l := lines[i]
			if len(l) >= indent && strings.TrimSpace(l[:indent]) == "" {
				l = l[indent:]
			}
			body = append(body, l)
		}
		if !closed {
			t.Fatalf("%s:%d: unclosed code fence", page, b.line)
		}
		b.text = strings.Join(body, "\n") + "\n"
		out = append(out, b)
	}
	return out
}

// pages are README.md and docs/*.md.
func pages(t *testing.T, root string) []string {
	out := []string{"README.md"}
	matches, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range matches {
		out = append(out, filepath.Join("docs", filepath.Base(m)))
	}
	sort.Strings(out[1:])
	return out
}

// TestExamples runs every fenced example of README.md and docs/*.md as
// its info string says (see doc.go): the documentation is true or this
// test fails.
func TestExamples(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	checked, fragments := 0, 0
	for _, page := range pages(t, root) {
		files := map[string]string{} // file=NAME blocks so far on this page
		for _, b := range parseBlocks(t, root, page) {
			if b.lang == "" || b.lang == "text" || b.lang == "console" {
				continue // program output, not an example
			}
			if _, ok := b.attrs["fragment"]; ok {
				fragments++
				t.Logf("%s: %s fragment, not checked", b.name(), b.lang)
				continue
			}
			checked++
			// Examples before this one that name a file are beside it.
			beside := map[string]string{}
			for k, v := range files {
				beside[k] = v
			}
			t.Run(b.name(), func(t *testing.T) { check(t, root, b, beside) })
			if name := b.attrs["file"]; name != "" {
				files[name] = b.text
			}
		}
	}
	t.Logf("%d examples checked, %d fragments", checked, fragments)
	if checked < 15 {
		t.Errorf("only %d examples found: is the fence parsing broken?", checked)
	}
	if fragments*10 > checked {
		t.Errorf("%d fragments among %d examples: fragments are for the rare part of something larger", fragments, checked)
	}
}

func check(t *testing.T, root string, b block, beside map[string]string) {
	switch b.lang {
	case "hcl":
		checkHCL(t, b, beside)
	case "yaml":
		switch {
		case hasAttr(b, "rules"):
			checkPromRules(t, b)
		case hasAttr(b, "shipper"):
			checkYAML(t, b)
		default:
			checkAnsible(t, b, beside)
		}
	case "ini":
		checkAnsible(t, b, beside)
	case "json":
		checkJSON(t, b)
	case "sh":
		if _, ok := b.attrs["run"]; ok {
			runShell(t, root, b)
		} else {
			checkShell(t, root, b)
		}
	default:
		t.Fatalf("%s: no check for examples in %q (tag it fragment, or add a check)", b.name(), b.lang)
	}
}

// scratch is a directory holding the files examples name.
func scratch(t *testing.T, beside map[string]string) string {
	dir := t.TempDir()
	for name, text := range beside {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// runTend runs tend in dir with a scratch home; it returns the combined
// output and the exit status.
func runTend(t *testing.T, dir string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(tend, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "NO_COLOR=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return out.String(), ee.ExitCode()
	case err != nil:
		t.Fatalf("tend %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), 0
}

var (
	inventoryBlockRE = regexp.MustCompile(`(?m)^\s*(host|group|defaults)\b`)
	configBlockRE    = regexp.MustCompile(`(?m)^\s*(variable|role|rollout)\b`)
)

// checkHCL validates a configuration example, or reads an inventory
// example.
func checkHCL(t *testing.T, b block, beside map[string]string) {
	dir := scratch(t, beside)
	name := b.attrs["file"]
	inventory := inventoryBlockRE.MatchString(b.text) && !configBlockRE.MatchString(b.text)
	if name == "" {
		name = "example.hcl"
		if inventory {
			name = "inventory.hcl"
		}
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(b.text), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"validate", "-C", dir}
	if inventory {
		args = []string{"inventory", "-C", dir}
	}
	if out, code := runTend(t, dir, args...); code != 0 {
		t.Errorf("%s: tend %s: exit %d\n%s\n%s", b.name(), args[0], code, out, b.text)
	}
}

// checkAnsible reads an Ansible inventory example.
func checkAnsible(t *testing.T, b block, beside map[string]string) {
	dir := scratch(t, beside)
	name := b.attrs["file"]
	if name == "" {
		name = "hosts." + b.lang
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(b.text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := runTend(t, dir, "inventory", "-C", dir, "-i", name)
	if code != 0 || strings.Contains(out, "warning") {
		t.Errorf("%s: tend inventory -i %s: exit %d\n%s\n%s", b.name(), name, code, out, b.text)
	}
	if os.Getenv("TEND_LAB") == "1" {
		sameAsAnsible(t, b, dir, name)
	}
}

// sameAsAnsible checks that tend and ansible-inventory read an example
// inventory into the same hosts and groups.
func sameAsAnsible(t *testing.T, b block, dir, name string) {
	if _, err := exec.LookPath("ansible-inventory"); err != nil {
		t.Fatalf("TEND_LAB=1 but ansible-inventory is not installed: run integration/scripts/ansible-deps.sh")
	}
	cmd := exec.Command("ansible-inventory", "-i", name, "--list")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "ANSIBLE_CONFIG="+filepath.Join(dir, "none.cfg"), "ANSIBLE_HOME="+t.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || strings.Contains(stderr.String(), "Failed to parse") {
		t.Fatalf("%s: ansible-inventory: %v\n%s", b.name(), err, stderr.String())
	}
	var list map[string]struct {
		Hosts    []string `json:"hosts"`
		Children []string `json:"children"`
	}
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatal(err)
	}
	var members func(g string, seen map[string]bool) []string
	members = func(g string, seen map[string]bool) []string {
		if seen[g] {
			return nil
		}
		seen[g] = true
		hs := append([]string{}, list[g].Hosts...)
		for _, c := range list[g].Children {
			hs = append(hs, members(c, seen)...)
		}
		return hs
	}
	want := map[string][]string{}
	for g := range list {
		if g == "_meta" {
			continue
		}
		for _, h := range members(g, map[string]bool{}) {
			if !contains(want[h], g) {
				want[h] = append(want[h], g)
			}
		}
	}
	for h := range want {
		if !contains(want[h], "all") {
			want[h] = append(want[h], "all")
		}
		sort.Strings(want[h])
	}
	text, code := runTend(t, dir, "inventory", "-C", dir, "-i", name, "--json")
	if code != 0 {
		t.Fatalf("%s: tend inventory --json: exit %d\n%s", b.name(), code, text)
	}
	got := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		var m struct {
			Type string `json:"type"`
			Host struct {
				Name   string   `json:"name"`
				Groups []string `json:"groups"`
			} `json:"host"`
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%s: tend inventory --json: %v\n%s", b.name(), err, text)
		}
		if m.Type == "inventory_host" {
			got[m.Host.Name] = m.Host.Groups
		}
	}
	if fmt.Sprint(want) != fmt.Sprint(got) {
		t.Errorf("%s: hosts and groups differ from ansible-inventory's:\nansible: %v\ntend:    %v", b.name(), want, got)
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// checkJSON parses one document, or JSON lines.
func checkJSON(t *testing.T, b block) {
	if json.Valid([]byte(b.text)) {
		return
	}
	for i, line := range strings.Split(strings.TrimSpace(b.text), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("%s: neither one JSON document nor JSON lines (line %d: %s)", b.name(), i+1, line)
		}
	}
}

// logicalLines joins continued lines and drops blank and comment lines.
func logicalLines(text string) []string {
	var out []string
	cur := ""
	for _, l := range strings.Split(text, "\n") {
		if strings.HasSuffix(l, "\\") {
			cur += strings.TrimSuffix(l, "\\") + " "
			continue
		}
		l = cur + l
		cur = ""
		if s := strings.TrimSpace(l); s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		out = append(out, l)
	}
	return out
}

// splitWords splits a shell line into words: quotes are honoured, a #
// after white space starts a comment, nothing is expanded.
func splitWords(line string) ([]string, string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return nil, "", fmt.Errorf("unterminated quote")
			}
			cur.WriteString(line[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			j := strings.IndexByte(line[i+1:], '"')
			if j < 0 {
				return nil, "", fmt.Errorf("unterminated quote")
			}
			cur.WriteString(line[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '#' && !inWord:
			return words, strings.TrimSpace(line[i+1:]), nil
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, "", nil
}

var assignmentRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// checkShell checks a shell example without running it: each tend
// command line names a real command and real flags, and the files it
// runs exist; a script must parse.
func checkShell(t *testing.T, root string, b block) {
	if strings.HasPrefix(b.text, "#!") {
		cmd := exec.Command("sh", "-n")
		cmd.Stdin = strings.NewReader(b.text)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: sh -n: %v\n%s", b.name(), err, out)
		}
		return
	}
	for _, line := range logicalLines(b.text) {
		words, _, err := splitWords(line)
		if err != nil {
			t.Errorf("%s: %q: %v", b.name(), line, err)
			continue
		}
		for len(words) > 0 && (assignmentRE.MatchString(words[0]) || words[0] == "sudo") {
			words = words[1:]
		}
		switch {
		case len(words) == 0:
		case words[0] == "tend":
			args := append(words[1:], "--help")
			if out, code := runTend(t, t.TempDir(), args...); code != 0 {
				t.Errorf("%s: %q: the command or a flag does not exist (tend %s: exit %d)\n%s", b.name(), line, strings.Join(args, " "), code, out)
			}
		case words[0] == "bash" || words[0] == "sh" || (words[0] == "go" && len(words) > 2):
			path := words[len(words)-1]
			if _, err := os.Stat(filepath.Join(root, path)); err != nil {
				t.Errorf("%s: %q: %v", b.name(), line, err)
			}
		default:
			t.Errorf("%s: %q: no check for this command (tag the block fragment, or add one)", b.name(), line)
		}
	}
}

var exitRE = regexp.MustCompile(`#.*\bexit (\d+)\b`)

// runShell runs a `sh run` example line by line with tend on PATH, from
// a copy of the repository's examples, in a scratch home directory. A
// line's comment "exit N" is the status it must end with (else 0);
// RUN-ID stands for the newest run of the configuration the line names.
func runShell(t *testing.T, root string, b block) {
	work := t.TempDir()
	home := t.TempDir()
	if err := copyTree(filepath.Join(root, "examples"), filepath.Join(work, "examples")); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "HOME="+home, "NO_COLOR=1", "PATH="+filepath.Dir(tend)+string(os.PathListSeparator)+os.Getenv("PATH"))
	for _, line := range logicalLines(b.text) {
		want := 0
		if m := exitRE.FindStringSubmatch(line); m != nil {
			want, _ = strconv.Atoi(m[1])
		}
		if strings.Contains(line, "RUN-ID") {
			line = strings.ReplaceAll(line, "RUN-ID", newestRun(t, work, line))
		}
		cmd := exec.Command("sh", "-c", line)
		cmd.Dir, cmd.Env = work, env
		out, err := cmd.CombinedOutput()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != want {
			t.Fatalf("%s: %s\nexit %d, want %d:\n%s", b.name(), line, code, want, out)
		}
		t.Logf("%s (exit %d)", line, code)
	}
}

// newestRun is the newest journaled run of the configuration directory
// (-C DIR) a command line names.
func newestRun(t *testing.T, work, line string) string {
	words, _, _ := splitWords(line)
	dir := "."
	for i, w := range words {
		if (w == "-C" || w == "--chdir") && i+1 < len(words) {
			dir = words[i+1]
		}
	}
	entries, err := os.ReadDir(filepath.Join(work, dir, ".tend", "runs"))
	if err != nil || len(entries) == 0 {
		t.Fatalf("no run journaled in %s for %q: %v", dir, line, err)
	}
	// Run IDs start with the second they started; the journal written
	// last is the newest run.
	newest, at := "", time.Time{}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if info.ModTime().After(at) {
			newest, at = strings.TrimSuffix(e.Name(), filepath.Ext(e.Name())), info.ModTime()
		}
	}
	return newest
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() && d.Name() == ".tend" {
			return filepath.SkipDir
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
}

func hasAttr(b block, name string) bool {
	_, ok := b.attrs[name]
	return ok
}

// checkYAML parses a log shipper's configuration: YAML holding a
// mapping.
func checkYAML(t *testing.T, b block) {
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(b.text), &doc); err != nil || len(doc) == 0 {
		t.Errorf("%s: not a YAML mapping: %v", b.name(), err)
	}
}

// checkPromRules checks Prometheus rules with promtool check rules
// (Debian's prometheus package; required under TEND_LAB=1).
func checkPromRules(t *testing.T, b block) {
	checkYAML(t, b)
	bin, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("TEND_LAB") == "1" {
			t.Fatalf("%s: promtool is missing (integration/scripts/e2e-deps.sh installs it)", b.name())
		}
		t.Logf("%s: promtool is missing; rules only parsed as YAML", b.name())
		return
	}
	path := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(path, []byte(b.text), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "check", "rules", path).CombinedOutput(); err != nil {
		t.Errorf("%s: promtool check rules: %v\n%s", b.name(), err, out)
	}
}
