package ssh

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tendhq/tend/inventory"
)

func resolveWith(t *testing.T, config string, h inventory.Host, opts Options) *settings {
	t.Helper()
	home := t.TempDir()
	cfg := filepath.Join(home, "config")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	opts.Home = home
	if opts.SSHConfigPath == "" {
		opts.SSHConfigPath = cfg
	}
	s, err := resolve(&h, &opts)
	if err != nil {
		t.Fatalf("resolve: %v", err)
	}
	return s
}

func identityPaths(e endpoint) []string {
	var p []string
	for _, f := range e.identityFiles {
		p = append(p, f.path)
	}
	return p
}

func TestResolveSSHConfig(t *testing.T) {
	config := `
Host web*
  HostName %h.example.internal
  Port 2222
  User deploy
  IdentityFile ~/.ssh/web_key
  IdentityFile %d/keys/%r@%h
  ProxyJump ops@bastion:2200
  ServerAliveInterval 5
  ConnectTimeout 3
Host bastion
  HostName 10.9.9.9
  IdentityFile ~/.ssh/bastion_key
Host *
  User fallback
  StrictHostKeyChecking accept-new
  UserKnownHostsFile ~/.ssh/kh1 %d/kh2
  HashKnownHosts yes
`
	s := resolveWith(t, config, inventory.Host{Name: "web1"}, Options{})
	home := s.home
	if got, want := s.target.addr(), "web1.example.internal:2222"; got != want {
		t.Errorf("target %s, want %s", got, want)
	}
	if s.target.user != "deploy" || s.target.label != "web1" {
		t.Errorf("user %q label %q", s.target.user, s.target.label)
	}
	wantIDs := []string{
		home + "/.ssh/web_key",
		home + "/keys/deploy@web1.example.internal",
		home + "/.ssh/id_ed25519", home + "/.ssh/id_ecdsa", home + "/.ssh/id_rsa",
	}
	if diff := cmp.Diff(wantIDs, identityPaths(s.target)); diff != "" {
		t.Errorf("identity files (-want +got):\n%s", diff)
	}
	if len(s.jumps) != 1 {
		t.Fatalf("jumps: %+v", s.jumps)
	}
	j := s.jumps[0]
	if j.addr() != "10.9.9.9:2200" || j.user != "ops" || j.keyHost != "10.9.9.9:2200" {
		t.Errorf("jump %+v", j)
	}
	if ids := identityPaths(j); ids[0] != home+"/.ssh/bastion_key" {
		t.Errorf("jump identities %v", ids)
	}
	if s.strict != strictAcceptNew || !s.hashKnownHosts {
		t.Errorf("strict %q hash %v", s.strict, s.hashKnownHosts)
	}
	if diff := cmp.Diff([]string{home + "/.ssh/kh1", home + "/kh2"}, s.knownHosts); diff != "" {
		t.Errorf("known hosts (-want +got):\n%s", diff)
	}
	if s.keepAlive != 5*time.Second || s.connectTimeout != 3*time.Second || s.keepAliveCount != 3 {
		t.Errorf("keepalive %s x%d, connect timeout %s", s.keepAlive, s.keepAliveCount, s.connectTimeout)
	}
}

func TestResolveInventoryWins(t *testing.T) {
	config := `
Host 10.0.0.11
  HostName 10.0.0.99
  Port 2222
  User deploy
  IdentityFile ~/.ssh/config_key
  ProxyJump bastion
  StrictHostKeyChecking no
  UserKnownHostsFile ~/.ssh/config_known
`
	h := inventory.Host{
		Name: "web1", Address: "10.0.0.11", Port: 22, User: "ops",
		IdentityFile: "~/.ssh/inventory_key",
		SSH: inventory.SSHSettings{
			ProxyJump: "none", StrictHostKeyChecking: "yes", KnownHostsFile: "/etc/tend/known_hosts",
		},
	}
	s := resolveWith(t, config, h, Options{AcceptNewHostKeys: true, KnownHostsPath: "/opt/known"})
	// HostName still applies: the inventory gave an address, ssh config
	// says what it really is (as `ssh 10.0.0.11` would).
	if s.target.addr() != "10.0.0.99:22" || s.target.user != "ops" {
		t.Errorf("target %s@%s", s.target.user, s.target.addr())
	}
	if ids := identityPaths(s.target); ids[0] != s.home+"/.ssh/inventory_key" || ids[1] != s.home+"/.ssh/config_key" {
		t.Errorf("identity order %v", ids)
	}
	if len(s.jumps) != 0 {
		t.Errorf("ProxyJump none: %+v", s.jumps)
	}
	if s.strict != strictYes {
		t.Errorf("strict %q, want yes from the inventory", s.strict)
	}
	if diff := cmp.Diff([]string{"/etc/tend/known_hosts"}, s.knownHosts); diff != "" {
		t.Errorf("known hosts: %s", diff)
	}

	// Options sit between the inventory and ssh config.
	h.SSH = inventory.SSHSettings{}
	s = resolveWith(t, config, h, Options{AcceptNewHostKeys: true, KnownHostsPath: "/opt/known", KeepAlive: -1})
	if s.strict != strictAcceptNew || s.knownHosts[0] != "/opt/known" || s.keepAlive >= 0 {
		t.Errorf("options: strict %q known %v keepalive %s", s.strict, s.knownHosts, s.keepAlive)
	}
	if len(s.jumps) != 1 || s.jumps[0].host != "bastion" {
		t.Errorf("jumps from config: %+v", s.jumps)
	}
}

