package inventory

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/tendhq/tend/lang"
)

// ErrEmptyPattern is returned for a pattern with no terms: selecting
// nothing by accident must not look like a successful run.
var ErrEmptyPattern = errors.New("empty host pattern")

// UnknownNameError reports a plain name in a pattern that is neither a
// host nor a group. tend refuses such names instead of selecting nothing
// (Ansible warns and goes on), so a typo such as hosts = "wbe" fails
// validation and a typo in an exclusion cannot widen the target.
type UnknownNameError struct {
	Name string
	// Suggestion is a close host or group name, or empty.
	Suggestion string
}

func (e *UnknownNameError) Error() string {
	msg := fmt.Sprintf("no host or group named %q", e.Name)
	if e.Suggestion != "" {
		msg += fmt.Sprintf("; did you mean %q?", e.Suggestion)
	}
	return msg
}

// SubscriptError reports a single-host subscript (web[5], web[-9]) past
// the end of what the rest of the term matched; Ansible fails the same
// way ("No hosts matched the subscripted pattern").
type SubscriptError struct {
	Term  string // the term as written, subscript included
	Count int    // how many hosts the term matched without the subscript
}

func (e *SubscriptError) Error() string {
	return fmt.Sprintf("no hosts matched the subscripted pattern %q: it matches %d hosts", e.Term, e.Count)
}

// Pattern is a parsed host pattern in Ansible's syntax, shared by
// --target and a role's hosts = "...". Parsing is separate from Select so
// a pattern can be checked once and applied to any inventory.
//
// As in Ansible, terms are separated by "," or, when the pattern has no
// comma, by ":" or whitespace (outside brackets; a pattern that is one
// address such as "10.0.0.1" or "fe80::1" is one term). A term is a
// plain name, a glob (*, ?, [...]), "~regex" (anchored at the start), or
// "@file" (one term per line); it may be prefixed with "&"
// (intersection) or "!" (exclusion) and, unless it is a regex, suffixed
// with a subscript ([i], [-i], [i:j], [i:], inclusive). Unions apply
// first, in the order written, then intersections, then exclusions; a
// pattern with no union term starts from "all".
//
// tend adds fact selectors, os:VALUE, which "os:" keeps together even
// where ":" separates terms: os:linux and os:windows are decided from
// the inventory (a winrm host is Windows, a local host is what tend runs
// on, any other host Linux) or from cached facts (Inventory.WithFacts);
// os:FAMILY and os:NAME (os:debian, os:ubuntu) need cached facts.
type Pattern struct {
	src   string
	terms []term
}

type op int

const (
	opUnion op = iota
	opIntersect
	opExclude
)

type termKind int

const (
	termName  termKind = iota // a host or group name that must exist
	termGlob                  // fnmatch-style: *, ?, [seq], [!seq]
	termRegex                 // ~regex, anchored at the start as in Ansible
	termFact                  // os:VALUE
)

type term struct {
	op   op
	kind termKind
	raw  string         // as written, without its operator
	name string         // termName
	re   *regexp.Regexp // termGlob, termRegex
	fact string         // termFact: the lower-cased value of os:VALUE
	sub  *subscript
}

// subscript picks hosts by position in what the rest of the term
// matched, in inventory order (see Select).
type subscript struct {
	single     bool // [i]
	start, end int  // [start:end]; end -1 means open ([2:])
}

// String returns the pattern as written.
func (p *Pattern) String() string { return p.src }

// ParsePattern parses a host pattern without looking at any inventory.
// An @file term reads the file now, relative to the working directory.
func ParsePattern(s string) (*Pattern, error) {
	p := &Pattern{src: s}
	for _, raw := range splitPattern(s) {
		if strings.HasPrefix(raw, "@") {
			terms, err := fileTerms(raw[1:])
			if err != nil {
				return nil, fmt.Errorf("host pattern %q: %w", s, err)
			}
			p.terms = append(p.terms, terms...)
			continue
		}
		t, err := parseTerm(raw)
		if err != nil {
			return nil, fmt.Errorf("host pattern %q: term %q: %w", s, raw, err)
		}
		p.terms = append(p.terms, t)
	}
	if len(p.terms) == 0 {
		return nil, ErrEmptyPattern
	}
	return p, nil
}

// fileTerms reads an @file as Ansible reads a --limit file: each line,
// stripped, is one term (not split further); blank lines are ignored.
func fileTerms(path string) ([]term, error) {
	if path == "" {
		return nil, errors.New("@ must be followed by a file name")
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("unable to find limit file %s: %w", path, err)
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("limit starting with \"@\" must be a file, not a directory: %s", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var terms []term
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "@") {
			return nil, fmt.Errorf("%s:%d: an @file cannot name another file", path, i+1)
		}
		t, err := parseTerm(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: term %q: %w", path, i+1, line, err)
		}
		terms = append(terms, t)
	}
	return terms, nil
}

