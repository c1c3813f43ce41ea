package inventory

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrEmptyPattern is returned for a pattern with no terms: selecting
// nothing by accident must not look like a successful run.
var ErrEmptyPattern = errors.New("empty host pattern")

// UnknownNameError reports a plain name in a pattern that is neither a
// host nor a group. tend refuses such names instead of selecting nothing,
// so a typo such as hosts = "wbe" fails validation.
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

// Pattern is a parsed host pattern in Ansible's syntax, shared by
// --target and a role's hosts = "...". Parsing is separate from Select so
// a pattern can be checked once and applied to any inventory.
//
// Terms are separated by "," or, when the pattern has no comma, by ":"
// (outside brackets). A term is a plain name, a glob (*, ?, [...]), or
// "~regex"; it may be prefixed with "&" (intersection) or "!" (exclusion)
// and, unless it is a regex, suffixed with a subscript ([i], [-i], [i:j],
// [i-j], [i:], [:j], inclusive). Unions apply first, then intersections,
// then exclusions, each in the order written; a pattern with no plain
// union term starts from "all".
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
	// Not yet: @file (one pattern per line) and fact selectors such as
	// os:linux. Fact selectors need facts, so Select will grow a stage
	// after facts are gathered; and since ":" also separates terms, they
	// must be recognised in splitPattern, before splitting.
)

type term struct {
	op   op
	kind termKind
	name string         // termName
	re   *regexp.Regexp // termGlob, termRegex
	sub  *subscript
}

// subscript picks hosts by position in what the rest of the term
// matched, in inventory order.
type subscript struct {
	start, end int // end is inclusive; -1 means "to the last host"
	single     bool
}

// String returns the pattern as written.
func (p *Pattern) String() string { return p.src }

