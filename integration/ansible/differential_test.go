package ansible

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/tendhq/tend/integration/lab"
	"github.com/tendhq/tend/inventory"
	"github.com/tendhq/tend/resources"
)

// corpus is the directory of cases: each holds "sources" (one -i source
// a line, relative to the case; a line with a comma is a host list),
// "patterns" (one host pattern a line; {dir} is the case directory) and
// the inventory files.
const corpus = "testdata"

func TestDifferential(t *testing.T) {
	lab.Required(t)
	for _, tool := range []string{"ansible", "ansible-inventory"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("TEND_LAB=1 but %s is not installed: run integration/scripts/ansible-deps.sh", tool)
		}
	}
	out, err := exec.Command("ansible", "--version").Output()
	if err != nil {
		t.Fatalf("ansible --version: %v", err)
	}
	t.Logf("comparing with %s", strings.SplitN(string(out), "\n", 2)[0])

	entries, err := os.ReadDir(corpus)
	if err != nil {
		t.Fatal(err)
	}
	// Each ansible run costs most of a second of Python start-up; run a
	// few at once.
	sem := make(chan struct{}, max(2, runtime.NumCPU()))
	var dirs, cases, patterns, hosts, vars atomic.Int64
	t.Run("corpus", func(t *testing.T) {
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			dirs.Add(1)
			t.Run(e.Name(), func(t *testing.T) {
				t.Parallel()
				cases.Add(1)
				c := newCase(t, filepath.Join(corpus, e.Name()))
				c.sem = sem
				nh, nv := c.compareInventory()
				hosts.Add(int64(nh))
				vars.Add(int64(nv))
				patterns.Add(int64(c.comparePatterns()))
			})
		}
	})
	t.Logf("corpus: %d inventories, %d hosts, %d host vars, %d patterns compared with Ansible",
		cases.Load(), hosts.Load(), vars.Load(), patterns.Load())
	if cases.Load() == dirs.Load() && (cases.Load() < 10 || patterns.Load() < 40) {
		t.Errorf("the corpus shrank: %d inventories and %d patterns, want at least 10 and 40", cases.Load(), patterns.Load())
	}
}

type diffCase struct {
	t        *testing.T
	dir      string   // a copy of the case, so scripts can be made executable
	sources  []string // -i arguments
	patterns []string
	inv      *inventory.Inventory
	env      []string
	cwd      string // empty: no playbook-adjacent group_vars
	sem      chan struct{}
	// vaultArgs are --vault-id and --vault-password-file arguments for
	// Ansible; tend gets the same through inventory.Options.Vault.
	vaultArgs []string
}

func newCase(t *testing.T, src string) *diffCase {
	t.Helper()
	dir := filepath.Join(t.TempDir(), filepath.Base(src))
	if err := copyTree(src, dir); err != nil {
		t.Fatal(err)
	}
	c := &diffCase{t: t, dir: dir, cwd: t.TempDir()}
	for _, line := range readLines(t, filepath.Join(dir, "sources")) {
		if strings.Contains(line, ",") {
			c.sources = append(c.sources, line)
		} else {
			c.sources = append(c.sources, filepath.Join(dir, line))
		}
	}
	for _, line := range readLines(t, filepath.Join(dir, "patterns")) {
		c.patterns = append(c.patterns, strings.ReplaceAll(line, "{dir}", dir))
	}
	c.setEnv()
	c.load(inventory.Options{})
	return c
}

// setEnv sets the environment Ansible runs with.
func (c *diffCase) setEnv() {
	t := c.t
	// An empty configuration, so no ansible.cfg of the machine applies.
	home := t.TempDir()
	cfg := filepath.Join(home, "ansible.cfg")
	if err := os.WriteFile(cfg, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c.env = append(os.Environ(),
		"ANSIBLE_CONFIG="+cfg,
		"ANSIBLE_HOME="+home,
		"ANSIBLE_LOCAL_TEMP="+filepath.Join(home, "tmp"),
		"ANSIBLE_NOCOLOR=1",
		"ANSIBLE_LOCALHOST_WARNING=False",
		"ANSIBLE_DEPRECATION_WARNINGS=False",
	)
}

// load reads the case's sources with tend.
func (c *diffCase) load(opts inventory.Options) {
	t := c.t
	inv, diags := inventory.LoadContext(context.Background(), c.sources, opts)
	for _, d := range diags {
		t.Logf("tend: %s", d)
	}
	if diags.HasErrors() {
		t.Fatalf("tend could not load %v: %s", c.sources, diags.Error())
	}
	c.inv = inv
}

// readLines returns the non-blank lines of a file that do not start
// with "#".
func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, line)
	}
	return out
}

