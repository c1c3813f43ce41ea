package inventory

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/vault"
)

// vaultFixture encrypts plaintext as ansible-vault does (format 1.1 for
// id "", else 1.2 with the label).
func vaultFixture(t *testing.T, plain, password, id string) string {
	t.Helper()
	b, err := vault.Encrypt([]byte(plain), []byte(password), id)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// inlineVault is a YAML !vault value, indented for a mapping value at
// the given indentation.
func inlineVault(t *testing.T, plain, password, id string, indent int) string {
	text := vaultFixture(t, plain, password, id)
	pad := strings.Repeat(" ", indent)
	return "!vault |\n" + pad + strings.ReplaceAll(strings.TrimSuffix(text, "\n"), "\n", "\n"+pad) + "\n"
}

func keyring(t *testing.T, ids ...string) *vault.Keyring {
	t.Helper()
	dir := t.TempDir()
	var specs []string
	for i, id := range ids {
		label, pw, _ := strings.Cut(id, "=")
		p := filepath.Join(dir, "pw"+string(rune('a'+i)))
		if err := os.WriteFile(p, []byte(pw+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if label != "" {
			p = label + "@" + p
		}
		specs = append(specs, p)
	}
	k, err := vault.NewKeyring(vault.Options{IDs: specs})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// plainVars is a host's vars as JSON text, and the names of those
// marked sensitive.
func plainVars(t *testing.T, h *Host) (map[string]string, []string) {
	t.Helper()
	vars := map[string]string{}
	var sensitive []string
	for k, v := range h.Vars {
		u, marks := v.UnmarkDeep()
		if _, ok := marks[resources.Sensitive]; ok {
			sensitive = append(sensitive, k)
		}
		b, err := ctyjson.SimpleJSONValue{Value: u}.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		vars[k] = string(b)
	}
	slices.Sort(sensitive)
	return vars, sensitive
}

const iniInventory = "[web]\nweb1 ansible_host=10.0.0.1 role=front\n[web:vars]\nntp=pool.ntp.org\n"

// TestVaultINIWithoutPassword: an encrypted INI inventory without a
// password is an error naming the file, and none of its ciphertext
// lines is read as a host.
func TestVaultINIWithoutPassword(t *testing.T) {
	dir := writeTree(t, map[string]string{"hosts": vaultFixture(t, iniInventory, "pw1", "")})
	inv, diags := loadSources(t, dir, Options{}, "hosts")
	if diff := cmp.Diff([]string{"hosts:1,1: Cannot decrypt inventory"}, diagStrings(dir, diags)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	want := filepath.Join(dir, "hosts") + " is encrypted with Ansible Vault; give --vault-password-file or --vault-id."
	if diags[0].Detail != want {
		t.Errorf("detail = %q, want %q", diags[0].Detail, want)
	}
	if hs := inv.Hosts(); len(hs) != 0 {
		t.Errorf("hosts read from an encrypted file: %v", groupsOf(inv))
	}
}

func TestVaultWrongPassword(t *testing.T) {
	dir := writeTree(t, map[string]string{"hosts": vaultFixture(t, iniInventory, "pw1", "prod")})
	_, diags := loadSources(t, dir, Options{Vault: keyring(t, "prod=nope", "dev=other")}, "hosts")
	if !diags.HasErrors() || !strings.Contains(diags[0].Detail, "wrong vault password for vault id prod (2 tried)") ||
		!strings.Contains(diags[0].Detail, "HMAC mismatch") {
		t.Fatalf("diags = %s", diags.Error())
	}
}

// TestVaultSources loads every kind of vault data at once: an encrypted
// INI inventory (1.1), a YAML inventory with inline values under two
// vault ids (1.2), an encrypted group_vars file, a host_vars directory
// mixing an encrypted and a plain file, and a JSON vars file with an
// {"__ansible_vault": ...} value.
func TestVaultSources(t *testing.T) {
	yamlInv := "db:\n  hosts:\n    db1:\n      ansible_become_password: " + inlineVault(t, "b3come", "pw-prod", "prod", 8) +
		"      db_password: " + inlineVault(t, "s3cret", "pw-dev", "dev", 8) +
		"      port_note: plain\n"
	jsonVal := strings.ReplaceAll(strings.TrimSuffix(vaultFixture(t, "json-secret", "pw-dev", "dev"), "\n"), "\n", `\n`)
	dir := writeTree(t, map[string]string{
		"hosts":                    vaultFixture(t, iniInventory, "pw-default", ""),
		"db.yml":                   yamlInv,
		"group_vars/web.yml":       vaultFixture(t, "api_key: k3y\nntp: from-group-vars\n", "pw-prod", "prod"),
		"host_vars/web1/vault.yml": vaultFixture(t, "token: t0ken\n", "pw-dev", "dev"),
		"host_vars/web1/plain.yml": "colour: blue\n",
		"host_vars/db1.json":       `{"api": {"__ansible_vault": "` + jsonVal + `"}}`,
	})
	k := keyring(t, "prod=pw-prod", "dev=pw-dev", "=pw-default")
	inv, diags := loadSources(t, dir, Options{Vault: k}, "hosts", "db.yml")
	if diags.HasErrors() {
		t.Fatalf("%s", diags.Error())
	}
	web1 := inv.Host("web1")
	db1 := inv.Host("db1")
	if web1 == nil || db1 == nil {
		t.Fatalf("hosts: %v", groupsOf(inv))
	}
	if web1.Address != "10.0.0.1" || db1.BecomePassword != "b3come" {
		t.Errorf("web1 address %q, db1 become password %q", web1.Address, db1.BecomePassword)
	}
	vars, sensitive := plainVars(t, web1)
	wantVars := map[string]string{"role": `"front"`, "ntp": `"from-group-vars"`, "api_key": `"k3y"`, "token": `"t0ken"`, "colour": `"blue"`}
	if diff := cmp.Diff(wantVars, vars); diff != "" {
		t.Errorf("web1 vars (-want +got):\n%s", diff)
	}
	// Everything from an encrypted file is sensitive; the plain file's
	// colour is not.
	if diff := cmp.Diff([]string{"api_key", "ntp", "role", "token"}, sensitive); diff != "" {
		t.Errorf("web1 sensitive vars (-want +got):\n%s", diff)
	}
	vars, sensitive = plainVars(t, db1)
	wantVars = map[string]string{"db_password": `"s3cret"`, "port_note": `"plain"`, "api": `"json-secret"`}
	if diff := cmp.Diff(wantVars, vars); diff != "" {
		t.Errorf("db1 vars (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"api", "db_password"}, sensitive); diff != "" {
		t.Errorf("db1 sensitive vars (-want +got):\n%s", diff)
	}
	// Diagnostics never quote a decrypted file.
	for _, p := range []string{"hosts", "group_vars/web.yml", "host_vars/web1/vault.yml"} {
		if f := inv.Files()[filepath.Join(dir, p)]; f == nil || len(f.Bytes) != 0 {
			t.Errorf("%s: the decrypted text is kept for diagnostics", p)
		}
	}
}

// TestVaultInlineWithoutPassword names the file and line of the value.
func TestVaultInlineWithoutPassword(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"inv.yml": "web:\n  hosts:\n    web1:\n      pw: " + inlineVault(t, "x", "pw", "", 8),
	})
	_, diags := loadSources(t, dir, Options{}, "inv.yml")
	if diff := cmp.Diff([]string{"inv.yml:4,11: Invalid YAML inventory"}, diagStrings(dir, diags)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if want := filepath.Join(dir, "inv.yml") + ":4 is encrypted with Ansible Vault; give --vault-password-file or --vault-id."; diags[0].Detail != want {
		t.Errorf("detail = %q, want %q", diags[0].Detail, want)
	}
}

// TestVaultMarkIsCtyMark: an inline vault value's cty value carries
// the sensitive mark templates propagate.
func TestVaultMarkIsCtyMark(t *testing.T) {
	v := (&aval{kind: aScalar, v: cty.StringVal("x"), secret: true}).cty()
	if !v.HasMark(resources.Sensitive) {
		t.Error("inline vault value not marked sensitive")
	}
}
