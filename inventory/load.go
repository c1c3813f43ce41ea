package inventory

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/gocty"
)

// The file shape. Defaults, groups and hosts share one set of settings
// (layerAttrs and the ssh/winrm blocks) so precedence is one merge of
// like with like; only hosts have an address and groups, only groups
// have children.
var (
	fileSchema = &hcl.BodySchema{
		Blocks: []hcl.BlockHeaderSchema{
			{Type: "defaults"},
			{Type: "host", LabelNames: []string{"name"}},
			{Type: "group", LabelNames: []string{"name"}},
		},
	}
	layerAttrs = []string{
		"user", "port", "transport", "become", "become_user", "become_password",
		"identity_file", "password", "vars",
	}
	defaultsSchema = layerSchema()
	hostSchema     = layerSchema("address", "groups")
	groupSchema    = layerSchema("children")
	sshSchema      = attrSchema("proxy_jump", "known_hosts_file", "strict_host_key_checking", "config_file")
	winrmSchema    = attrSchema("https", "auth", "user", "password", "insecure", "insecure_http", "ca_file", "cert_thumbprint", "server_name", "kerberos_service", "kerberos_hostname", "keytab")
)

func attrSchema(names ...string) *hcl.BodySchema {
	s := &hcl.BodySchema{}
	for _, n := range names {
		s.Attributes = append(s.Attributes, hcl.AttributeSchema{Name: n})
	}
	return s
}

func layerSchema(extra ...string) *hcl.BodySchema {
	s := attrSchema(append(slices.Clone(layerAttrs), extra...)...)
	s.Blocks = []hcl.BlockHeaderSchema{{Type: "ssh"}, {Type: "winrm"}}
	return s
}

var (
	validTransports = []string{"ssh", "winrm", "local"}
	validStrictHost = []string{"yes", "accept-new", "no"}
)

// layer is what one defaults, group or host block sets. A nil pointer
// means "not set here", so a lower layer's value shows through.
type layer struct {
	port      *int
	become    *bool
	vars      map[string]cty.Value
	varsRange hcl.Range // the vars attribute, for diagnostics

	address *string // hosts only

	user, transport, becomeUser, becomePassword, identityFile, password *string

	becomeMethod, shellType *string // Ansible sources only

	proxyJump, knownHostsFile, strictHostKeyChecking, sshConfigFile *string

	winrmHTTPS, winrmInsecure, winrmInsecureHTTP *bool

	winrmAuth, winrmUser, winrmPassword, winrmCAFile, winrmServerName *string
	winrmKrbService, winrmKrbHostname, winrmKeytab                    *string
	winrmCertThumbprint                                               *string

	// unresolved are the passwords set here whose secret(...) could not
	// be resolved, by setting (see decodeSecret).
	unresolved map[string]error
}

func setIf[T any](dst *T, src *T) {
	if src != nil {
		*dst = *src
	}
}

// applyTo sets on h what l sets. Vars are not applied here: they merge
// with every source's vars in model.resolveHost.
func (l *layer) applyTo(h *Host) {
	setIf(&h.Address, l.address)
	setIf(&h.User, l.user)
	setIf(&h.Transport, l.transport)
	setIf(&h.Port, l.port)
	setIf(&h.Become, l.become)
	setIf(&h.BecomeUser, l.becomeUser)
	setIf(&h.BecomeMethod, l.becomeMethod)
	setIf(&h.ShellType, l.shellType)
	l.setSecret(h, "become_password", &h.BecomePassword, l.becomePassword)
	setIf(&h.IdentityFile, l.identityFile)
	l.setSecret(h, "password", &h.Password, l.password)
	setIf(&h.SSH.ProxyJump, l.proxyJump)
	setIf(&h.SSH.KnownHostsFile, l.knownHostsFile)
	setIf(&h.SSH.StrictHostKeyChecking, l.strictHostKeyChecking)
	setIf(&h.SSH.ConfigFile, l.sshConfigFile)
	setIf(&h.WinRM.HTTPS, l.winrmHTTPS)
	setIf(&h.WinRM.Insecure, l.winrmInsecure)
	setIf(&h.WinRM.InsecureHTTP, l.winrmInsecureHTTP)
	setIf(&h.WinRM.Auth, l.winrmAuth)
	setIf(&h.WinRM.User, l.winrmUser)
	l.setSecret(h, "winrm password", &h.WinRM.Password, l.winrmPassword)
	setIf(&h.WinRM.CAFile, l.winrmCAFile)
	setIf(&h.WinRM.CertThumbprint, l.winrmCertThumbprint)
	setIf(&h.WinRM.ServerName, l.winrmServerName)
	setIf(&h.WinRM.KerberosService, l.winrmKrbService)
	setIf(&h.WinRM.KerberosHostname, l.winrmKrbHostname)
	setIf(&h.WinRM.Keytab, l.winrmKeytab)
}

