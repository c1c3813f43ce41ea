package inventory

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// script returns a /bin/sh dynamic inventory that prints list for
// --list and answers --host from the case arms in host ("NAME) echo ...;;").
func script(list, host string) string {
	return "#!/bin/sh\ncase \"$1\" in\n--list)\ncat <<'JSON'\n" + list + "\nJSON\n;;\n--host)\ncase \"$2\" in\n" + host + "\nesac\n;;\nesac\n"
}

func TestScript(t *testing.T) {
	tests := map[string]struct {
		script string
		want   map[string]hostSummary
	}{
		"groups, children, _meta": {
			script: script(`{
  "web": {"hosts": ["w1", "w2"], "vars": {"port": 80}},
  "db": ["d1"],
  "prod": {"children": ["web", "db"], "vars": {"env": "prod"}},
  "all": {"vars": {"region": "eu"}},
  "_meta": {"hostvars": {"w1": {"x": [1, null], "port": 8080}, "ghost": {"y": 1}}}
}`, `*) echo "--host must not run" >&2; exit 1;;`),
			want: map[string]hostSummary{
				"w1": {Groups: []string{"all", "prod", "web"}, Vars: map[string]string{"port": "8080", "x": "[1,null]", "env": `"prod"`, "region": `"eu"`}},
				"w2": {Groups: []string{"all", "prod", "web"}, Vars: map[string]string{"port": "80", "env": `"prod"`, "region": `"eu"`}},
				"d1": {Groups: []string{"all", "db", "prod"}, Vars: map[string]string{"env": `"prod"`, "region": `"eu"`}},
			},
		},
		"a group of vars only is a host": {
			script: script(`{"solo": {"ansible_host": "10.0.0.9", "note": "n"}, "_meta": {"hostvars": {}}}`, ""),
			want: map[string]hostSummary{
				"solo": {Groups: []string{"all", "solo"}, Vars: map[string]string{"note": `"n"`}},
			},
		},
		"without _meta, --host per host, JSON or YAML": {
			script: script(`{"app": ["a1", "a2", "a3"]}`,
				`a1) echo '{"role": "primary"}';;
a2) printf 'flag: yes\nmode: 0755\n';;
a3) echo '';;`),
			want: map[string]hostSummary{
				"a1": {Groups: []string{"all", "app"}, Vars: map[string]string{"role": `"primary"`}},
				"a2": {Groups: []string{"all", "app"}, Vars: map[string]string{"flag": "true", "mode": "493"}},
				"a3": {Groups: []string{"all", "app"}, Vars: map[string]string{}},
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			inv := mustLoadSources(t, map[string]string{"inv.sh*": tc.script}, "inv.sh")
			if diff := cmp.Diff(tc.want, summarize(t, inv)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	t.Run("connection vars", func(t *testing.T) {
		inv := mustLoadSources(t, map[string]string{"inv.sh*": script(`{"g": {"hosts": ["h"], "vars": {"ansible_user": "ops"}}, "_meta": {"hostvars": {"h": {"ansible_host": "10.1.2.3", "ansible_port": "2222"}}}}`, "")}, "inv.sh")
		h := inv.Host("h")
		if h.Address != "10.1.2.3" || h.Port != 2222 || h.User != "ops" {
			t.Errorf("h = %s:%d as %q, want 10.1.2.3:2222 as ops", h.Address, h.Port, h.User)
		}
	})
}

func TestScriptErrors(t *testing.T) {
	tests := map[string]struct {
		files  map[string]string
		source string
		detail []string // substrings of the first error's detail
	}{
		"exits non-zero": {
			files:  map[string]string{"inv.sh*": "#!/bin/sh\necho 'cloud API: 403 Forbidden' >&2\nexit 3\n"},
			detail: []string{"inv.sh --list failed (exit status 3)", "cloud API: 403 Forbidden"},
		},
		"prints invalid JSON": {
			files:  map[string]string{"inv.sh*": "#!/bin/sh\necho '{\"web\": [}'\n"},
			detail: []string{"inv.sh --list did not print valid JSON"},
		},
		"prints a list": {
			files:  map[string]string{"inv.sh*": "#!/bin/sh\necho '[1]'\n"},
			detail: []string{"must print a JSON object of groups, not a list"},
		},
		"bad host list": {
			files:  map[string]string{"inv.sh*": "#!/bin/sh\necho '{\"web\": {\"hosts\": \"w1\"}}'\n"},
			detail: []string{`group "web" has bad data for the host list`},
		},
		"bad vars": {
			files:  map[string]string{"inv.sh*": "#!/bin/sh\necho '{\"web\": {\"hosts\": [\"w\"], \"vars\": [1]}}'\n"},
			detail: []string{`group "web" has bad data for variables`},
		},
		"bad hostvars": {
			files:  map[string]string{"inv.sh*": "#!/bin/sh\necho '{\"web\": [\"w\"], \"_meta\": {\"hostvars\": {\"w\": [1]}}}'\n"},
			detail: []string{`the vars of host "w" must be an object`},
		},
		"--host fails": {
			files:  map[string]string{"inv.sh*": script(`{"web": ["w"]}`, `w) echo 'no such host' >&2; exit 1;;`)},
			detail: []string{"inv.sh --host w failed", "no such host"},
		},
		"--host prints garbage": {
			files:  map[string]string{"inv.sh*": script(`{"web": ["w"]}`, `w) echo '{: :';;`)},
			detail: []string{"could not parse the output of", "--host w"},
		},
		"cycle": {
			files:  map[string]string{"inv.sh*": "#!/bin/sh\necho '{\"a\": {\"children\": [\"b\"]}, \"b\": {\"children\": [\"a\"]}}'\n"},
			detail: []string{"recursive dependency loop: a -> b -> a"},
		},
		"a #! file that is not executable": {
			files:  map[string]string{"inv.sh": "#!/bin/sh\necho '{}'\n"},
			detail: []string{"is not executable", "chmod +x"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := writeTree(t, tc.files)
			_, diags := loadSources(t, dir, Options{}, "inv.sh")
			if !diags.HasErrors() {
				t.Fatalf("want an error, got %v", diags)
			}
			detail := strings.ReplaceAll(diags[0].Detail, dir+"/", "")
			for _, want := range tc.detail {
				if !strings.Contains(detail, want) {
					t.Errorf("detail %q does not contain %q", detail, want)
				}
			}
		})
	}
}

func TestScriptTimeout(t *testing.T) {
	dir := writeTree(t, map[string]string{"slow.sh*": "#!/bin/sh\nsleep 30\n"})
	start := time.Now()
	_, diags := loadSources(t, dir, Options{ScriptTimeout: 200 * time.Millisecond}, "slow.sh")
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("took %s: the timeout did not stop the script", elapsed)
	}
	if !diags.HasErrors() || !strings.Contains(diags[0].Detail, "did not finish within 200ms") {
		t.Errorf("want a timeout error, got %v", diags)
	}
}

func TestScriptCancel(t *testing.T) {
	dir := writeTree(t, map[string]string{"slow.sh*": "#!/bin/sh\nsleep 30\n"})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, diags := LoadContext(ctx, []string{dir + "/slow.sh"}, Options{})
	if !diags.HasErrors() || !strings.Contains(diags[0].Detail, "context deadline exceeded") {
		t.Errorf("want a cancellation error, got %v", diags)
	}
}

// TestExecutableStaticFile checks that an executable file that is not a
// program (no #!) is read as a static inventory, as Ansible does.
func TestExecutableStaticFile(t *testing.T) {
	inv := mustLoadSources(t, map[string]string{"hosts*": "[web]\nweb1\n", "inv.yml*": "g: {hosts: {y1: }}\n"}, "hosts", "inv.yml")
	if diff := cmp.Diff([]string{"web1: all web", "y1: all g"}, groupsOf(inv)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
