package lang

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// needTool skips a test without the tool, except in the lab
// (TEND_LAB=1), where a missing tool fails it.
func needTool(t *testing.T, tool, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		if os.Getenv("TEND_LAB") == "1" {
			t.Fatalf("TEND_LAB=1 but %s is not installed (Debian package %s; integration/scripts/pkg-deps.sh installs it)", tool, pkg)
		}
		t.Skipf("needs %s (Debian package %s)", tool, pkg)
	}
}

// debCorpus returns pairs of Debian versions: hand-picked edge cases,
// then pairs built from real-looking parts (epochs, upstream versions
// with tildes, pluses and letters, revisions) drawn with a fixed seed,
// most of them near each other so the comparison has work to do.
func debCorpus() [][2]string {
	pairs := [][2]string{
		{"1.0", "1.0"}, {"1.0", "1.0-0"}, {"1.0-0", "1.0-" + "00"}, {"1.0~rc1", "1.0"}, {"1.0~~", "1.0~"},
		{"1.0~~a", "1.0~~"}, {"1.0~", "1.0"}, {"1.0", "1.0a"}, {"1.0a", "1.0+"}, {"1.0+", "1.0."},
		{"1.0.", "1.0-" + "1"}, {"1:0.1", "9.9"}, {"0:1.0", "1.0"}, {"1.01", "1.1"}, {"1.001", "1.1"},
		{"1.0a", "1.0A"}, {"1.0Z", "1.0a"}, {"a", "b"}, {"1a", "1b"}, {"1.2.3", "1.2.3.0"},
		{"1.2.3-1", "1.2.3-1.0"}, {"2.36-9+deb12u4", "2.36-9+deb12u10"}, {"3.0.11-1~deb12u2", "3.0.13-1~deb12u1"},
		{"3.0.13-1~deb12u1", "3.0.13"}, {"3.0.13-1", "3.0.13-1~deb12u1"}, {"1:9.2p1-2+deb12u3", "1:9.2p1-2+deb12u2"},
		{"7.88.1-10+deb12u5", "7.88.1-10+deb12u12"}, {"2.0-1~bpo11+1", "2.0-1"}, {"1.2.3+dfsg-1", "1.2.3-1"},
		{"1.2.3+really1.2.2-1", "1.2.3-1"}, {"10", "9"}, {"1.10", "1.9"}, {"0.0~git20200101.abc1234-1", "0.0~git20191231.fff-1"},
		{"252.22-1~deb12u1", "252.30-1~deb12u2"}, {"5.2.15-2+b7", "5.2.15-2"}, {"1.0-1+b1", "1.0-1.1"},
		{"1.0~beta1~svn1245", "1.0~beta1"}, {"0.9.8", "0.9.8k"}, {"2:1.0", "1:2.0"}, {"1.0-1ubuntu1", "1.0-1"},
		{"1.0-1ubuntu0.1", "1.0-1ubuntu1"}, {"4.19.0-25", "4.19.0-1"}, {"18446744073709551616", "18446744073709551615"},
		{"1.000000000000000000001", "1.1"}, {"1.0-a", "1.0-1"}, {"1.0-~", "1.0-" + "0"}, {"1:1.0:1", "1:1.0"},
		{"1.0+b", "1.0+a"}, {"1.0..1", "1.0.1"}, {"1.0-1-1", "1.0-1"}, {"1.0-1-1", "1.0-2"},
	}
	rng := rand.New(rand.NewPCG(20, 13))
	epochs := []string{"", "", "", "", "0:", "1:", "2:", "10:"}
	upstreams := []string{
		"1.0", "1.0.1", "1.0.10", "1.0.9", "1.0~rc1", "1.0~rc2", "1.0~beta", "1.0+dfsg", "1.0+dfsg1", "1.0a",
		"1.0.0", "3.0.13", "3.0.11", "3.0.2", "3.0.13+really3.0.11", "2.36", "2.36.1", "9.2p1", "9.2p2", "0.9.8zh",
		"1.2.3~git20240101.1a2b3c", "1.2.3~git20231231.ffffff", "252.22", "7.88.1", "7.88.10", "5.2.15", "20230311",
		"0.0~svn123", "1:1", "1.0~~", "1.0~", "01.0", "1.00", "2.0.0+ds", "2.0.0~ds", "4.19", "4.19.0",
	}
	revisions := []string{"", "", "-1", "-2", "-10", "-0", "-1ubuntu1", "-1ubuntu0.1", "-1+deb12u1", "-1+deb12u10",
		"-2~bpo11+1", "-1.1", "-1+b1", "-1~deb12u1", "-0ubuntu0.22.04.1", "-3build1"}
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	version := func() string { return pick(epochs) + pick(upstreams) + pick(revisions) }
	for range 120 {
		pairs = append(pairs, [2]string{version(), version()})
	}
	// Neighbours: the same version with one part changed.
	for range 120 {
		e, u, r := pick(epochs), pick(upstreams), pick(revisions)
		a := e + u + r
		var b string
		switch rng.IntN(3) {
		case 0:
			b = pick(epochs) + u + r
		case 1:
			b = e + pick(upstreams) + r
		default:
			b = e + u + pick(revisions)
		}
		pairs = append(pairs, [2]string{a, b})
	}
	return pairs
}

