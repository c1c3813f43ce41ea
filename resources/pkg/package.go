package pkg

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/shell"
)

// Package is the package resource type: a package installed (at any,
// a pinned or the latest version) or absent, through the host's package
// manager.
type Package struct {
	// root points every package manager command at an alternative root
	// (dnf --installroot, zypper --root, pacman --root..., rpm --root):
	// tests run the real dnf, zypper and pacman against installroots on
	// the controller with it. Empty on real hosts.
	root string
}

var (
	_ resources.Type          = Package{}
	_ resources.Resolver      = Package{}
	_ resources.Batcher       = Package{}
	_ resources.Irreversibler = Package{}
)

// Name implements resources.Type.
func (Package) Name() string { return "package" }

// Version implements resources.Versioned.
func (Package) Version(st *resources.State) string {
	if st == nil {
		return ""
	}
	return st.Str("version")
}

// Schema implements resources.Type.
func (Package) Schema() *resources.Schema {
	return &resources.Schema{
		Doc: "A software package, through the host's package manager: apt, dnf, yum (RHEL 8 and later, where yum is dnf), zypper, pacman or apk. " +
			"The plan reads what is installed and, only when it needs them, the versions the host's package index offers; it never refreshes the index. " +
			"The package changes of a host that are ready together are made in one transaction where the package manager allows it " +
			"(apt-get, zypper, dnf 4's shell; dnf 5, pacman and apk take one command per kind of change), non-interactively, " +
			"keeping configuration files the administrator changed, and waiting up to 60 s for another run's lock. " +
			"An apply refreshes the index first when `update_cache` is set or a package to install is missing from the index, " +
			"and refreshes it and retries once when the package manager fails the way an out-of-date index makes it fail " +
			"(a package or version not found, a download gone from the mirror). " +
			"A rollback removes what the change installed, with the dependencies it pulled in, and reinstalls the previous version " +
			"of what it upgraded, downgraded or removed (and of what the package manager removed along with it); when the host's " +
			"package sources (or, for pacman, its package cache) no longer offer that version, the plan says the change cannot be reverted.",
		Attributes: append([]resources.Attribute{
			{Name: "name", Type: cty.String, Doc: "The package's name as the package manager spells it (`nginx`, `libc6:i386`). Defaults to the block's label."},
			{Name: "state", Type: cty.String, Doc: "`present` (default: installed, at any version unless `version` pins one), `latest` (installed and upgraded to the newest version the host's package index offers) or `absent` (removed; configuration files are kept, as the package manager does by default)."},
			{Name: "version", Type: cty.String, Doc: "Pins the version, exactly as the package manager spells it (apt: `1:2.3-4`; dnf, yum, zypper: `2.3-4.el9` or `2.3` for any release; pacman: `2.3-1`; apk: `2.3-r0`); tend upgrades or downgrades to it. A version the host's package sources do not offer is a plan error naming those they do. Write it as a quoted string. Only with state `present`."},
			{Name: "provider", Type: cty.String, Doc: "The package manager: `apt`, `dnf`, `yum`, `zypper`, `pacman` or `apk`. Default: the first of apt-get, dnf, yum, zypper, apk and pacman found on the host (the host's `package_manager` fact)."},
			{Name: "update_cache", Type: cty.Bool, OS: resources.OSPOSIX, Doc: "Refresh the package index (apt-get update, dnf makecache, zypper refresh, pacman -Sy, apk update) before this package is installed, upgraded or downgraded. It causes no change by itself: a package already as declared is left alone. With `latest`, the plan shows the newest version of the index it read, and the apply installs the newest of the refreshed index. With it, a pinned version missing from the current index is not a plan error, since the refresh may bring it. With pacman, -Sy without a system upgrade is what Arch calls a partial upgrade."},
		}, windowsAttributes...),
	}
}

