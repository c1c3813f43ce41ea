package pkg

import (
	"encoding/xml"
	"fmt"
	"regexp"
	"strings"

	"github.com/tendhq/tend/shell"
)

// The rpm family (dnf, yum, zypper) spells versions "[epoch:]version-
// release" ("1.0-1.el9", "2:1.0-1"). A pin may leave the release out
// ("1.0"): it then matches any release of that version, as dnf's
// name-version and zypper's name=version do.

// rpmCmd is rpm, with its option for an alternative root.
func rpmCmd(root string) *shell.Command {
	c := shell.Cmd("rpm")
	if root != "" {
		c.Opt("--root", root)
	}
	return c
}

// rpmInstalledSh reads the rpm database: the first installed version (an
// install-only package such as a kernel may have several), epoch only
// when there is one.
func rpmInstalledSh(root string) string {
	return shell.NewScript().Raw("v=$(").
		Inline(rpmCmd(root).Flag("-q", "--qf", `'%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\n'`).VarOperand("n").Redirect("2>/dev/null")).
		Raw(`) || v=; v=${v%%"$nl"*}` + "\n").String()
}

// rpmNamedSh asks the rpm database for the packages named, marking its
// answers (rpm prints "package NAME is not installed" on stdout for the
// others, and fails).
func rpmNamedSh(root string, names []string) string {
	return rpmCmd(root).Flag("-q", "--qf", `'tend:%{NAME} %|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\n'`).Operands(names...).String()
}

const rpmNamedArms = `"package "*" is not installed") tend_pkg_miss=1; continue;;
tend:*) tend_pkg_l=${tend_pkg_l#tend:};;
`

func rpmSnapshotSh(root string) string {
	return rpmCmd(root).Flag("-qa", "--qf", `'%{NAME} %|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\n'`).String()
}

// rpmMatches: exact, or the pin has no release and equals the version
// without its release.
func rpmMatches(pin, v string) bool {
	if pin == v {
		return true
	}
	if strings.Contains(pin, "-") {
		return false
	}
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		return v[:i] == pin
	}
	return false
}

// normEVR drops a zero epoch: dnf prints "0:1.0-1", rpm "1.0-1".
func normEVR(s string) string {
	return strings.TrimPrefix(s, "0:")
}

// newest returns the highest version of vs, or "".
func newest(vs []string) string {
	best := ""
	for _, v := range vs {
		if best == "" || evrcmp(v, best) > 0 {
			best = v
		}
	}
	return best
}

// withInstalled returns the candidate for an upgrade: the newest
// available version, or the installed one when it is newer still (latest
// never downgrades).
func withInstalled(cand, installed string) string {
	if installed != "" && (cand == "" || evrcmp(installed, cand) > 0) {
		return installed
	}
	return cand
}

// dnf is dnf (Fedora, RHEL 8 and later) or, with bin "yum", the yum
// command of RHEL 8 and later, which is dnf. The yum 3 of CentOS 7 has no
// repoquery command and is not supported.
type dnf struct{ bin string }

func (d dnf) id() string      { return d.bin }
func (d dnf) command() string { return d.bin }

func (d dnf) cmd(root string) *shell.Command {
	c := d.prog()
	if root != "" {
		c.OptJoined("--installroot=", root)
	}
	return c
}

// prog is the command dnf or yum, whichever the provider is.
func (d dnf) prog() *shell.Command {
	if d.bin == "yum" {
		return shell.Cmd("yum")
	}
	return shell.Cmd("dnf")
}

func (dnf) installedSh(root string) string             { return rpmInstalledSh(root) }
func (dnf) namedSh(root string, names []string) string { return rpmNamedSh(root, names) }
func (dnf) namedArms() string                          { return rpmNamedArms }
func (dnf) partialPins() bool                          { return true }

// indexSh lists every version the enabled repositories offer, from the
// metadata cache only (-C): a probe never downloads metadata. dnf 5 no
// longer ends --qf lines itself, hence the \n (dnf 4 then prints empty
// lines, which are ignored).
func (d dnf) indexSh(root string) string {
	return shell.NewScript().Run(shell.Cmd("q").Wrap(d.cmd(root).Flag("-C", "-q", "repoquery", "--qf", `'%{epoch}:%{version}-%{release}\n'`).VarOperand("n"))).String()
}

var evrLine = regexp.MustCompile(`^[0-9]+:\S+-\S+$`)

