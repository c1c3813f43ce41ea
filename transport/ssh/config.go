package ssh

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	sshconfig "github.com/kevinburke/ssh_config"

	"github.com/tendhq/tend/inventory"
)

// Host key checking modes, as OpenSSH's StrictHostKeyChecking names them.
const (
	strictYes       = "yes"        // unknown and changed keys are refused
	strictAcceptNew = "accept-new" // unknown keys are recorded, changed refused
	strictNo        = "no"         // as accept-new: changed keys are always refused
)

// endpoint is one SSH server to authenticate to: a jump host or the target.
type endpoint struct {
	// label names it in errors: "bastion" or "user@host:port".
	label string
	// host and port are what is dialled.
	host string
	port int
	user string
	// keyHost is the name host keys are recorded under (HostKeyAlias or
	// host), normalised with the port as known_hosts writes it.
	keyHost string
	// identityFiles are candidate private keys in order; explicit ones were
	// named by the inventory or ssh config (a missing one is worth a note),
	// the rest are OpenSSH's defaults.
	identityFiles []identityFile
	// password is only ever set for the target, from the inventory.
	password string
}

type identityFile struct {
	path     string
	explicit bool
}

func (e *endpoint) addr() string {
	return net.JoinHostPort(e.host, strconv.Itoa(e.port))
}

// settings is a host's connection configuration after merging the
// inventory, Options and ssh config, in that order of precedence.
type settings struct {
	target endpoint
	jumps  []endpoint

	strict         string
	knownHosts     []string // user files; new keys go to the first
	globalKnown    []string // read only
	hashKnownHosts bool

	agentSocket    string // "" = no agent
	identitiesOnly bool

	connectTimeout time.Duration
	keepAlive      time.Duration // <= 0 disables
	keepAliveCount int
	home           string
	localUser      string
}

// sshConfig looks keys up in the ssh config files that apply, first match
// winning as in OpenSSH (the user's file before the system one).
type sshConfig struct {
	files []*sshconfig.Config
}

func (c *sshConfig) get(alias, key string) string {
	for _, f := range c.files {
		v, err := f.Get(alias, key)
		if err == nil && v != "" {
			return v
		}
	}
	return ""
}

func (c *sshConfig) getAll(alias, key string) []string {
	var all []string
	for _, f := range c.files {
		v, err := f.GetAll(alias, key)
		if err == nil {
			all = append(all, v...)
		}
	}
	return all
}

func loadSSHConfig(path string, explicit bool) (*sshConfig, error) {
	c := &sshConfig{}
	if path == "none" {
		return c, nil
	}
	paths := []string{path}
	if !explicit {
		// Like ssh -F, an explicit file replaces both the user's and the
		// system-wide configuration.
		paths = append(paths, "/etc/ssh/ssh_config")
	}
	for i, p := range paths {
		cfg, err := decodeSSHConfig(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && (i > 0 || !explicit) {
				continue
			}
			return nil, err
		}
		c.files = append(c.files, cfg)
	}
	return c, nil
}

// sshConfigs keeps each ssh config file decoded, by path, while its size
// and modification time stay the same: a run connects to every host with
// the same files, and decoding them took a fleet's plan more CPU than
// the handshakes. A decoded file is only read from afterwards.
var sshConfigs sync.Map // path → *decodedConfig

type decodedConfig struct {
	size int64
	mod  time.Time
	cfg  *sshconfig.Config
}

func decodeSSHConfig(p string) (*sshconfig.Config, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("read ssh config: %w", err)
	}
	if v, ok := sshConfigs.Load(p); ok {
		if d := v.(*decodedConfig); d.size == fi.Size() && d.mod.Equal(fi.ModTime()) {
			return d.cfg, nil
		}
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read ssh config: %w", err)
	}
	cfg, err := sshconfig.DecodeBytes(b)
	if err != nil {
		return nil, fmt.Errorf("parse ssh config %s: %w", p, err)
	}
	sshConfigs.Store(p, &decodedConfig{size: fi.Size(), mod: fi.ModTime(), cfg: cfg})
	return cfg, nil
}

