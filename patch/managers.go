package patch

import (
	"bufio"
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"sort"
	"strings"

	"github.com/tendhq/tend/shell"
	"github.com/tendhq/tend/transport"
)

// The managers below can act on an alternative root (Root), as the
// package resource's providers do: tests run the real dnf, zypper and
// pacman against installroots on the controller. On a host Root is "".

// Dnf patches Fedora, RHEL and their relatives with dnf (or yum, whose
// command line dnf keeps).
type Dnf struct {
	Bin  string // "dnf" or "yum"
	Root string
}

func (d Dnf) cmd() string {
	c := d.Bin
	if c == "" {
		c = "dnf"
	}
	if d.Root != "" {
		c += " --installroot=" + shell.Quote(d.Root)
	}
	return c
}

func rpmList(root string) string {
	c := "rpm"
	if root != "" {
		c += " --root " + shell.Quote(root)
	}
	return c + ` -qa --qf '%{NAME} %|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\n'`
}

// Pending implements Manager: refresh the metadata, then list the
// installed packages and the newest upgrade of each (dnf repoquery
// --upgrades; with securityOnly, --security: upgrades named by a
// security advisory of the repositories' updateinfo).
func (d Dnf) Pending(ctx context.Context, t transport.Transport, securityOnly bool) ([]Upgrade, error) {
	sec := ""
	if securityOnly {
		sec = " --security"
	}
	return pendingFromLists(ctx, t, d.cmd()+" -q -y makecache --refresh",
		rpmList(d.Root),
		d.cmd()+" -q repoquery --upgrades"+sec+" --latest-limit 1 --qf '%{name} %{evr}\\n'")
}

// Upgrade implements Manager: dnf upgrade (--security), reporting the
// versions that changed.
func (d Dnf) Upgrade(ctx context.Context, t transport.Transport, pending []Upgrade, securityOnly bool) ([]Upgrade, error) {
	if len(pending) == 0 {
		return nil, nil
	}
	cmd := d.cmd() + " -y upgrade"
	if securityOnly {
		cmd += " --security"
	}
	return upgradeAndCompare(ctx, t, rpmList(d.Root), cmd)
}

// RebootRequired implements Manager: needs-restarting -r (dnf-utils) when
// installed, else whether the running kernel's modules are gone (the
// kernel package was replaced).
func (d Dnf) RebootRequired(ctx context.Context, t transport.Transport) (bool, error) {
	return rebootCheck(ctx, t, `if command -v needs-restarting >/dev/null 2>&1; then needs-restarting -r >/dev/null 2>&1; exit $?; fi
`+kernelGone)
}

// Zypper patches SUSE hosts.
type Zypper struct{ Root string }

func (z Zypper) cmd() string {
	c := "zypper -n"
	if z.Root != "" {
		c += " --root " + shell.Quote(z.Root)
	}
	return c
}

// zypperInfo is the exit codes zypper uses for success with something to
// say: 100 updates needed, 101 security updates needed, 102 reboot
// needed, 103 restart zypper (the package manager was updated), 106 some
// repositories skipped.
const zypperInfo = "case $s in 100|101|102|106) s=0;; esac\n"

// Pending implements Manager: zypper's own dry run (update, or patch
// --category security with securityOnly), read from its XML summary.
func (z Zypper) Pending(ctx context.Context, t transport.Transport, securityOnly bool) ([]Upgrade, error) {
	out, err := transport.Output(ctx, t, transport.Command{Script: z.cmd() + " -q refresh >/dev/null || exit 1\n" +
		z.cmd() + " -x " + z.action(securityOnly) + " --dry-run; s=$?\n" + zypperInfo + "exit $s\n"})
	if err != nil {
		return nil, fmt.Errorf("listing upgrades: %w", err)
	}
	return parseZypperSummary(out)
}

func (z Zypper) action(securityOnly bool) string {
	if securityOnly {
		return "patch --category security"
	}
	return "update"
}

