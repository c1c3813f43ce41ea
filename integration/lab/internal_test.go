package lab

import (
	"crypto/ed25519"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2/hclparse"
)

func TestMarshalSSHKeyReadByOpenSSH(t *testing.T) {
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen not installed")
	}
	k, err := newSSHKey("test@lab")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "id_ed25519")
	if err := writeKeyPair(path, k); err != nil {
		t.Fatal(err)
	}
	// ssh-keygen -y derives the public key from the private key file.
	out, err := exec.Command("ssh-keygen", "-y", "-f", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen -y: %v: %s", err, out)
	}
	if got, want := publicKeyTypeAndData(string(out)), publicKeyTypeAndData(k.Public); got != want {
		t.Errorf("ssh-keygen -y = %q, want %q", got, want)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("private key mode = %v, %v; want 0600", st.Mode(), err)
	}
}

func TestMarshalSSHKeyDeterministicParts(t *testing.T) {
	seed := make([]byte, ed25519.SeedSize)
	priv := ed25519.NewKeyFromSeed(seed)
	k := marshalSSHKey(priv.Public().(ed25519.PublicKey), priv, "c")
	// The public key of the all-zero seed, as ssh-keygen prints it.
	want := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop c"
	if k.Public != want {
		t.Errorf("Public = %q, want %q", k.Public, want)
	}
	if !strings.HasPrefix(string(k.Private), "-----BEGIN OPENSSH PRIVATE KEY-----\n") {
		t.Errorf("Private = %q", k.Private)
	}
}

func TestParseMountinfo(t *testing.T) {
	data := []byte(`22 26 0:21 / /sys rw,relatime - sysfs sysfs rw
97 26 0:60 / /tmp/tend-lab-1/lab1/root rw,relatime shared:5 - overlay overlay rw,lowerdir=/var/cache/x
98 26 0:61 / /tmp/with\040space rw - tmpfs my\040src rw
`)
	want := []mountEntry{
		{Point: "/sys", FSType: "sysfs", Source: "sysfs"},
		{Point: "/tmp/tend-lab-1/lab1/root", FSType: "overlay", Source: "overlay"},
		{Point: "/tmp/with space", FSType: "tmpfs", Source: "my src"},
	}
	if diff := cmp.Diff(want, parseMountinfo(data)); diff != "" {
		t.Errorf("parseMountinfo (-want +got):\n%s", diff)
	}
}

func TestIsUnder(t *testing.T) {
	tests := map[string]struct {
		path, dir string
		want      bool
	}{
		"same":    {"/tmp/a", "/tmp/a", true},
		"inside":  {"/tmp/a/b", "/tmp/a", true},
		"sibling": {"/tmp/ab", "/tmp/a", false},
		"parent":  {"/tmp", "/tmp/a", false},
	}
	for name, tt := range tests {
		if got := isUnder(tt.path, tt.dir); got != tt.want {
			t.Errorf("%s: isUnder(%q, %q) = %v", name, tt.path, tt.dir, got)
		}
	}
}

