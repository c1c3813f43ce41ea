package inventory

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// writeFiles writes fixtures into a fresh directory and returns their
// paths sorted by file name, so Load sees them in a known order.
func writeFiles(t *testing.T, files map[string]string) (dir string, paths []string) {
	t.Helper()
	dir = t.TempDir()
	for name, src := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return dir, paths
}

func mustLoad(t *testing.T, files map[string]string, ectx *hcl.EvalContext) *Inventory {
	t.Helper()
	_, paths := writeFiles(t, files)
	inv, diags := Load(paths, ectx)
	if len(diags) > 0 {
		t.Fatalf("unexpected diagnostics: %s", diags.Error())
	}
	return inv
}

// secretCtx stands in for the caller's EvalContext: secret(ref) returns a
// marked string, as a real secret function would.
func secretCtx() *hcl.EvalContext {
	return &hcl.EvalContext{Functions: map[string]function.Function{
		"secret": function.New(&function.Spec{
			Params: []function.Parameter{{Name: "ref", Type: cty.String}},
			Type:   function.StaticReturnType(cty.String),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				return cty.StringVal("pw-" + args[0].AsString()).Mark("sensitive"), nil
			},
		}),
	}}
}

var hostCmp = []cmp.Option{
	cmpopts.IgnoreFields(Host{}, "DeclRange"),
	cmp.Comparer(func(a, b cty.Value) bool { return a.RawEquals(b) }),
}

func TestLoadPrecedence(t *testing.T) {
	inv := mustLoad(t, map[string]string{"inventory.hcl": `
defaults {
  user   = "ops"
  become = true
  port   = 22
  vars   = { ntp = "a", tier = "none", workers = 1, region = "none" }
}

group "web" {
  user     = "webops"
  port     = 2200
  vars     = { workers = 4, region = "us" }
  children = ["web_eu"]
  ssh {
    proxy_jump = "bastion"
  }
}

group "web_eu" {
  port = 2201
  vars = { region = "eu" }
}

group "alpha" {
  vars = { order = "alpha" }
}

group "beta" {
  vars = { order = "beta" }
}

group "zeta" {
  vars = { region = "zeta" }
}

host "web1" {
  address = "10.0.0.11"
  groups  = ["web_eu", "prod"]
  vars    = { tier = "front" }
  ssh {
    known_hosts_file = "/etc/tend/known_hosts"
  }
}

host "web2" {
  groups = ["web"]
  port   = 2222
  become = false
  vars   = { workers = 8, nested = { a = [1, 2] } }
}

host "both" {
  groups = ["beta", "alpha"]
}

host "deep" {
  groups = ["zeta", "web_eu"]
}

host "lone" {
  transport = "local"
}
`}, nil)

	str, num := cty.StringVal, cty.NumberIntVal
	want := []*Host{
		{
			// Unrelated groups at one depth: the later name wins.
			Name: "both", Address: "both", Port: 22, User: "ops", Transport: "ssh", Become: true,
			Groups: []string{"all", "alpha", "beta"},
			Vars:   map[string]cty.Value{"ntp": str("a"), "tier": str("none"), "workers": num(1), "region": str("none"), "order": str("beta")},
		},
		{
			// web_eu (depth 2) beats zeta (depth 1) although "zeta" sorts later.
			Name: "deep", Address: "deep", Port: 2201, User: "webops", Transport: "ssh", Become: true,
			Groups: []string{"all", "web", "web_eu", "zeta"},
			Vars:   map[string]cty.Value{"ntp": str("a"), "tier": str("none"), "workers": num(4), "region": str("eu")},
			SSH:    SSHSettings{ProxyJump: "bastion"},
		},
		{
			Name: "lone", Address: "lone", Port: 22, User: "ops", Transport: "local", Become: true,
			Groups: []string{"all", "ungrouped"},
			Vars:   map[string]cty.Value{"ntp": str("a"), "tier": str("none"), "workers": num(1), "region": str("none")},
		},
		{
			// host > child group (web_eu) > parent group (web) > defaults.
			Name: "web1", Address: "10.0.0.11", Port: 2201, User: "webops", Transport: "ssh", Become: true,
			Groups: []string{"all", "prod", "web", "web_eu"},
			Vars:   map[string]cty.Value{"ntp": str("a"), "tier": str("front"), "workers": num(4), "region": str("eu")},
			SSH:    SSHSettings{ProxyJump: "bastion", KnownHostsFile: "/etc/tend/known_hosts"},
		},
		{
			Name: "web2", Address: "web2", Port: 2222, User: "webops", Transport: "ssh", Become: false,
			Groups: []string{"all", "web"},
			Vars: map[string]cty.Value{
				"ntp": str("a"), "tier": str("none"), "workers": num(8), "region": str("us"),
				"nested": cty.ObjectVal(map[string]cty.Value{"a": cty.TupleVal([]cty.Value{num(1), num(2)})}),
			},
			SSH: SSHSettings{ProxyJump: "bastion"},
		},
	}
	if diff := cmp.Diff(want, inv.Hosts(), hostCmp...); diff != "" {
		t.Errorf("hosts (-want +got):\n%s", diff)
	}
}