// Upgrade implements Manager. zypper asks to be run again when a patch
// updated the package manager itself (exit 103): it is.
func (z Zypper) Upgrade(ctx context.Context, t transport.Transport, pending []Upgrade, securityOnly bool) ([]Upgrade, error) {
	if len(pending) == 0 {
		return nil, nil
	}
	run := z.cmd() + " " + z.action(securityOnly)
	return upgradeAndCompare(ctx, t, rpmList(z.Root), run+"; s=$?; if [ $s = 103 ]; then "+run+"; s=$?; fi\n"+zypperInfo+"[ $s = 0 ]")
}

// RebootRequired implements Manager: libzypp's /run/reboot-needed flag,
// then zypper needs-rebooting (exit 102 when a core library or the kernel
// was updated).
func (z Zypper) RebootRequired(ctx context.Context, t transport.Transport) (bool, error) {
	return rebootCheck(ctx, t, `[ -e /run/reboot-needed ] && exit 1
zypper -n needs-rebooting >/dev/null 2>&1; case $? in 0) exit 0;; 102) exit 1;; esac
`+kernelGone)
}

// parseZypperSummary reads the upgrades (and new packages) of zypper's
// XML install summary (-x ... --dry-run).
func parseZypperSummary(out []byte) ([]Upgrade, error) {
	type solvable struct {
		Type       string `xml:"type,attr"`
		Name       string `xml:"name,attr"`
		Edition    string `xml:"edition,attr"`
		EditionOld string `xml:"edition-old,attr"`
	}
	var s struct {
		Messages []struct {
			Type string `xml:"type,attr"`
			Text string `xml:",chardata"`
		} `xml:"message"`
		Summary *struct {
			Upgrade []solvable `xml:"to-upgrade>solvable"`
			Install []solvable `xml:"to-install>solvable"`
		} `xml:"install-summary"`
	}
	if err := xml.Unmarshal(out, &s); err != nil {
		return nil, fmt.Errorf("reading zypper's summary: %w", err)
	}
	if s.Summary == nil {
		for _, m := range s.Messages {
			if m.Type == "error" {
				return nil, fmt.Errorf("zypper: %s", strings.TrimSpace(m.Text))
			}
		}
		return nil, nil
	}
	var ups []Upgrade
	for _, list := range [][]solvable{s.Summary.Upgrade, s.Summary.Install} {
		for _, p := range list {
			if p.Type == "package" {
				ups = append(ups, Upgrade{Name: p.Name, From: p.EditionOld, To: p.Edition})
			}
		}
	}
	sort.Slice(ups, func(i, j int) bool { return ups[i].Name < ups[j].Name })
	return ups, nil
}

// Pacman patches Arch Linux hosts. pacman has no security metadata, so
// securityOnly is refused.
type Pacman struct{ Root string }

func (p Pacman) cmd() string {
	c := "pacman --noconfirm"
	if r := p.Root; r != "" {
		q := func(s string) string { return shell.Quote(r + s) }
		c += " --root " + shell.Quote(r) + " --dbpath " + q("/var/lib/pacman") + " --config " + q("/etc/pacman.conf") +
			" --cachedir " + q("/var/cache/pacman/pkg") + " --logfile " + q("/var/log/pacman.log")
	}
	return c
}

var errPacmanSecurity = fmt.Errorf("pacman has no security advisories to select upgrades by: run tend patch without --security-only on pacman hosts")

// Pending implements Manager: pacman -Sy, then the full upgrade it would
// make (pacman -Su --print), versions from pacman -Q.
func (p Pacman) Pending(ctx context.Context, t transport.Transport, securityOnly bool) ([]Upgrade, error) {
	if securityOnly {
		return nil, errPacmanSecurity
	}
	return pendingFromLists(ctx, t, p.cmd()+" -Sy", p.cmd()+" -Q", p.cmd()+" -Su --print-format '%n %v'")
}

// Upgrade implements Manager: pacman -Su (a full upgrade: Arch does not
// support partial ones).
func (p Pacman) Upgrade(ctx context.Context, t transport.Transport, pending []Upgrade, securityOnly bool) ([]Upgrade, error) {
	if securityOnly {
		return nil, errPacmanSecurity
	}
	if len(pending) == 0 {
		return nil, nil
	}
	return upgradeAndCompare(ctx, t, p.cmd()+" -Q", p.cmd()+" -Su")
}

