package inventory

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// This file ports ansible.parsing.utils.addresses.parse_address and
// Ansible's host range expansion, so that "web[01:20]:2222",
// "[fe80::1]:22" and "db-[a:f]" mean in tend what they mean in Ansible.
// Python's regular expressions use a look-behind for host name labels,
// which Go's RE2 lacks; labels are checked by hand instead.

const (
	numericRange      = `\[(?:[0-9]+:[0-9]+)(?::[0-9]+)?\]`
	hexadecimalRange  = `\[(?:[0-9a-f]+:[0-9a-f]+)(?::[0-9]+)?\]`
	alphanumericRange = `\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]`
	ipv6Component     = `(?:[0-9a-f]{1,4}|` + hexadecimalRange + `)`
	ipv4Component     = `(?:[01]?[0-9]{1,2}|2[0-4][0-9]|25[0-5]|` + numericRange + `)`
)

var (
	bracketedHostPortRE = regexp.MustCompile(`^\[(.+)\]:([0-9]+)$`)
	hostPortRE          = regexp.MustCompile(`^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)$`)
	ipv4RE              = regexp.MustCompile(`(?i)^(?:` + ipv4Component + `\.){3}` + ipv4Component + `$`)
	ipv6RE              = regexp.MustCompile(strings.ReplaceAll(`(?i)^(?:`+strings.Join([]string{
		`(?:{0}:){7}{0}`,
		`(?:{0}:){1,6}:`,
		`(?:{0}:)(?::{0}){1,6}`,
		`(?:{0}:){2}(?::{0}){1,5}`,
		`(?:{0}:){3}(?::{0}){1,4}`,
		`(?:{0}:){4}(?::{0}){1,3}`,
		`(?:{0}:){5}(?::{0}){1,2}`,
		`(?:{0}:){6}(?::{0})`,
		`:(?::{0}){1,6}`,
		`{0}?::`,
		`(?:0:){6}(?:{0}\.){3}{0}`,
		`::(?:ffff:)?(?:{0}\.){3}{0}`,
		`(?:0:){5}ffff:(?:{0}\.){3}{0}`,
	}, "|")+`)$`, "{0}", ipv6Component))
	// The IPv6 alternatives above are written with {0} for one
	// component, as in Ansible's source.
	//
	// A label is word characters, dashes and ranges, starting with a
	// word character or a range and not ending in "-" or "_".
	labelRE = regexp.MustCompile(`(?i)^(?:[\p{L}\p{N}_]|` + alphanumericRange + `)(?:[\p{L}\p{N}_-]|` + alphanumericRange + `)*$`)
)

// isHostname reports whether s is a host name, possibly with ranges, by
// Ansible's rules. Ranges hold no dots, so labels split on ".".
func isHostname(s string) bool {
	for _, label := range strings.Split(s, ".") {
		if !labelRE.MatchString(label) || strings.HasSuffix(label, "-") || strings.HasSuffix(label, "_") {
			return false
		}
	}
	return true
}

// parseAddress splits "host:port", "[host]:port" and bare hosts, IPv4
// and IPv6 addresses, as Ansible's parse_address(allow_ranges=True)
// does. It fails for text that is none of these; callers then use the
// text unchanged, as Ansible does. port is 0 when none was given.
func parseAddress(address string) (host string, port int, err error) {
	for _, re := range []*regexp.Regexp{bracketedHostPortRE, hostPortRE} {
		if m := re.FindStringSubmatch(address); m != nil {
			address = m[1]
			port, err = strconv.Atoi(m[2])
			if err != nil {
				return "", 0, fmt.Errorf("invalid port in %q", address)
			}
		}
	}
	if ipv4RE.MatchString(address) || ipv6RE.MatchString(address) || isHostname(address) {
		return address, port, nil
	}
	return "", 0, fmt.Errorf("not a valid network hostname: %s", address)
}

