// Package hostlist folds host names into compact lists and expands them
// back, in the notation of ClusterShell's node sets and pdsh: hosts whose
// names differ only in one number are written once with the numbers in
// brackets, ranges for consecutive numbers, zero padding kept:
//
//	web01 web02 web03 web07 db1  →  db1,web[01-03,07]
//
// The number that varies is the last run of digits in a name
// ("rack1-node03" folds on "03"); names that have no digits, or that hold
// a bracket or a comma (which the notation cannot tell from its own), are
// listed as they are.
package hostlist

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Fold returns names as one compact list, sorted: by the text around the
// varying number, then by number. Duplicates are listed once.
func Fold(names []string) string {
	type num struct {
		s string // as written, e.g. "07"
		v uint64
	}
	type key struct{ prefix, suffix string }
	groups := map[key][]num{}
	var plain []string
	for _, n := range names {
		p, d, s, ok := split(n)
		if !ok {
			plain = append(plain, n)
			continue
		}
		v, err := strconv.ParseUint(d, 10, 64)
		if err != nil { // more digits than a uint64 holds
			plain = append(plain, n)
			continue
		}
		k := key{p, s}
		groups[k] = append(groups[k], num{d, v})
	}
	type item struct{ sortKey, text string }
	var items []item
	seen := map[string]bool{}
	for _, n := range plain {
		if !seen[n] {
			seen[n] = true
			items = append(items, item{n, n})
		}
	}
	for k, nums := range groups {
		sort.Slice(nums, func(i, j int) bool {
			if nums[i].v != nums[j].v {
				return nums[i].v < nums[j].v
			}
			return nums[i].s < nums[j].s
		})
		// Drop duplicates (the same number written the same way).
		uniq := nums[:0]
		for i, n := range nums {
			if i == 0 || n != nums[i-1] {
				uniq = append(uniq, n)
			}
		}
		nums = uniq
		if len(nums) == 1 {
			items = append(items, item{k.prefix + nums[0].s + k.suffix, k.prefix + nums[0].s + k.suffix})
			continue
		}
		// Ranges: a number extends a range that ends with the number
		// before it and pads as it is written; else it starts one.
		type run struct {
			first, last num
			width       int
		}
		var runs []*run
		for _, n := range nums {
			var into *run
			for _, r := range runs {
				if r.last.v+1 == n.v && pad(n.v, r.width) == n.s {
					into = r
					break
				}
			}
			if into != nil {
				into.last = n
				continue
			}
			width := 0
			if len(n.s) > 1 && n.s[0] == '0' {
				width = len(n.s)
			}
			runs = append(runs, &run{first: n, last: n, width: width})
		}
		parts := make([]string, len(runs))
		for i, r := range runs {
			parts[i] = r.first.s
			if r.last != r.first {
				parts[i] += "-" + r.last.s
			}
		}
		items = append(items, item{k.prefix + nums[0].s + k.suffix, k.prefix + "[" + strings.Join(parts, ",") + "]" + k.suffix})
	}
	sort.Slice(items, func(i, j int) bool { return items[i].sortKey < items[j].sortKey })
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.text
	}
	return strings.Join(out, ",")
}

// split cuts name around its last run of digits. ok is false when it has
// none, or holds a character of the notation.
func split(name string) (prefix, digits, suffix string, ok bool) {
	if strings.ContainsAny(name, "[],") {
		return "", "", "", false
	}
	end := -1
	for i := len(name) - 1; i >= 0; i-- {
		if isDigit(name[i]) {
			end = i + 1
			break
		}
	}
	if end < 0 {
		return "", "", "", false
	}
	start := end - 1
	for start > 0 && isDigit(name[start-1]) {
		start--
	}
	return name[:start], name[start:end], name[end:], true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// pad writes v with at least width digits (zeros in front).
func pad(v uint64, width int) string { return fmt.Sprintf("%0*d", width, v) }

// Expand returns the names a list written by Fold (or by hand in the same
// notation) stands for, in its order. Ranges keep the padding of their
// first number: "web[08-10]" is web08, web09, web10.
func Expand(list string) ([]string, error) {
	var out []string
	for _, el := range splitTop(list) {
		if el.text == "" {
			return nil, fmt.Errorf("hostlist %q: column %d: an empty name", list, el.col)
		}
		open := strings.IndexByte(el.text, '[')
		closing := strings.IndexByte(el.text, ']')
		switch {
		case open < 0 && closing < 0:
			out = append(out, el.text)
			continue
		case closing < 0:
			return nil, fmt.Errorf("hostlist %q: column %d: [ without ]", list, el.col+open)
		case open < 0 || closing < open:
			return nil, fmt.Errorf("hostlist %q: column %d: ] without [", list, el.col+closing)
		case strings.ContainsAny(el.text[closing+1:], "[]") || strings.ContainsRune(el.text[open+1:closing], '['):
			return nil, fmt.Errorf("hostlist %q: column %d: one bracket per name", list, el.col)
		}
		prefix, suffix := el.text[:open], el.text[closing+1:]
		for _, part := range strings.Split(el.text[open+1:closing], ",") {
			lo, hi, isRange := strings.Cut(part, "-")
			if !isRange {
				hi = lo
			}
			a, err1 := strconv.ParseUint(lo, 10, 64)
			b, err2 := strconv.ParseUint(hi, 10, 64)
			if lo == "" || hi == "" || err1 != nil || err2 != nil || b < a {
				return nil, fmt.Errorf("hostlist %q: column %d: %q is not a number or a range LOW-HIGH", list, el.col+open+1, part)
			}
			if b-a >= maxRange {
				return nil, fmt.Errorf("hostlist %q: column %d: range %q has more than %d names", list, el.col+open+1, part, maxRange)
			}
			width := 0
			if len(lo) > 1 && lo[0] == '0' {
				width = len(lo)
			}
			for v := a; ; v++ {
				out = append(out, prefix+pad(v, width)+suffix)
				if v == b {
					break
				}
			}
		}
	}
	return out, nil
}

// maxRange bounds one range, so that a typo cannot ask for billions.
const maxRange = 100000

type element struct {
	text string
	col  int // 1-based column of its first byte
}

// splitTop splits list at the commas outside brackets.
func splitTop(list string) []element {
	var out []element
	depth, start := 0, 0
	for i := 0; i < len(list); i++ {
		switch list[i] {
		case '[':
			depth++
		case ']':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, element{list[start:i], start + 1})
				start = i + 1
			}
		}
	}
	return append(out, element{list[start:], start + 1})
}
