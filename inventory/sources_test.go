package inventory

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFormatDetection(t *testing.T) {
	files := map[string]string{
		"native.hcl":      `host "n1" { groups = ["native"] }`,
		"native-noext":    "# a native inventory without .hcl\nhost \"n2\" {}\n",
		"yaml-noext":      "y: {hosts: {y1: }}\n",
		"ini-noext":       "[i]\ni1\n",
		"plain-noext":     "p1\np2\n",
		"inventory.json":  `{"j": {"hosts": {"j1": null}}}`,
		"hosts.inv":       "[e]\ne1\n",
		"script*":         "#!/bin/sh\necho '{\"s\": [\"s1\"]}'\n",
		"dir/a.yaml":      "d: {hosts: {d1: }}\n",
		"dir/README.md":   "not an inventory\n",
		"dir/x.ini":       "[skipped]\nx\n",
		"dir/.hidden":     "[skipped]\nh\n",
		"dir/b~":          "[skipped]\nb\n",
		"dir/c.retry":     "r\n",
		"dir/sub/deep":    "[deep]\nd2\n",
		"dir/group_vars/": "",
	}
	delete(files, "dir/group_vars/")
	sources := []string{"native.hcl", "native-noext", "yaml-noext", "ini-noext", "plain-noext", "inventory.json", "hosts.inv", "script", "dir", "l1,l2:2222,"}
	inv := mustLoadSources(t, files, sources...)
	want := []string{
		"d1: all d", "d2: all deep", "e1: all e", "i1: all i", "j1: all j", "l1: all ungrouped", "l2: all ungrouped",
		"n1: all native", "n2: all ungrouped", "p1: all ungrouped", "p2: all ungrouped", "s1: all s", "y1: all y",
	}
	if diff := cmp.Diff(want, groupsOf(inv)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if p := inv.Host("l2").Port; p != 2222 {
		t.Errorf("l2 port = %d, want 2222", p)
	}
}

func TestFormatErrors(t *testing.T) {
	tests := map[string]struct {
		files  map[string]string
		source string
		want   string
	}{
		"TOML":            {map[string]string{"inv.toml": "[web]\n"}, "inv.toml", "inv.toml:1,1: Unsupported inventory format"},
		"missing":         {nil, "nope.ini", "nope.ini:1,1: Failed to read inventory"},
		"plugin, no ext":  {map[string]string{"aws": "plugin: aws_ec2\n"}, "aws", "aws:1,9: Inventory plugins are not supported"},
		"bad YAML as INI": {map[string]string{"hosts": "all:\n  hosts: [\n"}, "hosts", "hosts:1,1: Invalid INI inventory"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := writeTree(t, tc.files)
			_, diags := loadSources(t, dir, Options{}, tc.source)
			if diff := cmp.Diff([]string{tc.want}, diagStrings(dir, diags)); diff != "" {
				t.Errorf("(-want +got):\n%s\n%s", diff, diags.Error())
			}
		})
	}
}