// resolve merges everything that decides how to reach h.
func resolve(h *inventory.Host, opts *Options) (*settings, error) {
	s := &settings{home: opts.Home}
	if s.home == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, fmt.Errorf("home directory: %w", err)
		}
		s.home = home
	}
	s.localUser = localUserName()

	cfgPath, explicitCfg := filepath.Join(s.home, ".ssh", "config"), false
	switch {
	case h.SSH.ConfigFile != "":
		cfgPath, explicitCfg = h.SSH.ConfigFile, true
	case opts.SSHConfigPath != "":
		cfgPath, explicitCfg = opts.SSHConfigPath, true
	}
	cfg, err := loadSSHConfig(s.expandTilde(cfgPath), explicitCfg)
	if err != nil {
		return nil, err
	}

	alias := h.Address
	if alias == "" {
		alias = h.Name
	}
	target, err := s.endpoint(cfg, alias, h.User, h.Port, h.IdentityFile)
	if err != nil {
		return nil, err
	}
	target.password = h.Password
	if h.Name != "" {
		target.label = h.Name
	}
	s.target = *target

	jump := h.SSH.ProxyJump
	if jump == "" {
		jump = cfg.get(alias, "ProxyJump")
	}
	if jump != "" && !strings.EqualFold(jump, "none") {
		for _, spec := range strings.Split(jump, ",") {
			spec = strings.TrimSpace(spec)
			if spec == "" {
				continue
			}
			u, host, port, err := parseJump(spec)
			if err != nil {
				return nil, err
			}
			// The inventory's key is a last resort for jump hosts: it is
			// usually the same operator key, and trying it costs nothing.
			hop, err := s.endpoint(cfg, host, u, port, "")
			if err != nil {
				return nil, err
			}
			if h.IdentityFile != "" {
				hop.identityFiles = appendIdentity(hop.identityFiles, identityFile{path: s.expandTilde(h.IdentityFile), explicit: true})
			}
			hop.label = "jump host " + spec
			s.jumps = append(s.jumps, *hop)
		}
	}

	switch {
	case h.SSH.StrictHostKeyChecking != "":
		s.strict = h.SSH.StrictHostKeyChecking
	case opts.AcceptNewHostKeys:
		s.strict = strictAcceptNew
	default:
		s.strict = cfg.get(alias, "StrictHostKeyChecking")
	}
	switch strings.ToLower(s.strict) {
	case "", "yes", "ask", "true":
		s.strict = strictYes
	case "accept-new":
		s.strict = strictAcceptNew
	case "no", "off", "false":
		s.strict = strictNo
	default:
		return nil, fmt.Errorf("StrictHostKeyChecking %q: want yes, accept-new or no", s.strict)
	}

	switch {
	case h.SSH.KnownHostsFile != "":
		s.knownHosts = []string{s.expandTilde(h.SSH.KnownHostsFile)}
	case opts.KnownHostsPath != "":
		s.knownHosts = []string{s.expandTilde(opts.KnownHostsPath)}
	default:
		if v := cfg.get(alias, "UserKnownHostsFile"); v != "" {
			for _, f := range strings.Fields(v) {
				s.knownHosts = append(s.knownHosts, s.expandTokens(f, &s.target))
			}
		} else {
			s.knownHosts = []string{filepath.Join(s.home, ".ssh", "known_hosts")}
		}
	}
	if v := cfg.get(alias, "GlobalKnownHostsFile"); v != "" {
		s.globalKnown = strings.Fields(v)
	} else {
		s.globalKnown = []string{"/etc/ssh/ssh_known_hosts"}
	}
	s.hashKnownHosts = strings.EqualFold(cfg.get(alias, "HashKnownHosts"), "yes")

	s.agentSocket = opts.AgentSocket
	if s.agentSocket == "" {
		if v := cfg.get(alias, "IdentityAgent"); v != "" {
			s.agentSocket = v
		}
	}
	if s.agentSocket == "" || s.agentSocket == "SSH_AUTH_SOCK" || s.agentSocket == "$SSH_AUTH_SOCK" {
		s.agentSocket = os.Getenv("SSH_AUTH_SOCK")
	}
	if strings.EqualFold(s.agentSocket, "none") {
		s.agentSocket = ""
	}
	s.agentSocket = s.expandTilde(s.agentSocket)
	s.identitiesOnly = strings.EqualFold(cfg.get(alias, "IdentitiesOnly"), "yes")

	s.connectTimeout = opts.ConnectTimeout
	if s.connectTimeout == 0 {
		s.connectTimeout = secondsSetting(cfg.get(alias, "ConnectTimeout"), defaultConnectTimeout)
	}
	s.keepAlive = opts.KeepAlive
	if s.keepAlive == 0 {
		s.keepAlive = secondsSetting(cfg.get(alias, "ServerAliveInterval"), defaultKeepAlive)
	}
	s.keepAliveCount = opts.KeepAliveCountMax
	if s.keepAliveCount <= 0 {
		s.keepAliveCount = 3
		if n, err := strconv.Atoi(cfg.get(alias, "ServerAliveCountMax")); err == nil && n > 0 {
			s.keepAliveCount = n
		}
	}
	return s, nil
}

