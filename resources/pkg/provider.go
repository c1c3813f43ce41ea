package pkg

import (
	"strings"

	"github.com/tendhq/tend/shell"
)

// opKind is what a transaction does to one package.
type opKind int

const (
	// opInstall installs a package that is not installed, at the version
	// the package manager picks.
	opInstall opKind = iota
	// opLatest installs a package or upgrades it to the newest version
	// its sources offer.
	opLatest
	// opVersion installs exactly Version, upgrading or downgrading.
	opVersion
	// opRemove removes a package.
	opRemove
)

// op is one package's part of a transaction.
type op struct {
	Kind    opKind
	Name    string
	Version string
	// Installed reports whether the package is installed before the
	// transaction (dnf upgrades an installed package with a different
	// verb than it installs one).
	Installed bool
	// Candidate is the newest version the probe saw in the index; pacman
	// installs a pinned version from its repositories only when it is
	// that one, and from its package cache otherwise.
	Candidate string
}

// index is what the package sources offer for one package.
type index struct {
	// Candidate is the version the package manager would install or
	// upgrade to ("" when the sources do not know the package).
	Candidate string
	// Available lists the versions that can be installed from the sources
	// (and, for pacman, from its package cache), as the manager spells
	// them, without duplicates.
	Available []string
}

// provider is one package manager: the shell that queries it on a host,
// the parsing of its answers and the commands of a transaction. Every
// command takes root: empty on real hosts; a directory when tests point
// the manager at an installroot on the controller.
type provider interface {
	// id is the provider's name in configuration ("apt").
	id() string
	// command is the executable whose presence selects the provider
	// ("apt-get"); the probe looks for them in the order of providers.
	command() string
	// installedSh is sh that sets v to the installed version of the
	// package "$n" ("" when it is not installed).
	installedSh(root string) string
	// namedSh is sh asking the manager, in one command, for the
	// installed versions of the packages names: ProbePrelude's query,
	// its stdout and stderr read together, line by line, with namedArms.
	namedSh(root string, names []string) string
	// namedArms are arms of a sh case on a line of namedSh's output
	// ($tend_pkg_l): an installed package's line leaves "NAME VERSION"
	// in tend_pkg_l; a package the manager says is not installed sets
	// tend_pkg_miss and continues; a line known to be no package
	// continues; anything else falls through (and voids the answer).
	namedArms() string
	// partialPins reports whether a pin may leave the release out (rpm).
	partialPins() bool
	// indexSh is sh that queries the package's versions from the index
	// with q (see probeHeader), without refreshing it.
	indexSh(root string) string
	// parseIndex reads indexSh's output.
	parseIndex(out queryOutput, installed string) (*index, error)
	// matches reports whether version v satisfies the pin.
	matches(pin, v string) bool
	// env is sh setting the environment of a transaction.
	env() string
	// snapshotSh is sh printing one "name version" line per installed
	// package.
	snapshotSh(root string) string
	// refreshSh is sh refreshing the package index.
	refreshSh(root string) string
	// txnSh is sh making ops in as few transactions as the manager
	// allows (one where it can).
	txnSh(root string, ops []op) string
	// stale reports whether a failed transaction's output and exit status
	// are what an out-of-date package index causes.
	stale(log string, status int) bool
}

// providers lists the package managers in the order the probe looks for
// them when the configuration does not choose one (the order of the
// host facts' package_manager).
var providers = []provider{apt{}, dnf{bin: "dnf"}, dnf{bin: "yum"}, zypper{}, apk{}, pacman{}}

// providerIDs are the values `provider` accepts.
func providerIDs() []string {
	ids := make([]string, len(providers))
	for i, p := range providers {
		ids[i] = p.id()
	}
	return ids
}

func providerByID(id string) provider {
	for _, p := range providers {
		if p.id() == id {
			return p
		}
	}
	return nil
}

// queryOutput is the output of a query command run with q in a probe.
type queryOutput struct {
	Lines  []string
	Status int
}

// text is the output as one string, for error messages.
func (q queryOutput) text() string {
	return strings.TrimSpace(strings.Join(q.Lines, "\n"))
}

// progress is output that says nothing about an error.
var progress = map[string]bool{
	"Reading package lists...":     true,
	"Building dependency tree...":  true,
	"Reading state information...": true,
}

// words returns the package manager's own words from its output: the
// last lines, which carry the error.
func words(s string, n int) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimRight(l, " \r\t")
		if strings.TrimSpace(l) == "" || progress[strings.TrimSpace(l)] {
			continue
		}
		keep = append(keep, l)
	}
	if len(keep) > n {
		keep = append([]string{"..."}, keep[len(keep)-n:]...)
	}
	return strings.Join(keep, "\n")
}

// containsAny reports whether s contains one of the substrings.
func containsAny(s string, subs ...string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}

// dedupe removes repeated strings, keeping the first.
func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// anyKind reports whether an op of kind k is in ops.
func anyKind(ops []op, k opKind) bool {
	for _, o := range ops {
		if o.Kind == k {
			return true
		}
	}
	return false
}

// lockWait is sh waiting up to 60 s for a lock file to disappear, for
// package managers that fail at once when another holds the lock.
func lockWait(s *shell.Script, lock string) *shell.Script {
	return s.Raw("i=0; while ").Inline(shell.Test("-e", lock)).Raw(" && [ $i -lt 60 ]; do sleep 1; i=$((i+1)); done\n")
}
