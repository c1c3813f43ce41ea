package inventory

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// connSetting maps Ansible's connection variables for one setting onto
// tend's Host. As in Ansible's plugins, when several names are defined
// for a host the last name in vars wins (ansible_ssh_user beats
// ansible_user), whatever level each was set at.
type connSetting struct {
	vars []string
	// set converts the value into l, or returns why it cannot.
	set func(l *layer, v cty.Value) error
}

var connSettings = []connSetting{
	{[]string{"ansible_host", "ansible_ssh_host"}, setString(func(l *layer) **string { return &l.address })},
	{[]string{"ansible_port", "ansible_ssh_port"}, setPort},
	{[]string{"ansible_user", "ansible_ssh_user"}, setString(func(l *layer) **string { return &l.user })},
	{[]string{"ansible_password", "ansible_ssh_pass", "ansible_ssh_password"}, setString(func(l *layer) **string { return &l.password })},
	{[]string{"ansible_private_key_file", "ansible_ssh_private_key_file"}, setString(func(l *layer) **string { return &l.identityFile })},
	{[]string{"ansible_connection"}, setConnection},
	{[]string{"ansible_become"}, setBool(func(l *layer) **bool { return &l.become })},
	{[]string{"ansible_become_user", "ansible_sudo_user"}, setString(func(l *layer) **string { return &l.becomeUser })},
	{[]string{"ansible_become_password", "ansible_become_pass", "ansible_sudo_pass"}, setString(func(l *layer) **string { return &l.becomePassword })},
	{[]string{"ansible_become_method"}, setBecomeMethod},
	{[]string{"ansible_shell_type"}, setString(func(l *layer) **string { return &l.shellType })},
	{[]string{"ansible_host_key_checking", "ansible_ssh_host_key_checking"}, setHostKeyChecking},
	{[]string{"ansible_winrm_scheme"}, setScheme},
	{[]string{"ansible_psrp_protocol"}, setScheme},
	{[]string{"ansible_winrm_transport"}, setWinRMAuth},
	{[]string{"ansible_psrp_auth"}, setWinRMAuth},
	{[]string{"ansible_winrm_server_cert_validation", "ansible_psrp_cert_validation"}, setCertValidation},
	{[]string{"ansible_winrm_ca_trust_path", "ansible_psrp_cert_trust_path", "ansible_psrp_ca_cert"}, setString(func(l *layer) **string { return &l.winrmCAFile })},
	{[]string{"ansible_winrm_message_encryption"}, setMessageEncryption},
	// No Ansible variable pins a certificate; tend reads its own name in
	// Ansible inventories too.
	{[]string{"tend_winrm_cert_thumbprint"}, setThumbprint},
	{[]string{"ansible_winrm_kerberos_service", "ansible_psrp_negotiate_service"}, setString(func(l *layer) **string { return &l.winrmKrbService })},
	{[]string{"ansible_winrm_kerberos_hostname_override", "ansible_psrp_negotiate_hostname_override"}, setString(func(l *layer) **string { return &l.winrmKrbHostname })},
}

// sshArgsVars hold OpenSSH arguments, from which a ProxyJump is taken
// (best effort); they stay in Vars, since tend understands only part
// of them. Ansible passes them in this order and ssh keeps the first.
var sshArgsVars = []string{"ansible_ssh_args", "ansible_ssh_common_args", "ansible_ssh_extra_args"}

// connectionVars are the variables tend turns into Host settings; they
// are not copied into Vars, so passwords do not reach templates or
// `tend inventory` output.
var connectionVars = func() map[string]bool {
	m := map[string]bool{}
	for _, s := range connSettings {
		for _, v := range s.vars {
			m[v] = true
		}
	}
	return m
}()

