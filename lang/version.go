package lang

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// Version schemes version_compare knows: each orders versions the way
// its package manager does.
const (
	SchemeDeb    = "deb"    // dpkg's ordering (apt)
	SchemeRPM    = "rpm"    // rpmvercmp with epoch and release (dnf, yum, zypper)
	SchemeSemver = "semver" // Semantic Versioning 2.0.0 precedence
)

// SchemeFor returns the version scheme of a host's package manager
// (host.facts.package_manager): rpm for dnf, yum and zypper, deb
// otherwise, as for a host whose package manager is unknown.
func SchemeFor(packageManager string) string {
	switch packageManager {
	case "dnf", "yum", "zypper", "rpm":
		return SchemeRPM
	}
	return SchemeDeb
}

// CompareVersions orders two versions under a scheme: -1 when a sorts
// before b, 0 when they are equal, 1 after. Versions the scheme cannot
// read are errors saying which and why.
func CompareVersions(scheme, a, b string) (int, error) {
	switch scheme {
	case SchemeDeb:
		va, err := parseDebVersion(a)
		if err != nil {
			return 0, err
		}
		vb, err := parseDebVersion(b)
		if err != nil {
			return 0, err
		}
		return compareDeb(va, vb), nil
	case SchemeRPM:
		if err := checkRPMVersion(a); err != nil {
			return 0, err
		}
		if err := checkRPMVersion(b); err != nil {
			return 0, err
		}
		return compareRPM(a, b), nil
	case SchemeSemver:
		va, err := parseSemver(a)
		if err != nil {
			return 0, err
		}
		vb, err := parseSemver(b)
		if err != nil {
			return 0, err
		}
		return compareSemver(va, vb), nil
	}
	return 0, fmt.Errorf("unknown version scheme %q: use %q, %q or %q", scheme, SchemeDeb, SchemeRPM, SchemeSemver)
}

// versionCompareFunc is version_compare(a, op, b[, scheme]): whether
// version a stands in relation op (<, <=, ==, !=, >=, >) to version b,
// under scheme, def when it is not given (def "": the host's, not known
// yet, so the result is not known either). A null version (a package
// that is not installed) gives null: neither true nor false.
func versionCompareFunc(def string) function.Function {
	return function.New(&function.Spec{
		Description: "Compares two versions the way a package manager orders them.",
		Params: []function.Parameter{
			{Name: "a", Type: cty.String, AllowNull: true},
			{Name: "op", Type: cty.String},
			{Name: "b", Type: cty.String, AllowNull: true},
		},
		VarParam: &function.Parameter{Name: "scheme", Type: cty.String},
		Type:     function.StaticReturnType(cty.Bool),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			if len(args) > 4 {
				return cty.NilVal, function.NewArgErrorf(4, "version_compare takes at most four arguments: a, op, b and the scheme")
			}
			scheme := def
			if len(args) == 4 {
				scheme = args[3].AsString()
				if scheme != SchemeDeb && scheme != SchemeRPM && scheme != SchemeSemver {
					return cty.NilVal, function.NewArgErrorf(3, "unknown version scheme %q: use %q, %q or %q", scheme, SchemeDeb, SchemeRPM, SchemeSemver)
				}
			}
			op := args[1].AsString()
			test, ok := versionOps[op]
			if !ok {
				return cty.NilVal, function.NewArgErrorf(1, "unknown operator %q: use one of <, <=, ==, !=, >=, >", op)
			}
			if args[0].IsNull() || args[2].IsNull() {
				return cty.NullVal(cty.Bool), nil
			}
			if scheme == "" {
				return cty.UnknownVal(cty.Bool), nil
			}
			a, b := args[0].AsString(), args[2].AsString()
			for i, v := range []string{a, b} {
				if _, err := CompareVersions(scheme, v, v); err != nil {
					return cty.NilVal, function.NewArgErrorf(2*i, "%s", err)
				}
			}
			c, _ := CompareVersions(scheme, a, b)
			return cty.BoolVal(test(c)), nil
		},
	})
}

var versionOps = map[string]func(int) bool{
	"<":  func(c int) bool { return c < 0 },
	"<=": func(c int) bool { return c <= 0 },
	"==": func(c int) bool { return c == 0 },
	"!=": func(c int) bool { return c != 0 },
	">=": func(c int) bool { return c >= 0 },
	">":  func(c int) bool { return c > 0 },
}

