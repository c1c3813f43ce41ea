package schedule

import (
	"fmt"
	"strconv"
	"strings"
)

// Schedule is a parsed cron schedule: five fields or an @ shorthand.
type Schedule struct {
	// Spec is the schedule as written to a cron file: the five fields
	// joined by single spaces, or the shorthand.
	Spec string
	// Special is the shorthand ("@daily"), or "".
	Special string
	// Sets are the values each field matches: minute, hour, day of
	// month, month, day of week (0 = Sunday; cron's 7 is folded into 0).
	Sets [5]uint64
	// DomStar and DowStar record a day field beginning with '*': cron
	// runs a job when EITHER day field matches, unless one of them starts
	// with '*', when both must.
	DomStar, DowStar bool
}

// field is one of the five cron fields.
type field struct {
	name     string
	min, max int
	names    []string // names[i] is value min+i's name, for month and weekday
}

var fields = [5]field{
	{name: "minute", min: 0, max: 59},
	{name: "hour", min: 0, max: 23},
	{name: "day of month", min: 1, max: 31},
	{name: "month", min: 1, max: 12, names: []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}},
	{name: "day of week", min: 0, max: 7, names: []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun"}},
}

// shorthands are cron's @ schedules and the five fields each stands for
// (as cron itself defines them; @reboot has none).
var shorthands = map[string]string{
	"@yearly":   "0 0 1 1 *",
	"@annually": "0 0 1 1 *",
	"@monthly":  "0 0 1 * *",
	"@weekly":   "0 0 * * 0",
	"@daily":    "0 0 * * *",
	"@midnight": "0 0 * * *",
	"@hourly":   "0 * * * *",
	"@reboot":   "",
}

// Parse validates a cron schedule the way cron (Debian's Vixie cron)
// reads it, so a schedule tend accepts is never one cron silently skips:
// five fields of comma-separated elements, each `*`, a number, or a range
// `a-b`, the last two optionally with a step `/n` (`*/n`, `a-b/n`; a
// step needs a range); a month or weekday name (jan, mon) only as a whole
// field; or one of @yearly, @annually, @monthly, @weekly, @daily,
// @midnight, @hourly, @reboot.
func Parse(s string) (*Schedule, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "@") {
		five, ok := shorthands[s]
		if !ok {
			return nil, fmt.Errorf("unknown shorthand %q (use @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly or @reboot)", s)
		}
		sc := &Schedule{Spec: s, Special: s}
		if five != "" {
			p, err := Parse(five)
			if err != nil {
				panic(err) // the table is wrong
			}
			sc.Sets, sc.DomStar, sc.DowStar = p.Sets, p.DomStar, p.DowStar
		}
		return sc, nil
	}
	parts := strings.Fields(s)
	if len(parts) != 5 {
		return nil, fmt.Errorf("%q has %d fields; a cron schedule has 5 (minute hour day-of-month month day-of-week) or is an @ shorthand such as @daily", s, len(parts))
	}
	sc := &Schedule{Spec: strings.Join(parts, " ")}
	for i, p := range parts {
		set, err := parseField(fields[i], p)
		if err != nil {
			return nil, fmt.Errorf("%s field %q: %w", fields[i].name, p, err)
		}
		sc.Sets[i] = set
	}
	if sc.Sets[4]&(1<<7) != 0 { // 7 is Sunday too
		sc.Sets[4] = sc.Sets[4]&^(1<<7) | 1
	}
	sc.DomStar = strings.HasPrefix(parts[2], "*")
	sc.DowStar = strings.HasPrefix(parts[4], "*")
	return sc, nil
}

// parseField returns the set of values a field matches.
func parseField(f field, s string) (uint64, error) {
	if n, ok := nameValue(f, s); ok {
		return 1 << n, nil
	}
	var set uint64
	for _, el := range strings.Split(s, ",") {
		if el == "" {
			return 0, fmt.Errorf("empty list element")
		}
		rng, stepStr, hasStep := strings.Cut(el, "/")
		lo, hi := f.min, f.max
		isRange := true
		switch {
		case rng == "*":
		case strings.Contains(rng, "-"):
			a, b, _ := strings.Cut(rng, "-")
			var err error
			if lo, err = number(f, a); err != nil {
				return 0, err
			}
			if hi, err = number(f, b); err != nil {
				return 0, err
			}
			if lo > hi {
				return 0, fmt.Errorf("range %s runs backwards", rng)
			}
		default:
			n, err := number(f, rng)
			if err != nil {
				return 0, err
			}
			lo, hi, isRange = n, n, false
		}
		step := 1
		if hasStep {
			if !isRange {
				return 0, fmt.Errorf("a step (/%s) needs a range or *, as in */%s or %s-%d/%s", stepStr, stepStr, rng, f.max, stepStr)
			}
			n, err := strconv.Atoi(stepStr)
			if err != nil || n < 1 || n > f.max-f.min+1 || !digits(stepStr) {
				return 0, fmt.Errorf("step %q must be a number from 1 to %d", stepStr, f.max-f.min+1)
			}
			step = n
		}
		for v := lo; v <= hi; v += step {
			set |= 1 << v
		}
	}
	return set, nil
}

// nameValue reads a whole field that is a month or weekday name.
func nameValue(f field, s string) (int, bool) {
	for i, n := range f.names {
		if strings.EqualFold(s, n) {
			return f.min + i, true
		}
	}
	return 0, false
}