func TestVarsFiles(t *testing.T) {
	inv := mustLoadSources(t, map[string]string{
		"inv/hosts":                     "[web]\nweb1 level=host-inline\nweb2\n[web:vars]\nlevel=web-inline\nshared=web-inline\n[db]\ndb1\n",
		"inv/group_vars/all.yml":        "level: all-file\nshared: all-file\nfrom_all: true\n",
		"inv/group_vars/web/10-a.yml":   "level: web-a\n",
		"inv/group_vars/web/20-b.yaml":  "level: web-b\nlist: [1]\n",
		"inv/group_vars/web/sub/30-c":   "deep: true\n",
		"inv/group_vars/web/notes.txt":  "level: ignored\n",
		"inv/group_vars/web/.hidden":    "level: ignored\n",
		"inv/group_vars/web/old.yml~":   "level: ignored\n",
		"inv/group_vars/db":             "---\nlevel: db-noext\n",
		"inv/group_vars/db.yml":         "level: not-read: the file without extension comes first\n",
		"inv/host_vars/web2.json":       `{"level": "web2-json"}`,
		"inv/host_vars/db1.yml":         "# empty\n",
		"inv/sub/more":                  "[web]\nweb3\n",
		"inv/sub/group_vars/web.yml":    "level: ignored: only the source's own directory counts\n",
		"inv/group_vars/nogroup.yml":    "level: never\n",
		"inv/group_vars/ungrouped.yml":  "u: 1\n",
		"inv/host_vars/unknownhost.yml": "x: 1\n",
	}, "inv")
	got := summarize(t, inv)
	want := map[string]hostSummary{
		// group_vars files beat inventory group vars, even for "all"; host
		// vars beat both.
		"web1": {Groups: []string{"all", "web"}, Vars: map[string]string{"level": `"host-inline"`, "shared": `"all-file"`, "from_all": "true", "list": "[1]", "deep": "true"}},
		"web2": {Groups: []string{"all", "web"}, Vars: map[string]string{"level": `"web2-json"`, "shared": `"all-file"`, "from_all": "true", "list": "[1]", "deep": "true"}},
		"web3": {Groups: []string{"all", "web"}, Vars: map[string]string{"level": `"web-b"`, "shared": `"all-file"`, "from_all": "true", "list": "[1]", "deep": "true"}},
		"db1":  {Groups: []string{"all", "db"}, Vars: map[string]string{"level": `"db-noext"`, "shared": `"all-file"`, "from_all": "true"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestVarsFileErrors(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"hosts":                  "[web]\nweb1\n",
		"group_vars/web.yml":     "- not\n- a mapping\n",
		"host_vars/web1.yml":     "a: [\n",
		"group_vars/all.yml":     "$ANSIBLE_VAULT;1.1;AES256\n6162\n",
		"group_vars/ungrouped":   "",
		"host_vars/other.yml":    "x: [\n", // for no host: never read
		"group_vars/nogroup.yml": "x: [\n",
	})
	_, diags := loadSources(t, dir, Options{}, "hosts")
	want := []string{
		"group_vars/all.yml:1,1: Cannot decrypt vars file",
		"group_vars/web.yml:1,1: Invalid vars file",
		"host_vars/web1.yml:1,1: Invalid vars file",
	}
	if diff := cmp.Diff(want, diagStrings(dir, diags)); diff != "" {
		t.Errorf("(-want +got):\n%s\n%s", diff, diags.Error())
	}
}

// TestMergeSources checks Ansible's multi-source rules: one host in two
// sources is one host with the later source's vars winning; groups are
// shared; group_vars are applied source by source, so a later source's
// parent group_vars beat an earlier source's child group_vars. A
// script's _meta.hostvars apply only to hosts the script lists in a
// group (so web1 keeps both=b).
func TestMergeSources(t *testing.T) {
	inv := mustLoadSources(t, map[string]string{
		"a/hosts.ini":          "[web]\nweb1 from=a both=a\nweb2\n[web:vars]\ngv=a\n",
		"a/group_vars/web.yml": "order: a-web\n",
		"b/inv.yml":            "parent:\n  children:\n    web:\n      hosts:\n        web1: {both: b}\n  vars: {gv: parent}\nweb:\n  vars: {gv: b}\n",
		"b/group_vars/parent":  "order: b-parent\n",
		"c/dyn.sh*":            "#!/bin/sh\necho '{\"web\": [\"web9\"], \"_meta\": {\"hostvars\": {\"web1\": {\"both\": \"c\"}}}}'\n",
	}, "a/hosts.ini", "b/inv.yml", "c/dyn.sh", "web1,new1,")
	want := map[string]hostSummary{
		"new1": {Groups: []string{"all", "ungrouped"}, Vars: map[string]string{}},
		"web1": {Groups: []string{"all", "parent", "web"}, Vars: map[string]string{"from": `"a"`, "both": `"b"`, "gv": `"b"`, "order": `"b-parent"`}},
		"web2": {Groups: []string{"all", "parent", "web"}, Vars: map[string]string{"gv": `"b"`, "order": `"b-parent"`}},
		"web9": {Groups: []string{"all", "parent", "web"}, Vars: map[string]string{"gv": `"b"`, "order": `"b-parent"`}},
	}
	if diff := cmp.Diff(want, summarize(t, inv)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestMixedNativeAndAnsible checks that native HCL and Ansible sources
// share hosts and groups, and that settings from both apply by
// precedence.
func TestMixedNativeAndAnsible(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"inventory.hcl": `
defaults {
  user = "default-user"
  vars = { from_defaults = true, level = "defaults" }
}
group "web" {
  port = 2200
  vars = { level = "native-web" }
  ssh {
    proxy_jump = "bastion"
  }
}
host "web2" {
  user = "native-host-user"
  vars = { level = "native-host" }
}
`,
		"hosts.ini": "[web]\nweb1\nweb2\nweb3 ansible_port=2201\n[web:vars]\nansible_user=ini-web-user\n[prod:children]\nweb\n[prod:vars]\nansible_user=ini-prod-user\nlevel=prod\n",
	})
	inv, diags := loadSources(t, dir, Options{}, "inventory.hcl", "hosts.ini")
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	type view struct {
		User, ProxyJump string
		Port            int
		Groups          []string
		Level           string
	}
	got := map[string]view{}
	for _, h := range inv.Hosts() {
		got[h.Name] = view{h.User, h.SSH.ProxyJump, h.Port, h.Groups, h.Vars["level"].AsString()}
	}
	want := map[string]view{
		// web (depth 2) beats prod (depth 1); web's native settings and
		// INI vars are at the same level.
		"web1": {"ini-web-user", "bastion", 2200, []string{"all", "prod", "web"}, "native-web"},
		// The native host block beats its groups.
		"web2": {"native-host-user", "bastion", 2200, []string{"all", "prod", "web"}, "native-host"},
		// An INI host var beats the native group.
		"web3": {"ini-web-user", "bastion", 2201, []string{"all", "prod", "web"}, "native-web"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestConnectionVars(t *testing.T) {
	inv := mustLoadSources(t, map[string]string{"hosts.ini": `
[linux]
l1 ansible_host=10.0.0.1 ansible_port=2222 ansible_user=ops ansible_ssh_private_key_file=~/.ssh/k ansible_password=pw
l2 ansible_user=host-level
l3 ansible_connection=local ansible_become=no
l4 ansible_connection=paramiko ansible_port="22"
l5 ansible_ssh_common_args='-o ProxyJump=jump1 -o Foo=bar'
l6 ansible_ssh_extra_args='-J jump2:2200'
l7 ansible_ssh_common_args='-o ProxyCommand="ssh -W %h:%p -q -p 2022 admin@gw"'
l8 ansible_host_key_checking=False ansible_become_password=sudo ansible_become_user=postgres
[linux:vars]
ansible_ssh_user=group-legacy
ansible_become=yes
[windows]
w1 ansible_host=192.0.2.5
w2 ansible_port=5985 ansible_winrm_transport=ntlm
w3 ansible_connection=psrp ansible_psrp_protocol=http ansible_psrp_cert_validation=ignore
w4 ansible_winrm_transport=kerberos ansible_winrm_kerberos_service=WSMAN ansible_winrm_kerberos_hostname_override=w4.corp.example
[windows:vars]
ansible_connection=winrm
ansible_user=Administrator
ansible_password=secret
`}, "hosts.ini")
	want := map[string]*Host{
		// ansible_ssh_user is later in Ansible's list than ansible_user,
		// so the group's ansible_ssh_user beats the host's ansible_user.
		"l1": {Address: "10.0.0.1", Port: 2222, User: "group-legacy", Transport: "ssh", Become: true, IdentityFile: "~/.ssh/k", Password: "pw"},
		"l2": {Address: "l2", User: "group-legacy", Transport: "ssh", Become: true},
		"l3": {Address: "l3", User: "group-legacy", Transport: "local"},
		"l4": {Address: "l4", Port: 22, User: "group-legacy", Transport: "ssh", Become: true},
		"l5": {Address: "l5", User: "group-legacy", Transport: "ssh", Become: true, SSH: SSHSettings{ProxyJump: "jump1"}},
		"l6": {Address: "l6", User: "group-legacy", Transport: "ssh", Become: true, SSH: SSHSettings{ProxyJump: "jump2:2200"}},
		"l7": {Address: "l7", User: "group-legacy", Transport: "ssh", Become: true, SSH: SSHSettings{ProxyJump: "admin@gw:2022"}},
		"l8": {Address: "l8", User: "group-legacy", Transport: "ssh", Become: true, BecomePassword: "sudo", BecomeUser: "postgres", SSH: SSHSettings{StrictHostKeyChecking: "no"}},
		"w1": {Address: "192.0.2.5", User: "Administrator", Password: "secret", Transport: "winrm", WinRM: WinRMSettings{HTTPS: true, User: "Administrator", Password: "secret"}},
		"w2": {Address: "w2", Port: 5985, User: "Administrator", Password: "secret", Transport: "winrm", WinRM: WinRMSettings{Auth: "ntlm", User: "Administrator", Password: "secret"}},
		"w3": {Address: "w3", User: "Administrator", Password: "secret", Transport: "winrm", WinRM: WinRMSettings{Insecure: true, User: "Administrator", Password: "secret"}},
		"w4": {Address: "w4", User: "Administrator", Password: "secret", Transport: "winrm", WinRM: WinRMSettings{HTTPS: true, Auth: "kerberos", User: "Administrator", Password: "secret", KerberosService: "WSMAN", KerberosHostname: "w4.corp.example"}},
	}
	for name, w := range want {
		h := inv.Host(name)
		if h == nil {
			t.Errorf("no host %s", name)
			continue
		}
		w.Name, w.Groups, w.Vars, w.DeclRange = h.Name, h.Groups, h.Vars, h.DeclRange
		if diff := cmp.Diff(w, h, hostCmp...); diff != "" {
			t.Errorf("host %s (-want +got):\n%s", name, diff)
		}
		for k := range h.Vars {
			if connectionVars[k] {
				t.Errorf("host %s: connection variable %s is in Vars", name, k)
			}
		}
	}
	if _, ok := inv.Host("l5").Vars["ansible_ssh_common_args"]; !ok {
		t.Error("ansible_ssh_common_args should stay in Vars: tend reads only part of it")
	}
}

func TestAnsibleCertThumbprint(t *testing.T) {
	pin := "ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89"
	dir := writeTree(t, map[string]string{"hosts.ini": "[windows]\nwin1\nwin2 tend_winrm_cert_thumbprint=" + strings.Repeat("1f", 32) + "\n[windows:vars]\nansible_connection=winrm\ntend_winrm_cert_thumbprint=" + pin + "\n"})
	inv, diags := loadSources(t, dir, Options{}, "hosts.ini")
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if got, want := inv.Host("win1").WinRM.CertThumbprint, strings.ReplaceAll(pin, ":", ""); got != want {
		t.Errorf("win1 (group var): %q, want %q", got, want)
	}
	if got := inv.Host("win2").WinRM.CertThumbprint; got != strings.Repeat("1f", 32) {
		t.Errorf("win2 (host var): %q", got)
	}
	dir = writeTree(t, map[string]string{"hosts.ini": "[w]\nclear ansible_winrm_message_encryption=never\nsealed ansible_winrm_message_encryption=always\n[w:vars]\nansible_connection=winrm\n"})
	enc, diags := loadSources(t, dir, Options{}, "hosts.ini")
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if !enc.Host("clear").WinRM.InsecureHTTP || enc.Host("sealed").WinRM.InsecureHTTP {
		t.Error("ansible_winrm_message_encryption=never should be insecure_http, and only it")
	}
	if _, ok := inv.Host("win1").Vars["tend_winrm_cert_thumbprint"]; ok {
		t.Error("the thumbprint is a connection setting, not a var")
	}
}

func TestConnectionVarDiagnostics(t *testing.T) {
	tests := map[string]struct {
		line string
		want string
	}{
		"bad port":               {"h ansible_port=ssh", "hosts.ini:2,1: Invalid ansible_port"},
		"port out of range":      {"h ansible_port=70000", "hosts.ini:2,1: Invalid ansible_port"},
		"bad become":             {"h ansible_become=maybe", "hosts.ini:2,1: Invalid ansible_become"},
		"unknown connection":     {"h ansible_connection=docker", "hosts.ini:2,1: warning: Unsupported ansible_connection"},
		"template":               {"h ansible_host='{{ inventory_hostname | upper }}.corp'", "hosts.ini:2,1: Cannot render template"},
		"list as a user":         {"h ansible_user=[1]", "hosts.ini:2,1: Invalid ansible_user"},
		"other ProxyCommand":     {`h ansible_ssh_common_args='-o ProxyCommand="nc -X 5 -x proxy %h %p"'`, "hosts.ini:2,1: warning: SSH arguments not understood"},
		"bad winrm scheme":       {"h ansible_winrm_scheme=ftp", "hosts.ini:2,1: Invalid ansible_winrm_scheme"},
		"bad cert validation":    {"h ansible_winrm_server_cert_validation=maybe", "hosts.ini:2,1: Invalid ansible_winrm_server_cert_validation"},
		"bad message encryption": {"h ansible_winrm_message_encryption=sometimes", "hosts.ini:2,1: Invalid ansible_winrm_message_encryption"},
		"SHA-1 thumbprint":       {"h tend_winrm_cert_thumbprint=4e3c1d2a9f0b8c7d6e5f4a3b2c1d0e9f8a7b6c5d", "hosts.ini:2,1: Invalid tend_winrm_cert_thumbprint"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := writeTree(t, map[string]string{"hosts.ini": "[g]\n" + tc.line + "\n"})
			inv, diags := loadSources(t, dir, Options{}, "hosts.ini")
			if diff := cmp.Diff([]string{tc.want}, diagStrings(dir, diags)); diff != "" {
				t.Errorf("(-want +got):\n%s\n%s", diff, diags.Error())
			}
			if name == "unknown connection" {
				if tr := inv.Host("h").Transport; tr != "docker" {
					t.Errorf("Transport = %q, want the plugin's name kept", tr)
				}
			}
		})
	}
	// A group's bad var is reported once, not once per host.
	dir := writeTree(t, map[string]string{"hosts.ini": "[g]\na\nb\nc\n[g:vars]\nansible_port=x\n"})
	_, diags := loadSources(t, dir, Options{}, "hosts.ini")
	if len(diags) != 1 || !strings.Contains(diags[0].Detail, "want a port number") {
		t.Errorf("want one diagnostic, got %s", diags.Error())
	}
}

func TestProxyJumpFromArgs(t *testing.T) {
	tests := map[string]struct{ jump, warn string }{
		"-J bastion":                        {"bastion", ""},
		"-Jbastion:2200":                    {"bastion:2200", ""},
		"-o ProxyJump=a,b":                  {"a,b", ""},
		"-oProxyJump=x":                     {"x", ""},
		"-o 'ProxyJump x'":                  {"x", ""},
		"-o proxyjump=lower":                {"lower", ""},
		"-o StrictHostKeyChecking=no":       {"", ""},
		`-o ProxyCommand="ssh -W %h:%p gw"`: {"gw", ""},
		`-o ProxyCommand="ssh -q -W %h:%p -l ops -p 2222 gw"`: {"ops@gw:2222", ""},
		`-o ProxyCommand="/usr/bin/ssh -W [%h]:%p u@gw"`:      {"u@gw", ""},
		`-o ProxyCommand="ssh -i key -W %h:%p gw"`:            {"", `ProxyCommand "ssh -i key -W %h:%p gw" is not supported`},
		`-o ProxyCommand="nc gw 22"`:                          {"", `ProxyCommand "nc gw 22" is not supported`},
		`-o ProxyCommand="ssh gw nc %h %p"`:                   {"", `ProxyCommand "ssh gw nc %h %p" is not supported`},
		`-o "unterminated`:                                    {"", `cannot split "-o \"unterminated": no closing quotation`},
	}
	for in, want := range tests {
		jump, warn := proxyJumpFromArgs(in)
		if jump != want.jump || warn != want.warn {
			t.Errorf("proxyJumpFromArgs(%q) = %q, %q; want %q, %q", in, jump, warn, want.jump, want.warn)
		}
	}
}