// HostFunctions returns fns for evaluating in a host's context:
// version_compare defaults to the scheme of the package manager named in
// facts (host.facts.package_manager); while the facts are not known,
// version_compare without a scheme is not known either (so a plan's
// first pass, before the facts, holds no answer the facts could
// change). Facts without a package manager leave fns as they are.
func HostFunctions(fns map[string]function.Function, facts cty.Value) map[string]function.Function {
	scheme, ok := factsScheme(facts)
	if !ok {
		return fns
	}
	out := make(map[string]function.Function, len(fns))
	for k, f := range fns {
		out[k] = f
	}
	out["version_compare"] = quietOnSensitive(versionCompareFunc(scheme))
	return out
}

// factsScheme reads the version scheme from host.facts.package_manager.
// The scheme is "" while the facts are not known, and ok is false when
// there are no facts or they name no package manager.
func factsScheme(facts cty.Value) (scheme string, ok bool) {
	if facts == cty.NilVal {
		return "", false
	}
	facts, _ = facts.Unmark()
	if !facts.IsKnown() {
		return "", true
	}
	if facts.IsNull() || !facts.Type().IsObjectType() || !facts.Type().HasAttribute("package_manager") {
		return "", false
	}
	pm, _ := facts.GetAttr("package_manager").Unmark()
	if !pm.IsKnown() {
		return "", true
	}
	if pm.IsNull() || !pm.Type().Equals(cty.String) {
		return "", false
	}
	return SchemeFor(pm.AsString()), true
}

// callsDefaultVersionCompare reports whether any expression in node
// calls version_compare without a scheme, whose result then depends on
// the host it is evaluated for.
func callsDefaultVersionCompare(node hclsyntax.Node) bool {
	found := false
	hclsyntax.VisitAll(node, func(n hclsyntax.Node) hcl.Diagnostics {
		if call, ok := n.(*hclsyntax.FunctionCallExpr); ok && call.Name == "version_compare" && len(call.Args) < 4 {
			found = true
		}
		return nil
	})
	return found
}

// syntaxNode returns the native syntax node behind a body or an
// expression, or nil (JSON configuration).
func syntaxNode(x any) hclsyntax.Node {
	if n, ok := x.(hclsyntax.Node); ok {
		return n
	}
	return nil
}

// debVersion is a Debian version: [epoch:]upstream[-revision].
type debVersion struct {
	epoch    int
	upstream string
	revision string
}

// parseDebVersion reads a version as dpkg's parseversion does, with its
// errors; what dpkg only warns about (an upstream part not starting with
// a digit, characters outside the policy) is compared as dpkg compares
// it.
func parseDebVersion(s string) (debVersion, error) {
	v := debVersion{}
	t := strings.Trim(s, " \t\n")
	if t == "" {
		return v, fmt.Errorf("version %q is empty", s)
	}
	if strings.ContainsAny(t, " \t\n") {
		return v, fmt.Errorf("version %q has embedded spaces", s)
	}
	if e, rest, ok := strings.Cut(t, ":"); ok {
		if e == "" {
			return v, fmt.Errorf("version %q: epoch is empty", s)
		}
		n, err := strconv.Atoi(e)
		if err != nil || n < 0 || strings.ContainsAny(e, "+-") {
			return v, fmt.Errorf("version %q: epoch %q is not a number of at most 2147483647", s, e)
		}
		if n > 1<<31-1 {
			return v, fmt.Errorf("version %q: epoch %q is too big", s, e)
		}
		if rest == "" {
			return v, fmt.Errorf("version %q has nothing after the epoch's colon", s)
		}
		v.epoch, t = n, rest
	}
	if i := strings.LastIndexByte(t, '-'); i >= 0 {
		v.revision = t[i+1:]
		t = t[:i]
		if v.revision == "" {
			return v, fmt.Errorf("version %q: revision is empty", s)
		}
	}
	if t == "" {
		return v, fmt.Errorf("version %q: upstream version is empty", s)
	}
	v.upstream = t
	return v, nil
}