// setSecret is setIf for a password: a layer that sets it replaces what
// a lower layer set, resolved or not.
func (l *layer) setSecret(h *Host, setting string, dst *string, src *string) {
	if src != nil {
		*dst = *src
		delete(h.Unresolved, setting)
	}
	if err := l.unresolved[setting]; err != nil {
		*dst = ""
		if h.Unresolved == nil {
			h.Unresolved = map[string]error{}
		}
		h.Unresolved[setting] = err
	}
}

// varValues returns the layer's vars with where they were set. Vars
// merge one key at a time and replace whole values (Ansible's default
// hash_behaviour=replace): a nested object is not deep-merged.
func (l *layer) varValues() map[string]value {
	out := make(map[string]value, len(l.vars))
	for k, v := range l.vars {
		out[k] = value{v: v, rng: l.varsRange, native: true}
	}
	return out
}

type defaultsDecl struct {
	layer     layer
	declRange hcl.Range
}

type hostDecl struct {
	name      string
	address   *string
	groups    []string
	layer     layer
	declRange hcl.Range
}

type groupDecl struct {
	name          string
	children      []string
	childrenRange hcl.Range
	layer         layer
	declRange     hcl.Range
}

// decls collects the native blocks of every HCL file, to refuse a
// second block for the same host, group or defaults, and adds each block
// to the model as it is read, so that a group declared in one file
// applies to hosts in another (of any format).
type decls struct {
	m        *model
	defaults *defaultsDecl
	hosts    map[string]*hostDecl
	groups   map[string]*groupDecl
}

func (d *decls) addFile(p *hclparse.Parser, path string, ectx *hcl.EvalContext) hcl.Diagnostics {
	// Read the file ourselves: hclparse's read error has no Subject, and
	// every diagnostic here names a file.
	src, err := os.ReadFile(path)
	if err != nil {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Failed to read inventory",
			Detail:   err.Error(),
			Subject:  &hcl.Range{Filename: path, Start: hcl.InitialPos, End: hcl.InitialPos},
		}}
	}
	f, diags := p.ParseHCL(src, path)
	if diags.HasErrors() {
		// A partial body would only add confusing follow-on errors.
		return diags
	}
	content, moreDiags := f.Body.Content(fileSchema)
	diags = append(diags, moreDiags...)
	for _, b := range content.Blocks {
		switch b.Type {
		case "defaults":
			diags = append(diags, d.addDefaults(b, ectx)...)
		case "host":
			diags = append(diags, d.addHost(b, ectx)...)
		case "group":
			diags = append(diags, d.addGroup(b, ectx)...)
		}
	}
	return diags
}

func (d *decls) addDefaults(b *hcl.Block, ectx *hcl.EvalContext) hcl.Diagnostics {
	if d.defaults != nil {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Duplicate defaults block",
			Detail:   fmt.Sprintf("Defaults were already declared at %s; an inventory has one defaults block.", pos(d.defaults.declRange)),
			Subject:  b.DefRange.Ptr(),
		}}
	}
	content, diags := b.Body.Content(defaultsSchema)
	l, moreDiags := decodeLayer(content, ectx)
	d.defaults = &defaultsDecl{layer: l, declRange: b.DefRange}
	d.m.defaults = &level{vars: l.varValues(), layer: &d.defaults.layer}
	return append(diags, moreDiags...)
}

