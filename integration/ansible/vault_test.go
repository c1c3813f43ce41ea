package ansible

import (
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/integration/lab"
	"github.com/tendhq/tend/inventory"
	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/vault"
)

// TestDifferentialVault writes an inventory with ansible-vault itself:
// an INI inventory encrypted whole (format 1.1, --vault-password-file),
// a YAML inventory with inline encrypt_string values under two vault
// ids (1.2: prod from a file, dev from a -client script), an encrypted
// group_vars file and a host_vars directory mixing an encrypted and a
// plain file. tend must read what `ansible-inventory --list` reads with
// the same passwords (inline values decrypted by ansible-vault), mark
// every vaulted value sensitive, and fail, naming the file, without a
// password, with a wrong one, or with a tampered file.
func TestDifferentialVault(t *testing.T) {
	lab.Required(t)
	for _, tool := range []string{"ansible-vault", "ansible-inventory"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("TEND_LAB=1 but %s is not installed: run integration/scripts/ansible-deps.sh", tool)
		}
	}
	dir := t.TempDir()
	pws := t.TempDir()
	write := func(dir, name, content string, mode os.FileMode) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	defaultPW := write(pws, "default-pw", "default password\n", 0o600)
	prodPW := write(pws, "prod-pw", "prod password\n", 0o600)
	wrongPW := write(pws, "wrong-pw", "not it\n", 0o600)
	// Answers only for --vault-id dev, as Ansible's client protocol has it.
	devClient := write(pws, "dev-client.sh", "#!/bin/sh\n[ \"$1\" = --vault-id ] && [ \"$2\" = dev ] || exit 2\necho 'dev password'\n", 0o700)
	ids := []string{"--vault-password-file", defaultPW, "--vault-id", "prod@" + prodPW, "--vault-id", "dev@" + devClient}

	c := &diffCase{t: t, dir: dir, cwd: t.TempDir(), sem: make(chan struct{}, 2), vaultArgs: ids}
	c.setEnv()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir, cmd.Env = dir, c.env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	encryptString := func(value, id, source, name string) string {
		out := run("ansible-vault", "encrypt_string", "--vault-id", id+"@"+source, "--encrypt-vault-id", id, "--name", name, value)
		if !strings.Contains(out, "$ANSIBLE_VAULT;1.2;AES256;"+id) {
			t.Fatalf("encrypt_string wrote:\n%s", out)
		}
		// Indent the "name: !vault |" block under a host.
		return "      " + strings.ReplaceAll(strings.TrimRight(out, "\n"), "\n", "\n      ") + "\n"
	}

	hosts := write(dir, "hosts", "[web]\nweb1 ansible_host=10.0.0.1 secret_role=front\nweb2 ansible_port=2222\n[web:vars]\nntp=pool.ntp.org\n[db:children]\nweb\n", 0o644)
	run("ansible-vault", "encrypt", "--vault-password-file", defaultPW, hosts)
	write(dir, "inv.yml", "db:\n  hosts:\n    db1:\n"+
		encryptString("b3come-pw", "prod", prodPW, "ansible_become_password")+
		encryptString("s3cret: not yaml", "dev", devClient, "secret_db_password")+
		"      plain_note: hello\n", 0o644)
	gv := write(dir, "group_vars/web.yml", "secret_api_key: k3y\nsecret_list: [1, two]\n", 0o644)
	run("ansible-vault", "encrypt", "--vault-id", "prod@"+prodPW, "--encrypt-vault-id", "prod", gv)
	hv := write(dir, "host_vars/web1/vault.yml", "secret_token: t0ken\n", 0o644)
	run("ansible-vault", "encrypt", "--vault-id", "dev@"+devClient, "--encrypt-vault-id", "dev", hv)
	write(dir, "host_vars/web1/plain.yml", "colour: blue\n", 0o644)
	for _, p := range []string{hosts, gv, hv} {
		b, _ := os.ReadFile(p)
		if !vault.IsEncrypted(b) {
			t.Fatalf("%s is not encrypted", p)
		}
	}
	c.sources = []string{hosts, filepath.Join(dir, "inv.yml")}

	keys := func(t *testing.T, o vault.Options) *vault.Keyring {
		k, err := vault.NewKeyring(o)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	c.load(inventory.Options{Vault: keys(t, vault.Options{PasswordFiles: []string{defaultPW}, IDs: []string{"prod@" + prodPW, "dev@" + devClient}})})
	nh, nv := c.compareInventory()
	t.Logf("compared %d hosts and %d vars with %s", nh, nv, strings.SplitN(run("ansible", "--version"), "\n", 2)[0])
	if nh != 3 || nv < 10 {
		t.Errorf("compared %d hosts and %d vars, want 3 and at least 10", nh, nv)
	}
	for _, h := range c.inv.Hosts() {
		for k, v := range h.Vars {
			if strings.HasPrefix(k, "secret_") && !v.ContainsMarked() {
				t.Errorf("host %s: vaulted var %s is not marked", h.Name, k)
			}
			if k == "colour" || k == "plain_note" {
				if _, marks := v.UnmarkDeep(); len(marks) != 0 {
					t.Errorf("host %s: plain var %s is marked %v", h.Name, k, marks)
				}
			}
			if _, marks := v.UnmarkDeep(); len(marks) != 0 {
				if _, ok := marks[resources.Sensitive]; !ok {
					t.Errorf("host %s: var %s has marks %v, not sensitive", h.Name, k, marks)
				}
			}
		}
	}
	if db1 := c.inv.Host("db1"); db1 == nil || db1.BecomePassword != "b3come-pw" {
		t.Errorf("db1's become password from an inline vault value: %+v", db1)
	}

	// The prod password given without its label: the prod texts (1.2)
	// still open with it, as Ansible tries every password after those of
	// the text's own id.
	t.Run("unlabelled", func(t *testing.T) {
		inv, diags := inventory.LoadContext(t.Context(), c.sources, inventory.Options{Vault: keys(t, vault.Options{IDs: []string{prodPW, "dev@" + devClient, defaultPW}})})
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		if h := inv.Host("web1"); h == nil || h.Vars["secret_api_key"] == cty.NilVal {
			t.Errorf("web1 lacks the prod group_vars: %+v", h)
		}
	})

	failures := []struct {
		name string
		opts vault.Options
		want string
	}{
		{"no password", vault.Options{}, hosts + " is encrypted with Ansible Vault; give --vault-password-file or --vault-id"},
		{"wrong password", vault.Options{PasswordFiles: []string{wrongPW}}, hosts + ": wrong vault password for vault id default (1 tried)"},
	}
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			inv, diags := inventory.LoadContext(t.Context(), c.sources[:1], inventory.Options{Vault: keys(t, f.opts)})
			if !diags.HasErrors() || !strings.Contains(diags.Error(), f.want) {
				t.Fatalf("diags = %v, want %q", diags, f.want)
			}
			if len(inv.Hosts()) != 0 {
				t.Errorf("hosts from a file that could not be decrypted: %v", inv.Hosts())
			}
			// Ansible fails too.
			cmd := exec.Command("ansible-inventory", "-i", hosts, "--list")
			cmd.Dir, cmd.Env = dir, c.env
			if f.opts.PasswordFiles != nil {
				cmd.Args = append(cmd.Args, "--vault-password-file", wrongPW)
			}
			out, _ := cmd.CombinedOutput()
			if strings.Contains(string(out), "web1") {
				t.Errorf("ansible-inventory read the hosts:\n%s", out)
			}
		})
	}

	t.Run("tampered", func(t *testing.T) {
		b, err := os.ReadFile(gv)
		if err != nil {
			t.Fatal(err)
		}
		tdir := t.TempDir()
		tampered := write(tdir, "group_vars/web.yml", tamper(t, string(b)), 0o644)
		inv := write(tdir, "hosts", "[web]\nweb1\n", 0o644)
		_, diags := inventory.LoadContext(t.Context(), []string{inv}, inventory.Options{Vault: keys(t, vault.Options{IDs: []string{"prod@" + prodPW}})})
		if !diags.HasErrors() || !strings.Contains(diags.Error(), tampered+": wrong vault password for vault id prod (1 tried) (HMAC mismatch") {
			t.Errorf("tampered: %v, want an HMAC error naming the file", diags)
		}
		// ansible-vault refuses it too.
		cmd := exec.Command("ansible-vault", "view", "--vault-id", "prod@"+prodPW, tampered)
		cmd.Env = c.env
		if out, err := cmd.CombinedOutput(); err == nil {
			t.Errorf("ansible-vault opened the tampered file:\n%s", out)
		}
	})
}

// tamper changes one hex digit of a vault text's ciphertext, keeping the
// envelope well formed.
func tamper(t *testing.T, text string) string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(text), "\n")
	inner, err := hex.DecodeString(strings.Join(lines[1:], ""))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.SplitN(string(inner), "\n", 3)
	ct := []byte(parts[2])
	if ct[0] == 'a' {
		ct[0] = 'b'
	} else {
		ct[0] = 'a'
	}
	parts[2] = string(ct)
	body := hex.EncodeToString([]byte(strings.Join(parts, "\n")))
	var out strings.Builder
	fmt.Fprintln(&out, lines[0])
	for i := 0; i < len(body); i += 80 {
		fmt.Fprintln(&out, body[i:min(i+80, len(body))])
	}
	return out.String()
}
