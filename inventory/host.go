package inventory

import (
	"fmt"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Host is one target machine and everything tend needs to reach it.
type Host struct {
	// Name is the inventory name, used in patterns and output.
	Name string
	// Address is what the transport dials (host name or IP); defaults to
	// Name. Ansible: ansible_host.
	Address string
	// Port is the transport port; 0 means the transport's default (22 for
	// ssh). Ansible: ansible_port, or host:port.
	Port int
	// User logs in; empty means the transport's default (ssh config,
	// current user). Ansible: ansible_user.
	User string
	// Transport is "local", "ssh" or "winrm". From an Ansible inventory
	// whose ansible_connection names a plugin tend has no transport for
	// (docker, network_cli...), it is that name, so connecting fails
	// with it rather than going over ssh (Load warns).
	Transport string
	// Groups the host belongs to, directly or through child groups, sorted.
	// Every host is also in "all".
	Groups []string
	// Vars are the merged variables: defaults < group (parents before
	// children) < host; see LoadContext. Ansible's connection variables
	// (ansible_host, ansible_port, ansible_user, ansible_password,
	// ansible_connection, ansible_become*, ...) are not in Vars: they set
	// the fields of Host instead.
	Vars map[string]cty.Value
	// Become runs every script through sudo (BecomeUser, default root).
	// Ansible: ansible_become, ansible_become_user.
	Become     bool
	BecomeUser string
	// BecomeMethod is how: "sudo" (also when empty), "su" or "doas" over
	// ssh. Ansible: ansible_become_method; another plugin's name is kept,
	// and the transport refuses it by name.
	BecomeMethod string
	// ShellType is Ansible's ansible_shell_type when set ("sh",
	// "powershell", ...). Over ssh tend runs POSIX sh, and refuses a
	// host whose shell is powershell or cmd.
	ShellType string
	// BecomePassword is the sudo (or su) password, usually from secret(...); empty
	// means sudo must not ask. Ansible: ansible_become_password.
	BecomePassword string
	// IdentityFile is an SSH private key path; empty means agent/ssh
	// config. Ansible: ansible_ssh_private_key_file.
	IdentityFile string
	// Password for SSH password authentication, usually from secret(...).
	// Ansible: ansible_password.
	Password string
	// SSH holds ssh-specific settings (ProxyJump, ...). Ansible: a jump
	// host in ansible_ssh_common_args (best effort), and
	// ansible_host_key_checking.
	SSH SSHSettings
	// WinRM holds winrm-specific settings.
	WinRM WinRMSettings
	// DeclRange is where the host was declared, for diagnostics.
	DeclRange hcl.Range

	// Unresolved are the passwords whose secret(...) could not be
	// resolved when the inventory was loaded ("winrm password": why), so
	// are empty above; see SecretErr.
	Unresolved map[string]error
}

// SecretErr reports a password of the host whose secret(...) could not
// be resolved when the inventory was loaded (an environment variable not
// set, ...): connecting needs it, so connecting fails with this error.
// The inventory itself loads without the secrets it names.
func (h *Host) SecretErr() error {
	settings := make([]string, 0, len(h.Unresolved))
	for s := range h.Unresolved {
		settings = append(settings, s)
	}
	if len(settings) == 0 {
		return nil
	}
	sort.Strings(settings)
	return fmt.Errorf("connecting to %s needs its %s: %w", h.Name, settings[0], h.Unresolved[settings[0]])
}

// SSHSettings are the ssh options an inventory may set per host; anything
// unset falls back to ~/.ssh/config and then OpenSSH's defaults.
type SSHSettings struct {
	ProxyJump             string
	KnownHostsFile        string
	StrictHostKeyChecking string // "yes", "accept-new", "no"
	ConfigFile            string
}

// WinRMSettings are the WinRM options of a Windows host.
type WinRMSettings struct {
	HTTPS        bool
	Insecure     bool
	InsecureHTTP bool
	Auth         string
	User         string
	Password     string
	CAFile       string
	ServerName   string
	// CertThumbprint pins the HTTPS listener's certificate: the SHA-256
	// of its DER bytes, 64 lowercase hex digits. When set, that
	// certificate is accepted, and no other, whoever signed it.
	CertThumbprint string
	// Kerberos (auth = "kerberos"): the service principal is
	// KerberosService/KerberosHostname, by default HTTP/<address>; Keytab
	// holds the user's keys (else a password, else the credential cache).
	KerberosService  string
	KerberosHostname string
	Keytab           string
}

// powerShellTransports are the transports that reach a host through
// PowerShell rather than a POSIX shell.
var powerShellTransports = map[string]bool{"winrm": true}

// Windows reports whether the host is a Windows host, known before its
// facts: its transport speaks PowerShell. Its resources use their types'
// Windows providers (resources.OnHost) and its probe is one PowerShell
// script.
func (h *Host) Windows() bool { return powerShellTransports[h.Transport] }