func compareDeb(a, b debVersion) int {
	if a.epoch != b.epoch {
		if a.epoch < b.epoch {
			return -1
		}
		return 1
	}
	if c := debPartCompare(a.upstream, b.upstream); c != 0 {
		return c
	}
	return debPartCompare(a.revision, b.revision)
}

// debOrder is the weight of a character in the non-digit runs of a
// Debian version: the end of the run sorts before letters, letters
// before every other character, and ~ before all, even the end.
func debOrder(s string, i int) int {
	if i >= len(s) {
		return 0
	}
	c := s[i]
	switch {
	case c >= '0' && c <= '9':
		return 0
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		return int(c)
	case c == '~':
		return -1
	}
	return int(c) + 256
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// debPartCompare compares an upstream version or a revision: runs of
// non-digits by debOrder, runs of digits as numbers, alternately.
func debPartCompare(a, b string) int {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		for (i < len(a) && !isDigit(a[i])) || (j < len(b) && !isDigit(b[j])) {
			ac, bc := debOrder(a, i), debOrder(b, j)
			if ac != bc {
				return sign(ac - bc)
			}
			i++
			j++
		}
		for i < len(a) && a[i] == '0' {
			i++
		}
		for j < len(b) && b[j] == '0' {
			j++
		}
		first := 0
		for i < len(a) && isDigit(a[i]) && j < len(b) && isDigit(b[j]) {
			if first == 0 {
				first = int(a[i]) - int(b[j])
			}
			i++
			j++
		}
		if i < len(a) && isDigit(a[i]) {
			return 1
		}
		if j < len(b) && isDigit(b[j]) {
			return -1
		}
		if first != 0 {
			return sign(first)
		}
	}
	return 0
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

// checkRPMVersion rejects what no package manager would report as an
// RPM version.
func checkRPMVersion(s string) error {
	if s == "" {
		return fmt.Errorf("version %q is empty", s)
	}
	if strings.ContainsAny(s, " \t\n") {
		return fmt.Errorf("version %q has embedded spaces", s)
	}
	return nil
}

// splitEVR splits [epoch:]version[-release] as rpm does: the epoch is
// what precedes a colon when it is all digits, the release what follows
// the last hyphen.
func splitEVR(s string) (epoch, version, release string) {
	version = s
	if i := strings.IndexByte(s, ':'); i >= 0 && strings.Trim(s[:i], "0123456789") == "" {
		// rpm reads an empty epoch as 0.
		epoch, version = s[:i], s[i+1:]
	}
	if i := strings.LastIndexByte(version, '-'); i >= 0 {
		version, release = version[:i], version[i+1:]
	}
	if epoch == "" {
		epoch = "0"
	}
	return epoch, version, release
}

// compareRPM orders two [epoch:]version[-release] strings: epochs,
// then versions, then releases, each with rpmvercmp.
func compareRPM(a, b string) int {
	ea, va, ra := splitEVR(a)
	eb, vb, rb := splitEVR(b)
	if c := rpmvercmp(ea, eb); c != 0 {
		return c
	}
	if c := rpmvercmp(va, vb); c != 0 {
		return c
	}
	return rpmvercmp(ra, rb)
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// rpmvercmp compares two version (or release) strings as rpm does: the
// strings are split into runs of digits and runs of letters, everything
// else separating them; digit runs compare as numbers and sort after
// letter runs; ~ sorts before everything, the end of the string
// included; ^ sorts after the end of the string but before anything
// else.
func rpmvercmp(a, b string) int {
	if a == b {
		return 0
	}
	i, j := 0, 0
	sep := func(s string, k int) int {
		for k < len(s) && !isDigit(s[k]) && !isAlpha(s[k]) && s[k] != '~' && s[k] != '^' {
			k++
		}
		return k
	}
	for i < len(a) || j < len(b) {
		i, j = sep(a, i), sep(b, j)
		ca, cb := byte(0), byte(0)
		if i < len(a) {
			ca = a[i]
		}
		if j < len(b) {
			cb = b[j]
		}
		if ca == '~' || cb == '~' {
			if ca != '~' {
				return 1
			}
			if cb != '~' {
				return -1
			}
			i++
			j++
			continue
		}
		if ca == '^' || cb == '^' {
			if ca == 0 {
				return -1
			}
			if cb == 0 {
				return 1
			}
			if ca != '^' {
				return 1
			}
			if cb != '^' {
				return -1
			}
			i++
			j++
			continue
		}
		if ca == 0 || cb == 0 {
			break
		}
		run := isAlpha
		isNum := isDigit(ca)
		if isNum {
			run = isDigit
		}
		ei, ej := i, j
		for ei < len(a) && run(a[ei]) {
			ei++
		}
		for ej < len(b) && run(b[ej]) {
			ej++
		}
		sa, sb := a[i:ei], b[j:ej]
		if sb == "" {
			// A digit run against a letter run: digits are newer.
			if isNum {
				return 1
			}
			return -1
		}
		if isNum {
			sa, sb = strings.TrimLeft(sa, "0"), strings.TrimLeft(sb, "0")
			if len(sa) != len(sb) {
				if len(sa) > len(sb) {
					return 1
				}
				return -1
			}
		}
		if c := strings.Compare(sa, sb); c != 0 {
			return c
		}
		i, j = ei, ej
	}
	if i >= len(a) && j >= len(b) {
		return 0
	}
	if i >= len(a) {
		return -1
	}
	return 1
}

// semver is a parsed semantic version; build metadata is dropped, as it
// does not take part in precedence.
type semver struct {
	core [3]string
	pre  []string
}

// parseSemver reads MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD], with an
// optional leading v.
func parseSemver(s string) (semver, error) {
	var v semver
	t := strings.TrimPrefix(s, "v")
	if i := strings.IndexByte(t, '+'); i >= 0 {
		build := t[i+1:]
		t = t[:i]
		for _, id := range strings.Split(build, ".") {
			if id == "" || !semverIdent(id) {
				return v, fmt.Errorf("version %q: build metadata %q is not dot-separated [0-9A-Za-z-] identifiers", s, build)
			}
		}
	}
	core := t
	if i := strings.IndexByte(t, '-'); i >= 0 {
		core = t[:i]
		pre := t[i+1:]
		v.pre = strings.Split(pre, ".")
		for _, id := range v.pre {
			if id == "" || !semverIdent(id) || (numeric(id) && len(id) > 1 && id[0] == '0') {
				return v, fmt.Errorf("version %q: pre-release %q is not dot-separated identifiers without leading zeros", s, pre)
			}
		}
	}
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return v, fmt.Errorf("version %q is not a semantic version MAJOR.MINOR.PATCH", s)
	}
	for k, p := range parts {
		if p == "" || !numeric(p) || (len(p) > 1 && p[0] == '0') {
			return v, fmt.Errorf("version %q: %q is not a number without leading zeros", s, p)
		}
		v.core[k] = p
	}
	return v, nil
}

func semverIdent(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isDigit(c) && !isAlpha(c) && c != '-' {
			return false
		}
	}
	return true
}