// endpoint resolves one server from its alias: explicit values (inventory,
// a jump spec) win over the ssh config, which wins over defaults.
func (s *settings) endpoint(cfg *sshConfig, alias, userName string, port int, identity string) (*endpoint, error) {
	e := &endpoint{host: alias}
	if hn := cfg.get(alias, "HostName"); hn != "" {
		e.host = strings.ReplaceAll(hn, "%h", alias)
	}
	e.port = port
	if e.port == 0 {
		if v := cfg.get(alias, "Port"); v != "" {
			p, err := strconv.Atoi(v)
			if err != nil || p <= 0 || p > 65535 {
				return nil, fmt.Errorf("ssh config for %s: bad Port %q", alias, v)
			}
			e.port = p
		} else {
			e.port = 22
		}
	}
	e.user = userName
	if e.user == "" {
		e.user = cfg.get(alias, "User")
	}
	if e.user == "" {
		e.user = s.localUser
	}
	if e.user == "" {
		return nil, errors.New("no user: set user in the inventory or ssh config")
	}
	e.label = e.user + "@" + e.addr()

	keyHost := e.host
	if v := cfg.get(alias, "HostKeyAlias"); v != "" {
		keyHost = v
	}
	e.keyHost = net.JoinHostPort(keyHost, strconv.Itoa(e.port))

	if identity != "" {
		e.identityFiles = appendIdentity(e.identityFiles, identityFile{path: s.expandTilde(identity), explicit: true})
	}
	for _, f := range cfg.getAll(alias, "IdentityFile") {
		e.identityFiles = appendIdentity(e.identityFiles, identityFile{path: s.expandTokens(f, e), explicit: true})
	}
	for _, name := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
		e.identityFiles = appendIdentity(e.identityFiles, identityFile{path: filepath.Join(s.home, ".ssh", name)})
	}
	return e, nil
}

func appendIdentity(list []identityFile, f identityFile) []identityFile {
	for _, have := range list {
		if have.path == f.path {
			return list
		}
	}
	return append(list, f)
}

// expandTilde expands a leading ~/ to the home directory.
func (s *settings) expandTilde(p string) string {
	if p == "~" {
		return s.home
	}
	if strings.HasPrefix(p, "~/") {
		return filepath.Join(s.home, p[2:])
	}
	return p
}

// expandTokens expands ~ and the ssh_config tokens that make sense for
// files: %d home, %u local user, %h remote host, %r remote user, %p port,
// %%.
func (s *settings) expandTokens(p string, e *endpoint) string {
	p = s.expandTilde(p)
	if !strings.Contains(p, "%") {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] != '%' || i+1 == len(p) {
			b.WriteByte(p[i])
			continue
		}
		i++
		switch p[i] {
		case '%':
			b.WriteByte('%')
		case 'd':
			b.WriteString(s.home)
		case 'u':
			b.WriteString(s.localUser)
		case 'h':
			b.WriteString(e.host)
		case 'r':
			b.WriteString(e.user)
		case 'p':
			b.WriteString(strconv.Itoa(e.port))
		default:
			b.WriteByte('%')
			b.WriteByte(p[i])
		}
	}
	return b.String()
}

// parseJump splits one ProxyJump element: [user@]host[:port], with
// bracketed IPv6 literals and the ssh://[user@]host[:port] URI form.
func parseJump(spec string) (userName, host string, port int, err error) {
	s := strings.TrimPrefix(spec, "ssh://")
	if i := strings.LastIndex(s, "@"); i >= 0 {
		userName, s = s[:i], s[i+1:]
	}
	host = s
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]")
		if end < 0 {
			return "", "", 0, fmt.Errorf("ProxyJump %q: unclosed [", spec)
		}
		host = s[1:end]
		rest := s[end+1:]
		if rest != "" {
			if !strings.HasPrefix(rest, ":") {
				return "", "", 0, fmt.Errorf("ProxyJump %q: junk after ]", spec)
			}
			if port, err = parsePort(rest[1:]); err != nil {
				return "", "", 0, fmt.Errorf("ProxyJump %q: %w", spec, err)
			}
		}
	} else if i := strings.LastIndex(s, ":"); i >= 0 && strings.Count(s, ":") == 1 {
		host = s[:i]
		if port, err = parsePort(s[i+1:]); err != nil {
			return "", "", 0, fmt.Errorf("ProxyJump %q: %w", spec, err)
		}
	}
	if host == "" {
		return "", "", 0, fmt.Errorf("ProxyJump %q: no host", spec)
	}
	return userName, host, port, nil
}

func parsePort(s string) (int, error) {
	p, err := strconv.Atoi(s)
	if err != nil || p <= 0 || p > 65535 {
		return 0, fmt.Errorf("bad port %q", s)
	}
	return p, nil
}

func secondsSetting(v string, def time.Duration) time.Duration {
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	return def
}

func localUserName() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
}