// connectionLayers returns, for each setting with a connection variable
// among vars, a one-setting layer ranked where that variable was set.
//
// Templates in these variables are rendered here, with the host's
// variables; one tend cannot render is an error, never literal text.
func (m *model) connectionLayers(scope *tmplScope, vars map[string]value, rank map[string]int) []rankedLayer {
	var out []rankedLayer
	render := func(name string, v value) (cty.Value, bool) {
		val, err := scope.lookup(name)
		if err != nil {
			hint := ""
			if strings.Contains(err.Error(), "not supported") {
				hint = " tend renders {{ var }}, {{ var | default(x) }}, inventory_hostname, inventory_hostname_short, group_names and ~ or text around them."
			}
			m.diag(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Cannot render template",
				Detail:   fmt.Sprintf("Host %q: %s.%s", scope.host, err, hint),
				Subject:  v.rng.Ptr(),
			})
			return cty.NilVal, false
		}
		val, _ = val.UnmarkDeep()
		return val, true
	}
	add := func(name string, v value, set func(*layer, cty.Value) error) {
		val, ok := render(name, v)
		if !ok {
			return
		}
		l := &layer{}
		if val.IsNull() {
			return // null means unset in Ansible's option lookup too
		}
		if err := set(l, val); err != nil {
			if w, ok := err.(*settingWarning); ok {
				m.diag(&hcl.Diagnostic{
					Severity: hcl.DiagWarning,
					Summary:  fmt.Sprintf("Unsupported %s", name),
					Detail:   fmt.Sprintf("%s = %s: %s.", name, ctyText(val), w.msg),
					Subject:  v.rng.Ptr(),
				})
				out = append(out, rankedLayer{rank: rank[name], layer: l, ansible: true})
				return
			}
			m.diag(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Invalid %s", name),
				Detail:   fmt.Sprintf("%s = %s: %s.", name, ctyText(val), err),
				Subject:  v.rng.Ptr(),
			})
			return
		}
		out = append(out, rankedLayer{rank: rank[name], layer: l, ansible: true})
	}
	for _, s := range connSettings {
		winner := ""
		for _, name := range s.vars {
			if _, ok := vars[name]; ok {
				winner = name
			}
		}
		if winner != "" {
			add(winner, vars[winner], s.set)
		}
	}
	for _, name := range sshArgsVars {
		v, ok := vars[name]
		if !ok {
			continue
		}
		val, ok := render(name, v)
		if !ok {
			continue
		}
		if val.IsNull() || val.Type() != cty.String {
			continue
		}
		jump, warn := proxyJumpFromArgs(val.AsString())
		if warn != "" {
			m.diag(&hcl.Diagnostic{
				Severity: hcl.DiagWarning,
				Summary:  "SSH arguments not understood",
				Detail:   fmt.Sprintf("%s: %s; tend reads only -J and -o ProxyJump=... (and ProxyCommand=\"ssh -W %%h:%%p HOST\") from them. Set the rest in ~/.ssh/config.", name, warn),
				Subject:  v.rng.Ptr(),
			})
		}
		if jump != "" {
			out = append(out, rankedLayer{rank: rank[name], layer: &layer{proxyJump: &jump}, ansible: true})
			break
		}
	}
	return out
}

// ctyText shows a value in a message the way an inventory would write it.
func ctyText(v cty.Value) string {
	switch {
	case v.IsNull():
		return "null"
	case v.Type() == cty.String:
		return strconv.Quote(v.AsString())
	case v.Type() == cty.Number:
		return v.AsBigFloat().Text('g', -1)
	case v.Type() == cty.Bool:
		return strconv.FormatBool(v.True())
	}
	return v.Type().FriendlyName()
}

// settingText is Ansible's to_text for a string option: numbers and
// booleans are accepted and printed as Python prints them.
func settingText(v cty.Value) (string, error) {
	switch v.Type() {
	case cty.String:
		return v.AsString(), nil
	case cty.Number:
		f := v.AsBigFloat()
		if f.IsInt() {
			return f.Text('f', 0), nil
		}
		return pyFloatRepr(f), nil
	case cty.Bool:
		if v.True() {
			return "True", nil
		}
		return "False", nil
	}
	return "", fmt.Errorf("want a string, not %s", v.Type().FriendlyName())
}

func setString(field func(*layer) **string) func(*layer, cty.Value) error {
	return func(l *layer, v cty.Value) error {
		s, err := settingText(v)
		if err != nil {
			return err
		}
		*field(l) = &s
		return nil
	}
}

// ansibleBool is Ansible's boolean(): yes/no, true/false, on/off, y/n,
// t/f, 1/0 in any case, and the numbers 1 and 0.
func ansibleBool(v cty.Value) (bool, error) {
	switch v.Type() {
	case cty.Bool:
		return v.True(), nil
	case cty.Number:
		f := v.AsBigFloat()
		switch {
		case f.Cmp(big.NewFloat(1)) == 0:
			return true, nil
		case f.Sign() == 0:
			return false, nil
		}
	case cty.String:
		switch strings.ToLower(strings.TrimSpace(v.AsString())) {
		case "y", "yes", "on", "1", "true", "t":
			return true, nil
		case "n", "no", "off", "0", "false", "f":
			return false, nil
		}
	}
	return false, fmt.Errorf("want a boolean (yes/no, true/false, on/off, 1/0)")
}