// namePattern and versionPattern accept the names and versions package
// managers use and nothing a shell, an option parser or a package
// manager's own syntax (globs, `=`, `<`, `/release`, blanks) would read
// as something else.
var (
	namePattern    = regexp.MustCompile(`^[A-Za-z0-9_+][A-Za-z0-9_.+:@-]*$`)
	versionPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.+~^:-]*$`)
)

func boolAttr(cfg cty.Value, name string) bool {
	if cfg == cty.NilVal || cfg.IsNull() || !cfg.Type().IsObjectType() || !cfg.Type().HasAttribute(name) {
		return false
	}
	v := cfg.GetAttr(name)
	if v.IsNull() || !v.IsKnown() {
		return false
	}
	v, _ = v.Unmark()
	return v.True()
}

// config is a decoded, checked configuration.
type config struct {
	name, state, version, provider string
	updateCache                    bool
}

func readConfig(cfg cty.Value) (config, error) {
	c := config{
		name:        resources.Str(cfg, "name", ""),
		state:       resources.Str(cfg, "state", "present"),
		version:     resources.Str(cfg, "version", ""),
		provider:    resources.Str(cfg, "provider", ""),
		updateCache: boolAttr(cfg, "update_cache"),
	}
	switch {
	case c.name == "":
		return c, &resources.AttrError{Attr: "name", Msg: "name is required"}
	case !namePattern.MatchString(c.name):
		return c, &resources.AttrError{Attr: "name", Msg: fmt.Sprintf("%q is not a package name", c.name)}
	}
	switch c.state {
	case "present", "absent", "latest":
	default:
		return c, &resources.AttrError{Attr: "state", Msg: fmt.Sprintf("must be \"present\", \"latest\" or \"absent\", got %q", c.state)}
	}
	if c.version != "" {
		if c.state != "present" {
			return c, &resources.AttrError{Attr: "version", Msg: fmt.Sprintf("a version pin needs state \"present\", not %q", c.state)}
		}
		if !versionPattern.MatchString(c.version) {
			return c, &resources.AttrError{Attr: "version", Msg: fmt.Sprintf("%q is not a package version", c.version)}
		}
	}
	if c.provider != "" && providerByID(c.provider) == nil {
		return c, &resources.AttrError{Attr: "provider", Msg: fmt.Sprintf("must be one of %s, got %q", strings.Join(providerIDs(), ", "), c.provider)}
	}
	return c, nil
}

// Key implements resources.Type: one declaration per package name on a
// host.
func (Package) Key(cfg cty.Value) (string, error) {
	c, err := readConfig(cfg)
	if err != nil {
		return "", err
	}
	return "package " + c.name, nil
}

// Desired implements resources.Type. The version of state "latest" is
// known only once the host's index has been read: Resolve sets it.
func (Package) Desired(cfg cty.Value, env resources.Env) (*resources.State, error) {
	c, err := readConfig(cfg)
	if err != nil {
		return nil, err
	}
	st := &resources.State{Present: c.state != "absent", Attrs: map[string]cty.Value{"name": cty.StringVal(c.name)}}
	if c.version != "" {
		st.Attrs["version"] = cty.StringVal(c.version)
	}
	return st, nil
}

// probeHeader starts every package probe: the package's name, a newline
// for parameter expansions, and q, which runs a query command and prints
// its merged output as idx.1, idx.2... lines and its exit status as
// idx.rc, for Read to parse.
func probeHeader(name string) string {
	return "n=" + shell.Quote(name) + `