func TestLoadAllSettings(t *testing.T) {
	inv := mustLoad(t, map[string]string{"inventory.hcl": `
group "windows" {
  transport = "winrm"
  port      = 5986
  winrm {
    https = true
    auth  = "ntlm"
  }
}

host "win1" {
  address = "win1.corp.example"
  groups  = ["windows"]
  winrm {
    user          = "CORP\\ops"
    password      = secret("env:WINRM_PASSWORD")
    insecure      = false
    insecure_http = true
    ca_file       = "/etc/ca.pem"
    server_name   = "win1"
  }
}

group "pinned" {
  winrm {
    cert_thumbprint = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89"
  }
}

host "win2" {
  groups = ["windows", "pinned"]
  winrm {
    auth              = "kerberos"
    user              = "ops@CORP.EXAMPLE"
    keytab            = "/etc/tend/ops.keytab"
    kerberos_service  = "WSMAN"
    kerberos_hostname = "win2.corp.example"
  }
}

host "lin1" {
  user            = "admin"
  become          = true
  become_user     = "postgres"
  become_password = secret("env:SUDO_PW")
  identity_file   = "~/.ssh/id_ed25519"
  password        = secret("env:X")
  vars            = { token = secret("env:TOKEN") }
  ssh {
    proxy_jump               = "bastion"
    known_hosts_file         = "/k"
    strict_host_key_checking = "accept-new"
    config_file              = "/c"
  }
}
`}, secretCtx())

	want := []*Host{
		{
			Name: "lin1", Address: "lin1", User: "admin", Transport: "ssh",
			Groups:         []string{"all", "ungrouped"},
			Vars:           map[string]cty.Value{"token": cty.StringVal("pw-env:TOKEN").Mark("sensitive")},
			Become:         true,
			BecomeUser:     "postgres",
			BecomePassword: "pw-env:SUDO_PW",
			IdentityFile:   "~/.ssh/id_ed25519",
			Password:       "pw-env:X",
			SSH:            SSHSettings{ProxyJump: "bastion", KnownHostsFile: "/k", StrictHostKeyChecking: "accept-new", ConfigFile: "/c"},
		},
		{
			Name: "win1", Address: "win1.corp.example", Port: 5986, Transport: "winrm",
			Groups: []string{"all", "windows"},
			Vars:   map[string]cty.Value{},
			WinRM: WinRMSettings{
				HTTPS: true, Auth: "ntlm", User: `CORP\ops`, Password: "pw-env:WINRM_PASSWORD",
				InsecureHTTP: true, CAFile: "/etc/ca.pem", ServerName: "win1",
			},
		},
		{
			Name: "win2", Address: "win2", Port: 5986, Transport: "winrm",
			Groups: []string{"all", "pinned", "windows"},
			Vars:   map[string]cty.Value{},
			WinRM: WinRMSettings{
				HTTPS: true, Auth: "kerberos", User: "ops@CORP.EXAMPLE", Keytab: "/etc/tend/ops.keytab",
				KerberosService: "WSMAN", KerberosHostname: "win2.corp.example",
				CertThumbprint: "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789",
			},
		},
	}
	if diff := cmp.Diff(want, inv.Hosts(), hostCmp...); diff != "" {
		t.Errorf("hosts (-want +got):\n%s", diff)
	}
}