// asciiLetters is Python's string.ascii_letters: alphabetic ranges run
// through it, so [a:Z] is a..z then A..Z.
const asciiLetters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// expandHostRange expands every [begin:end] or [begin:end:step] range in
// a host pattern, left to right, as Ansible's expand_hostname_range
// does: numeric ranges keep the width of a zero-padded begin, letters
// follow asciiLetters, and a name without "[" is returned alone.
func expandHostRange(line string) ([]string, error) {
	if !strings.Contains(line, "[") {
		return []string{line}, nil
	}
	// Python replaces the first "[" and "]" with "|" and splits on "|":
	// exactly three parts, or the unpacking fails.
	repl := strings.Replace(strings.Replace(line, "[", "|", 1), "]", "|", 1)
	parts := strings.Split(repl, "|")
	if len(parts) != 3 {
		return nil, fmt.Errorf("invalid host range in %q", line)
	}
	head, nrange, tail := parts[0], parts[1], parts[2]
	bounds := strings.Split(nrange, ":")
	if len(bounds) != 2 && len(bounds) != 3 {
		return nil, errors.New("host range must be begin:end or begin:end:step")
	}
	beg, end := bounds[0], bounds[1]
	step := 1
	if len(bounds) == 3 {
		s, err := parsePyInt(bounds[2])
		if err != nil {
			return nil, fmt.Errorf("invalid step in host range %q", line)
		}
		step = s
	}
	if step == 0 {
		return nil, fmt.Errorf("host range %q has a step of 0", line)
	}
	if beg == "" {
		beg = "0"
	}
	if end == "" {
		return nil, errors.New("host range must specify end value")
	}
	fill := func(s string) string { return s }
	if beg[0] == '0' && len(beg) > 1 {
		width := len(beg)
		if width != len(end) {
			return nil, errors.New("host range must specify equal-length begin and end formats")
		}
		fill = func(s string) string {
			if len(s) < width {
				s = strings.Repeat("0", width-len(s)) + s
			}
			return s
		}
	}
	var seq []string
	iBeg, iEnd := strings.Index(asciiLetters, beg), strings.Index(asciiLetters, end)
	if iBeg >= 0 && iEnd >= 0 {
		if iBeg > iEnd {
			return nil, errors.New("host range must have begin <= end")
		}
		seq = pySlice(asciiLetters[iBeg:iEnd+1], step)
	} else {
		b, err1 := parsePyInt(beg)
		e, err2 := parsePyInt(end)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("invalid host range %q: begin and end must be numbers or letters", "["+nrange+"]")
		}
		if n := (e - b) / step; n > maxRangeHosts {
			return nil, fmt.Errorf("host range %q expands to more than %d hosts", line, maxRangeHosts)
		}
		for i := b; (step > 0 && i < e+1) || (step < 0 && i > e+1); i += step {
			seq = append(seq, strconv.Itoa(i))
		}
	}
	var all []string
	for _, s := range seq {
		name := head + fill(s) + tail
		more, err := expandHostRange(name)
		if err != nil {
			return nil, err
		}
		all = append(all, more...)
	}
	return all, nil
}

// maxRangeHosts bounds what one range may expand to: a typo such as
// web[1:9999999] must fail, not exhaust memory.
const maxRangeHosts = 100_000

// pySlice is Python's s[::step] over single letters for the slice
// Ansible takes, s[begin:end+1:step]: a negative step selects nothing.
func pySlice(s string, step int) []string {
	var out []string
	for i := 0; step > 0 && i < len(s); i += step {
		out = append(out, s[i:i+1])
	}
	return out
}

// parsePyInt parses an integer as Python's int() does for text: surrounding
// whitespace, a sign and single underscores between digits.
func parsePyInt(s string) (int, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "__") || strings.HasPrefix(strings.TrimLeft(s, "+-"), "_") || strings.HasSuffix(s, "_") {
		return 0, fmt.Errorf("invalid literal for int(): %q", s)
	}
	return strconv.Atoi(strings.ReplaceAll(s, "_", ""))
}

// splitPatternRE is the fallback of Ansible's split_host_pattern: runs
// of characters other than whitespace, ":" and brackets, or complete
// bracketed expressions.
var splitPatternRE = regexp.MustCompile(`(?:[^\s:\[\]]|\[[^\]]*\])+`)