// dpkgSign runs the real dpkg --compare-versions to order a and b.
func dpkgSign(t *testing.T, a, b string) int {
	t.Helper()
	rel := func(op string) bool {
		err := exec.Command("dpkg", "--compare-versions", a, op, b).Run()
		var ee *exec.ExitError
		switch {
		case err == nil:
			return true
		case errors.As(err, &ee) && ee.ExitCode() == 1:
			return false
		}
		t.Fatalf("dpkg --compare-versions %q %s %q: %v", a, op, b, err)
		return false
	}
	switch {
	case rel("lt"):
		return -1
	case rel("gt"):
		return 1
	}
	return 0
}

func TestVersionCompareAgreesWithDpkg(t *testing.T) {
	needTool(t, "dpkg", "dpkg")
	pairs := debCorpus()
	if len(pairs) < 200 {
		t.Fatalf("corpus has %d pairs, want at least 200", len(pairs))
	}
	fn := versionCompareFunc(SchemeDeb)
	distinct := map[int]int{}
	for i, p := range pairs {
		a, b := p[0], p[1]
		want := dpkgSign(t, a, b)
		distinct[want]++
		got, err := CompareVersions(SchemeDeb, a, b)
		if err != nil {
			t.Errorf("CompareVersions(%q, %q): %v", a, b, err)
			continue
		}
		if got != want {
			t.Errorf("CompareVersions(%q, %q) = %d, dpkg says %d", a, b, got, want)
		}
		// Every operator of the function, against dpkg's own operators
		// for the first pairs, against dpkg's order for the rest.
		for _, op := range []struct{ hcl, dpkg string }{{"<", "lt"}, {"<=", "le"}, {"==", "eq"}, {"!=", "ne"}, {">=", "ge"}, {">", "gt"}} {
			v, err := fn.Call([]cty.Value{cty.StringVal(a), cty.StringVal(op.hcl), cty.StringVal(b)})
			if err != nil {
				t.Fatalf("version_compare(%q, %q, %q): %v", a, op.hcl, b, err)
			}
			var wantOp bool
			if i < 40 {
				wantOp = exec.Command("dpkg", "--compare-versions", a, op.dpkg, b).Run() == nil
			} else {
				wantOp = versionOps[op.hcl](want)
			}
			if v.True() != wantOp {
				t.Errorf("version_compare(%q, %q, %q) = %v, dpkg --compare-versions %s says %v", a, op.hcl, b, v.True(), op.dpkg, wantOp)
			}
		}
	}
	// The corpus must exercise every outcome, or it proves little.
	if distinct[-1] < 30 || distinct[1] < 30 || distinct[0] < 10 {
		t.Errorf("corpus outcomes %v: want at least 30 each way and 10 equal", distinct)
	}
}