// splitPattern is Ansible's split_host_pattern: with a comma anywhere,
// only commas separate (so regexes and IPv6 addresses may hold colons);
// a pattern that parses as one address (host:port, IPv6) is one term;
// otherwise runs of anything but whitespace, ":" and brackets, or whole
// bracketed expressions, are the terms. Terms come back stripped and
// non-empty, with tend's os:VALUE selectors kept whole.
func splitPattern(s string) []string {
	var parts []string
	switch {
	case strings.Contains(s, ","):
		parts = strings.Split(s, ",")
	case isAddressPattern(s):
		parts = []string{s}
	default:
		idx := splitPatternRE.FindAllStringIndex(s, -1)
		for i := 0; i < len(idx); i++ {
			part := s[idx[i][0]:idx[i][1]]
			if bare := strings.TrimLeft(part, "&!"); bare == "os" && len(part)-len(bare) <= 1 &&
				i+1 < len(idx) && s[idx[i][1]:idx[i+1][0]] == ":" {
				i++
				part += ":" + s[idx[i][0]:idx[i][1]]
			}
			parts = append(parts, part)
		}
	}
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// isAddressPattern reports whether the whole pattern is one address, as
// Ansible checks with parse_address before splitting on colons.
func isAddressPattern(s string) bool {
	_, _, err := parseAddress(s)
	return err == nil
}

// subscriptRE is Ansible's PATTERN_WITH_SUBSCRIPT: [i] may be negative,
// a range needs its start ([:2] is a glob class, as in Ansible).
var subscriptRE = regexp.MustCompile(`^(.+)\[(?:(-?[0-9]+)|([0-9]+)[:-]([0-9]*))\]$`)

var factValueRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)

func parseTerm(raw string) (term, error) {
	var t term
	switch raw[0] {
	case '&':
		t.op, raw = opIntersect, raw[1:]
	case '!':
		t.op, raw = opExclude, raw[1:]
	}
	t.raw = raw
	if raw == "" {
		return t, errors.New("operator without a name")
	}
	switch {
	case raw[0] == '~':
		if raw == "~" {
			return t, errors.New("empty regular expression")
		}
		// Python's \Z is RE2's \z; the rest of Python's syntax that RE2
		// lacks (look-around, back-references) is refused.
		re, err := regexp.Compile(`^(?:` + strings.ReplaceAll(raw[1:], `\Z`, `\z`) + `)`)
		if err != nil {
			return t, fmt.Errorf("invalid regular expression %q: %w", raw[1:], err)
		}
		t.kind, t.re = termRegex, re
		return t, nil
	case raw[0] == '@':
		return t, errors.New("an @file term cannot take an operator (& or !)")
	case strings.HasPrefix(raw, "os:"):
		v := strings.ToLower(raw[len("os:"):])
		if !factValueRE.MatchString(v) {
			return t, fmt.Errorf("invalid fact selector: want os:NAME, such as os:linux, os:windows or os:debian")
		}
		t.kind, t.fact = termFact, v
		return t, nil
	}

	if m := subscriptRE.FindStringSubmatch(raw); m != nil {
		raw = m[1]
		if m[2] != "" {
			i, err := strconv.Atoi(m[2])
			if err != nil {
				return t, fmt.Errorf("invalid subscript %q", m[2])
			}
			t.sub = &subscript{single: true, start: i}
		} else {
			start, err1 := strconv.Atoi(m[3])
			end := -1
			var err2 error
			if m[4] != "" {
				end, err2 = strconv.Atoi(m[4])
			}
			if err1 != nil || err2 != nil {
				return t, errors.New("invalid subscript")
			}
			t.sub = &subscript{start: start, end: end}
		}
	}
	if strings.ContainsAny(raw, "*?[") {
		re, err := globRegexp(raw)
		if err != nil {
			return t, fmt.Errorf("invalid glob: %w", err)
		}
		t.kind, t.re = termGlob, re
		return t, nil
	}
	t.kind, t.name = termName, raw
	return t, nil
}

// SelectString parses s and selects with it.
func (inv *Inventory) SelectString(s string) ([]*Host, error) {
	p, err := ParsePattern(s)
	if err != nil {
		return nil, err
	}
	return inv.Select(p)
}