// copyTree copies a case; files starting with #! become executable (git
// may not keep the mode).
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		mode := fs.FileMode(0o644)
		if bytes.HasPrefix(b, []byte("#!")) {
			mode = 0o755
		}
		return os.WriteFile(target, b, mode)
	})
}

func (c *diffCase) ansible(args ...string) (stdout, stderr string, err error) {
	c.sem <- struct{}{}
	defer func() { <-c.sem }()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir, cmd.Env = c.cwd, c.env
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

func (c *diffCase) inventoryArgs() []string {
	var args []string
	for _, s := range c.sources {
		args = append(args, "-i", s)
	}
	return append(args, c.vaultArgs...)
}

// ansibleList is what `ansible-inventory --list` prints.
// Templates in hostvars are replaced by what Ansible renders them to
// (render); renderErrors are the variables Ansible cannot render.
type ansibleList struct {
	groups       map[string]ansibleGroup
	hostvars     map[string]map[string]any
	renderErrors map[string]map[string]string
}

type ansibleGroup struct {
	Hosts    []string `json:"hosts"`
	Children []string `json:"children"`
}

func (c *diffCase) list() ansibleList {
	t := c.t
	out, stderr, err := c.ansible(append([]string{"ansible-inventory"}, append(c.inventoryArgs(), "--list")...)...)
	if err != nil {
		t.Fatalf("ansible-inventory --list: %v\n%s", err, stderr)
	}
	if strings.Contains(stderr, "Unable to parse") || strings.Contains(stderr, "Failed to parse") {
		t.Fatalf("Ansible could not parse a source of this case:\n%s", stderr)
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(out))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		t.Fatalf("ansible-inventory output: %v\n%s", err, out)
	}
	l := ansibleList{groups: map[string]ansibleGroup{}, hostvars: map[string]map[string]any{}, renderErrors: map[string]map[string]string{}}
	templates := map[string][]string{}
	for name, v := range raw {
		if name == "_meta" {
			var meta struct {
				Hostvars map[string]map[string]json.RawMessage `json:"hostvars"`
			}
			if err := json.Unmarshal(v, &meta); err != nil {
				t.Fatal(err)
			}
			for h, hv := range meta.Hostvars {
				b, _ := json.Marshal(hv)
				l.hostvars[h] = c.decryptValues(decodeObject(t, b)).(map[string]any)
				for k, raw := range hv {
					if isTemplate(string(raw)) {
						templates[h] = append(templates[h], k)
					}
				}
			}
			continue
		}
		var g ansibleGroup
		if err := json.Unmarshal(v, &g); err != nil {
			t.Fatalf("group %s: %v", name, err)
		}
		l.groups[name] = g
	}
	if len(templates) > 0 {
		c.render(l, templates)
	}
	return l
}

// renderFailed stands in hostvars for a variable Ansible cannot render
// (compareInventory checks tend has no value for it either).
type renderFailed struct{}

// isTemplate is what makes Ansible template a string.
func isTemplate(s string) bool {
	return strings.Contains(s, "{{") || strings.Contains(s, "{%") || strings.Contains(s, "{#")
}

