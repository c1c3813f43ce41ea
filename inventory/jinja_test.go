package inventory

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/resources"
)

// TestTemplatedConnectionVars checks the Jinja forms inventories use,
// rendered with the host's merged variables as Ansible renders them.
func TestTemplatedConnectionVars(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"hosts.yml": `all:
  vars:
    deploy_user: deploy
    ansible_user: "{{ deploy_user }}"
    ansible_host: "{{ inventory_hostname }}.corp"
    domain: example.com
  children:
    web:
      vars:
        ansible_port: "{{ web_port | default(2222) }}"
      hosts:
        web1.lan:
          deploy_user: alice
        web2.lan:
          web_port: 22022
          ansible_host: "{{ inventory_hostname_short ~ '-' ~ 'mgmt' }}.{{ domain }}"
    db:
      vars:
        ansible_become: true
        ansible_become_method: su
        ansible_become_password: "{{ vault_become_pass }}"
        vault_become_pass: s3cret
        ansible_become_user: "{{ db_admin | default('postgres') }}"
        fallback_user: "{{ missing | default(deploy_user) }}"
        empty_default: "{{ blank | default('x', true) }}"
        blank: ""
        groups_seen: "{{ group_names }}"
        unsafe: !unsafe "{{ not rendered }}"
      hosts:
        db1: {}
`,
	})
	inv, diags := loadSources(t, dir, Options{}, "hosts.yml")
	if diags.HasErrors() || len(diags) > 0 {
		t.Fatalf("diagnostics: %s", diags.Error())
	}
	type conn struct {
		Address, User, BecomeUser, BecomePassword, BecomeMethod string
		Port                                                    int
		Become                                                  bool
	}
	got := map[string]conn{}
	for _, h := range inv.Hosts() {
		got[h.Name] = conn{h.Address, h.User, h.BecomeUser, h.BecomePassword, h.BecomeMethod, h.Port, h.Become}
	}
	want := map[string]conn{
		"web1.lan": {Address: "web1.lan.corp", User: "alice", Port: 2222},
		"web2.lan": {Address: "web2-mgmt.example.com", User: "deploy", Port: 22022},
		"db1":      {Address: "db1.corp", User: "deploy", Become: true, BecomeUser: "postgres", BecomePassword: "s3cret", BecomeMethod: "su"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("connection settings (-want +got):\n%s", diff)
	}
	db := inv.Host("db1")
	vars := map[string]cty.Value{}
	for _, k := range []string{"fallback_user", "empty_default", "groups_seen", "unsafe"} {
		vars[k] = db.Vars[k]
	}
	wantVars := map[string]cty.Value{
		"fallback_user": cty.StringVal("deploy"),
		"empty_default": cty.StringVal("x"),
		"groups_seen":   cty.TupleVal([]cty.Value{cty.StringVal("db")}),
		"unsafe":        cty.StringVal("{{ not rendered }}"),
	}
	if diff := cmp.Diff(wantVars, vars, cmp.Comparer(func(a, b cty.Value) bool { return a.RawEquals(b) })); diff != "" {
		t.Errorf("vars (-want +got):\n%s", diff)
	}
}

// TestTemplateErrors checks that what tend does not render is an error
// naming the file, the line and the variable, for connection settings,
// and never literal text.
func TestTemplateErrors(t *testing.T) {
	tests := map[string]struct {
		vars string
		want []string // in the diagnostic, in order
	}{
		"undefined":        {"ansible_user: '{{ deploy_user }}'", []string{"hosts.yml:5,", "Cannot render template", `ansible_user = "{{ deploy_user }}" (` + "hosts.yml:5): \"deploy_user\" is undefined"}},
		"other filter":     {"ansible_user: '{{ u | upper }}'\n        u: x", []string{"hosts.yml:5,", `the filter "upper" (only default is) is not supported`}},
		"block":            {"ansible_host: '{% if x %}a{% endif %}'", []string{"hosts.yml:5,", "block is not supported"}},
		"lookup":           {"ansible_become_password: \"{{ lookup('env', 'PW') }}\"", []string{"hosts.yml:5,", "ansible_become_password", "lookup(...) is not supported"}},
		"attribute access": {"ansible_host: '{{ hostvars.h.x }}'", []string{"attribute and item access (.h.x) is not supported"}},
		"loop":             {"ansible_user: '{{ a }}'\n        a: '{{ b }}'\n        b: '{{ a }}'", []string{`ansible_user = "{{ a }}" (hosts.yml:5) uses a = "{{ b }}" (hosts.yml:6) uses b = "{{ a }}" (hosts.yml:7): a refers to itself`}},
		"nested failure":   {"ansible_user: 'x{{ a }}'\n        a: '{{ b | lower }}'", []string{`uses a = "{{ b | lower }}" (hosts.yml:6): the filter "lower"`}},
		"list in text":     {"ansible_user: 'x{{ a }}'\n        a: [1]", []string{"cannot be joined into text"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := writeTree(t, map[string]string{"hosts.yml": "all:\n  hosts:\n    h:\n  vars:\n        " + tc.vars + "\n"})
			inv, diags := loadSources(t, dir, Options{}, "hosts.yml")
			if !diags.HasErrors() {
				t.Fatalf("no error; host: %+v", inv.Host("h"))
			}
			text := strings.ReplaceAll(strings.Join(diagStrings(dir, diags), "\n")+"\n"+diags.Error(), dir+"/", "")
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("diagnostics %q do not contain %q", text, w)
				}
			}
		})
	}
}