func numeric(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

// compareNumeric compares two decimal strings without leading zeros.
func compareNumeric(a, b string) int {
	if len(a) != len(b) {
		return sign(len(a) - len(b))
	}
	return strings.Compare(a, b)
}

func compareSemver(a, b semver) int {
	for k := range a.core {
		if c := compareNumeric(a.core[k], b.core[k]); c != 0 {
			return c
		}
	}
	switch {
	case len(a.pre) == 0 && len(b.pre) == 0:
		return 0
	case len(a.pre) == 0:
		return 1
	case len(b.pre) == 0:
		return -1
	}
	for k := 0; k < len(a.pre) && k < len(b.pre); k++ {
		x, y := a.pre[k], b.pre[k]
		nx, ny := numeric(x), numeric(y)
		var c int
		switch {
		case nx && ny:
			c = compareNumeric(x, y)
		case nx:
			c = -1
		case ny:
			c = 1
		default:
			c = strings.Compare(x, y)
		}
		if c != 0 {
			return c
		}
	}
	return sign(len(a.pre) - len(b.pre))
}

// callsDefaultVersionCompare reports whether the resource calls
// version_compare without a scheme anywhere: its value then depends on
// the host's package manager, a fact.
func (r *Resource) callsDefaultVersionCompare() bool {
	for _, x := range []any{r.Body, r.When, r.ForEach} {
		if n := syntaxNode(x); n != nil && callsDefaultVersionCompare(n) {
			return true
		}
	}
	return false
}