// render replaces the templates among l's hostvars by what Ansible
// renders them to, with ansible_render.py, and checks one value per
// host against the real ansible command's debug module.
func (c *diffCase) render(l ansibleList, templates map[string][]string) {
	t := c.t
	python, err := ansiblePython()
	if err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs("ansible_render.py")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := json.Marshal(map[string]any{"sources": c.sources, "hosts": templates})
	c.sem <- struct{}{}
	cmd := exec.Command(python, script)
	cmd.Dir, cmd.Env = c.cwd, c.env
	cmd.Stdin = bytes.NewReader(req)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	<-c.sem
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", python, script, err, stderr.String())
	}
	var rendered map[string]map[string]struct {
		Value json.RawMessage `json:"value"`
		Error string          `json:"error"`
	}
	if err := json.Unmarshal(out, &rendered); err != nil {
		t.Fatalf("ansible_render.py: %v\n%s", err, out)
	}
	var hosts []string
	for h := range templates {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	for i, h := range hosts {
		for _, k := range templates[h] {
			r, ok := rendered[h][k]
			switch {
			case !ok:
				t.Fatalf("ansible_render.py did not render %s of %s", k, h)
			case r.Error != "":
				if l.renderErrors[h] == nil {
					l.renderErrors[h] = map[string]string{}
				}
				l.renderErrors[h][k] = r.Error
				l.hostvars[h][k] = renderFailed{}
			default:
				l.hostvars[h][k] = decodeAny(t, r.Value)
			}
		}
		// The library's rendering is what the ansible command does
		// (checked on the first and last hosts: each run costs seconds).
		if i != 0 && i != len(hosts)-1 {
			continue
		}
		sort.Strings(templates[h])
		k := templates[h][0]
		if _, failed := l.renderErrors[h][k]; failed {
			k = templates[h][len(templates[h])-1]
		}
		if _, failed := l.renderErrors[h][k]; failed {
			continue
		}
		if got := c.debugVar(h, k); !jsonEqual(l.hostvars[h][k], got) {
			t.Errorf("host %s: %s: ansible_render.py says %s, the ansible command %s", h, k, show(l.hostvars[h][k]), show(got))
		}
	}
}

// debugVar is what `ansible HOST -m debug -a var=NAME` prints
// ("HOST | SUCCESS => {JSON}").
func (c *diffCase) debugVar(host, name string) any {
	t := c.t
	args := append([]string{"ansible", host}, c.inventoryArgs()...)
	args = append(args, "-m", "debug", "-a", "var="+name)
	stdout, stderr, err := c.ansible(args...)
	_, body, ok := strings.Cut(stdout, host+" | SUCCESS => ")
	if err != nil || !ok {
		t.Fatalf("%s: %v\n%s%s", strings.Join(args, " "), err, stdout, stderr)
	}
	var res map[string]json.RawMessage
	if err := json.NewDecoder(strings.NewReader(body)).Decode(&res); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, stdout)
	}
	v, ok := res[name]
	if !ok {
		t.Fatalf("%s printed no %s:\n%s", strings.Join(args, " "), name, stdout)
	}
	return decodeAny(t, v)
}

func decodeAny(t *testing.T, b []byte) any {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return unwrapUnsafe(v)
}

func decodeObject(t *testing.T, b []byte) map[string]any {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return unwrapUnsafe(m).(map[string]any)
}

// unwrapUnsafe replaces {"__ansible_unsafe": X}, which is how
// ansible-inventory prints a !unsafe value, with X.
func unwrapUnsafe(v any) any {
	switch v := v.(type) {
	case map[string]any:
		if u, ok := v["__ansible_unsafe"]; ok && len(v) == 1 {
			return u
		}
		for k, x := range v {
			v[k] = unwrapUnsafe(x)
		}
	case []any:
		for i, x := range v {
			v[i] = unwrapUnsafe(x)
		}
	}
	return v
}

// decryptValues replaces {"__ansible_vault": TEXT}, which is how
// ansible-inventory prints an inline !vault value, with what
// ansible-vault decrypts TEXT to, with the case's vault arguments.
func (c *diffCase) decryptValues(v any) any {
	switch v := v.(type) {
	case map[string]any:
		if text, ok := v["__ansible_vault"].(string); ok && len(v) == 1 {
			return c.ansibleVaultDecrypt(text)
		}
		for k, x := range v {
			v[k] = c.decryptValues(x)
		}
	case []any:
		for i, x := range v {
			v[i] = c.decryptValues(x)
		}
	}
	return v
}