// RebootRequired implements Manager: whether the running kernel's modules
// are gone (Arch's kernel package replaces them on upgrade).
func (p Pacman) RebootRequired(ctx context.Context, t transport.Transport) (bool, error) {
	return rebootCheck(ctx, t, kernelGone)
}

// kernelGone exits 1 when the running kernel's modules directory is gone
// (its package was upgraded: only a reboot runs the new one), else 0.
const kernelGone = `r=$(uname -r)
[ -d "/lib/modules/$r" ] || [ -d "/usr/lib/modules/$r" ] || exit 1
exit 0
`

// rebootCheck runs a script exiting 1 when the host needs a reboot, 0
// when it does not.
func rebootCheck(ctx context.Context, t transport.Transport, script string) (bool, error) {
	res, err := t.Run(ctx, transport.Command{Script: script})
	if err != nil {
		return false, err
	}
	switch res.ExitStatus {
	case 0:
		return false, nil
	case 1:
		return true, nil
	}
	return false, fmt.Errorf("checking whether a reboot is required: exit %d: %s", res.ExitStatus, strings.TrimSpace(string(res.Stderr)))
}

const listMark = "\036tend-patch-list"

// pendingFromLists refreshes the package index, then reads the installed
// packages and the candidate upgrades ("NAME VERSION" lines each) and
// pairs them.
func pendingFromLists(ctx context.Context, t transport.Transport, refresh, installed, upgrades string) ([]Upgrade, error) {
	out, err := transport.Output(ctx, t, transport.Command{Script: "LC_ALL=C; export LC_ALL\n" +
		"o=$(" + refresh + " 2>&1) || { printf '%s\\n' \"$o\" | tail -20 >&2; exit 1; }\n" +
		installed + " || exit 1\necho '" + listMark + "'\n" + upgrades + " || exit 1\n"})
	if err != nil {
		return nil, fmt.Errorf("listing upgrades: %w", err)
	}
	before, after, ok := bytes.Cut(out, []byte(listMark+"\n"))
	if !ok {
		return nil, fmt.Errorf("listing upgrades: the output was cut short")
	}
	have := nameVersions(before)
	var ups []Upgrade
	for name, v := range nameVersions(after) {
		if have[name] != v {
			ups = append(ups, Upgrade{Name: name, From: have[name], To: v})
		}
	}
	sort.Slice(ups, func(i, j int) bool { return ups[i].Name < ups[j].Name })
	return ups, nil
}

// upgradeAndCompare lists the installed packages, runs the upgrade (its
// output kept in a log shown when it fails), lists them again and returns
// every package whose version changed (From "" for a new package, To ""
// for one the upgrade removed).
func upgradeAndCompare(ctx context.Context, t transport.Transport, list, upgrade string) ([]Upgrade, error) {
	out, err := transport.Output(ctx, t, transport.Command{Script: "LC_ALL=C; export LC_ALL\nlog=$(mktemp)\ntrap 'rm -f \"$log\"' EXIT\n" +
		list + " || exit 1\necho '" + listMark + "'\n" +
		"if ! { " + upgrade + "; } >\"$log\" 2>&1 </dev/null; then tail -20 \"$log\" >&2; exit 1; fi\n" +
		list + " || exit 1\n"})
	if err != nil {
		return nil, fmt.Errorf("upgrading: %w", err)
	}
	b, a, ok := bytes.Cut(out, []byte(listMark+"\n"))
	if !ok {
		return nil, fmt.Errorf("upgrading: the output was cut short")
	}
	before, after := nameVersions(b), nameVersions(a)
	var done []Upgrade
	for name, v := range after {
		if before[name] != v {
			done = append(done, Upgrade{Name: name, From: before[name], To: v})
		}
	}
	for name, v := range before {
		if _, ok := after[name]; !ok {
			done = append(done, Upgrade{Name: name, From: v})
		}
	}
	sort.Slice(done, func(i, j int) bool { return done[i].Name < done[j].Name })
	return done, nil
}

// nameVersions reads "NAME VERSION" lines.
func nameVersions(out []byte) map[string]string {
	m := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 {
			m[f[0]] = f[1]
		}
	}
	return m
}