// parseIndex reads repoquery's lines ("0:2.0-1"); other lines are dnf's
// notices. With no cached metadata there are no versions: an apply then
// refreshes the metadata first.
func (d dnf) parseIndex(out queryOutput, installed string) (*index, error) {
	txt := out.text()
	if out.Status != 0 && !strings.Contains(txt, "Cache-only enabled but no cache") {
		return nil, fmt.Errorf("%s repoquery failed: %s", d.bin, words(txt, 10))
	}
	ix := &index{}
	for _, l := range out.Lines {
		l = strings.TrimSpace(l)
		if evrLine.MatchString(l) {
			ix.Available = append(ix.Available, normEVR(l))
		}
	}
	ix.Available = dedupe(ix.Available)
	ix.Candidate = withInstalled(newest(ix.Available), installed)
	return ix, nil
}

func (dnf) matches(pin, v string) bool    { return rpmMatches(pin, v) }
func (dnf) env() string                   { return "" }
func (dnf) snapshotSh(root string) string { return rpmSnapshotSh(root) }

func (d dnf) refreshSh(root string) string {
	return shell.NewScript().Run(d.cmd(root).Flag("-y", "-q", "makecache", "--refresh")).String()
}

// txnSh: installs, pinned versions (dnf's install of name-version
// upgrades or downgrades to it) and upgrades, and removals. Ops of one
// verb are one command; mixed verbs are one transaction through dnf
// shell (dnf 4 and yum), or, on dnf 5, which has no shell, one command
// per verb.
func (d dnf) txnSh(root string, ops []op) string {
	verbs := []string{"install", "upgrade", "remove"}
	args := map[string][]string{}
	for _, o := range ops {
		switch {
		case o.Kind == opRemove:
			args["remove"] = append(args["remove"], o.Name)
		case o.Kind == opVersion:
			args["install"] = append(args["install"], o.Name+"-"+o.Version)
		case o.Kind == opLatest && o.Installed:
			args["upgrade"] = append(args["upgrade"], o.Name)
		default:
			args["install"] = append(args["install"], o.Name)
		}
	}
	var used []string
	for _, v := range verbs {
		if len(args[v]) > 0 {
			used = append(used, v)
		}
	}
	// verb runs one verb on its packages (names cannot start with "-":
	// Desired refuses them, so no "--" is written).
	verb := func(v string) *shell.Command {
		c := d.cmd(root).Flag("-y")
		switch v {
		case "install":
			c.Flag("install")
		case "upgrade":
			c.Flag("upgrade")
		default:
			c.Flag("remove")
		}
		return c.Arg(args[v]...)
	}
	if len(used) == 1 {
		return shell.NewScript().Run(verb(used[0])).String()
	}
	var lines []string
	var seq *shell.Command
	for _, v := range used {
		// dnf shell splits its lines like a shell; names and versions
		// hold no blanks or quotes (checked by Desired).
		lines = append(lines, v+" "+strings.Join(args[v], " "))
		if seq == nil {
			seq = verb(v)
		} else {
			seq = seq.And(verb(v))
		}
	}
	lines = append(lines, "run")
	s := shell.NewScript().Raw(`case $(readlink -f "$(`).Inline(shell.Cmd("command", "-v").Wrap(d.prog())).Raw(`)" 2>/dev/null) in` + "\n")
	s.Raw("*dnf5*) ").Inline(seq).Raw(";;\n")
	s.Raw("*) ").Inline(shell.Cmd("printf", `'%s\n'`).Arg(lines...).Pipe(d.cmd(root).Flag("-y", "shell"))).Raw(";;\nesac\n")
	return s.String()
}

func (dnf) stale(log string, status int) bool {
	return containsAny(log, "No match for argument", "Unable to find a match", "Cannot download",
		"Status code: 404", "Error downloading packages", "Cache-only enabled")
}

// zypper is SUSE's package manager. Queries use rpm for what is
// installed and zypper's XML output for what the repositories offer.
type zypper struct{}

func (zypper) id() string      { return "zypper" }
func (zypper) command() string { return "zypper" }

func (zypper) cmd(root string) *shell.Command {
	c := shell.Cmd("zypper", "-n")
	if root != "" {
		c.Opt("--root", root)
	}
	return c
}

func (zypper) installedSh(root string) string             { return rpmInstalledSh(root) }
func (zypper) namedSh(root string, names []string) string { return rpmNamedSh(root, names) }
func (zypper) namedArms() string                          { return rpmNamedArms }
func (zypper) partialPins() bool                          { return true }