func (c *diffCase) ansibleVaultDecrypt(text string) string {
	c.sem <- struct{}{}
	defer func() { <-c.sem }()
	cmd := exec.Command("ansible-vault", append([]string{"decrypt", "--output", "-"}, c.vaultArgs...)...)
	cmd.Dir, cmd.Env = c.cwd, c.env
	cmd.Stdin = strings.NewReader(text)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		c.t.Fatalf("ansible-vault decrypt: %v\n%s", err, stderr.String())
	}
	return string(out)
}

// membership computes each host's groups (all included) from --list.
func (l ansibleList) membership() map[string][]string {
	hostsOf := map[string]map[string]bool{}
	var walk func(g string, seen map[string]bool) map[string]bool
	walk = func(g string, seen map[string]bool) map[string]bool {
		if hs, ok := hostsOf[g]; ok {
			return hs
		}
		hs := map[string]bool{}
		if seen[g] {
			return hs
		}
		seen[g] = true
		for _, h := range l.groups[g].Hosts {
			hs[h] = true
		}
		for _, c := range l.groups[g].Children {
			for h := range walk(c, seen) {
				hs[h] = true
			}
		}
		hostsOf[g] = hs
		return hs
	}
	out := map[string][]string{}
	for g := range l.groups {
		for h := range walk(g, map[string]bool{}) {
			out[h] = append(out[h], g)
		}
	}
	for h := range out {
		if !contains(out[h], "all") {
			out[h] = append(out[h], "all")
		}
		sort.Strings(out[h])
	}
	return out
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// compareInventory checks hosts, groups and vars against
// ansible-inventory --list; it returns how many hosts and vars it
// compared.
func (c *diffCase) compareInventory() (nhosts, nvars int) {
	t := c.t
	l := c.list()
	want := l.membership()
	got := map[string][]string{}
	for _, h := range c.inv.Hosts() {
		got[h.Name] = h.Groups
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("hosts and their groups (-ansible +tend):\n%s", diff)
	}
	for _, h := range c.inv.Hosts() {
		if _, ok := want[h.Name]; !ok {
			continue
		}
		nhosts++
		nvars += c.compareVars(h, l.hostvars[h.Name])
		for k, why := range l.renderErrors[h.Name] {
			// What Ansible cannot render, tend has no value for either.
			v, marks := h.Vars[k].Unmark()
			unresolved := false
			for m := range marks {
				if us, ok := m.(resources.UnresolvedSecret); ok && us.Var == k {
					unresolved = true
				}
			}
			if v.IsKnown() || !unresolved {
				t.Errorf("host %s: var %s = %#v; Ansible cannot render it (%s)", h.Name, k, h.Vars[k], why)
			}
		}
	}
	return nhosts, nvars
}

// setting is one Host field that Ansible connection variables set: the
// variables (the last defined wins, as in Ansible's plugins), the field's
// value as tend has it, and the value Ansible's variable means.
type setting struct {
	name  string
	vars  []string
	field func(h *inventory.Host) any
	want  func(v any) any
	unset any // the field's value when no variable sets it
}

func text(v any) any { return fmt.Sprint(v) }

func number(v any) any {
	n, _ := strconv.Atoi(fmt.Sprint(v))
	return n
}

func boolean(v any) any {
	switch strings.ToLower(fmt.Sprint(v)) {
	case "true", "yes", "on", "1", "y", "t":
		return true
	}
	return false
}

var settings = []setting{
	{"Address", []string{"ansible_host", "ansible_ssh_host"}, func(h *inventory.Host) any { return h.Address }, text, nil},
	{"Port", []string{"ansible_port", "ansible_ssh_port"}, func(h *inventory.Host) any { return h.Port }, number, 0},
	{"User", []string{"ansible_user", "ansible_ssh_user"}, func(h *inventory.Host) any { return h.User }, text, ""},
	{"Password", []string{"ansible_password", "ansible_ssh_pass", "ansible_ssh_password"}, func(h *inventory.Host) any { return h.Password }, text, ""},
	{"IdentityFile", []string{"ansible_private_key_file", "ansible_ssh_private_key_file"}, func(h *inventory.Host) any { return h.IdentityFile }, text, ""},
	{"Transport", []string{"ansible_connection"}, func(h *inventory.Host) any { return h.Transport }, func(v any) any {
		switch fmt.Sprint(v) {
		case "winrm", "psrp":
			return "winrm"
		case "local":
			return "local"
		}
		return "ssh"
	}, "ssh"},
	{"Become", []string{"ansible_become"}, func(h *inventory.Host) any { return h.Become }, boolean, false},
	{"BecomeUser", []string{"ansible_become_user", "ansible_sudo_user"}, func(h *inventory.Host) any { return h.BecomeUser }, text, ""},
	{"BecomePassword", []string{"ansible_become_password", "ansible_become_pass", "ansible_sudo_pass"}, func(h *inventory.Host) any { return h.BecomePassword }, text, ""},
	{"BecomeMethod", []string{"ansible_become_method"}, func(h *inventory.Host) any { return h.BecomeMethod }, text, ""},
	{"ShellType", []string{"ansible_shell_type"}, func(h *inventory.Host) any { return h.ShellType }, text, ""},
	{"SSH.StrictHostKeyChecking", []string{"ansible_host_key_checking", "ansible_ssh_host_key_checking"}, func(h *inventory.Host) any { return h.SSH.StrictHostKeyChecking }, func(v any) any {
		if boolean(v).(bool) {
			return "yes"
		}
		return "no"
	}, ""},
	{"WinRM.Auth", []string{"ansible_winrm_transport", "ansible_psrp_auth"}, func(h *inventory.Host) any { return h.WinRM.Auth }, text, ""},
	{"WinRM.Insecure", []string{"ansible_winrm_server_cert_validation", "ansible_psrp_cert_validation"}, func(h *inventory.Host) any { return h.WinRM.Insecure }, func(v any) any { return fmt.Sprint(v) == "ignore" }, false},
}

var (
	proxyJumpRE    = regexp.MustCompile(`(?:ProxyJump=|-J ?)(\S+)`)
	proxyCommandRE = regexp.MustCompile(`ProxyCommand="?ssh -W %h:%p (?:-q )?(\S+?)"?(?:\s|$)`)
)

// compareVars checks a host's vars and connection settings against
// Ansible's hostvars, and returns how many variables it compared.
func (c *diffCase) compareVars(h *inventory.Host, want map[string]any) int {
	t := c.t
	n := 0
	mapped := map[string]bool{}
	for _, s := range settings {
		winner := ""
		for _, v := range s.vars {
			mapped[v] = true
			if _, ok := want[v]; ok {
				winner = v
			}
		}
		wantVal := s.unset
		if s.name == "Address" {
			wantVal = h.Name
		}
		if winner != "" {
			wantVal = s.want(want[winner])
			n++
		}
		if got := s.field(h); !reflect.DeepEqual(got, wantVal) {
			t.Errorf("host %s: %s = %#v, want %#v (from %s = %#v)", h.Name, s.name, got, wantVal, winner, want[winner])
		}
	}
	if h.Transport == "winrm" {
		https := h.Port != 5985
		for _, v := range []string{"ansible_winrm_scheme", "ansible_psrp_protocol"} {
			mapped[v] = true
			if s, ok := want[v]; ok {
				https = s == "https"
			}
		}
		if h.WinRM.HTTPS != https || h.WinRM.User != h.User || h.WinRM.Password != h.Password {
			t.Errorf("host %s: WinRM = %+v, want HTTPS %v and the host's user and password", h.Name, h.WinRM, https)
		}
	}
	jump := ""
	for _, v := range []string{"ansible_ssh_args", "ansible_ssh_common_args", "ansible_ssh_extra_args"} {
		args, _ := want[v].(string)
		if m := proxyJumpRE.FindStringSubmatch(args); m != nil && jump == "" {
			jump = m[1]
		}
		if m := proxyCommandRE.FindStringSubmatch(args); m != nil && jump == "" {
			jump = m[1]
		}
	}
	if h.SSH.ProxyJump != jump {
		t.Errorf("host %s: SSH.ProxyJump = %q, want %q", h.Name, h.SSH.ProxyJump, jump)
	}

	for k, wv := range want {
		if mapped[k] {
			if _, ok := h.Vars[k]; ok {
				t.Errorf("host %s: connection variable %s is also in Vars", h.Name, k)
			}
			continue
		}
		if _, failed := wv.(renderFailed); failed {
			continue
		}
		n++
		gv, ok := h.Vars[k]
		if !ok {
			t.Errorf("host %s: var %s missing, Ansible has %s", h.Name, k, show(wv))
			continue
		}
		gv, _ = gv.UnmarkDeep() // vault values are marked sensitive
		b, err := ctyjson.SimpleJSONValue{Value: gv}.MarshalJSON()
		if err != nil {
			t.Errorf("host %s: var %s: %v", h.Name, k, err)
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var got any
		if err := dec.Decode(&got); err != nil {
			t.Fatal(err)
		}
		if !jsonEqual(wv, got) {
			t.Errorf("host %s: var %s = %s, Ansible has %s", h.Name, k, show(got), show(wv))
		}
	}
	for k := range h.Vars {
		if _, ok := want[k]; !ok {
			t.Errorf("host %s: var %s = %s is not in Ansible's hostvars", h.Name, k, show(h.Vars[k].GoString()))
		}
	}
	return n
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// jsonEqual compares decoded JSON values, numbers by value (Ansible
// writes 1000.0 where tend writes 1000).
func jsonEqual(a, b any) bool {
	switch a := a.(type) {
	case json.Number:
		bn, ok := b.(json.Number)
		if !ok {
			return false
		}
		x, _, err1 := big.ParseFloat(a.String(), 10, 256, big.ToNearestEven)
		y, _, err2 := big.ParseFloat(bn.String(), 10, 256, big.ToNearestEven)
		return err1 == nil && err2 == nil && x.Cmp(y) == 0
	case []any:
		bs, ok := b.([]any)
		if !ok || len(a) != len(bs) {
			return false
		}
		for i := range a {
			if !jsonEqual(a[i], bs[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok || len(a) != len(bm) {
			return false
		}
		for k, v := range a {
			if !jsonEqual(v, bm[k]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

// ansibleResult is what Ansible selects for a --limit pattern.
type ansibleResult struct {
	hosts     []string // sorted; empty when the limit leaves no hosts
	subscript bool     // "No hosts matched the subscripted pattern"
	unmatched []string // "Could not match supplied host pattern, ignoring: X"
	failed    bool     // any other error
	output    string
}

var (
	listHostsRE = regexp.MustCompile(`(?m)^  hosts \((\d+)\):$`)
	unmatchedRE = regexp.MustCompile(`Could not match supplied host pattern, ignoring: (.*)`)
)

// classify reads an error message and warnings into r.
func (r *ansibleResult) classify(errText, warnings string) {
	for _, m := range unmatchedRE.FindAllStringSubmatch(warnings, -1) {
		r.unmatched = append(r.unmatched, strings.TrimSpace(m[1]))
	}
	switch {
	case strings.Contains(errText, "No hosts matched the subscripted pattern"):
		r.subscript = true
	case strings.Contains(errText, "leaves us with no hosts to target"):
		r.hosts = []string{}
	case errText != "":
		r.failed = true
	}
}

// listHosts runs `ansible all -i ... --list-hosts --limit PATTERN`.
func (c *diffCase) listHosts(pattern string) ansibleResult {
	args := append([]string{"ansible", "all"}, c.inventoryArgs()...)
	args = append(args, "--list-hosts", "--limit", pattern)
	stdout, stderr, err := c.ansible(args...)
	r := ansibleResult{output: stdout + stderr}
	errText := ""
	if err != nil {
		errText = stderr
		if !strings.Contains(stderr, "ERROR!") {
			errText = err.Error() + ": " + stderr
		}
	}
	r.classify(errText, stderr)
	if errText != "" {
		return r
	}
	loc := listHostsRE.FindStringIndex(stdout)
	if loc == nil {
		r.failed = true
		return r
	}
	r.hosts = []string{}
	for _, line := range strings.Split(stdout[loc[1]:], "\n") {
		if h := strings.TrimSpace(line); h != "" {
			r.hosts = append(r.hosts, h)
		}
	}
	sort.Strings(r.hosts)
	return r
}

// selectAll evaluates every pattern of the case in one Python process
// with Ansible's own InventoryManager, making the calls the ansible CLI
// makes for --limit (see ansible_select.py).
func (c *diffCase) selectAll() []ansibleResult {
	t := c.t
	python, err := ansiblePython()
	if err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs("ansible_select.py")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := json.Marshal(map[string][]string{"sources": c.sources, "patterns": c.patterns})
	c.sem <- struct{}{}
	cmd := exec.Command(python, script)
	cmd.Dir, cmd.Env = c.cwd, c.env
	cmd.Stdin = bytes.NewReader(req)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	<-c.sem
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", python, script, err, stderr.String())
	}
	var raw []struct {
		Hosts    []string `json:"hosts"`
		Error    string   `json:"error"`
		Warnings []string `json:"warnings"`
	}
	if err := json.Unmarshal(out, &raw); err != nil || len(raw) != len(c.patterns) {
		t.Fatalf("ansible_select.py printed %d results for %d patterns (%v):\n%s", len(raw), len(c.patterns), err, out)
	}
	results := make([]ansibleResult, len(raw))
	for i, r := range raw {
		res := ansibleResult{output: fmt.Sprintf("error: %s; warnings: %s", r.Error, strings.Join(r.Warnings, "; "))}
		res.classify(r.Error, strings.Join(r.Warnings, "\n"))
		if r.Error == "" {
			res.hosts = append([]string{}, r.Hosts...)
			sort.Strings(res.hosts)
		}
		results[i] = res
	}
	return results
}

// ansiblePython is the interpreter the ansible command runs with.
func ansiblePython() (string, error) {
	path, err := exec.LookPath("ansible")
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	fields := strings.Fields(strings.TrimPrefix(line, "#!"))
	if !strings.HasPrefix(line, "#!") || len(fields) == 0 {
		return "", fmt.Errorf("%s has no #! line", path)
	}
	if filepath.Base(fields[0]) == "env" && len(fields) > 1 {
		return exec.LookPath(fields[1])
	}
	return fields[0], nil
}

// comparePatterns checks every pattern of the case and returns how many
// it compared. Ansible's selections come from selectAll; the first and
// last patterns also run through the real ansible command, which must
// agree with it.
func (c *diffCase) comparePatterns() int {
	t := c.t
	results := c.selectAll()
	for _, i := range []int{0, len(c.patterns) - 1} {
		cli := c.listHosts(c.patterns[i])
		lib := results[i]
		if cli.failed || lib.failed || cli.subscript != lib.subscript || !reflect.DeepEqual(cli.hosts, lib.hosts) {
			t.Errorf("pattern %q: the ansible command and ansible_select.py disagree:\ncommand: %s\nlibrary: %s", c.patterns[i], cli.output, lib.output)
		}
	}
	for i, p := range c.patterns {
		r := results[i]
		got, err := c.inv.SelectString(p)
		var unknown *inventory.UnknownNameError
		var sub *inventory.SubscriptError
		switch {
		case r.failed:
			t.Errorf("pattern %q: Ansible failed: %s", p, r.output)
		case r.subscript:
			if !errors.As(err, &sub) {
				t.Errorf("pattern %q: Ansible fails (no hosts matched the subscript), tend returns %v, %v", p, names(got), err)
			}
		case errors.As(err, &unknown):
			// tend's one deliberate difference: a name that is neither
			// host nor group is an error; Ansible ignores it with a
			// warning.
			if !contains(r.unmatched, unknown.Name) {
				t.Errorf("pattern %q: tend says %v, but Ansible matched %q (%s)", p, err, unknown.Name, r.output)
			}
		case err != nil:
			t.Errorf("pattern %q: tend: %v; Ansible selects %v", p, err, r.hosts)
		default:
			if diff := cmp.Diff(r.hosts, names(got)); diff != "" {
				t.Errorf("pattern %q selects (-ansible +tend):\n%s", p, diff)
			}
		}
	}
	return len(c.patterns)
}

func names(hs []*inventory.Host) []string {
	out := []string{}
	for _, h := range hs {
		out = append(out, h.Name)
	}
	sort.Strings(out)
	return out
}