nl='
'
q() { o=$("$@" 2>&1); r=$?; i=0
while IFS= read -r l; do i=$((i+1)); out "idx.$i" "$l"; done <<EOF
$o
EOF
out idx.rc $r; }
qs() { i=0
while IFS= read -r l; do i=$((i+1)); out "idx.$i" "$l"; done <<EOF
$1
EOF
out idx.rc 0; }
`
}

// ProbePrelude is sh to run once in a host's probe script, in the
// script's own shell before the fragments: for each package manager the
// host's package resources may use (the one the host would pick, and any
// `provider` named), one command asks for exactly the packages those
// resources name (dpkg-query, rpm -q, pacman -Q with their names; one
// read of apk's database), and the answers go into shell variables, one
// per package: tend_pkg_k_PM_KEY says the package was asked for and
// answered, tend_pkg_v_PM_KEY holds its installed version (unset when it
// is not installed). Each fragment then reads its own variable without a
// command: 30 packages cost one command instead of 30, and the cost does
// not grow with the number of packages installed on the host (the
// prelude never holds the whole list in the shell, whose pattern
// matching over a list of thousands of packages took longer than the
// commands it saved). When the command fails or answers something it
// does not recognise, nothing is set and each fragment queries its own
// package.
func (t Package) ProbePrelude(cfgs []cty.Value) string {
	// names[pm] are the packages to ask pm for; "" collects those whose
	// configuration names no provider: they go to the host's own.
	names := map[string][]string{}
	confs := map[string][]config{}
	seen := map[string]bool{}
	for _, cfg := range cfgs {
		c, err := readConfig(cfg)
		if err != nil || !listable(c.name) {
			continue
		}
		confs[c.provider] = append(confs[c.provider], c)
		if k := c.provider + " " + c.name; !seen[k] {
			seen[k] = true
			names[c.provider] = append(names[c.provider], c.name)
		}
	}
	if len(names) == 0 {
		return ""
	}
	var sb strings.Builder
	var cmds []string
	for _, p := range providers {
		cmds = append(cmds, p.command())
	}
	fmt.Fprintf(&sb, "tend_pkg_pm=\nfor tend_pkg_m in %s; do if command -v $tend_pkg_m >/dev/null 2>&1; then tend_pkg_pm=$tend_pkg_m; break; fi; done\n", strings.Join(cmds, " "))
	sb.WriteString("case $tend_pkg_pm in apt-get) tend_pkg_pm=apt;; esac\n")
	for _, p := range providers {
		explicit, host := names[p.id()], names[""]
		if len(explicit) == 0 && len(host) == 0 {
			continue
		}
		// Asked when the host's manager is p (for the resources naming
		// none) or a resource names p and its command is there.
		var cond []string
		if len(host) > 0 {
			cond = append(cond, fmt.Sprintf("[ \"$tend_pkg_pm\" = %s ]", p.id()))
		}
		if len(explicit) > 0 {
			cond = append(cond, fmt.Sprintf("command -v %s >/dev/null 2>&1", p.command()))
		}
		ask := append(append([]string{}, explicit...), host...)
		ask = slices.Compact(slices.Sorted(slices.Values(ask)))
		fmt.Fprintf(&sb, "if %s; then\n", strings.Join(cond, " || "))
		fmt.Fprintf(&sb, "tend_pkg_o=$(%s 2>&1); tend_pkg_rc=$? tend_pkg_ok=1 tend_pkg_miss=\n", p.namedSh(t.root, ask))
		// A line is an installed package ("NAME VERSION" once the arms
		// strip what precedes the name), a package the manager does
		// not have installed, or something unexpected, which voids the
		// answer.
		sb.WriteString("while IFS= read -r tend_pkg_l; do\ncase $tend_pkg_l in\n'') continue;;\n")
		sb.WriteString(p.namedArms())
		sb.WriteString("*) tend_pkg_ok=; break;;\nesac\n")
		sb.WriteString("tend_pkg_n=${tend_pkg_l%%\" \"*} tend_pkg_v=${tend_pkg_l#*\" \"}\ncase $tend_pkg_n in\n")
		for _, n := range ask {
			// The first line wins (an install-only package may have
			// several versions installed, as installedSh reads).
			fmt.Fprintf(&sb, "%s) : \"${tend_pkg_v_%s_%s=$tend_pkg_v}\";;\n", shell.Quote(n), p.id(), varKey(n))
		}
		sb.WriteString("*) tend_pkg_ok=; break;;\nesac\ndone <<_TEND_EOF_\n$tend_pkg_o\n_TEND_EOF_\n")
		// A failing command must have said why for each package it
		// did not list (dpkg-query, rpm and pacman fail when a package
		// named is not installed).
		sb.WriteString("[ \"$tend_pkg_rc\" = 0 ] || [ -n \"$tend_pkg_miss\" ] || tend_pkg_ok=\n")
		sb.WriteString("if [ -n \"$tend_pkg_ok\" ]; then\n")
		for _, n := range ask {
			fmt.Fprintf(&sb, "tend_pkg_k_%s_%s=1\n", p.id(), varKey(n))
		}
		if ix, ok := p.(indexLister); ok {
			writeIndexPrelude(&sb, ix, t.root, append(append([]config{}, confs[p.id()]...), confs[""]...))
		}
		sb.WriteString("fi\nfi\n")
	}
	return sb.String()
}

// writeIndexPrelude appends the prelude's index query for an
// indexLister, run once the installed versions are known: the packages
// of confs whose plan needs the index (needsIndexSh, as their fragments
// decide) are asked for in one command, and each one's block of the
// answer goes into tend_pkg_i_PM_KEY, tend_pkg_ik_PM_KEY saying it was
// asked and answered (an empty block: the index has no such package).
// Anything else in the answer, or a failing command, voids it: the
// fragments then query the index themselves.
func writeIndexPrelude(sb *strings.Builder, ix indexLister, root string, confs []config) {
	pm := ix.id()
	var keys, pkgs, words []string
	seen := map[string]bool{}
	for _, c := range confs {
		k := pm + "_" + varKey(c.name)
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
			pkgs = append(pkgs, c.name)
			words = append(words, fmt.Sprintf("${tend_pkg_x_%s:+%s}", k, shell.Quote(c.name)))
			fmt.Fprintf(sb, "tend_pkg_x_%s= tend_pkg_i_%s=\n", k, k)
		}
		v, vs := `"${tend_pkg_v_`+k+`-}"`, `"${tend_pkg_v_`+k+`-}"`
		if ix.partialPins() {
			// The pin form drops the release, as the fragment's vs.
			fmt.Fprintf(sb, "tend_pkg_vs=${tend_pkg_v_%s-}; tend_pkg_vs=${tend_pkg_vs%%-*}\n", k)
			vs = `"$tend_pkg_vs"`
		}
		fmt.Fprintf(sb, "if %s; then tend_pkg_x_%s=1; fi\n", needsIndexSh(c, v, vs), k)
	}
	var anyNeed []string
	for _, k := range keys {
		anyNeed = append(anyNeed, "${tend_pkg_x_"+k+"}")
	}
	fmt.Fprintf(sb, "if [ -n \"%s\" ]; then\n", strings.Join(anyNeed, ""))
	fmt.Fprintf(sb, "tend_pkg_o=$(%s %s 2>&1); tend_pkg_rc=$? tend_pkg_ok=1 tend_pkg_c=\n", ix.namedIndexSh(root), strings.Join(words, " "))
	sb.WriteString("tend_pkg_nl='\n'\n")
	sb.WriteString("while IFS= read -r tend_pkg_l; do\ncase $tend_pkg_l in\n'') continue;;\n")
	for i, k := range keys {
		fmt.Fprintf(sb, "%s) tend_pkg_c=%s;;\n", shell.Quote(ix.blockHeader(pkgs[i])), k)
	}
	sb.WriteString("' '*) case $tend_pkg_c in\n")
	for _, k := range keys {
		fmt.Fprintf(sb, "%s) tend_pkg_i_%s=$tend_pkg_i_%s$tend_pkg_l$tend_pkg_nl;;\n", k, k, k)
	}
	sb.WriteString("*) tend_pkg_ok=; break;;\nesac;;\n*) tend_pkg_ok=; break;;\nesac\ndone <<_TEND_EOF_\n$tend_pkg_o\n_TEND_EOF_\n")
	sb.WriteString("[ \"$tend_pkg_rc\" = 0 ] || tend_pkg_ok=\nif [ -n \"$tend_pkg_ok\" ]; then\n")
	for _, k := range keys {
		fmt.Fprintf(sb, "tend_pkg_ik_%s=$tend_pkg_x_%s\n", k, k)
	}
	sb.WriteString("fi\nfi\n")
}

// listable reports whether the prelude can ask for a package by name: a
// name with a dpkg architecture qualifier is looked up by its fragment.
func listable(name string) bool { return !strings.Contains(name, ":") }

// varKey spells a package name as part of a shell variable name: letters
// and digits as they are, every other byte as _ and two hex digits (so
// "tend-hello" is tend_2dhello, and no two names share a key).
func varKey(name string) string {
	var sb strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			sb.WriteByte(c)
		} else {
			fmt.Fprintf(&sb, "_%02x", c)
		}
	}
	return sb.String()
}

// Probe implements resources.Type. It prints the provider and the
// installed version (one dpkg-query, rpm, pacman -Q or apk info: cheap),
// and queries the package index (apt-cache policy, dnf repoquery, zypper
// search, pacman -Si, apk policy: slower) only when the plan needs it:
// for state latest, for a pinned version that is not the installed one,
// and for a change that replaces or removes the installed version (the
// plan must know whether a rollback could reinstall it). A package
// already as declared costs one command.
func (t Package) Probe(cfg cty.Value, want *resources.State) string {
	c, err := readConfig(cfg)
	if err != nil {
		// The planner reports the configuration error; probe nothing.
		return "out provider none\nout installed ''\n"
	}
	var sb strings.Builder
	sb.WriteString(probeHeader(c.name))
	cands := providers
	if c.provider != "" {
		p := providerByID(c.provider)
		cands = []provider{p}
		fmt.Fprintf(&sb, "pm=%s\ncommand -v %s >/dev/null 2>&1 || { echo %s; return 1; }\n", p.id(), p.command(),
			shell.Quote("provider "+p.id()+": "+p.command()+" is not installed on this host"))
	} else {
		var cmds []string
		for _, p := range providers {
			cmds = append(cmds, p.command())
		}
		fmt.Fprintf(&sb, "pm=\nfor m in %s; do if command -v $m >/dev/null 2>&1; then pm=$m; break; fi; done\n"+
			"case $pm in apt-get) pm=apt;; '') echo 'no supported package manager (%s) found on this host'; return 1;; esac\n",
			strings.Join(cmds, " "), strings.Join(cmds, ", "))
	}
	sb.WriteString("out provider $pm\n")
	// branch writes a part per candidate provider: alone when the
	// provider is known, else as a case on $pm whose arms group the
	// providers with the same sh.
	branch := func(part func(p provider) string) {
		if len(cands) == 1 {
			sb.WriteString(part(cands[0]))
			return
		}
		var order []string
		ids := map[string][]string{}
		for _, p := range cands {
			sh := part(p)
			if _, ok := ids[sh]; !ok {
				order = append(order, sh)
			}
			ids[sh] = append(ids[sh], p.id())
		}
		sb.WriteString("case $pm in\n")
		for _, sh := range order {
			fmt.Fprintf(&sb, "%s)\n%s;;\n", strings.Join(ids[sh], "|"), sh)
		}
		sb.WriteString("esac\n")
	}
	branch(func(p provider) string {
		if !listable(c.name) {
			return p.installedSh(t.root)
		}
		// ProbePrelude's answer, when the probe script ran it, saves a
		// command per package.
		k := p.id() + "_" + varKey(c.name)
		return "if [ -n \"${tend_pkg_k_" + k + "-}\" ]; then v=${tend_pkg_v_" + k + "-}\nelse\n" + p.installedSh(t.root) + "fi\n"
	})
	branch(func(p provider) string {
		if p.partialPins() {
			return "vs=${v%-*}\n"
		}
		return "vs=$v\n"
	})
	sb.WriteString("out installed \"$v\"\n")
	if c.state != "latest" {
		fmt.Fprintf(&sb, "%s || return 0\n", needsIndexSh(c, `"$v"`, `"$vs"`))
	}
	branch(func(p provider) string {
		ix, ok := p.(indexLister)
		if !ok || !listable(c.name) {
			return p.indexSh(t.root)
		}
		// ProbePrelude's answer, when it asked the index for this
		// package, saves a command.
		k := p.id() + "_" + varKey(c.name)
		return "if [ -n \"${tend_pkg_ik_" + k + "-}\" ]; then qs \"${tend_pkg_i_" + k + "-}\"\nelse\n" + ix.indexSh(t.root) + "fi\n"
	})
	return sb.String()
}

// needsIndexSh is a sh condition, true when a package whose installed
// version is v (its pin form vs; both sh words, "" when not installed)
// needs the package index for its plan: Probe's test, and ProbePrelude's
// for the packages whose index it asks for. State latest always does.
func needsIndexSh(c config, v, vs string) string {
	switch {
	case c.state == "latest":
		return ":"
	case c.state == "absent":
		return "[ -n " + v + " ]"
	case c.version != "":
		q := shell.Quote(c.version)
		return "{ [ -z " + v + " ] || { [ " + v + " != " + q + " ] && [ " + vs + " != " + q + " ]; }; }"
	default:
		return "[ -z " + v + " ]"
	}
}

// indexLister is a provider whose index query takes many packages in
// one command (apt-cache policy): ProbePrelude asks it once for every
// package whose plan needs the index.
type indexLister interface {
	provider
	// namedIndexSh is sh querying the index for the packages given as
	// the words appended to it.
	namedIndexSh(root string) string
	// blockHeader is the line of namedIndexSh's output that starts the
	// block of lines (each indented) about the package name.
	blockHeader(name string) string
}

// ProbeInShell implements resources.InShellProber: a package found in
// the prelude's list costs the host no process at all.
func (Package) ProbeInShell(cty.Value) bool { return true }

// Read implements resources.Type. The current state holds:
//
//   - name, provider, and, when installed, version (in the form a
//     version pin uses, so the generic diff can compare them) and
//     installed (the full version);
//   - candidate and available when the probe queried the index: what an
//     upgrade would install and what could be installed (for Resolve's
//     pin check and Irreversible's rollback check);
//   - update_cache and latest, copied from the configuration: Apply and
//     ApplyBatch get only the states, and these say how to make the
//     change. They are never in a desired state, so never compared.
func (t Package) Read(cfg cty.Value, out resources.ProbeOutput) (*resources.State, error) {
	c, err := readConfig(cfg)
	if err != nil {
		return nil, err
	}
	prov, ok := out.Get("provider")
	installed, ok2 := out.Get("installed")
	if !ok || !ok2 || providerByID(prov) == nil {
		return nil, resources.ProbeFailed(out)
	}
	p := providerByID(prov)
	st := &resources.State{Attrs: map[string]cty.Value{
		"name":         cty.StringVal(c.name),
		"provider":     cty.StringVal(prov),
		"update_cache": cty.BoolVal(c.updateCache),
		"latest":       cty.BoolVal(c.state == "latest"),
	}}
	if installed != "" {
		st.Present = true
		st.Attrs["installed"] = cty.StringVal(installed)
		v := installed
		if c.version != "" && p.matches(c.version, installed) {
			v = c.version
		}
		st.Attrs["version"] = cty.StringVal(v)
	}
	if q, ok := queryLines(out); ok {
		ix, err := p.parseIndex(q, installed)
		if err != nil {
			return nil, err
		}
		if prov == "pacman" {
			ix.Available = dedupe(append(ix.Available, cachedVersions(c.name, out)...))
		}
		st.Attrs["candidate"] = cty.StringVal(ix.Candidate)
		st.Attrs["available"] = resources.StringList(ix.Available)
	}
	return st, nil
}

// queryLines collects the idx.N lines q printed.
func queryLines(out resources.ProbeOutput) (queryOutput, bool) {
	rc, ok := out.Get("idx.rc")
	if !ok {
		return queryOutput{}, false
	}
	q := queryOutput{}
	q.Status, _ = strconv.Atoi(rc)
	for i := 1; ; i++ {
		l, ok := out.Get("idx." + strconv.Itoa(i))
		if !ok {
			break
		}
		q.Lines = append(q.Lines, l)
	}
	return q, true
}

// cachedVersions returns the versions of the package files pacman's cache
// holds (cache.N lines).
func cachedVersions(name string, out resources.ProbeOutput) []string {
	var vs []string
	for i := 1; ; i++ {
		f, ok := out.Get("cache." + strconv.Itoa(i))
		if !ok {
			break
		}
		if v, ok := cachedVersion(name, f); ok {
			vs = append(vs, v)
		}
	}
	return vs
}

func boolState(s *resources.State, name string) bool {
	v := s.Attr(name)
	if v == cty.NilVal || v.IsNull() || !v.IsKnown() || v.Type() != cty.Bool {
		return false
	}
	v, _ = v.Unmark()
	return v.True()
}

// Resolve implements resources.Resolver. For state latest the desired
// version is the candidate the host's index offers (the installed one
// when the index does not know the package; none when the package is
// neither installed nor known: the apply refreshes the index, installs
// the package, and verification resolves again). A pinned version that is
// not installed must be offered by the host's package sources, unless
// update_cache may bring it.
func (Package) Resolve(cfg cty.Value, current, desired *resources.State) (*resources.State, error) {
	c, err := readConfig(cfg)
	if err != nil {
		return nil, err
	}
	switch {
	case c.state == "latest":
		cand := current.Str("candidate")
		if cand == "" {
			cand = current.Str("installed")
		}
		if cand == "" {
			return desired, nil
		}
		d := &resources.State{Present: true, Attrs: map[string]cty.Value{}}
		for k, v := range desired.Attrs {
			d.Attrs[k] = v
		}
		d.Attrs["version"] = cty.StringVal(cand)
		return d, nil
	case c.version != "" && current.Str("version") != c.version:
		avail, queried := current.List("available")
		if !queried || c.updateCache {
			return desired, nil
		}
		p := providerByID(current.Str("provider"))
		for _, a := range avail {
			if p != nil && p.matches(c.version, a) {
				return desired, nil
			}
		}
		if len(avail) == 0 {
			return nil, fmt.Errorf("version %q of %s is not available: the host's package sources do not offer %s at all; if the package index is out of date, set update_cache = true", c.version, c.name, c.name)
		}
		return nil, fmt.Errorf("version %q of %s is not available from the host's package sources (available: %s); if the package index is out of date, set update_cache = true", c.version, c.name, strings.Join(avail, ", "))
	}
	return desired, nil
}

// Irreversible implements resources.Irreversibler: a change that
// replaces or removes the installed version can be reverted only by
// reinstalling that version, so the host's package sources (or pacman's
// cache) must still offer it.
func (Package) Irreversible(before, after *resources.State) string {
	if !before.Present {
		return ""
	}
	prev := before.Str("installed")
	if after.Present && (after.Str("version") == "" || after.Str("version") == before.Str("version")) {
		return ""
	}
	avail, queried := before.List("available")
	if !queried {
		return ""
	}
	for _, a := range avail {
		if a == prev {
			return ""
		}
	}
	what := "none"
	if len(avail) > 0 {
		what = strings.Join(avail, ", ")
	}
	return fmt.Sprintf("the installed version %s of %s is no longer offered by the host's package sources (available: %s), so it could not be reinstalled", prev, before.Str("name"), what)
}

// Apply implements resources.Type: a batch of one.
func (t Package) Apply(ctx context.Context, h *resources.Host, before, after *resources.State) (resources.Undo, error) {
	r := t.ApplyBatch(ctx, h, []resources.BatchItem{{Before: before, After: after}})
	return r[0].Undo, r[0].Err
}
