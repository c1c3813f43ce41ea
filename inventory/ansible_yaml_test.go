package inventory

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestYAMLInventory(t *testing.T) {
	tests := map[string]struct {
		src  string
		want map[string]hostSummary
	}{
		"all with hosts, vars and children": {
			src: `
all:
  vars: {ntp: pool, on: yes} # "on" is YAML 1.1's true: the var is named "true"
  hosts:
    bastion: {ansible_port: 2222}
  children:
    web:
      hosts:
        web[1:2]:
        web3: {tier: front}
      vars: {tier: back}
      children:
        web_eu:
          hosts: {web4: }
`,
			want: map[string]hostSummary{
				"bastion": {Groups: []string{"all", "ungrouped"}, Vars: map[string]string{"ntp": `"pool"`, "true": "true"}},
				"web1":    {Groups: []string{"all", "web"}, Vars: map[string]string{"ntp": `"pool"`, "true": "true", "tier": `"back"`}},
				"web2":    {Groups: []string{"all", "web"}, Vars: map[string]string{"ntp": `"pool"`, "true": "true", "tier": `"back"`}},
				"web3":    {Groups: []string{"all", "web"}, Vars: map[string]string{"ntp": `"pool"`, "true": "true", "tier": `"front"`}},
				"web4":    {Groups: []string{"all", "web", "web_eu"}, Vars: map[string]string{"ntp": `"pool"`, "true": "true", "tier": `"back"`}},
			},
		},
		"sections written as strings": {
			src: "top:\n  children: kid\nkid:\n  hosts: h1\n  vars: flag\n",
			want: map[string]hostSummary{
				"h1": {Groups: []string{"all", "kid", "top"}, Vars: map[string]string{"flag": "null"}},
			},
		},
		"group priority and depth": {
			src: `
a: {hosts: {h: }, vars: {x: a, ansible_group_priority: 3}}
b: {hosts: {h: }, vars: {x: b, y: b}}
c: {hosts: {h: }, vars: {y: c}}
`,
			want: map[string]hostSummary{
				// a has the highest priority; of b and c (priority 1) c is later.
				"h": {Groups: []string{"a", "all", "b", "c"}, Vars: map[string]string{"x": `"a"`, "y": `"c"`}},
			},
		},
		"a group in several places": {
			src: `
prod: {children: {web: }}
staging: {children: {web: {hosts: {w2: }}}}
web: {hosts: {w1: }}
`,
			want: map[string]hostSummary{
				"w1": {Groups: []string{"all", "prod", "staging", "web"}, Vars: map[string]string{}},
				"w2": {Groups: []string{"all", "prod", "staging", "web"}, Vars: map[string]string{}},
			},
		},
		"falsy host vars are none": {
			src:  "g:\n  hosts:\n    h1: ''\n    h2: 0\n",
			want: map[string]hostSummary{"h1": {Groups: []string{"all", "g"}, Vars: map[string]string{}}, "h2": {Groups: []string{"all", "g"}, Vars: map[string]string{}}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			inv := mustLoadSources(t, map[string]string{"inv.yml": tc.src}, "inv.yml")
			if diff := cmp.Diff(tc.want, summarize(t, inv)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestYAMLInventoryErrors(t *testing.T) {
	tests := map[string]struct {
		src    string
		want   []string
		detail string
	}{
		"hosts as a list":         {"web:\n  hosts:\n    - web1\n", []string{"inv.yml:3,5: Invalid YAML inventory"}, `Invalid "hosts" entry for "web" group, requires a dictionary, found "list" instead.`},
		"a number as host name":   {"web:\n  hosts:\n    10:\n", []string{"inv.yml:3,5: Invalid YAML inventory"}, "Host pattern 10 must be a string"},
		"a number as group name":  {"10:\n  hosts: {h: }\n", []string{"inv.yml:1,1: Invalid YAML inventory"}, "group names must be strings"},
		"plugin configuration":    {"plugin: amazon.aws.aws_ec2\nregions: [eu-west-1]\n", []string{"inv.yml:1,9: Inventory plugins are not supported"}, "exec ansible-inventory -i"},
		"empty file":              {"# nothing\n", []string{"inv.yml:1,1: Invalid YAML inventory"}, "empty"},
		"not a mapping":           {"- a\n- b\n", []string{"inv.yml:1,1: Invalid YAML inventory"}, "not a list"},
		"host vars not a mapping": {"web:\n  hosts:\n    h: [1]\n", []string{"inv.yml:3,8: Invalid YAML inventory"}, "expected a mapping of variables"},
		"syntax error":            {"web:\n  hosts: [\n", []string{"inv.yml:1,1: Invalid YAML inventory"}, ""},
		"vault value":             {"web:\n  vars:\n    pw: !vault |\n      $ANSIBLE_VAULT;1.1;AES256\n      6162\n", []string{"inv.yml:3,9: Invalid YAML inventory"}, "Ansible Vault"},
		"vault file":              {"$ANSIBLE_VAULT;1.1;AES256\n616263\n", []string{"inv.yml:1,1: Cannot decrypt inventory"}, "is encrypted with Ansible Vault; give --vault-password-file or --vault-id"},
		"unexpected key":          {"web:\n  hots: {h: }\n", []string{"inv.yml:2,3: warning: Ignored YAML inventory entry"}, `Skipping unexpected key (hots) in group (web)`},
		"not a group":             {"web: 1\n", []string{"inv.yml:1,1: warning: Ignored YAML inventory entry"}, `Skipping "web" as this is not a valid group definition`},
		"scalar in a group":       {"web:\n  note: hi\n", []string{"inv.yml:2,3: warning: Ignored YAML inventory entry"}, "it is a str"},
		"children cycle":          {"a: {children: {b: {children: {a: }}}}\n", []string{"inv.yml:1,16: Group cycle"}, "b -> a -> b"},
		"undefined child skipped": {"a:\n  children:\n    b: 1\n", []string{"inv.yml:3,5: warning: Ignored YAML inventory entry", "inv.yml:3,5: Invalid YAML inventory"}, ""},
		"bad range":               {"web:\n  hosts:\n    web[1:]:\n", []string{"inv.yml:3,5: Invalid YAML inventory"}, "must specify end value"},
		"bad priority":            {"web:\n  hosts: {h: }\n  vars: {ansible_group_priority: [1]}\n", []string{"inv.yml:3,10: Invalid ansible_group_priority"}, ""},
		"two documents":           {"a: {}\n---\nb: {}\n", []string{"inv.yml:1,1: Invalid YAML inventory"}, "single document"},
		"unknown tag":             {"a:\n  vars: {x: !custom 1}\n", []string{"inv.yml:2,13: Invalid YAML inventory"}, "constructor"},
		"toml":                    {"", nil, ""}, // see TestFormatDetection
	}
	for name, tc := range tests {
		if tc.src == "" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			dir := writeTree(t, map[string]string{"inv.yml": tc.src})
			_, diags := loadSources(t, dir, Options{}, "inv.yml")
			if diff := cmp.Diff(tc.want, diagStrings(dir, diags)); diff != "" {
				t.Fatalf("diagnostics (-want +got):\n%s\n%s", diff, diags.Error())
			}
			if !strings.Contains(diags[0].Detail, tc.detail) {
				t.Errorf("detail %q does not contain %q", diags[0].Detail, tc.detail)
			}
		})
	}
}