func setBool(field func(*layer) **bool) func(*layer, cty.Value) error {
	return func(l *layer, v cty.Value) error {
		b, err := ansibleBool(v)
		if err != nil {
			return err
		}
		*field(l) = &b
		return nil
	}
}

func setPort(l *layer, v cty.Value) error {
	var n int64
	switch v.Type() {
	case cty.Number:
		f := v.AsBigFloat()
		i, acc := f.Int64()
		if acc != big.Exact {
			return fmt.Errorf("want a whole number")
		}
		n = i
	case cty.String:
		i, err := parsePyInt(v.AsString())
		if err != nil {
			return fmt.Errorf("want a port number")
		}
		n = int64(i)
	default:
		return fmt.Errorf("want a port number")
	}
	if n < 1 || n > 65535 {
		return fmt.Errorf("port %d is out of range; it must be between 1 and 65535", n)
	}
	p := int(n)
	l.port = &p
	return nil
}

// settingWarning is returned by a setter that applied a value tend can
// only partly honour; the caller reports it as a warning.
type settingWarning struct{ msg string }

func (w *settingWarning) Error() string { return w.msg }

// setConnection maps Ansible's connection plugins onto tend's transports.
// A plugin tend has no transport for is kept by name, with a warning, so
// the host fails to connect with that name in the error rather than being
// reached some other way, and the rest of the inventory stays usable.
func setConnection(l *layer, v cty.Value) error {
	s, err := settingText(v)
	if err != nil {
		return err
	}
	name := strings.TrimPrefix(s, "ansible.builtin.")
	name = strings.TrimPrefix(name, "ansible.windows.")
	var t string
	switch name {
	case "ssh", "paramiko", "paramiko_ssh", "smart":
		t = "ssh"
	case "local":
		t = "local"
	case "winrm", "psrp":
		t = "winrm"
	default:
		l.transport = &s
		return &settingWarning{"tend has no transport for this connection plugin (only ssh, winrm, psrp and local); the host cannot be reached until its connection is one of those"}
	}
	l.transport = &t
	return nil
}

// setBecomeMethod keeps Ansible's become plugin by its short name; the
// transport refuses one it cannot use, naming it.
func setBecomeMethod(l *layer, v cty.Value) error {
	s, err := settingText(v)
	if err != nil {
		return err
	}
	s = strings.TrimPrefix(s, "ansible.builtin.")
	s = strings.TrimPrefix(s, "community.general.")
	s = strings.TrimPrefix(s, "ansible.windows.")
	l.becomeMethod = &s
	return nil
}

func setHostKeyChecking(l *layer, v cty.Value) error {
	b, err := ansibleBool(v)
	if err != nil {
		return err
	}
	s := "no"
	if b {
		s = "yes"
	}
	l.strictHostKeyChecking = &s
	return nil
}

func setScheme(l *layer, v cty.Value) error {
	s, err := settingText(v)
	if err != nil {
		return err
	}
	var https bool
	switch strings.ToLower(s) {
	case "https":
		https = true
	case "http":
	default:
		return fmt.Errorf("want http or https")
	}
	l.winrmHTTPS = &https
	return nil
}

// setWinRMAuth takes Ansible's winrm transport (a string or a list, of
// which the first is tried first) as the authentication method.
func setWinRMAuth(l *layer, v cty.Value) error {
	if (v.Type().IsTupleType() || v.Type().IsListType()) && v.LengthInt() > 0 {
		v = v.Index(cty.NumberIntVal(0))
	}
	s, err := settingText(v)
	if err != nil {
		return err
	}
	s = strings.ToLower(strings.TrimSpace(strings.Split(s, ",")[0]))
	l.winrmAuth = &s
	return nil
}

// setMessageEncryption takes pywinrm's message_encryption: never is
// insecure_http (clear text over HTTP, warned at every connection);
// auto and always are tend's default (encrypted over HTTP).
func setMessageEncryption(l *layer, v cty.Value) error {
	s, err := settingText(v)
	if err != nil {
		return err
	}
	var never bool
	switch strings.ToLower(s) {
	case "never":
		never = true
	case "auto", "always":
	default:
		return fmt.Errorf("want auto, always or never")
	}
	l.winrmInsecureHTTP = &never
	return nil
}

