package inventory

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Host is one target machine and everything tend needs to reach it.
type Host struct {
	// Name is the inventory name, used in patterns and output.
	Name string
	// Address is what the transport dials (host name or IP); defaults to Name.
	Address string
	// Port is the transport port; 0 means the transport's default (22 for ssh).
	Port int
	// User logs in; empty means the transport's default (ssh config, current user).
	User string
	// Transport is "local", "ssh" or "winrm".
	Transport string
	// Groups the host belongs to, directly or through child groups, sorted.
	// Every host is also in "all".
	Groups []string
	// Vars are the merged variables: defaults < group (parents before children) < host.
	Vars map[string]cty.Value
	// Become runs every script through sudo (BecomeUser, default root).
	Become     bool
	BecomeUser string
	// BecomePassword is the sudo password, usually from secret(...); empty
	// means sudo must not ask.
	BecomePassword string
	// IdentityFile is an SSH private key path; empty means agent/ssh config.
	IdentityFile string
	// Password for SSH password authentication, usually from secret(...).
	Password string
	// SSH holds ssh-specific settings (ProxyJump, ...).
	SSH SSHSettings
	// WinRM holds winrm-specific settings.
	WinRM WinRMSettings
	// DeclRange is where the host was declared, for diagnostics.
	DeclRange hcl.Range
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
}