func (d *decls) addHost(b *hcl.Block, ectx *hcl.EvalContext) hcl.Diagnostics {
	name := b.Labels[0]
	if diags := checkName("host", name, b.LabelRanges[0]); diags.HasErrors() {
		return diags
	}
	if prev, ok := d.hosts[name]; ok {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Duplicate host",
			Detail:   fmt.Sprintf("Host %q was already declared at %s.", name, pos(prev.declRange)),
			Subject:  b.DefRange.Ptr(),
		}}
	}
	content, diags := b.Body.Content(hostSchema)
	l, moreDiags := decodeLayer(content, ectx)
	diags = append(diags, moreDiags...)
	h := &hostDecl{name: name, layer: l, declRange: b.DefRange}
	diags = append(diags, decodeAttr(content.Attributes, "address", ectx, &h.address)...)
	if attr, ok := content.Attributes["groups"]; ok {
		var groups *[]string
		diags = append(diags, decodeAttr(content.Attributes, "groups", ectx, &groups)...)
		if groups != nil {
			for i, g := range *groups {
				r := elemRange(attr.Expr, i)
				if g == GroupUngrouped {
					diags = append(diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  "Invalid group membership",
						Detail:   `"ungrouped" is computed: it holds the hosts that name no other group.`,
						Subject:  r.Ptr(),
					})
					continue
				}
				if ds := checkName("group", g, r); ds.HasErrors() {
					diags = append(diags, ds...)
					continue
				}
				if g != GroupAll && !slices.Contains(h.groups, g) {
					h.groups = append(h.groups, g)
				}
			}
		}
	}
	d.hosts[name] = h
	mh := d.m.addHost(name, nil, 0, b.DefRange)
	mh.declRange = b.DefRange
	h.layer.address = h.address
	mh.layer = &h.layer
	for k, v := range h.layer.varValues() {
		mh.vars[k] = v
	}
	for _, g := range h.groups {
		d.m.addGroup(g, hcl.Range{}).addHost(mh) // named, not declared: no range
	}
	return diags
}

func (d *decls) addGroup(b *hcl.Block, ectx *hcl.EvalContext) hcl.Diagnostics {
	name := b.Labels[0]
	if diags := checkName("group", name, b.LabelRanges[0]); diags.HasErrors() {
		return diags
	}
	if prev, ok := d.groups[name]; ok {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Duplicate group",
			Detail:   fmt.Sprintf("Group %q was already declared at %s.", name, pos(prev.declRange)),
			Subject:  b.DefRange.Ptr(),
		}}
	}
	content, diags := b.Body.Content(groupSchema)
	l, moreDiags := decodeLayer(content, ectx)
	diags = append(diags, moreDiags...)
	g := &groupDecl{name: name, layer: l, declRange: b.DefRange}
	if attr, ok := content.Attributes["children"]; ok {
		g.childrenRange = attr.Expr.Range()
		var children *[]string
		diags = append(diags, decodeAttr(content.Attributes, "children", ectx, &children)...)
		if children != nil {
			for i, c := range *children {
				r := elemRange(attr.Expr, i)
				if c == GroupAll || c == GroupUngrouped {
					diags = append(diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  "Invalid child group",
						Detail:   fmt.Sprintf("%q is a built-in group and cannot be the child of another group.", c),
						Subject:  r.Ptr(),
					})
					continue
				}
				if ds := checkName("group", c, r); ds.HasErrors() {
					diags = append(diags, ds...)
					continue
				}
				if !slices.Contains(g.children, c) {
					g.children = append(g.children, c)
				}
			}
		}
	}
	d.groups[name] = g
	mg := d.m.addGroup(name, b.DefRange)
	mg.declRange = b.DefRange
	mg.layer = &g.layer
	for _, k := range sortedKeys(g.layer.vars) {
		d.m.setGroupVar(mg, k, value{v: g.layer.vars[k], rng: g.layer.varsRange, native: true})
	}
	for _, c := range g.children {
		if cycle := d.m.addChild(mg, d.m.addGroup(c, hcl.Range{})); cycle != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Group cycle",
				Detail:   fmt.Sprintf("Groups contain each other through children: %s.", strings.Join(cycle, " -> ")),
				Subject:  g.childrenRange.Ptr(),
			})
		}
	}
	return diags
}