// TestTemplatedVarUnknownUntilUsed checks that an inventory var tend
// cannot render is not an error until something uses it, and then says
// why: it is unknown, marked with the reason, never the template's text.
func TestTemplatedVarUnknownUntilUsed(t *testing.T) {
	dir := writeTree(t, map[string]string{"hosts.ini": "[g]\nh motd=\"{{ lookup('file', '/etc/motd') }}\" ok='{{ inventory_hostname }}!'\n"})
	inv, diags := loadSources(t, dir, Options{}, "hosts.ini")
	if len(diags) > 0 {
		t.Fatalf("diagnostics: %s", diags.Error())
	}
	h := inv.Host("h")
	if v := h.Vars["ok"]; !v.RawEquals(cty.StringVal("h!")) {
		t.Errorf("ok = %#v, want \"h!\"", v)
	}
	v, marks := h.Vars["motd"].Unmark()
	if v.IsKnown() {
		t.Fatalf("motd = %#v, want an unknown value", v)
	}
	var reason string
	for m := range marks {
		if us, ok := m.(resources.UnresolvedSecret); ok && us.Var == "motd" {
			reason = us.Error()
		}
	}
	for _, w := range []string{"inventory variable motd", "hosts.ini:2", "lookup(...) is not supported"} {
		if !strings.Contains(reason, w) {
			t.Errorf("reason %q does not contain %q", reason, w)
		}
	}
}

// TestNativeVarsAreNotTemplates checks that a native HCL inventory's
// strings are text: HCL has its own interpolation.
func TestNativeVarsAreNotTemplates(t *testing.T) {
	dir := writeTree(t, map[string]string{"inventory.hcl": `host "h" {
  vars = { motd = "{{ not a template }}" }
}
`})
	inv, diags := loadSources(t, dir, Options{}, "inventory.hcl")
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if v := inv.Host("h").Vars["motd"]; !v.RawEquals(cty.StringVal("{{ not a template }}")) {
		t.Errorf("motd = %#v", v)
	}
}

func TestParseTemplate(t *testing.T) {
	tests := map[string]string{
		"plain":                          "plain",
		"{{ a }}":                        "A",
		"x{{a}}y":                        "xAy",
		"{{ a ~ '-' ~ n }}":              "A-7",
		"{{ missing | default('d') }}":   "d",
		`{{ missing | d("q\"s") }}`:      `q"s`,
		"{{ missing | default(n) }}":     "7",
		"{{ empty | default(a, true) }}": "A",
		"{{ empty | default(a) }}":       "",
		"  {{- a -}}  !":                 "A!",
		"{{ n }}":                        "7",
		"{{ flag }}":                     "true",
		"{{ nothing }}":                  "",
		"a {b} c":                        "a {b} c",
		"{{ (a ~ 'b') | default('z') }}": "Ab",
		"{{ 1.5 }}":                      "1.5",
		"{{ a | upper }}":                "ERR",
		"{{ a + 'b' }}":                  "ERR",
		"{{ a":                           "ERR",
		"{{ a.b }}":                      "ERR",
		"{{ a['b'] }}":                   "ERR",
		"{% raw %}":                      "ERR",
		"{# c #}":                        "ERR",
		"{{ 'x }}":                       "ERR",
	}
	vars := map[string]value{
		"a":       {v: cty.StringVal("A")},
		"n":       {v: cty.NumberIntVal(7)},
		"empty":   {v: cty.StringVal("")},
		"flag":    {v: cty.True},
		"t":       {v: cty.StringVal("True")},
		"nothing": {v: cty.NullVal(cty.DynamicPseudoType)},
	}
	for in, want := range tests {
		s := newTmplScope("h", nil, vars)
		got := "ERR"
		v, _, err := s.render(in)
		if err == nil {
			switch v.Type() {
			case cty.String:
				got = v.AsString()
			case cty.Bool:
				got = "true"
				if v.False() {
					got = "false"
				}
			default:
				got = v.GoString()
			}
		}
		if got != want {
			t.Errorf("render(%q) = %q (%v), want %q", in, got, err, want)
		}
	}
}

// TestTemplateOfVaultVarIsSensitive checks that what a template makes of
// a variable from an encrypted file, or an inline !vault value, is
// sensitive too, and that the become password it sets is the secret.
func TestTemplateOfVaultVarIsSensitive(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"hosts.yml":                "all:\n  hosts:\n    h:\n  vars:\n    ansible_become_password: '{{ vault_pw }}'\n    motd: 'pw {{ vault_pw }}'\n    inline_copy: '{{ inline }}'\n    inline: " + inlineVault(t, "inline-secret", "pw", "", 6),
		"group_vars/all/vault.yml": vaultFixture(t, "vault_pw: file-secret\n", "pw", ""),
	})
	inv, diags := loadSources(t, dir, Options{Vault: keyring(t, "=pw")}, "hosts.yml")
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	h := inv.Host("h")
	if h.BecomePassword != "file-secret" {
		t.Errorf("BecomePassword = %q", h.BecomePassword)
	}
	for _, k := range []string{"motd", "inline_copy"} {
		if !h.Vars[k].HasMark(resources.Sensitive) {
			t.Errorf("%s = %#v is not marked sensitive", k, h.Vars[k])
		}
	}
	if v, _ := h.Vars["motd"].Unmark(); !v.RawEquals(cty.StringVal("pw file-secret")) {
		t.Errorf("motd = %#v", v)
	}
}