func TestAllocateOctets(t *testing.T) {
	tests := map[string]struct {
		used    [][]int
		n       int
		want    []int
		wantErr bool
	}{
		"alone":        {n: 3, want: []int{1, 2, 3}},
		"after other":  {used: [][]int{{1, 2, 3}}, n: 2, want: []int{4, 5}},
		"fills a hole": {used: [][]int{{1}, {4, 5}}, n: 2, want: []int{2, 3}},
		"skips small":  {used: [][]int{{1}, {3}}, n: 2, want: []int{4, 5}},
		"full":         {used: [][]int{seq(1, 250)}, n: 5, wantErr: true},
		"fragmented":   {used: [][]int{seq(1, 250), {252}}, n: 3, want: []int{251, 253, 254}},
	}
	for name, tt := range tests {
		states := map[string]*labState{}
		for i, u := range tt.used {
			states[string(rune('a'+i))] = &labState{Octets: u}
		}
		got, err := allocateOctets(states, tt.n)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: err = %v", name, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
}

func seq(a, b int) []int {
	var out []int
	for i := a; i <= b; i++ {
		out = append(out, i)
	}
	return out
}

func TestWriteInventory(t *testing.T) {
	dir := t.TempDir()
	l := &Lab{id: "lab-0000", dir: "/tmp/tend-lab-x"}
	for i := 1; i <= 2; i++ {
		l.Hosts = append(l.Hosts, &Host{Name: "lab" + string(rune('0'+i)), Address: "127.0.10." + string(rune('0'+i)), Index: i})
	}
	tests := map[string]struct {
		opts []InventoryOption
		want string
	}{
		"default": {want: `# Lab lab-0000, written by integration/lab.

host "lab1" {
  address       = "127.0.10.1"
  user          = "root"
  identity_file = "/tmp/tend-lab-x/id_ed25519"
  groups        = ["lab"]
  ssh {
    known_hosts_file = "/tmp/tend-lab-x/known_hosts"
  }
}

host "lab2" {
  address       = "127.0.10.2"
  user          = "root"
  identity_file = "/tmp/tend-lab-x/id_ed25519"
  groups        = ["lab"]
  ssh {
    known_hosts_file = "/tmp/tend-lab-x/known_hosts"
  }
}
`},
		"ops with become, one host": {
			opts: []InventoryOption{InventoryUser(OpsUser), InventoryBecome(OpsSudoPassword), InventoryGroups("lab", "linux"), InventoryHosts(2)},
			want: `# Lab lab-0000, written by integration/lab.

host "lab2" {
  address       = "127.0.10.2"
  user          = "ops"
  identity_file = "/tmp/tend-lab-x/id_ed25519"
  groups        = ["lab", "linux"]
  become        = true
  become_password = "tend-lab-sudo"
  ssh {
    known_hosts_file = "/tmp/tend-lab-x/known_hosts"
  }
}
`},
	}
	for name, tt := range tests {
		path := filepath.Join(dir, "inventory.hcl")
		if err := l.WriteInventory(path, tt.opts...); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, string(data)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
		if _, diags := hclparse.NewParser().ParseHCL(data, path); diags.HasErrors() {
			t.Errorf("%s: not valid HCL: %s", name, diags)
		}
	}
	if err := l.WriteInventory(filepath.Join(dir, "x.hcl"), InventoryHosts(3)); err == nil {
		t.Error("WriteInventory with a host that does not exist succeeded")
	}
}

func TestHCLString(t *testing.T) {
	tests := map[string]string{
		`/tmp/a`:     `"/tmp/a"`,
		`a"b\c`:      `"a\"b\\c"`,
		"${x} %{y}":  `"$${x} %%{y}"`,
		"$x 100%":    `"$x 100%"`,
		"line\nnext": `"line\nnext"`,
	}
	for in, want := range tests {
		if got := hclString(in); got != want {
			t.Errorf("hclString(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestRecipeHash(t *testing.T) {
	a, b := bookworm(), bookworm()
	if a.hash() != b.hash() {
		t.Fatal("recipe hash is not stable")
	}
	if !strings.HasPrefix(a.dirName(), "base-bookworm-") || len(a.dirName()) != len("base-bookworm-")+12 {
		t.Errorf("dirName = %q", a.dirName())
	}
	b.Masked = append(b.Masked, "x.service")
	if a.hash() == b.hash() {
		t.Error("changing the recipe does not change its hash")
	}
	// A package added to the list is a new image, not the cached one.
	c := bookworm()
	c.Packages = c.Packages[:len(c.Packages)-1]
	if a.hash() == c.hash() {
		t.Error("changing the package list does not change the hash")
	}
	// The file tests read ACLs and extended attributes on the host.
	for _, p := range []string{"acl", "attr"} {
		if !slices.Contains(a.Packages, p) {
			t.Errorf("the base image lacks the %s package", p)
		}
	}
}

func TestOptionsDefaults(t *testing.T) {
	o, err := Options{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if o.Hosts != 1 || o.Name != "lab" || o.BootTimeout == 0 || o.CacheDir != DefaultCacheDir || o.Mirror == "" {
		t.Errorf("defaults = %+v", o)
	}
	for _, bad := range []Options{{Hosts: 255}, {Hosts: -1}, {Name: "Lab"}, {Name: "a_b"}, {Name: strings.Repeat("a", 21)}} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