// number reads one number of a field, within its bounds.
func number(f field, s string) (int, error) {
	if !digits(s) {
		if _, ok := nameValue(f, s); ok {
			return 0, fmt.Errorf("names such as %q are allowed only as a whole field, not in ranges or lists; use numbers", s)
		}
		return 0, fmt.Errorf("%q is not a number", s)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < f.min || n > f.max {
		return 0, fmt.Errorf("%s is out of range %d-%d", s, f.min, f.max)
	}
	return n, nil
}

func digits(s string) bool {
	if s == "" || len(s) > 3 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Matches reports whether the schedule fires at the given minute, by
// cron's rules (used by tests to check OnCalendar translations). It is
// false for @reboot.
func (sc *Schedule) Matches(minute, hour, dom, month, dow int) bool {
	if sc.Special == "@reboot" {
		return false
	}
	in := func(i, v int) bool { return sc.Sets[i]&(1<<v) != 0 }
	if !in(0, minute) || !in(1, hour) || !in(3, month) {
		return false
	}
	if sc.DomStar || sc.DowStar {
		return in(2, dom) && in(4, dow)
	}
	return in(2, dom) || in(4, dow)
}

// weekdays are systemd's day names, Monday first as systemd orders them,
// with their cron numbers.
var weekdays = []struct {
	name string
	cron int
}{{"Mon", 1}, {"Tue", 2}, {"Wed", 3}, {"Thu", 4}, {"Fri", 5}, {"Sat", 6}, {"Sun", 0}}

// OnCalendar translates the schedule into a systemd OnCalendar= value
// that fires at exactly the same minutes:
//
//	cron                      OnCalendar
//	30 2 * * *                *-*-* 02:30:00
//	*/15 * * * *              *-*-* *:00/15:00
//	0 9-17 * * 1-5            Mon..Fri *-*-* 09..17:00:00
//	0 0 1,15 * *              *-*-01,15 00:00:00
//	@hourly                   *-*-* *:00:00
//	@daily, @midnight         *-*-* 00:00:00
//	@weekly                   Sun *-*-* 00:00:00   (cron's week starts on Sunday)
//	@monthly                  *-*-01 00:00:00
//	@yearly, @annually        *-01-01 00:00:00
//
// Each field becomes `*` when it matches every value, `start/step` when
// it is an arithmetic progression to the field's end, else a list of
// values and `a..b` ranges. Two schedules have no translation and are
// refused: @reboot (a timer's OnBootSec= would also fire when the timer
// is first started, long after boot; use kind = "cron"), and a schedule
// restricting both the day of month and the day of week (cron runs when
// EITHER matches, OnCalendar= only when both do).
func (sc *Schedule) OnCalendar() (string, error) {
	if sc.Special == "@reboot" {
		return "", fmt.Errorf("@reboot has no systemd timer equivalent (OnBootSec= would also fire when the timer is first started); use kind = \"cron\"")
	}
	if !sc.DomStar && !sc.DowStar {
		return "", fmt.Errorf("%q restricts both the day of month and the day of week: cron runs it when EITHER matches, a systemd timer only when both do; write two scheduled tasks, or use kind = \"cron\"", sc.Spec)
	}
	var b strings.Builder
	if dow := sc.Sets[4]; dow&0x7f != 0x7f {
		var names []string
		run := 0
		flush := func(end int) { // weekdays[end-run:end] are consecutive
			switch {
			case run >= 3:
				names = append(names, weekdays[end-run].name+".."+weekdays[end-1].name)
			default:
				for i := end - run; i < end; i++ {
					names = append(names, weekdays[i].name)
				}
			}
			run = 0
		}
		for i, d := range weekdays {
			if dow&(1<<d.cron) != 0 {
				run++
			} else {
				flush(i)
			}
		}
		flush(len(weekdays))
		b.WriteString(strings.Join(names, ","))
		b.WriteString(" ")
	}
	fmt.Fprintf(&b, "*-%s-%s %s:%s:00",
		calField(sc.Sets[3], 1, 12), calField(sc.Sets[2], 1, 31),
		calField(sc.Sets[1], 0, 23), calField(sc.Sets[0], 0, 59))
	return b.String(), nil
}

// calField renders a set of values of one OnCalendar= component.
func calField(set uint64, min, max int) string {
	var vals []int
	for v := min; v <= max; v++ {
		if set&(1<<v) != 0 {
			vals = append(vals, v)
		}
	}
	if len(vals) == max-min+1 {
		return "*"
	}
	if len(vals) >= 3 {
		step := vals[1] - vals[0]
		progression := step > 1
		for i := 2; i < len(vals) && progression; i++ {
			progression = vals[i]-vals[i-1] == step
		}
		if progression && vals[len(vals)-1]+step > max {
			return fmt.Sprintf("%02d/%d", vals[0], step)
		}
	}
	var parts []string
	for i := 0; i < len(vals); {
		j := i
		for j+1 < len(vals) && vals[j+1] == vals[j]+1 {
			j++
		}
		if j-i >= 2 {
			parts = append(parts, fmt.Sprintf("%02d..%02d", vals[i], vals[j]))
		} else {
			for k := i; k <= j; k++ {
				parts = append(parts, fmt.Sprintf("%02d", vals[k]))
			}
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}