// TestVersionCompareRejectsWhatDpkgRejects: versions dpkg cannot parse
// are errors for both.
func TestVersionCompareRejectsWhatDpkgRejects(t *testing.T) {
	needTool(t, "dpkg", "dpkg")
	for _, bad := range []string{"1.0 1", ":1.0", "a:1.0", "1:", "1.0-", "-1", "1:-1", "1.0:", "1.0:1"} {
		if err := exec.Command("dpkg", "--compare-versions", bad, "lt", "1.0").Run(); err == nil || exitCode(err) == 1 {
			t.Errorf("dpkg accepts %q (%v); the case is wrong", bad, err)
		}
		if _, err := CompareVersions(SchemeDeb, bad, "1.0"); err == nil {
			t.Errorf("CompareVersions(%q) accepted a version dpkg rejects", bad)
		}
	}
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// rpmCorpus returns pairs of RPM versions: tildes, carets, letters,
// separators, epochs and releases.
func rpmCorpus() [][2]string {
	pairs := [][2]string{
		{"1.0", "1.0"}, {"1.0", "2.0"}, {"2.0.1", "2.0.1a"}, {"2.0.1a", "2.0.1"}, {"5.5p1", "5.5p2"}, {"5.5p10", "5.5p1"},
		{"10xyz", "10.1xyz"}, {"xyz10", "xyz10.1"}, {"xyz.4", "8"}, {"8", "xyz.4"}, {"xyz.4", "2"}, {"5.5p2", "5.6p1"},
		{"6.0.rc1", "6.0"}, {"10b2", "10a1"}, {"1.0aa", "1.0a"}, {"10.0001", "10.1"}, {"10.0001", "10.0039"},
		{"4.999.9", "5.0"}, {"20101121", "20101122"}, {"2_0", "2_0"}, {"2.0", "2_0"}, {"a", "a"}, {"a+", "a+"},
		{"a+", "a_"}, {"+a", "+a"}, {"+a", "_a"}, {"+_", "_+"}, {"+", "_"}, {"1.0~rc1", "1.0"}, {"1.0~rc1", "1.0~rc2"},
		{"1.0~rc1~git123", "1.0~rc1"}, {"1.0~", "1.0"}, {"1.0^", "1.0"}, {"1.0^git1", "1.0"}, {"1.0^git1", "1.01"},
		{"1.0^20160101", "1.0.1"}, {"1.0^20160101^git1", "1.0^20160101"}, {"1.0^20160102", "1.0^20160101^git1"},
		{"1.0~rc1^git1", "1.0~rc1"}, {"1.0^git1~pre", "1.0^git1"}, {"1.0^", "1.0~"}, {"1.0", "1.0-1"},
		{"1:1.0", "2.0"}, {"0:1.0", "1.0"}, {"1.0-1.el9", "1.0-2.el9"}, {"3.0.7-27.el9", "3.0.7-24.el9"},
		{"1:3.0.7-27.el9", "3.0.7-28.el9"}, {"2.36-9.fc38", "2.36-10.fc38"}, {"1.2.3-1.fc39", "1.2.3-1.fc39.1"},
		{"1.0a", "1.0.a"}, {"1.0", "1.0."}, {"1.0", "01.0"}, {"a", "1"}, {"1.0.0", "1.0"}, {"1.0-a", "1.0-1"},
	}
	rng := rand.New(rand.NewPCG(7, 11))
	parts := []string{"1", "2", "10", "0", "a", "b", "rc1", "git", "p1", "01", "el9", "fc38"}
	seps := []string{".", ".", ".", "_", "+", "~", "^", ""}
	version := func() string {
		var sb strings.Builder
		n := 1 + rng.IntN(4)
		for k := range n {
			if k > 0 {
				sb.WriteString(seps[rng.IntN(len(seps))])
			}
			sb.WriteString(parts[rng.IntN(len(parts))])
		}
		return sb.String()
	}
	for range 150 {
		a := version()
		b := a
		if rng.IntN(3) > 0 {
			b = version()
		}
		if rng.IntN(4) == 0 {
			a += "-" + version()
			b += "-" + version()
		}
		pairs = append(pairs, [2]string{a, b})
	}
	return pairs
}

// TestVersionCompareAgreesWithRPM checks the rpm scheme against rpm's
// own ordering, rpm.vercmp of the real rpm (Debian's rpm package).
func TestVersionCompareAgreesWithRPM(t *testing.T) {
	needTool(t, "rpm", "rpm")
	pairs := rpmCorpus()
	// One rpm process answers every pair: a Lua loop over them.
	var script strings.Builder
	script.WriteString("%{lua:\nlocal p = {\n")
	for _, p := range pairs {
		fmt.Fprintf(&script, "{%q, %q},\n", p[0], p[1])
	}
	script.WriteString("}\nfor _, x in ipairs(p) do print(rpm.vercmp(x[1], x[2]) .. \"\\n\") end\n}")
	out, err := exec.Command("rpm", "--eval", script.String()).Output()
	if err != nil {
		t.Fatalf("rpm --eval: %v", err)
	}
	answers := strings.Fields(string(out))
	if len(answers) != len(pairs) {
		t.Fatalf("rpm answered %d pairs of %d: %s", len(answers), len(pairs), out)
	}
	distinct := map[int]int{}
	for i, p := range pairs {
		var want int
		if _, err := fmt.Sscan(answers[i], &want); err != nil {
			t.Fatalf("rpm answer %q: %v", answers[i], err)
		}
		distinct[want]++
		got, err := CompareVersions(SchemeRPM, p[0], p[1])
		if err != nil {
			t.Errorf("CompareVersions(rpm, %q, %q): %v", p[0], p[1], err)
		} else if got != want {
			t.Errorf("CompareVersions(rpm, %q, %q) = %d, rpm.vercmp says %d", p[0], p[1], got, want)
		}
	}
	if distinct[-1] < 20 || distinct[1] < 20 || distinct[0] < 10 {
		t.Errorf("corpus outcomes %v: want at least 20 each way and 10 equal", distinct)
	}
}

// TestSemverOrder checks the precedence example of the Semantic
// Versioning 2.0.0 specification, and that build metadata is ignored.
func TestSemverOrder(t *testing.T) {
	order := []string{"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
		"1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "v1.0.1", "1.2.0", "1.10.0", "2.0.0", "10.0.0"}
	for i := range order {
		for j := range order {
			got, err := CompareVersions(SchemeSemver, order[i], order[j])
			if err != nil {
				t.Fatal(err)
			}
			if want := sign(i - j); got != want {
				t.Errorf("semver %q vs %q = %d, want %d", order[i], order[j], got, want)
			}
		}
	}
	if c, err := CompareVersions(SchemeSemver, "1.0.0+build.1", "1.0.0+build.2"); err != nil || c != 0 {
		t.Errorf("build metadata: %d, %v; want equal", c, err)
	}
	for _, bad := range []string{"1.0", "1.0.0.0", "01.0.0", "1.0.0-01", "1.0.0-", "1.0.0+", "1.a.0", ""} {
		if _, err := CompareVersions(SchemeSemver, bad, "1.0.0"); err == nil {
			t.Errorf("semver %q accepted", bad)
		}
	}
}

func TestVersionCompareFunction(t *testing.T) {
	fns := Functions(t.TempDir(), nil)
	eval := func(fns map[string]function.Function, src string) (cty.Value, hcl.Diagnostics) {
		expr, diags := hclsyntax.ParseExpression([]byte(src), "q.hcl", hcl.Pos{Line: 1, Column: 1})
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		return expr.Value(&hcl.EvalContext{Functions: fns, Variables: map[string]cty.Value{
			"pkgs": cty.MapVal(map[string]cty.Value{"absent": cty.NullVal(cty.String), "openssl": cty.StringVal("3.0.11-1~deb12u2")}),
		}})
	}
	tests := map[string]struct {
		src  string
		want cty.Value
		err  string
	}{
		"deb by default":        {src: `version_compare("1.0~rc1", "<", "1.0")`, want: cty.True},
		"tilde in rpm":          {src: `version_compare("1.0~rc1", "<", "1.0", "rpm")`, want: cty.True},
		"caret in rpm":          {src: `version_compare("1.0^git1", ">", "1.0", "rpm")`, want: cty.True},
		"semver":                {src: `version_compare("1.0.0-rc.1", "<", "1.0.0", "semver")`, want: cty.True},
		"not installed is null": {src: `version_compare(pkgs["absent"], "<", "3.0.13")`, want: cty.NullVal(cty.Bool)},
		"installed":             {src: `version_compare(pkgs.openssl, "<", "3.0.13")`, want: cty.True},
		"equal":                 {src: `version_compare("1:1.0", "==", "1:1.0-0")`, want: cty.True},
		"not equal":             {src: `version_compare("1.0", "!=", "1.0-1")`, want: cty.True},
		"bad operator":          {src: `version_compare("1.0", "lt", "2.0")`, err: `q.hcl:1,25-27: Invalid function argument; Invalid value for "op" parameter: unknown operator "lt"`},
		"bad scheme":            {src: `version_compare("1.0", "<", "2.0", "npm")`, err: `q.hcl:1,37-40: Invalid function argument; Invalid value for "scheme" parameter: unknown version scheme "npm"`},
		"bad version":           {src: `version_compare("1.0", "<", "2.0 beta")`, err: `q.hcl:1,30-38: Invalid function argument; Invalid value for "b" parameter: version "2.0 beta" has embedded spaces`},
		"too many":              {src: `version_compare("1", "<", "2", "deb", "x")`, err: `at most four arguments`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			v, diags := eval(fns, tc.src)
			if tc.err != "" {
				if !diags.HasErrors() || !strings.Contains(diags.Error(), tc.err) {
					t.Fatalf("got %#v, %v; want an error containing %q", v, diags, tc.err)
				}
				return
			}
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			if !v.RawEquals(tc.want) {
				t.Errorf("got %#v, want %#v", v, tc.want)
			}
		})
	}
	// In a host context the default scheme is the host's package
	// manager's: 1.0~rc1 < 1.0 in both, but 1.0a < 1.0.a only in deb.
	facts := func(pm string) cty.Value {
		return cty.ObjectVal(map[string]cty.Value{"package_manager": cty.StringVal(pm)})
	}
	for pm, want := range map[string]cty.Value{"apt": cty.True, "dnf": cty.False, "zypper": cty.False, "apk": cty.True} {
		v, diags := eval(HostFunctions(fns, facts(pm)), `version_compare("1.0a", "<", "1.0.a")`)
		if diags.HasErrors() || !v.RawEquals(want) {
			t.Errorf("package manager %s: got %#v %v, want %#v", pm, v, diags, want)
		}
	}
	// Before the facts are known the host's order is not either: the
	// answer waits for them, unless the call names its scheme.
	for _, unknown := range []cty.Value{cty.DynamicVal, cty.UnknownVal(facts("apt").Type())} {
		if v, _ := eval(HostFunctions(fns, unknown), `version_compare("1.0a", "<", "1.0.a")`); !v.RawEquals(cty.UnknownVal(cty.Bool)) {
			t.Errorf("facts not known: got %#v, want an unknown bool", v)
		}
		if v, _ := eval(HostFunctions(fns, unknown), `version_compare("1.0a", "<", "1.0.a", "deb")`); !v.RawEquals(cty.True) {
			t.Errorf("facts not known, scheme given: got %#v, want true", v)
		}
	}
	if v, _ := eval(HostFunctions(fns, cty.EmptyObjectVal), `version_compare("1.0a", "<", "1.0.a")`); !v.RawEquals(cty.True) {
		t.Errorf("facts without a package manager: got %#v, want deb's true", v)
	}
}

// TestVersionCompareInConfiguration: without a scheme, version_compare
// orders versions as the host's package manager does, in resources and
// in locals, even where nothing else in the resource reads the host (so
// it is not evaluated once for every host).
func TestVersionCompareInConfiguration(t *testing.T) {
	c := load(t, map[string]string{"main.hcl": `
locals {
  old = version_compare("1.0a", "<", "1.0.a")
}
file "deb_order" {
  path = "/etc/deb-order"
  when = version_compare("1.0a", "<", "1.0.a")
}
file "from_local" {
  path = "/etc/from-local"
  when = local.old
}
file "always_rpm" {
  path = "/etc/rpm-order"
  when = version_compare("1.0a", "==", "1.0.a", "rpm")
}
`})
	if !c.UsesFacts() {
		t.Error("UsesFacts() = false for a configuration whose version_compare reads the package manager")
	}
	vars, diags := c.Values(VarInputs{Env: []string{}})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	for _, tc := range []struct {
		pm   string
		want []string
	}{
		{"apt", []string{"file.deb_order", "file.from_local", "file.always_rpm"}},
		{"dnf", []string{"file.always_rpm"}},
		// Facts not gathered yet: the answer waits for them.
		{"", []string{"file.deb_order?", "file.from_local?", "file.always_rpm"}},
		{"apt", []string{"file.deb_order", "file.from_local", "file.always_rpm"}},
	} {
		facts := cty.ObjectVal(map[string]cty.Value{"package_manager": cty.StringVal(tc.pm)})
		if tc.pm == "" {
			facts = cty.DynamicVal
		}
		insts, diags := c.Expand(vars, HostScope{Name: "h-" + tc.pm, Facts: facts}, func(*Role) bool { return false })
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		var got []string
		for _, in := range insts {
			a := in.Addr
			if in.Maybe {
				a += "?"
			}
			got = append(got, a)
		}
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("%s host: got %v, want %v", tc.pm, got, tc.want)
		}
	}
}