// decodeLayer reads the settings common to defaults, groups and hosts.
func decodeLayer(content *hcl.BodyContent, ectx *hcl.EvalContext) (layer, hcl.Diagnostics) {
	var l layer
	var diags hcl.Diagnostics
	attrs := content.Attributes
	diags = append(diags, decodeAttr(attrs, "user", ectx, &l.user)...)
	diags = append(diags, decodeAttr(attrs, "transport", ectx, &l.transport)...)
	diags = append(diags, decodeAttr(attrs, "port", ectx, &l.port)...)
	diags = append(diags, decodeAttr(attrs, "become", ectx, &l.become)...)
	diags = append(diags, decodeAttr(attrs, "become_user", ectx, &l.becomeUser)...)
	diags = append(diags, l.decodeSecret(attrs, "become_password", "become_password", ectx, &l.becomePassword)...)
	diags = append(diags, decodeAttr(attrs, "identity_file", ectx, &l.identityFile)...)
	diags = append(diags, l.decodeSecret(attrs, "password", "password", ectx, &l.password)...)
	diags = append(diags, checkOneOf(attrs, "transport", l.transport, validTransports)...)
	if l.port != nil && (*l.port < 1 || *l.port > 65535) {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid port",
			Detail:   fmt.Sprintf("Port %d is out of range; it must be between 1 and 65535.", *l.port),
			Subject:  attrs["port"].Expr.Range().Ptr(),
		})
	}
	if attr, ok := attrs["vars"]; ok {
		vars, moreDiags := decodeVars(attr, ectx)
		diags = append(diags, moreDiags...)
		l.vars = vars
		l.varsRange = attr.Expr.Range()
	}

	blocks := map[string]*hcl.Block{}
	for _, b := range content.Blocks {
		if prev, ok := blocks[b.Type]; ok {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Duplicate %s block", b.Type),
				Detail:   fmt.Sprintf("A %s block was already declared here at %s.", b.Type, pos(prev.DefRange)),
				Subject:  b.DefRange.Ptr(),
			})
			continue
		}
		blocks[b.Type] = b
		switch b.Type {
		case "ssh":
			c, moreDiags := b.Body.Content(sshSchema)
			diags = append(diags, moreDiags...)
			diags = append(diags, decodeAttr(c.Attributes, "proxy_jump", ectx, &l.proxyJump)...)
			diags = append(diags, decodeAttr(c.Attributes, "known_hosts_file", ectx, &l.knownHostsFile)...)
			diags = append(diags, decodeAttr(c.Attributes, "strict_host_key_checking", ectx, &l.strictHostKeyChecking)...)
			diags = append(diags, decodeAttr(c.Attributes, "config_file", ectx, &l.sshConfigFile)...)
			diags = append(diags, checkOneOf(c.Attributes, "strict_host_key_checking", l.strictHostKeyChecking, validStrictHost)...)
		case "winrm":
			c, moreDiags := b.Body.Content(winrmSchema)
			diags = append(diags, moreDiags...)
			diags = append(diags, decodeAttr(c.Attributes, "https", ectx, &l.winrmHTTPS)...)
			diags = append(diags, decodeAttr(c.Attributes, "auth", ectx, &l.winrmAuth)...)
			diags = append(diags, decodeAttr(c.Attributes, "user", ectx, &l.winrmUser)...)
			diags = append(diags, l.decodeSecret(c.Attributes, "password", "winrm password", ectx, &l.winrmPassword)...)
			diags = append(diags, decodeAttr(c.Attributes, "insecure", ectx, &l.winrmInsecure)...)
			diags = append(diags, decodeAttr(c.Attributes, "insecure_http", ectx, &l.winrmInsecureHTTP)...)
			diags = append(diags, decodeAttr(c.Attributes, "ca_file", ectx, &l.winrmCAFile)...)
			diags = append(diags, decodeAttr(c.Attributes, "cert_thumbprint", ectx, &l.winrmCertThumbprint)...)
			diags = append(diags, checkThumbprint(c.Attributes, l.winrmCertThumbprint)...)
			diags = append(diags, decodeAttr(c.Attributes, "server_name", ectx, &l.winrmServerName)...)
			diags = append(diags, decodeAttr(c.Attributes, "kerberos_service", ectx, &l.winrmKrbService)...)
			diags = append(diags, decodeAttr(c.Attributes, "kerberos_hostname", ectx, &l.winrmKrbHostname)...)
			diags = append(diags, decodeAttr(c.Attributes, "keytab", ectx, &l.winrmKeytab)...)
		}
	}
	return l, diags
}

