package inventory

import (
	"fmt"
	"runtime"
	"sort"
	"strings"
)

// OSFacts is what a facts cache remembers about a host's operating
// system from an earlier run.
type OSFacts struct {
	// Kernel is "linux", "windows", "darwin", "freebsd"...; empty when
	// unknown, in which case Family "windows" means windows and any
	// other family means linux.
	Kernel string
	// Family is the distribution family: "debian", "redhat", "suse",
	// "arch", "alpine", "windows"...
	Family string
	// Name is the distribution: "debian", "ubuntu", "rocky", "windows"...
	Name string
}

// FactsCache answers fact selectors (os:debian) from facts gathered
// earlier; patterns are evaluated before any host is contacted, so only
// cached facts can be used. Implementations must be safe for concurrent
// use.
type FactsCache interface {
	// OSFacts returns the cached OS facts of the named host; ok is false
	// when nothing is cached for it.
	OSFacts(host string) (facts OSFacts, ok bool)
}

// WithFacts returns a copy of inv whose fact selectors also use fc. The
// copy shares hosts with inv.
func (inv *Inventory) WithFacts(fc FactsCache) *Inventory {
	c := *inv
	c.facts = fc
	return &c
}

// MissingFactsError reports that a fact selector such as os:debian had
// to decide for hosts whose facts are not cached. tend refuses to guess:
// an exclusion (!os:debian) would otherwise widen the target.
type MissingFactsError struct {
	Selector string   // "os:debian"
	Hosts    []string // the hosts without cached facts, sorted
}

func (e *MissingFactsError) Error() string {
	return fmt.Sprintf("host pattern %s needs facts that are not cached for %s; gather them first (tend facts), or select by group",
		e.Selector, joinNames(e.Hosts))
}

// osKernel is the kernel a host runs, as far as the inventory and the
// cache know: cached facts first; otherwise a winrm host runs Windows,
// a local host the OS tend runs on, and any other host Linux.
func (inv *Inventory) osKernel(h *Host) string {
	if inv.facts != nil {
		if f, ok := inv.facts.OSFacts(h.Name); ok {
			if f.Kernel != "" {
				return strings.ToLower(f.Kernel)
			}
			if strings.EqualFold(f.Family, "windows") || strings.EqualFold(f.Name, "windows") {
				return "windows"
			}
			return "linux"
		}
	}
	switch {
	case h.Windows():
		return "windows"
	case h.Transport == "local":
		return runtime.GOOS
	}
	return "linux"
}

// matchFact decides os:VALUE for each candidate. A kernel name (linux,
// windows, darwin...) is always decidable; a family or distribution name
// needs cached facts, except for a host the inventory already says runs
// Windows (a winrm host), which matches only os:windows.
func (inv *Inventory) matchFact(t term, candidates []*Host) ([]*Host, error) {
	var out []*Host
	var missing []string
	for _, h := range candidates {
		kernel := inv.osKernel(h)
		if t.fact == kernel {
			out = append(out, h)
			continue
		}
		if isKernelName(t.fact) {
			continue
		}
		var f OSFacts
		ok := false
		if inv.facts != nil {
			f, ok = inv.facts.OSFacts(h.Name)
		}
		switch {
		case ok:
			if strings.EqualFold(f.Family, t.fact) || strings.EqualFold(f.Name, t.fact) {
				out = append(out, h)
			}
		case kernel != "windows":
			missing = append(missing, h.Name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, &MissingFactsError{Selector: "os:" + t.fact, Hosts: missing}
	}
	return out, nil
}

// isKernelName reports whether os:NAME names a kernel, which tend can
// decide without facts, rather than a distribution family or name.
func isKernelName(name string) bool {
	switch name {
	case "linux", "windows", "darwin", "freebsd", "openbsd", "netbsd", "dragonfly", "illumos", "solaris", "aix":
		return true
	}
	return false
}
