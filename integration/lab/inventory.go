package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// InventoryOption changes what WriteInventory writes.
type InventoryOption func(*inventoryConfig)

type inventoryConfig struct {
	user           string
	groups         []string
	become         bool
	becomePassword string
	hosts          []int
	sshConfig      string
}

// InventoryUser sets the login user of every host (default "root"); use
// OpsUser with InventoryBecome to test privilege escalation.
func InventoryUser(user string) InventoryOption {
	return func(c *inventoryConfig) { c.user = user }
}

// InventoryGroups sets the groups every host is in (default ["lab"]).
func InventoryGroups(groups ...string) InventoryOption {
	return func(c *inventoryConfig) { c.groups = groups }
}

// InventoryBecome makes every host become root with sudo; a non-empty
// password (OpsSudoPassword for OpsUser) is written as become_password.
func InventoryBecome(password string) InventoryOption {
	return func(c *inventoryConfig) { c.become, c.becomePassword = true, password }
}

// InventoryHosts limits the inventory to the hosts with these indexes.
func InventoryHosts(indexes ...int) InventoryOption {
	return func(c *inventoryConfig) { c.hosts = indexes }
}

// InventorySSHConfig names an ssh config file for every host (the ssh
// block's config_file), e.g. to set ConnectTimeout.
func InventorySSHConfig(path string) InventoryOption {
	return func(c *inventoryConfig) { c.sshConfig = path }
}

// WriteInventory writes a tend native HCL inventory of the lab's hosts to
// path (atomically), e.g.
//
//	host "lab1" {
//	  address       = "127.0.10.1"
//	  user          = "root"
//	  identity_file = "/tmp/tend-lab-123/id_ed25519"
//	  groups        = ["lab"]
//	  ssh {
//	    known_hosts_file = "/tmp/tend-lab-123/known_hosts"
//	  }
//	}
func (l *Lab) WriteInventory(path string, opts ...InventoryOption) error {
	c := inventoryConfig{user: "root", groups: []string{"lab"}}
	for _, o := range opts {
		o(&c)
	}
	hosts := l.Hosts
	if c.hosts != nil {
		hosts = nil
		for _, i := range c.hosts {
			h, err := l.host(i)
			if err != nil {
				return err
			}
			hosts = append(hosts, h)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Lab %s, written by integration/lab.\n", l.id)
	for _, h := range hosts {
		b.WriteString(inventoryHost(h, l.ClientKeyFile(), l.KnownHostsFile(), c))
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".inventory-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(b.String()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func inventoryHost(h *Host, key, known string, c inventoryConfig) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nhost %s {\n", hclString(h.Name))
	fmt.Fprintf(&b, "  address       = %s\n", hclString(h.Address))
	fmt.Fprintf(&b, "  user          = %s\n", hclString(c.user))
	fmt.Fprintf(&b, "  identity_file = %s\n", hclString(key))
	groups := make([]string, len(c.groups))
	for i, g := range c.groups {
		groups[i] = hclString(g)
	}
	fmt.Fprintf(&b, "  groups        = [%s]\n", strings.Join(groups, ", "))
	if c.become {
		b.WriteString("  become        = true\n")
		if c.becomePassword != "" {
			fmt.Fprintf(&b, "  become_password = %s\n", hclString(c.becomePassword))
		}
	}
	b.WriteString("  ssh {\n")
	fmt.Fprintf(&b, "    known_hosts_file = %s\n", hclString(known))
	if c.sshConfig != "" {
		fmt.Fprintf(&b, "    config_file      = %s\n", hclString(c.sshConfig))
	}
	b.WriteString("  }\n}\n")
	return b.String()
}

// hclString quotes s as an HCL string literal: JSON-style escapes, plus
// doubling the "${" and "%{" that would otherwise start a template.
func hclString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '$', '%':
			b.WriteRune(r)
			if i+1 < len(s) && s[i+1] == '{' {
				b.WriteRune(r)
			}
		default:
			if r < 0x20 {
				fmt.Fprintf(&b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}
