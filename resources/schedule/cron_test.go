package schedule

import (
	"math/rand"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseErrors(t *testing.T) {
	tests := map[string]string{
		"":                "has 0 fields",
		"* * * *":         "has 4 fields",
		"* * * * * *":     "has 6 fields",
		"60 * * * *":      "minute field \"60\": 60 is out of range 0-59",
		"* 24 * * *":      "hour field",
		"* * 0 * *":       "day of month field \"0\": 0 is out of range 1-31",
		"* * 32 * *":      "out of range 1-31",
		"* * * 13 *":      "month field",
		"* * * * 8":       "out of range 0-7",
		"5/10 * * * *":    "a step (/10) needs a range or *",
		"*/0 * * * *":     "step \"0\" must be a number from 1 to 60",
		"*/61 * * * *":    "step \"61\"",
		"*/x * * * *":     "step \"x\"",
		"10-5 * * * *":    "range 10-5 runs backwards",
		"1,,2 * * * *":    "empty list element",
		"a * * * *":       "\"a\" is not a number",
		"-1 * * * *":      "\"\" is not a number",
		"* * * jan-mar *": "names such as \"jan\" are allowed only as a whole field",
		"* * * * mon,tue": "names such as \"mon\"",
		"@every 5m":       "unknown shorthand \"@every 5m\"",
		"@Daily":          "unknown shorthand",
		"1000 * * * *":    "is not a number",
	}
	for in, want := range tests {
		_, err := Parse(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", in, err, want)
		}
	}
}

func TestParse(t *testing.T) {
	tests := map[string]struct {
		spec             string
		sets             [5]uint64
		domStar, dowStar bool
	}{
		"30 2 * * *":           {"30 2 * * *", [5]uint64{1 << 30, 1 << 2, bits(1, 31), bits(1, 12), bits(0, 6)}, true, true},
		" 30\t2  *  * * ":      {"30 2 * * *", [5]uint64{1 << 30, 1 << 2, bits(1, 31), bits(1, 12), bits(0, 6)}, true, true},
		"*/20 1-3,5 1 jan 7":   {"*/20 1-3,5 1 jan 7", [5]uint64{1 | 1<<20 | 1<<40, 1<<1 | 1<<2 | 1<<3 | 1<<5, 1 << 1, 1 << 1, 1}, false, false},
		"0 0 * * 5-7":          {"0 0 * * 5-7", [5]uint64{1, 1, bits(1, 31), bits(1, 12), 1 | 1<<5 | 1<<6}, true, false},
		"0 0 */10 * SUN":       {"0 0 */10 * SUN", [5]uint64{1, 1, 1<<1 | 1<<11 | 1<<21 | 1<<31, bits(1, 12), 1}, true, false},
		"0-59/30 * * 1-12/6 *": {"0-59/30 * * 1-12/6 *", [5]uint64{1 | 1<<30, bits(0, 23), bits(1, 31), 1<<1 | 1<<7, bits(0, 6)}, true, true},
		"@weekly":              {"@weekly", [5]uint64{1, 1, bits(1, 31), bits(1, 12), 1}, true, false},
	}
	for in, want := range tests {
		sc, err := Parse(in)
		if err != nil {
			t.Errorf("Parse(%q): %v", in, err)
			continue
		}
		got := struct {
			spec             string
			sets             [5]uint64
			domStar, dowStar bool
		}{sc.Spec, sc.Sets, sc.DomStar, sc.DowStar}
		if diff := cmp.Diff(want, got, cmp.AllowUnexported(got)); diff != "" {
			t.Errorf("Parse(%q) (-want +got):\n%s", in, diff)
		}
	}
}

func bits(lo, hi int) uint64 {
	var b uint64
	for v := lo; v <= hi; v++ {
		b |= 1 << v
	}
	return b
}

// TestOnCalendar is the translation table documented on OnCalendar.
func TestOnCalendar(t *testing.T) {
	tests := map[string]string{
		"30 2 * * *":           "*-*-* 02:30:00",
		"* * * * *":            "*-*-* *:*:00",
		"*/15 * * * *":         "*-*-* *:00/15:00",
		"5-59/15 * * * *":      "*-*-* *:05/15:00",
		"0-30/15 * * * *":      "*-*-* *:00,15,30:00",
		"0 9-17 * * 1-5":       "Mon..Fri *-*-* 09..17:00:00",
		"0 0 1,15 * *":         "*-*-01,15 00:00:00",
		"0 0 * * 0":            "Sun *-*-* 00:00:00",
		"0 0 * * 7":            "Sun *-*-* 00:00:00",
		"0 0 * * 6,0":          "Sat,Sun *-*-* 00:00:00",
		"0 0 * * 5-7":          "Fri..Sun *-*-* 00:00:00",
		"0 0 * * 0-6":          "*-*-* 00:00:00",
		"0 0 * * 1,2,4":        "Mon,Tue,Thu *-*-* 00:00:00",
		"0 0 * * */2":          "Tue,Thu,Sat,Sun *-*-* 00:00:00",
		"0 0 */2 * 1":          "Mon *-*-01/2 00:00:00",
		"0 12 * */3 *":         "*-01/3-* 12:00:00",
		"0 12 1 feb *":         "*-02-01 12:00:00",
		"1,2,3,7,8 0,1 * * *":  "*-*-* 00,01:01..03,07,08:00",
		"0 0 31 * *":           "*-*-31 00:00:00",
		"@hourly":              "*-*-* *:00:00",
		"@daily":               "*-*-* 00:00:00",
		"@midnight":            "*-*-* 00:00:00",
		"@weekly":              "Sun *-*-* 00:00:00",
		"@monthly":             "*-*-01 00:00:00",
		"@yearly":              "*-01-01 00:00:00",
		"@annually":            "*-01-01 00:00:00",
		"59 23 28-31 12 *":     "*-12-28..31 23:59:00",
		"0 0 * * mon":          "Mon *-*-* 00:00:00",
		"0 */6 * * *":          "*-*-* 00/6:00:00",
		"0 1-23/2 * * *":       "*-*-* 01/2:00:00",
		"0 0 1-31/10 1-11/5 *": "*-01/5-01/10 00:00:00",
	}
	for in, want := range tests {
		sc, err := Parse(in)
		if err != nil {
			t.Errorf("Parse(%q): %v", in, err)
			continue
		}
		got, err := sc.OnCalendar()
		if err != nil || got != want {
			t.Errorf("OnCalendar(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestOnCalendarRefused(t *testing.T) {
	for in, want := range map[string]string{
		"@reboot":      "@reboot has no systemd timer equivalent",
		"0 0 1 * 1":    "restricts both the day of month and the day of week",
		"0 0 1-31 * 1": "EITHER matches",
	} {
		sc, err := Parse(in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", in, err)
		}
		if got, err := sc.OnCalendar(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("OnCalendar(%q) = %q, %v; want an error containing %q", in, got, err, want)
		}
	}
}

// TestOnCalendarFiresWhenCronDoes checks translations minute by minute
// over a year (a leap year, to include 29 February) against cron's own
// rules, for every table entry and random schedules: an OnCalendar=
// evaluator for the forms OnCalendar produces must fire exactly when
// Matches does. (The e2e tests check that systemd reads those forms the
// way this evaluator does.)
func TestOnCalendarFiresWhenCronDoes(t *testing.T) {
	specs := []string{"30 2 * * *", "*/15 * * * *", "0 9-17 * * 1-5", "0 0 */2 * 1", "0 0 31 * *", "@weekly", "@monthly",
		"0 0 1-31/10 1-11/5 *", "0 0 * * */2", "5-59/15 1,2,3,7 * * *", "0 0 29 2 *"}
	rng := rand.New(rand.NewSource(1))
	for len(specs) < 500 {
		s := strings.Join([]string{randField(rng, 0, 59), randField(rng, 0, 23), randField(rng, 1, 31), randField(rng, 1, 12), randField(rng, 0, 7)}, " ")
		if sc, err := Parse(s); err == nil {
			if _, err := sc.OnCalendar(); err == nil {
				specs = append(specs, s)
			}
		}
	}
	start := time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, s := range specs {
		sc, err := Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		cal, err := sc.OnCalendar()
		if err != nil {
			t.Fatal(err)
		}
		ev, err := parseCalendar(cal)
		if err != nil {
			t.Fatalf("%q → %q: %v", s, cal, err)
		}
		// Both sides are a date condition AND a time condition (the
		// translatable schedules), so every day at one time both fire,
		// then every minute of one day both fire, covers all minutes.
		h, mn := first(sc.Sets[1]), first(sc.Sets[0])
		day := time.Time{}
		check := func(m time.Time) bool {
			want := sc.Matches(m.Minute(), m.Hour(), m.Day(), int(m.Month()), int(m.Weekday()))
			if got := ev.matches(m); got != want {
				t.Errorf("%q → %q: at %s cron fires %v, the timer %v", s, cal, m.Format("Mon 2006-01-02 15:04"), want, got)
				return false
			}
			if want && day.IsZero() {
				day = m
			}
			return true
		}
		for d := start.Add(time.Duration(h)*time.Hour + time.Duration(mn)*time.Minute); d.Year() == 2028; d = d.AddDate(0, 0, 1) {
			if !check(d) {
				break
			}
		}
		if day.IsZero() {
			continue // never fires in 2028 (31 February...)
		}
		day = time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.UTC)
		for m := day; m.Day() == day.Day(); m = m.Add(time.Minute) {
			if !check(m) {
				break
			}
		}
	}
}

// first is the smallest value in a set.
func first(set uint64) int {
	for v := 0; v < 64; v++ {
		if set&(1<<v) != 0 {
			return v
		}
	}
	return -1
}

func randField(rng *rand.Rand, lo, hi int) string {
	switch rng.Intn(6) {
	case 0:
		return "*"
	case 1:
		return "*/" + strconv.Itoa(1+rng.Intn(hi-lo+1))
	case 2:
		a := lo + rng.Intn(hi-lo+1)
		b := a + rng.Intn(hi-a+1)
		return strconv.Itoa(a) + "-" + strconv.Itoa(b) + "/" + strconv.Itoa(1+rng.Intn(4))
	case 3:
		a := lo + rng.Intn(hi-lo+1)
		return strconv.Itoa(a) + "-" + strconv.Itoa(a+rng.Intn(hi-a+1))
	default:
		n := 1 + rng.Intn(4)
		var parts []string
		for i := 0; i < n; i++ {
			parts = append(parts, strconv.Itoa(lo+rng.Intn(hi-lo+1)))
		}
		return strings.Join(parts, ",")
	}
}

// calendar evaluates the OnCalendar= forms OnCalendar produces:
// "[DAYS ]*-MONTH-DAY HOUR:MINUTE:00", each component `*`, `v/step` or a
// list of values and `a..b` ranges, DAYS a list of names and ranges.
type calendar struct {
	days               map[time.Weekday]bool // nil: any
	month, day, hr, mn map[int]bool          // nil: any
}

func parseCalendar(s string) (*calendar, error) {
	c := &calendar{}
	f := strings.Fields(s)
	if len(f) == 3 {
		names := map[string]time.Weekday{"Mon": 1, "Tue": 2, "Wed": 3, "Thu": 4, "Fri": 5, "Sat": 6, "Sun": 0}
		order := []string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}
		c.days = map[time.Weekday]bool{}
		for _, p := range strings.Split(f[0], ",") {
			a, b, isRange := strings.Cut(p, "..")
			if !isRange {
				c.days[names[a]] = true
				continue
			}
			in := false
			for _, n := range order {
				in = in || n == a
				if in {
					c.days[names[n]] = true
				}
				if n == b {
					break
				}
			}
		}
		f = f[1:]
	}
	date := strings.Split(f[0], "-")
	tm := strings.Split(f[1], ":")
	if len(date) != 3 || date[0] != "*" || len(tm) != 3 || tm[2] != "00" {
		return nil, strconvErr(s)
	}
	var err error
	for _, x := range []struct {
		dst      *map[int]bool
		s        string
		min, max int
	}{{&c.month, date[1], 1, 12}, {&c.day, date[2], 1, 31}, {&c.hr, tm[0], 0, 23}, {&c.mn, tm[1], 0, 59}} {
		if *x.dst, err = calSet(x.s, x.min, x.max); err != nil {
			return nil, err
		}
	}
	return c, nil
}

type strconvErr string

func (e strconvErr) Error() string { return "cannot evaluate " + string(e) }

func calSet(s string, min, max int) (map[int]bool, error) {
	if s == "*" {
		return nil, nil
	}
	set := map[int]bool{}
	if a, b, ok := strings.Cut(s, "/"); ok {
		start, err1 := strconv.Atoi(a)
		step, err2 := strconv.Atoi(b)
		if err1 != nil || err2 != nil {
			return nil, strconvErr(s)
		}
		for v := start; v <= max; v += step {
			set[v] = true
		}
		return set, nil
	}
	for _, p := range strings.Split(s, ",") {
		a, b, isRange := strings.Cut(p, "..")
		lo, err := strconv.Atoi(a)
		if err != nil {
			return nil, strconvErr(s)
		}
		hi := lo
		if isRange {
			if hi, err = strconv.Atoi(b); err != nil {
				return nil, strconvErr(s)
			}
		}
		for v := lo; v <= hi; v++ {
			set[v] = true
		}
	}
	return set, nil
}

func (c *calendar) matches(t time.Time) bool {
	in := func(set map[int]bool, v int) bool { return set == nil || set[v] }
	return (c.days == nil || c.days[t.Weekday()]) && in(c.month, int(t.Month())) && in(c.day, t.Day()) && in(c.hr, t.Hour()) && in(c.mn, t.Minute())
}

// TestMatchesDayRule: cron runs a job restricting both day fields when
// EITHER matches, and when one of them starts with '*' only when both do.
func TestMatchesDayRule(t *testing.T) {
	for _, tc := range []struct {
		spec     string
		dom, dow int
		want     bool
	}{
		{"0 0 1 * 1", 1, 3, true},    // the 1st, a Wednesday
		{"0 0 1 * 1", 8, 1, true},    // a Monday, the 8th
		{"0 0 1 * 1", 8, 2, false},   // neither
		{"0 0 */2 * 1", 3, 2, false}, // '*' first: both must match
		{"0 0 */2 * 1", 3, 1, true},
		{"0 0 1 * *", 1, 5, true},
		{"0 0 1 * *", 2, 5, false},
	} {
		sc, err := Parse(tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		if got := sc.Matches(0, 0, tc.dom, 1, tc.dow); got != tc.want {
			t.Errorf("%q on day %d, weekday %d: %v, want %v", tc.spec, tc.dom, tc.dow, got, tc.want)
		}
	}
	if sc, _ := Parse("@reboot"); sc.Matches(0, 0, 1, 1, 0) {
		t.Error("@reboot matches a minute")
	}
}