func TestResolveDefaults(t *testing.T) {
	s := resolveWith(t, "", inventory.Host{Name: "db1"}, Options{})
	if s.target.addr() != "db1:22" || s.target.user == "" || s.strict != strictYes {
		t.Errorf("defaults: %s@%s strict %s", s.target.user, s.target.addr(), s.strict)
	}
	if s.knownHosts[0] != filepath.Join(s.home, ".ssh", "known_hosts") || s.keepAlive != defaultKeepAlive || s.connectTimeout != defaultConnectTimeout {
		t.Errorf("defaults: %v %s %s", s.knownHosts, s.keepAlive, s.connectTimeout)
	}
	if s.target.keyHost != "db1:22" {
		t.Errorf("keyHost %s", s.target.keyHost)
	}
	s = resolveWith(t, "Host db1\n  HostKeyAlias db-cluster\n  Port 2022\n", inventory.Host{Name: "db1"}, Options{})
	if s.target.keyHost != "db-cluster:2022" {
		t.Errorf("HostKeyAlias: keyHost %s", s.target.keyHost)
	}
}

func TestResolveErrors(t *testing.T) {
	home := t.TempDir()
	for name, tc := range map[string]struct {
		config string
		host   inventory.Host
		want   string
	}{
		"bad port":      {"Host *\n  Port http\n", inventory.Host{Name: "a"}, "bad Port"},
		"bad strict":    {"", inventory.Host{Name: "a", SSH: inventory.SSHSettings{StrictHostKeyChecking: "maybe"}}, "StrictHostKeyChecking"},
		"bad jump":      {"", inventory.Host{Name: "a", SSH: inventory.SSHSettings{ProxyJump: "u@[::1"}}, "unclosed"},
		"missing file":  {"", inventory.Host{Name: "a", SSH: inventory.SSHSettings{ConfigFile: filepath.Join(home, "nope")}}, "read ssh config"},
		"bad jump port": {"", inventory.Host{Name: "a", SSH: inventory.SSHSettings{ProxyJump: "b:99999"}}, "bad port"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "config")
			os.WriteFile(cfg, []byte(tc.config), 0o600)
			_, err := resolve(&tc.host, &Options{Home: home, SSHConfigPath: cfg})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestParseJump(t *testing.T) {
	for spec, want := range map[string][3]string{
		"bastion":               {"", "bastion", "0"},
		"ops@bastion":           {"ops", "bastion", "0"},
		"ops@bastion:2222":      {"ops", "bastion", "2222"},
		"bastion:2222":          {"", "bastion", "2222"},
		"[::1]:2222":            {"", "::1", "2222"},
		"u@[fe80::1]":           {"u", "fe80::1", "0"},
		"::1":                   {"", "::1", "0"},
		"ssh://ops@bastion:22":  {"ops", "bastion", "22"},
		"me@corp.com@jump:2022": {"me@corp.com", "jump", "2022"},
	} {
		u, h, p, err := parseJump(spec)
		if err != nil {
			t.Errorf("%q: %v", spec, err)
			continue
		}
		if got := [3]string{u, h, strconv.Itoa(p)}; got != want {
			t.Errorf("%q: got %q, want %q", spec, got, want)
		}
	}
}

// TestSSHConfigDecodedOnce: a run's hosts share one decoding of an ssh
// config file, and a file changed since (size or modification time) is
// decoded again.
func TestSSHConfigDecodedOnce(t *testing.T) {
	p := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(p, []byte("Host *\n  ConnectTimeout 5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := loadSSHConfig(p, true)
	if err != nil {
		t.Fatal(err)
	}
	b, err := loadSSHConfig(p, true)
	if err != nil {
		t.Fatal(err)
	}
	if a.files[0] != b.files[0] {
		t.Error("the same unchanged file was decoded twice")
	}
	if err := os.WriteFile(p, []byte("Host *\n  ConnectTimeout 15\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := loadSSHConfig(p, true)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.get("h", "ConnectTimeout"); got != "15" {
		t.Errorf("after the file changed: ConnectTimeout %q, want 15", got)
	}
}
