package pkg

import (
	"fmt"
	"strings"

	"github.com/tendhq/tend/shell"
)

// apt is Debian's and Ubuntu's package manager: dpkg-query for what is
// installed, apt-cache policy for what the sources offer, apt-get for
// changes. Versions are exact Debian versions ("1:2.3-4").
type apt struct{}

func (apt) id() string      { return "apt" }
func (apt) command() string { return "apt-get" }

// installedSh reads dpkg's status: a package counts as installed when its
// status is installed or only awaiting triggers (the second letter of
// db:Status-Abbrev is i, W or t); "rc" (removed, configuration files
// kept) does not. dpkg-query answers from the status file without
// loading apt's cache.
func (apt) installedSh(root string) string {
	return `v=$(dpkg-query -W -f='${db:Status-Abbrev}${Version}\n' -- "$n" 2>/dev/null); v=${v%%"$nl"*}
case $v in ?[iWt]?*) v=${v#???};; *) v=;; esac
`
}

// namedSh asks dpkg for the packages named, each line after its
// db:Status-Abbrev (a Multi-Arch: same package installed for two
// architectures is listed twice); dpkg-query says on stderr which names
// it does not know, and fails.
func (apt) namedSh(root string, names []string) string {
	return shell.Cmd("dpkg-query", "-W", `-f='${db:Status-Abbrev}${Package} ${Version}\n'`).Operands(names...).String()
}

// namedArms: installed or only awaiting triggers, as installedSh; any
// other status ("rc": removed, configuration files kept) is not.
func (apt) namedArms() string {
	return `"dpkg-query: no packages found matching "*) tend_pkg_miss=1; continue;;
[uihrp][iWt]?*) tend_pkg_l=${tend_pkg_l#???};;
[uihrp][ncHUF]?*) continue;;
`
}

func (apt) indexSh(root string) string { return "q apt-cache policy -- \"$n\"\n" }

// namedIndexSh: apt-cache policy answers for several packages at once, a
// block each, and nothing for a package it does not know.
func (apt) namedIndexSh(root string) string { return "apt-cache policy --" }

// blockHeader: each block starts with the package's name and a colon.
func (apt) blockHeader(name string) string { return name + ":" }

// parseIndex reads apt-cache policy:
//
//	tend-hello:
//	  Installed: 1.0
//	  Candidate: 2.0
//	  Version table:
//	     2.0 500
//	        500 file:/srv/tend-repo ./ Packages
//	 *** 1.0 500
//	        500 file:/srv/tend-repo ./ Packages
//	        100 /var/lib/dpkg/status
//
// A version is available when a source other than dpkg's status file
// offers it: one known only from /var/lib/dpkg/status is installed but
// cannot be installed again.
func (apt) parseIndex(out queryOutput, installed string) (*index, error) {
	if out.Status != 0 {
		return nil, fmt.Errorf("apt-cache policy failed: %s", words(out.text(), 10))
	}
	ix := &index{}
	cur := ""
	for _, l := range out.Lines {
		t := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(t, "E: "):
			return nil, fmt.Errorf("apt-cache policy failed: %s", words(out.text(), 10))
		case strings.HasPrefix(t, "Candidate:"):
			if c := strings.TrimSpace(strings.TrimPrefix(t, "Candidate:")); c != "(none)" {
				ix.Candidate = c
			}
		case strings.HasPrefix(l, " *** ") || (strings.HasPrefix(l, "     ") && !strings.HasPrefix(l, "      ")):
			// A version line: indented five columns, " *** " marking
			// the installed one; sources are indented eight.
			f := strings.Fields(strings.TrimPrefix(l, " *** "))
			cur = ""
			if len(f) >= 2 {
				cur = f[0]
			}
		case strings.HasPrefix(l, "        ") && cur != "":
			f := strings.Fields(t)
			if len(f) >= 2 && f[1] != "/var/lib/dpkg/status" {
				ix.Available = append(ix.Available, cur)
			}
		}
	}
	ix.Available = dedupe(ix.Available)
	return ix, nil
}

func (apt) matches(pin, v string) bool { return pin == v }
func (apt) partialPins() bool          { return false }

func (apt) env() string {
	return "DEBIAN_FRONTEND=noninteractive APT_LISTCHANGES_FRONTEND=none; export DEBIAN_FRONTEND APT_LISTCHANGES_FRONTEND\n"
}

// snapshotSh lists installed packages, architecture-qualified where dpkg
// needs it (Multi-Arch: same), so a revert reinstalls the same ones.
func (apt) snapshotSh(root string) string {
	return `l=$(dpkg-query -W -f='${db:Status-Abbrev}|${binary:Package} ${Version}\n') && printf '%s\n' "$l" | sed -n 's/^.[iWt].|//p'`
}

// aptGet is apt-get, non-interactive, keeping changed configuration
// files (the old one where the administrator changed it, the new one
// otherwise) and waiting up to 60 s for dpkg's lock held by another run
// (unattended-upgrades, a person).
func aptGet() *shell.Command {
	return shell.Cmd("apt-get", "-q", "-y", "-o", "DPkg::Lock::Timeout=60", "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold")
}

func (apt) refreshSh(root string) string {
	return "apt-get -q -o DPkg::Lock::Timeout=60 update\n"
}

// txnSh is one apt-get run for every op: `install a=1.0 b c-` installs
// a at 1.0, installs or upgrades b to its candidate and removes c, in
// one dpkg transaction. A pinned version may be older than the installed
// one: the plan showed the downgrade, so it is allowed.
func (apt) txnSh(root string, ops []op) string {
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
			args = append(args, o.Name+"-")
		}
	}
	cmd := aptGet()
	if anyKind(ops, opVersion) {
		cmd.Flag("--allow-downgrades")
	}
	if allRemove {
		for i := range args {
			args[i] = strings.TrimSuffix(args[i], "-")
		}
		cmd.Flag("remove")
	} else {
		cmd.Flag("install")
	}
	// apt-get reads "--" as the end of options, but a name cannot start
	// with "-" (Desired refuses it), so none is written.
	return shell.NewScript().Run(cmd.Arg(args...)).String()
}

// stale: apt-get cannot find a package or version its sources should
// have, or the index names files the mirror no longer has.
func (apt) stale(log string, status int) bool {
	return containsAny(log, "Unable to locate package", "has no installation candidate",
		"' was not found", "Unable to fetch some archives", "Failed to fetch", "404  Not Found")
}