// decodeAttr evaluates an optional attribute into *dst; an absent or null
// attribute leaves *dst nil. Marks (such as a secret's) are dropped: the
// settings are plain Go values, and the transport is what keeps them out
// of output.
func decodeAttr[T any](attrs hcl.Attributes, name string, ectx *hcl.EvalContext, dst **T) hcl.Diagnostics {
	attr, ok := attrs[name]
	if !ok {
		return nil
	}
	val, diags := attr.Expr.Value(ectx)
	if diags.HasErrors() {
		return diags
	}
	val, _ = val.UnmarkDeep()
	if val.IsNull() {
		return diags
	}
	bad := func(detail string) hcl.Diagnostics {
		return append(diags, &hcl.Diagnostic{
			Severity:    hcl.DiagError,
			Summary:     "Incorrect attribute value type",
			Detail:      fmt.Sprintf("Inappropriate value for attribute %q: %s.", name, detail),
			Subject:     attr.Expr.Range().Ptr(),
			Expression:  attr.Expr,
			EvalContext: ectx,
		})
	}
	if !val.IsWhollyKnown() {
		return bad("the value must be known when the inventory is loaded")
	}
	var out T
	ty, err := gocty.ImpliedType(out)
	if err != nil {
		panic(fmt.Sprintf("inventory: no cty type for %T: %s", out, err))
	}
	if val, err = convert.Convert(val, ty); err != nil {
		return bad(err.Error())
	}
	if err := gocty.FromCtyValue(val, &out); err != nil {
		return bad(err.Error())
	}
	*dst = &out
	return diags
}

// decodeSecret is decodeAttr for a password, usually secret(...). A
// secret whose source cannot give it now evaluates to an unknown value
// marked with an error saying why (lang.UnresolvedSecret): it leaves
// *dst unset and is recorded under setting, so that connecting to a host
// that uses it fails (Host.SecretErr), not loading the inventory.
func (l *layer) decodeSecret(attrs hcl.Attributes, name, setting string, ectx *hcl.EvalContext, dst **string) hcl.Diagnostics {
	if attr, ok := attrs[name]; ok {
		val, diags := attr.Expr.Value(ectx)
		if !diags.HasErrors() && !val.IsWhollyKnown() {
			if err := markedError(val); err != nil {
				if l.unresolved == nil {
					l.unresolved = map[string]error{}
				}
				l.unresolved[setting] = err
				return diags
			}
		}
	}
	return decodeAttr(attrs, name, ectx, dst)
}