// TestLoadMarkedVars checks that a wholly marked object still becomes
// separate vars, each keeping the mark.
func TestLoadMarkedVars(t *testing.T) {
	ectx := &hcl.EvalContext{Variables: map[string]cty.Value{
		"secrets": cty.ObjectVal(map[string]cty.Value{"token": cty.StringVal("t")}).Mark("sensitive"),
	}}
	inv := mustLoad(t, map[string]string{"inventory.hcl": `host "a" { vars = secrets }`}, ectx)
	want := map[string]cty.Value{"token": cty.StringVal("t").Mark("sensitive")}
	if diff := cmp.Diff(want, inv.Host("a").Vars, hostCmp...); diff != "" {
		t.Errorf("vars (-want +got):\n%s", diff)
	}
}

func TestLoadMerge(t *testing.T) {
	inv := mustLoad(t, map[string]string{
		"a.hcl": `
group "web" {
  vars     = { role = "web" }
  children = ["web_eu"]
}
host "web1" {
  groups = ["web"]
}
`,
		"b.hcl": `
defaults {
  user = "ops"
}
host "web2" {
  groups = ["web_eu"]
}
`,
	}, nil)

	type hostGroups struct {
		Name, User string
		Groups     []string
		Role       string
	}
	var got []hostGroups
	for _, h := range inv.Hosts() {
		hg := hostGroups{Name: h.Name, User: h.User, Groups: h.Groups}
		if v, ok := h.Vars["role"]; ok {
			hg.Role = v.AsString()
		}
		got = append(got, hg)
	}
	want := []hostGroups{
		{Name: "web1", User: "ops", Groups: []string{"all", "web"}, Role: "web"},
		{Name: "web2", User: "ops", Groups: []string{"all", "web", "web_eu"}, Role: "web"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("hosts (-want +got):\n%s", diff)
	}
}

func TestInventoryGroups(t *testing.T) {
	inv := mustLoad(t, map[string]string{"inventory.hcl": `
group "web" {
  children = ["web_eu", "canary"]
}
group "empty" {}
host "web1" {
  groups = ["web_eu", "all"]
}
host "only_all" {
  groups = ["all"]
}
host "db1" {
  groups = ["db"]
}
host "lone" {}
`}, nil)

	names := func(hs []*Host) []string {
		var out []string
		for _, h := range hs {
			out = append(out, h.Name)
		}
		return out
	}
	type result struct {
		Groups     []string
		Members    map[string][]string
		HasGroup   map[string]bool
		Host       string
		HostAbsent bool
	}
	got := result{
		Groups:   inv.Groups(),
		Members:  map[string][]string{},
		HasGroup: map[string]bool{},
	}
	for _, g := range inv.Groups() {
		got.Members[g] = names(inv.GroupHosts(g))
	}
	for _, g := range []string{"all", "ungrouped", "web", "web_eu", "canary", "db", "empty", "nope", "web1"} {
		got.HasGroup[g] = inv.HasGroup(g)
	}
	if h := inv.Host("db1"); h != nil {
		got.Host = h.Name
	}
	got.HostAbsent = inv.Host("db2") == nil

	want := result{
		Groups: []string{"all", "canary", "db", "empty", "ungrouped", "web", "web_eu"},
		Members: map[string][]string{
			"all":       {"db1", "lone", "only_all", "web1"},
			"canary":    nil,
			"db":        {"db1"},
			"empty":     nil,
			"ungrouped": {"lone", "only_all"},
			"web":       {"web1"},
			"web_eu":    {"web1"},
		},
		HasGroup: map[string]bool{
			"all": true, "ungrouped": true, "web": true, "web_eu": true, "canary": true,
			"db": true, "empty": true, "nope": false, "web1": false,
		},
		Host:       "db1",
		HostAbsent: true,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestLocalhost(t *testing.T) {
	for name, inv := range map[string]*Inventory{
		"Localhost":     Localhost(),
		"Load(no path)": func() *Inventory { inv, _ := Load(nil, nil); return inv }(),
	} {
		t.Run(name, func(t *testing.T) {
			want := []*Host{{
				Name: "localhost", Address: "localhost", Transport: "local",
				Groups: []string{"all", "ungrouped"}, Vars: map[string]cty.Value{},
			}}
			if diff := cmp.Diff(want, inv.Hosts(), hostCmp...); diff != "" {
				t.Errorf("hosts (-want +got):\n%s", diff)
			}
			if got, err := inv.SelectString("all"); err != nil || len(got) != 1 || got[0].Name != "localhost" {
				t.Errorf(`SelectString("all") = %v, %v; want [localhost]`, got, err)
			}
		})
	}
}

// TestLoadDiagnostics checks that each kind of bad input yields exactly
// the expected diagnostics at the right file:line,column.
func TestLoadDiagnostics(t *testing.T) {
	tests := map[string]struct {
		files map[string]string
		ectx  *hcl.EvalContext
		want  []string // "file:line,col: [warning] summary"
		// detail, when set, must appear in the first diagnostic's detail
		// (with the temporary directory removed).
		detail string
	}{
		"syntax error": {
			files: map[string]string{"inv.hcl": "host \"web1\" {\n  address = \n}\n"},
			want:  []string{"inv.hcl:2,13: Invalid expression"},
		},
		"unknown attribute": {
			files:  map[string]string{"inv.hcl": "host \"web1\" {\n  adress = \"x\"\n}\n"},
			want:   []string{"inv.hcl:2,3: Unsupported argument"},
			detail: `Did you mean "address"?`,
		},
		"unknown block": {
			files: map[string]string{"inv.hcl": "defaults {}\nhots \"web1\" {}\n"},
			want:  []string{"inv.hcl:2,1: Unsupported block type"},
		},
		"unknown attribute in ssh block": {
			files: map[string]string{"inv.hcl": "host \"a\" {\n  ssh {\n    proxyjump = \"b\"\n  }\n}\n"},
			want:  []string{"inv.hcl:3,5: Unsupported argument"},
		},
		"address on a group": {
			files: map[string]string{"inv.hcl": "group \"g\" {\n  address = \"x\"\n}\n"},
			want:  []string{"inv.hcl:2,3: Unsupported argument"},
		},
		"duplicate host across files": {
			files: map[string]string{
				"a.hcl": "host \"web1\" {}\n",
				"b.hcl": "\n\nhost \"web1\" {\n}\n",
			},
			want:   []string{"b.hcl:3,1: Duplicate host"},
			detail: `Host "web1" was already declared at a.hcl:1,1.`,
		},
		"duplicate group": {
			files:  map[string]string{"inv.hcl": "group \"g\" {}\n  group \"g\" {}\n"},
			want:   []string{"inv.hcl:2,3: Duplicate group"},
			detail: "already declared at inv.hcl:1,1",
		},
		"duplicate defaults": {
			files: map[string]string{
				"a.hcl": "defaults {}\n",
				"b.hcl": "# b\ndefaults {}\n",
			},
			want:   []string{"b.hcl:2,1: Duplicate defaults block"},
			detail: "already declared at a.hcl:1,1",
		},
		"duplicate ssh block": {
			files: map[string]string{"inv.hcl": "host \"a\" {\n  ssh {}\n  ssh {}\n}\n"},
			want:  []string{"inv.hcl:3,3: Duplicate ssh block"},
		},
		"bad transport": {
			files:  map[string]string{"inv.hcl": "host \"web1\" {\n  transport = \"sssh\"\n}\n"},
			want:   []string{"inv.hcl:2,15: Invalid transport"},
			detail: `"sssh" is not a valid transport`,
		},
		"bad transport in defaults": {
			files: map[string]string{"inv.hcl": "defaults {\n    transport = \"rdp\"\n}\n"},
			want:  []string{"inv.hcl:2,17: Invalid transport"},
		},
		"port too large": {
			files:  map[string]string{"inv.hcl": "host \"web1\" {\n  port = 70000\n}\n"},
			want:   []string{"inv.hcl:2,10: Invalid port"},
			detail: "Port 70000 is out of range",
		},
		"port zero on a group": {
			files: map[string]string{"inv.hcl": "group \"g\" {\n  port    = 0\n}\n"},
			want:  []string{"inv.hcl:2,13: Invalid port"},
		},
		"port not a number": {
			files: map[string]string{"inv.hcl": "host \"web1\" {\n  port = \"ssh\"\n}\n"},
			want:  []string{"inv.hcl:2,10: Incorrect attribute value type"},
		},
		"port not whole": {
			files: map[string]string{"inv.hcl": "host \"web1\" {\n  port = 22.5\n}\n"},
			want:  []string{"inv.hcl:2,10: Incorrect attribute value type"},
		},
		"vars not an object": {
			files: map[string]string{"inv.hcl": "host \"web1\" {\n  vars = \"x\"\n}\n"},
			want:  []string{"inv.hcl:2,10: Invalid vars"},
		},
		"bad strict_host_key_checking": {
			files: map[string]string{"inv.hcl": "host \"a\" {\n  ssh {\n    strict_host_key_checking = \"maybe\"\n  }\n}\n"},
			want:  []string{"inv.hcl:3,32: Invalid strict_host_key_checking"},
		},
		"SHA-1 cert_thumbprint": {
			files:  map[string]string{"inv.hcl": "host \"a\" {\n  winrm {\n    cert_thumbprint = \"4e3c1d2a9f0b8c7d6e5f4a3b2c1d0e9f8a7b6c5d\"\n  }\n}\n"},
			want:   []string{"inv.hcl:3,23: Invalid cert_thumbprint"},
			detail: "SHA-1",
		},
		"short cert_thumbprint": {
			files: map[string]string{"inv.hcl": "host \"a\" {\n  winrm {\n    cert_thumbprint = \"ab:cd\"\n  }\n}\n"},
			want:  []string{"inv.hcl:3,23: Invalid cert_thumbprint"},
		},
		"children cycle": {
			files:  map[string]string{"inv.hcl": "group \"a\" {\n  children = [\"b\"]\n}\ngroup \"b\" {\n  children = [\"a\"]\n}\n"},
			want:   []string{"inv.hcl:5,14: Group cycle"},
			detail: "a -> b -> a",
		},
		"children self cycle": {
			files:  map[string]string{"inv.hcl": "group \"c\" {\n  vars = {}\n  children = [\"x\", \"c\"]\n}\n"},
			want:   []string{"inv.hcl:3,14: Group cycle"},
			detail: "c -> c",
		},
		"all as a child": {
			files: map[string]string{"inv.hcl": "group \"g\" {\n  children = [\"x\", \"all\"]\n}\n"},
			want:  []string{"inv.hcl:2,20: Invalid child group"},
		},
		"ungrouped membership": {
			files: map[string]string{"inv.hcl": "host \"a\" {\n  groups = [\"web\", \"ungrouped\"]\n}\n"},
			want:  []string{"inv.hcl:2,20: Invalid group membership"},
		},
		"host name with pattern syntax": {
			files: map[string]string{"inv.hcl": "host \"fe80::1\" {}\n"},
			want:  []string{"inv.hcl:1,6: Invalid host name"},
		},
		"group name with space": {
			files: map[string]string{"inv.hcl": "host \"a\" {\n  groups = [\"ok\", \"web servers\"]\n}\n"},
			want:  []string{"inv.hcl:2,19: Invalid group name"},
		},
		"function without eval context": {
			files: map[string]string{"inv.hcl": "host \"a\" {\n  password = secret(\"env:X\")\n}\n"},
			want:  []string{"inv.hcl:2,14: Function calls not allowed"},
		},
		"unknown function": {
			files: map[string]string{"inv.hcl": "host \"a\" {\n  password = secrte(\"env:X\")\n}\n"},
			ectx:  secretCtx(),
			want:  []string{"inv.hcl:2,14: Call to unknown function"},
		},
		"host and group share a name": {
			files: map[string]string{"inv.hcl": "host \"db\" {}\nhost \"x\" {\n  groups = [\"db\"]\n}\n"},
			want:  []string{"inv.hcl:1,1: warning: Host and group share a name"},
		},
		"errors in several files are all reported": {
			files: map[string]string{
				"a.hcl": "host \"a\" {\n  port = 0\n}\n",
				"b.hcl": "host \"b\" {\n  transport = \"x\"\n}\n",
			},
			want: []string{"a.hcl:2,10: Invalid port", "b.hcl:2,15: Invalid transport"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir, paths := writeFiles(t, tc.files)
			_, diags := Load(paths, tc.ectx)
			var got []string
			for _, d := range diags {
				if d.Subject == nil {
					t.Errorf("diagnostic without a subject: %s: %s", d.Summary, d.Detail)
					continue
				}
				sev := ""
				if d.Severity == hcl.DiagWarning {
					sev = "warning: "
				}
				rel, _ := filepath.Rel(dir, d.Subject.Filename)
				got = append(got, fmt.Sprintf("%s:%d,%d: %s%s", rel, d.Subject.Start.Line, d.Subject.Start.Column, sev, d.Summary))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("diagnostics (-want +got):\n%s\nall: %s", diff, diags.Error())
			}
			if tc.detail != "" && len(diags) > 0 {
				detail := strings.ReplaceAll(diags[0].Detail, dir+string(filepath.Separator), "")
				if !strings.Contains(detail, tc.detail) {
					t.Errorf("detail %q does not contain %q", detail, tc.detail)
				}
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nope.hcl")
	_, diags := LoadFile(p, nil)
	if len(diags) != 1 || !diags.HasErrors() || diags[0].Subject == nil || diags[0].Subject.Filename != p {
		t.Fatalf("want one error naming %s, got %v", p, diags)
	}
}

// missingSecret is an error mark, as lang.UnresolvedSecret is one.
type missingSecret string

func (m missingSecret) Error() string { return string(m) + " is not set" }

// TestUnresolvedPassword: a password whose secret cannot be resolved
// does not fail loading; it fails connecting to the hosts that use it,
// and a host that sets its own password is not affected.
func TestUnresolvedPassword(t *testing.T) {
	ectx := &hcl.EvalContext{Functions: map[string]function.Function{
		"secret": function.New(&function.Spec{
			Params: []function.Parameter{{Name: "ref", Type: cty.String}},
			Type:   function.StaticReturnType(cty.String),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				return cty.UnknownVal(cty.String).Mark("sensitive").Mark(missingSecret(args[0].AsString())), nil
			},
		}),
	}}
	inv := mustLoad(t, map[string]string{"inventory.hcl": `
group "win" {
  transport = "winrm"
  winrm {
    password = secret("WIN_PW")
  }
}
host "w1" { groups = ["win"] }
host "w2" {
  groups = ["win"]
  winrm {
    password = "given"
  }
}
host "l1" {
  become_password = secret("SUDO_PW")
}
`}, ectx)
	for name, want := range map[string]string{
		"w1": "connecting to w1 needs its winrm password: WIN_PW is not set",
		"w2": "",
		"l1": "connecting to l1 needs its become_password: SUDO_PW is not set",
	} {
		h := inv.Host(name)
		got := ""
		if err := h.SecretErr(); err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("%s: SecretErr() = %q, want %q", name, got, want)
		}
	}
	if w2 := inv.Host("w2"); w2.WinRM.Password != "given" {
		t.Errorf("w2's own password = %q", w2.WinRM.Password)
	}
}