// Select returns the hosts p selects, in inventory order (sorted by name)
// and without duplicates, following Ansible's rules:
//
//   - a union term that is exactly a host's name selects that host, even
//     when a group has the same name; otherwise, and with & or !, a name
//     means the group (and its child groups' hosts), else the host;
//   - globs and regexes match group names (selecting their members) and
//     host names;
//   - a subscript counts hosts in the order the inventory lists them, as
//     Ansible does: a group's own hosts in the order its sources list
//     them, then its child groups' hosts (for globs, the groups matched in
//     the order they were created, then matching hosts); in an inventory
//     of native HCL files only, in name order. A single index past the
//     end is a *SubscriptError, as in Ansible; a range past the end is
//     cut short.
//
// Unlike Ansible, a plain name that is neither a host nor a group is an
// *UnknownNameError, wherever it appears (a typo in an exclusion would
// otherwise widen the target); a glob or regex matching nothing selects
// nothing. A fact selector that needs facts the cache lacks is a
// *MissingFactsError.
func (inv *Inventory) Select(p *Pattern) ([]*Host, error) {
	if p == nil || len(p.terms) == 0 {
		return nil, ErrEmptyPattern
	}
	// Match every term first, in the order written, so the first unknown
	// name reported is the first one in the pattern. Fact selectors are
	// decided later, against the hosts still selected when they apply,
	// so they need facts only for those.
	matches := make([][]*Host, len(p.terms))
	for i, t := range p.terms {
		if t.kind == termFact {
			continue
		}
		hs, err := inv.match(t)
		if err != nil {
			return nil, err
		}
		matches[i] = hs
	}
	matchAt := func(i int, candidates []*Host) ([]*Host, error) {
		if p.terms[i].kind == termFact {
			return inv.matchFact(p.terms[i], candidates)
		}
		return matches[i], nil
	}

	in := map[*Host]bool{}
	var sel []*Host
	hasUnion := false
	for i, t := range p.terms {
		if t.op != opUnion {
			continue
		}
		hasUnion = true
		hs, err := matchAt(i, inv.hosts)
		if err != nil {
			return nil, err
		}
		for _, h := range hs {
			if !in[h] {
				in[h] = true
				sel = append(sel, h)
			}
		}
	}
	if !hasUnion {
		sel = inv.hosts
	}
	for _, want := range []op{opIntersect, opExclude} {
		for i, t := range p.terms {
			if t.op != want {
				continue
			}
			hs, err := matchAt(i, sel)
			if err != nil {
				return nil, err
			}
			hit := map[*Host]bool{}
			for _, h := range hs {
				hit[h] = true
			}
			var next []*Host
			for _, h := range sel {
				if hit[h] == (want == opIntersect) {
					next = append(next, h)
				}
			}
			sel = next
		}
	}

	keep := map[*Host]bool{}
	for _, h := range sel {
		keep[h] = true
	}
	var out []*Host
	for _, h := range inv.hosts {
		if keep[h] {
			out = append(out, h)
		}
	}
	return out, nil
}

// members returns a group's hosts in the order subscripts count them,
// and whether the group exists.
func (inv *Inventory) members(group string) ([]*Host, bool) {
	if inv.ordered != nil {
		hs, ok := inv.ordered[group]
		return hs, ok
	}
	hs, ok := inv.groups[group]
	return hs, ok
}

// match returns the hosts one term stands for, in the order subscripts
// count them, ignoring its operator.
func (inv *Inventory) match(t term) ([]*Host, error) {
	var hs []*Host
	switch {
	case t.op == opUnion && inv.byName[t.raw] != nil:
		// Ansible resolves a union term that is a host's name before
		// anything else.
		return []*Host{inv.byName[t.raw]}, nil
	case t.kind == termName:
		members, isGroup := inv.members(t.name)
		hs = members
		// Ansible looks at hosts when no group matched, or when the
		// name has a dot (as fnmatch specials do).
		if !isGroup || strings.Contains(t.name, ".") {
			if h := inv.byName[t.name]; h != nil {
				hs = append(hs, h)
			}
		}
		if !isGroup && len(hs) == 0 {
			return nil, &UnknownNameError{Name: t.name, Suggestion: inv.suggest(t.name)}
		}
	case inv.ordered != nil:
		// Ansible's _enumerate_matches: members of matching groups, in
		// the order the groups were created, then matching hosts;
		// duplicates stay until the subscript has been applied.
		for _, g := range inv.groupOrder {
			if t.re.MatchString(g) {
				hs = append(hs, inv.ordered[g]...)
			}
		}
		for _, h := range inv.hostOrder {
			if t.re.MatchString(h.Name) {
				hs = append(hs, h)
			}
		}
	default:
		in := map[*Host]bool{}
		for g, members := range inv.groups {
			if t.re.MatchString(g) {
				for _, h := range members {
					in[h] = true
				}
			}
		}
		for _, h := range inv.hosts {
			if in[h] || t.re.MatchString(h.Name) {
				hs = append(hs, h)
			}
		}
	}
	if t.sub != nil {
		return t.sub.apply(hs, t.raw)
	}
	return hs, nil
}

// apply is Ansible's _apply_subscript, quirks included: [i] counts from
// the end when negative and fails past either end; [i:j] includes j and
// is cut at the end; [i:0] means [i] (Python reads the 0 as "no end").
func (s *subscript) apply(hs []*Host, raw string) ([]*Host, error) {
	n := len(hs)
	if n == 0 {
		return hs, nil
	}
	if !s.single && s.end != 0 {
		end := s.end
		if end == -1 {
			end = n - 1
		}
		start, stop := min(s.start, n), min(end+1, n)
		if start >= stop {
			return nil, nil
		}
		return hs[start:stop], nil
	}
	i := s.start
	if i < 0 {
		i += n
	}
	if i < 0 || i >= n {
		return nil, &SubscriptError{Term: raw, Count: n}
	}
	return hs[i : i+1], nil
}

// suggest returns the host or group name closest to name, if it is close
// enough to be a likely typo.
func (inv *Inventory) suggest(name string) string {
	names := inv.Groups()
	for _, h := range inv.hosts {
		names = append(names, h.Name)
	}
	return lang.Suggest(name, names)
}