// markedError returns the first (in message order) of v's marks that is
// an error, or nil.
func markedError(v cty.Value) error {
	_, pvm := v.UnmarkDeepWithPaths()
	var errs []error
	for _, pm := range pvm {
		for m := range pm.Marks {
			if err, ok := m.(error); ok {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errs[0]
}

// decodeVars keeps each var as a cty.Value, marks included, so objects,
// lists and secrets reach templates unchanged.
func decodeVars(attr *hcl.Attribute, ectx *hcl.EvalContext) (map[string]cty.Value, hcl.Diagnostics) {
	val, diags := attr.Expr.Value(ectx)
	if diags.HasErrors() || val.IsNull() {
		return nil, diags
	}
	val, marks := val.Unmark()
	ty := val.Type()
	if !val.IsKnown() || !(ty.IsObjectType() || ty.IsMapType()) {
		return nil, append(diags, &hcl.Diagnostic{
			Severity:    hcl.DiagError,
			Summary:     "Invalid vars",
			Detail:      `vars must be an object, such as { ntp = "pool.ntp.org" }.`,
			Subject:     attr.Expr.Range().Ptr(),
			Expression:  attr.Expr,
			EvalContext: ectx,
		})
	}
	vars := map[string]cty.Value{}
	for it := val.ElementIterator(); it.Next(); {
		k, v := it.Element()
		vars[k.AsString()] = v.WithMarks(marks)
	}
	return vars, diags
}

// checkThumbprint normalizes a cert_thumbprint (colons and spaces
// dropped, lower case) and checks that it is a SHA-256: 64 hex digits.
func checkThumbprint(attrs hcl.Attributes, v *string) hcl.Diagnostics {
	if v == nil {
		return nil
	}
	norm, err := NormalizeThumbprint(*v)
	if err != nil {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid cert_thumbprint",
			Detail:   err.Error(),
			Subject:  attrs["cert_thumbprint"].Expr.Range().Ptr(),
		}}
	}
	*v = norm
	return nil
}

// NormalizeThumbprint returns a SHA-256 certificate thumbprint as 64
// lowercase hex digits, accepting colons and spaces between them (as
// openssl and Windows print them).
func NormalizeThumbprint(s string) (string, error) {
	t := strings.ToLower(strings.NewReplacer(":", "", " ", "", "-", "").Replace(strings.TrimSpace(s)))
	for _, r := range t {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return "", fmt.Errorf("%q is not hexadecimal: want the SHA-256 of the listener's certificate, 64 hex digits (colons allowed)", s)
		}
	}
	switch len(t) {
	case 64:
		return t, nil
	case 40:
		return "", fmt.Errorf("%q is a SHA-1 thumbprint (40 hex digits), as Windows shows certificates; tend pins the SHA-256 of the certificate (64 hex digits): see docs/inventory.md for how to get it", s)
	default:
		return "", fmt.Errorf("%q has %d hex digits: want the SHA-256 of the listener's certificate, 64 hex digits", s, len(t))
	}
}

func checkOneOf(attrs hcl.Attributes, name string, v *string, valid []string) hcl.Diagnostics {
	if v == nil || slices.Contains(valid, *v) {
		return nil
	}
	return hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf("Invalid %s", name),
		Detail:   fmt.Sprintf("%q is not a valid %s; use one of %s.", *v, name, strings.Join(quoteAll(valid), ", ")),
		Subject:  attrs[name].Expr.Range().Ptr(),
	}}
}

// nameSpecials are the characters the pattern language gives a meaning to
// (separators, operators, globs, regex, file and subscript syntax); a host
// or group name containing one could not be targeted on its own.
const nameSpecials = ",:!&~@*?[]"

func checkName(kind, name string, r hcl.Range) hcl.Diagnostics {
	var problem string
	switch {
	case name == "":
		problem = "it is empty"
	case strings.ContainsAny(name, nameSpecials):
		problem = fmt.Sprintf("it contains one of %q, which host patterns use", nameSpecials)
	case strings.IndexFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0:
		problem = "it contains a space or control character"
	default:
		return nil
	}
	detail := fmt.Sprintf("%q cannot be a %s name: %s.", name, kind, problem)
	if kind == "host" {
		detail += " Name the host and put the IP address or host name in address."
	}
	return hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf("Invalid %s name", kind),
		Detail:   detail,
		Subject:  r.Ptr(),
	}}
}

// elemRange is the range of the i-th element of a literal list, so a bad
// entry is pointed at exactly; otherwise the whole expression.
func elemRange(expr hcl.Expression, i int) hcl.Range {
	if t, ok := expr.(*hclsyntax.TupleConsExpr); ok && i < len(t.Exprs) {
		return t.Exprs[i].Range()
	}
	return expr.Range()
}

// pos formats where a range starts, as "file:line,col", for details that
// point at a second place.
func pos(r hcl.Range) string {
	return fmt.Sprintf("%s:%d,%d", r.Filename, r.Start.Line, r.Start.Column)
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