func setThumbprint(l *layer, v cty.Value) error {
	s, err := settingText(v)
	if err != nil {
		return err
	}
	t, err := NormalizeThumbprint(s)
	if err != nil {
		return err
	}
	l.winrmCertThumbprint = &t
	return nil
}

func setCertValidation(l *layer, v cty.Value) error {
	s, err := settingText(v)
	if err != nil {
		return err
	}
	var insecure bool
	switch strings.ToLower(s) {
	case "ignore":
		insecure = true
	case "validate":
	default:
		return fmt.Errorf("want validate or ignore")
	}
	l.winrmInsecure = &insecure
	return nil
}

// finishWinRM fills in, for a host whose ansible_connection made it a
// winrm host, what Ansible's winrm plugin derives: the login is the
// host's user and password, and without a scheme the port decides
// (5985 is HTTP, anything else HTTPS).
func finishWinRM(h *Host, schemeSet bool) {
	if h.WinRM.User == "" {
		h.WinRM.User = h.User
	}
	if h.WinRM.Password == "" {
		h.WinRM.Password = h.Password
	}
	if !schemeSet && h.Port != 5985 {
		h.WinRM.HTTPS = true
	}
}

// proxyJumpFromArgs finds the jump host in OpenSSH arguments as Ansible
// inventories write them: -J HOST, -o ProxyJump=HOST, or a ProxyCommand
// of the classic form "ssh -W %h:%p [-p PORT] [-l USER] [USER@]HOST".
// warn names a ProxyCommand it could not translate.
func proxyJumpFromArgs(args string) (jump, warn string) {
	words, err := shlexSplit(args, false)
	if err != nil {
		return "", fmt.Sprintf("cannot split %q: %s", args, err)
	}
	for i := 0; i < len(words); i++ {
		w := words[i]
		var opt string
		switch {
		case w == "-J" && i+1 < len(words):
			return words[i+1], ""
		case strings.HasPrefix(w, "-J") && len(w) > 2:
			return w[2:], ""
		case w == "-o" && i+1 < len(words):
			i++
			opt = words[i]
		case strings.HasPrefix(w, "-o") && len(w) > 2:
			opt = w[2:]
		default:
			continue
		}
		key, val, ok := strings.Cut(opt, "=")
		if !ok {
			key, val, _ = strings.Cut(opt, " ")
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		switch strings.ToLower(key) {
		case "proxyjump":
			return val, ""
		case "proxycommand":
			if j := jumpFromProxyCommand(val); j != "" {
				return j, ""
			}
			return "", fmt.Sprintf("ProxyCommand %q is not supported", val)
		}
	}
	return "", ""
}

// jumpFromProxyCommand translates "ssh [-q] -W %h:%p [-p PORT] [-l USER]
// [-o ...] [USER@]HOST" into a ProxyJump, or returns "".
func jumpFromProxyCommand(cmd string) string {
	words, err := shlexSplit(cmd, false)
	if err != nil || len(words) < 2 || (words[0] != "ssh" && !strings.HasSuffix(words[0], "/ssh")) {
		return ""
	}
	var host, user, port string
	forward := false
	for i := 1; i < len(words); i++ {
		w := words[i]
		switch {
		case w == "-W" && i+1 < len(words):
			i++
			forward = words[i] == "%h:%p" || words[i] == "[%h]:%p"
		case (w == "-p" || w == "-l" || w == "-o" || w == "-i" || w == "-F") && i+1 < len(words):
			i++
			switch w {
			case "-p":
				port = words[i]
			case "-l":
				user = words[i]
			case "-i", "-F", "-o":
				return "" // a key, config or option the jump could not carry
			}
		case strings.HasPrefix(w, "-"):
			if strings.Trim(w, "-qvCTN46") != "" {
				return "" // an option with a meaning we would drop
			}
		default:
			if host != "" {
				return "" // a remote command
			}
			host = w
		}
	}
	if !forward || host == "" {
		return ""
	}
	if user != "" && !strings.Contains(host, "@") {
		host = user + "@" + host
	}
	if port != "" {
		host += ":" + port
	}
	return host
}