// ParsePattern parses a host pattern without looking at any inventory.
func ParsePattern(s string) (*Pattern, error) {
	p := &Pattern{src: s}
	for _, raw := range splitPattern(s) {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue // Ansible allows "host1," and "a::b"; empty terms mean nothing.
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

// splitPattern follows Ansible: with a comma anywhere, only commas
// separate (so regexes and IPv6-like text may hold colons); otherwise
// colons do, except inside a [subscript].
func splitPattern(s string) []string {
	if strings.Contains(s, ",") {
		return strings.Split(s, ",")
	}
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			depth++
		case ']':
			depth = max(depth-1, 0)
		case ':':
			if depth == 0 {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, s[start:])
}

var subscriptRE = regexp.MustCompile(`^(.+)\[(?:(-?[0-9]+)|([0-9]*)[:-]([0-9]*))\]$`)

func parseTerm(raw string) (term, error) {
	var t term
	switch raw[0] {
	case '&':
		t.op, raw = opIntersect, raw[1:]
	case '!':
		t.op, raw = opExclude, raw[1:]
	}
	if raw == "" {
		return t, errors.New("operator without a name")
	}
	switch raw[0] {
	case '~':
		re, err := regexp.Compile(`^(?:` + raw[1:] + `)`)
		if err != nil || raw == "~" {
			return t, fmt.Errorf("invalid regular expression %q", raw[1:])
		}
		t.kind, t.re = termRegex, re
		return t, nil
	case '@':
		return t, errors.New("@file patterns are not supported yet")
	}

	// As in Ansible, a trailing [digits], [i:j] or [i-j] is a subscript,
	// not a glob character class.
	if m := subscriptRE.FindStringSubmatch(raw); m != nil {
		raw = m[1]
		sub := &subscript{end: -1}
		if m[2] != "" {
			sub.single = true
			sub.start, _ = strconv.Atoi(m[2])
		} else {
			if m[3] == "" && m[4] == "" {
				return t, errors.New("a subscript needs a start, an end, or both")
			}
			if m[3] != "" {
				sub.start, _ = strconv.Atoi(m[3])
			}
			if m[4] != "" {
				sub.end, _ = strconv.Atoi(m[4])
			}
		}
		t.sub = sub
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

// globRegexp translates an fnmatch glob, as Python's fnmatch.translate
// does, so globs match what they match in Ansible.
func globRegexp(glob string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString(`^(?:`)
	for i := 0; i < len(glob); {
		r, size := utf8.DecodeRuneInString(glob[i:])
		i += size
		switch r {
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		case '[':
			j := i
			if j < len(glob) && glob[j] == '!' {
				j++
			}
			if j < len(glob) && glob[j] == ']' {
				j++
			}
			for j < len(glob) && glob[j] != ']' {
				j++
			}
			if j >= len(glob) {
				b.WriteString(`\[`) // no closing bracket: a literal "["
				continue
			}
			class := glob[i:j]
			i = j + 1
			b.WriteByte('[')
			for k, c := range class {
				switch {
				case k == 0 && c == '!':
					b.WriteByte('^')
				case c == '\\' || c == '[' || c == ']' || (k == 0 && c == '^'):
					b.WriteByte('\\')
					b.WriteRune(c)
				default:
					b.WriteRune(c)
				}
			}
			b.WriteByte(']')
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString(`)$`)
	return regexp.Compile(b.String())
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
// and without duplicates. A plain name that is neither a host nor a group
// is an *UnknownNameError, wherever it appears (a typo in an exclusion
// would otherwise widen the target); a glob or regex matching nothing
// selects nothing. A plain name that is both a group and a host means the
// group, as in Ansible; globs and regexes match group and host names.
func (inv *Inventory) Select(p *Pattern) ([]*Host, error) {
	if p == nil || len(p.terms) == 0 {
		return nil, ErrEmptyPattern
	}
	// Match every term first, in the order written, so the first unknown
	// name reported is the first one in the pattern.
	matches := make([][]*Host, len(p.terms))
	for i, t := range p.terms {
		hs, err := inv.match(t)
		if err != nil {
			return nil, err
		}
		matches[i] = hs
	}

	in := map[*Host]bool{}
	hasUnion := false
	for i, t := range p.terms {
		if t.op == opUnion {
			hasUnion = true
			for _, h := range matches[i] {
				in[h] = true
			}
		}
	}
	if !hasUnion {
		for _, h := range inv.hosts {
			in[h] = true
		}
	}
	for i, t := range p.terms {
		if t.op != opIntersect {
			continue
		}
		keep := map[*Host]bool{}
		for _, h := range matches[i] {
			keep[h] = true
		}
		for h := range in {
			if !keep[h] {
				delete(in, h)
			}
		}
	}
	for i, t := range p.terms {
		if t.op == opExclude {
			for _, h := range matches[i] {
				delete(in, h)
			}
		}
	}

	var out []*Host
	for _, h := range inv.hosts {
		if in[h] {
			out = append(out, h)
		}
	}
	return out, nil
}

// match returns the hosts one term stands for, in inventory order,
// ignoring its operator.
func (inv *Inventory) match(t term) ([]*Host, error) {
	var hs []*Host
	switch t.kind {
	case termName:
		if members, ok := inv.groups[t.name]; ok {
			hs = members
		} else if h := inv.byName[t.name]; h != nil {
			hs = []*Host{h}
		} else {
			return nil, &UnknownNameError{Name: t.name, Suggestion: inv.suggest(t.name)}
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
		hs = t.sub.apply(hs)
	}
	return hs, nil
}

// apply follows Ansible's subscripts: negative single indexes count from
// the end and ranges include their end. Out-of-range positions select
// nothing, like an empty group, rather than failing.
func (s *subscript) apply(hs []*Host) []*Host {
	n := len(hs)
	if s.single {
		i := s.start
		if i < 0 {
			i += n
		}
		if i < 0 || i >= n {
			return nil
		}
		return hs[i : i+1]
	}
	end := s.end
	if end < 0 || end >= n {
		end = n - 1
	}
	if s.start > end {
		return nil
	}
	return hs[s.start : end+1]
}

// suggest returns the host or group name closest to name, if it is close
// enough to be a likely typo.
func (inv *Inventory) suggest(name string) string {
	best, bestDist := "", 3
	consider := func(c string) {
		d := editDistance(name, c)
		if d < bestDist && d < utf8.RuneCountInString(name) {
			best, bestDist = c, d
		}
	}
	for _, g := range inv.Groups() {
		consider(g)
	}
	for _, h := range inv.hosts {
		consider(h.Name)
	}
	return best
}

// editDistance is the optimal string alignment distance: Levenshtein plus
// swapping two adjacent letters as one edit, the commonest typo ("wbe").
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