// indexSh searches without refreshing repositories (zypper refreshes
// auto-refresh repositories on most commands otherwise).
func (z zypper) indexSh(root string) string {
	return shell.NewScript().Run(shell.Cmd("q").Wrap(z.cmd(root).Flag("-x", "--no-refresh", "search", "-s", "--match-exact", "-t", "package").VarOperand("n"))).String()
}

// zypperCapNotFound is zypper's exit status when nothing matches
// (ZYPPER_EXIT_INF_CAP_NOT_FOUND).
const zypperCapNotFound = 104

type zypperXML struct {
	Messages []struct {
		Type string `xml:"type,attr"`
		Text string `xml:",chardata"`
	} `xml:"message"`
	Solvables []struct {
		Status     string `xml:"status,attr"`
		Name       string `xml:"name,attr"`
		Kind       string `xml:"kind,attr"`
		Edition    string `xml:"edition,attr"`
		Repository string `xml:"repository,attr"`
	} `xml:"search-result>solvable-list>solvable"`
}

// parseIndex reads zypper's XML:
//
//	<solvable status="installed" name="tend-hello" kind="package" edition="1.0-1" arch="noarch" repository="tend"/>
//
// A package installed from no known repository has repository
// "(System Packages)": it is not available.
func (zypper) parseIndex(out queryOutput, installed string) (*index, error) {
	var doc zypperXML
	raw := strings.Join(out.Lines, "\n")
	if i := strings.Index(raw, "<stream>"); i >= 0 {
		raw = raw[i:]
		if j := strings.LastIndex(raw, "</stream>"); j >= 0 {
			raw = raw[:j+len("</stream>")]
		}
	}
	xmlErr := xml.Unmarshal([]byte(raw), &doc)
	var msgs []string
	for _, m := range doc.Messages {
		if m.Type == "error" {
			msgs = append(msgs, strings.TrimSpace(m.Text))
		}
	}
	// zypper reports a broken repository with error messages and goes on
	// with the others: what they offer is good, but "not found" could be
	// the broken repository's fault.
	if out.Status != 0 && out.Status != zypperCapNotFound || xmlErr != nil || len(doc.Solvables) == 0 && len(msgs) > 0 {
		if len(msgs) == 0 {
			msgs = []string{words(out.text(), 10)}
		}
		return nil, fmt.Errorf("zypper search failed: %s", strings.Join(msgs, "\n"))
	}
	ix := &index{}
	for _, s := range doc.Solvables {
		if s.Kind != "" && s.Kind != "package" || s.Repository == "(System Packages)" || s.Repository == "@System" {
			continue
		}
		ix.Available = append(ix.Available, s.Edition)
	}
	ix.Available = dedupe(ix.Available)
	ix.Candidate = withInstalled(newest(ix.Available), installed)
	return ix, nil
}

func (zypper) matches(pin, v string) bool    { return rpmMatches(pin, v) }
func (zypper) env() string                   { return "ZYPP_LOCK_TIMEOUT=60; export ZYPP_LOCK_TIMEOUT\n" }
func (zypper) snapshotSh(root string) string { return rpmSnapshotSh(root) }

func (z zypper) refreshSh(root string) string {
	return shell.NewScript().Run(z.cmd(root).Flag("refresh")).String()
}

// txnSh is one zypper run: `install -- a=1.0 b -c` installs a at 1.0,
// installs or upgrades b, and removes c, in one transaction;
// --oldpackage lets a pin downgrade.
func (z zypper) txnSh(root string, ops []op) string {
	var args []string
	allRemove := true
	for _, o := range ops {
		switch o.Kind {
		case opInstall, opLatest:
			args = append(args, o.Name)
			allRemove = false
		case opVersion:
			args = append(args, o.Name+"="+o.Version)
			allRemove = false
		case opRemove:
			args = append(args, "-"+o.Name)
		}
	}
	if allRemove {
		for i := range args {
			args[i] = strings.TrimPrefix(args[i], "-")
		}
		return shell.NewScript().Run(z.cmd(root).Flag("remove").Operands(args...)).String()
	}
	cmd := z.cmd(root).Flag("install")
	if anyKind(ops, opVersion) {
		cmd.Flag("--oldpackage")
	}
	return shell.NewScript().Run(cmd.Operands(args...)).String()
}

func (zypper) stale(log string, status int) bool {
	return status == zypperCapNotFound || containsAny(log, "not found in package names", "No provider of",
		"not found on medium", "Download (curl) error", "Valid metadata not found")
}
