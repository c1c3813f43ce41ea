package main

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// good returns the runs that succeeded.
func good(ms []Measurement) []Measurement {
	var out []Measurement
	for _, m := range ms {
		if m.Err == "" {
			out = append(out, m)
		}
	}
	return out
}

func field(ms []Measurement, f func(Measurement) float64) []float64 {
	var out []float64
	for _, m := range ms {
		out = append(out, f(m))
	}
	return out
}

func wall(m Measurement) float64 { return m.Wall.Seconds() }

// ratio is the median over runs of tend's wall time divided by tool's, in
// the same run (same index), both successful.
func ratio(tend, tool []Measurement) float64 {
	var rs []float64
	for i := range tend {
		if i < len(tool) && tend[i].Err == "" && tool[i].Err == "" && tool[i].Wall > 0 {
			rs = append(rs, tend[i].Wall.Seconds()/tool[i].Wall.Seconds())
		}
	}
	return median(rs)
}

func fmtRatio(r float64) string {
	switch {
	case math.IsNaN(r):
		return "—"
	case r < 1:
		return fmt.Sprintf("%.3f (%.1f× faster)", r, 1/r)
	default:
		return fmt.Sprintf("%.2f", r)
	}
}

func fmtCount(x float64) string {
	if x < 0 {
		return "—"
	}
	if x == math.Trunc(x) {
		return fmt.Sprintf("%.0f", x)
	}
	return fmt.Sprintf("%.1f", x)
}

const tableHeader = "| Workload | Hosts | Scenario | Tool | Median (s) | Min–max (s) | Runs | tend ÷ tool | CPU (s) | Max RSS (MB) | Σ RSS (MB) | Conns/host | Execs/host | Load |\n" +
	"|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"

// rows renders one cell's rows.
func (b *bench) rows(c *cell) string {
	var sb strings.Builder
	for _, sc := range b.opts.scenarios {
		tendRuns := c.runs[sc]["tend"]
		for _, t := range b.opts.tools {
			all := c.runs[sc][t]
			ms := good(all)
			if len(all) == 0 {
				continue
			}
			runs := fmt.Sprintf("%d", len(ms))
			if len(ms) != len(all) {
				runs = fmt.Sprintf("%d of %d", len(ms), len(all))
			}
			if len(ms) == 0 {
				fmt.Fprintf(&sb, "| %s | %d | %s | %s | failed | | %s | | | | | | | |\n", c.label, c.hosts, sc, t, runs)
				continue
			}
			ws := field(ms, wall)
			sort.Float64s(ws)
			r := "—"
			if t != "tend" && tendRuns != nil {
				r = fmtRatio(ratio(tendRuns, all))
			}
			first := all[0]
			fmt.Fprintf(&sb, "| %s | %d | %s | %s | %.3f | %.3f–%.3f | %s | %s | %.2f | %.0f | %.0f | %s | %s | %.1f |\n",
				c.label, c.hosts, sc, t, median(ws), ws[0], ws[len(ws)-1], runs, r,
				median(field(ms, func(m Measurement) float64 { return m.CPU.Seconds() })),
				median(field(ms, func(m Measurement) float64 { return float64(m.MaxRSS) / 1024 })),
				median(field(ms, func(m Measurement) float64 { return float64(m.SumRSS) / 1024 })),
				fmtCount(first.Conns), fmtCount(first.Execs),
				median(field(ms, func(m Measurement) float64 { return m.Load })))
		}
	}
	return sb.String()
}

func (b *bench) cellTable(c *cell) string {
	return "\n" + tableHeader + b.rows(c) + notes(c) + "\n"
}

func notes(c *cell) string {
	var sb strings.Builder
	for _, sc := range sortedKeys(c.notes) {
		byTool := c.notes[sc]
		for _, t := range sortedKeys(byTool) {
			for _, n := range byTool[t] {
				fmt.Fprintf(&sb, "\n- %s, %d hosts, %s, %s: %s", c.label, c.hosts, sc, t, strings.ReplaceAll(n, "\n", " / "))
			}
		}
	}
	out := ""
	if sb.Len() > 0 {
		out = "\nProblems:\n" + sb.String() + "\n"
	}
	if len(c.skipped) > 0 {
		why := "hosts × resources over -ansible-max-work"
		if c.w.kind == "big" {
			why = "a big cell times tend, scp and the login floor"
		}
		out += fmt.Sprintf("\n- %s, %d hosts: not run: %s (%s).\n", c.label, c.hosts, strings.Join(c.skipped, ", "), why)
	}
	return out
}

// report renders every cell, then the targets as far as the
// cells measured them.
func (b *bench) report(machine string) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "## Results (%s)\n\nMachine: %s.\n\nCommand: `go run ./integration/bench %s`\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), machine, b.flagLine())
	sb.WriteString(tableHeader)
	for _, c := range b.cells {
		sb.WriteString(b.rows(c))
	}
	for _, c := range b.cells {
		sb.WriteString(notes(c))
	}
	sb.WriteString("\n" + b.targets())
	return sb.String()
}

func (b *bench) flagLine() string {
	var ws, fs []string
	for _, w := range b.opts.workloads {
		ws = append(ws, w.name)
	}
	for _, f := range b.opts.fleets {
		fs = append(fs, fmt.Sprint(f))
	}
	line := fmt.Sprintf("-fleets %s -workloads %s -scenarios %s -tools %s -runs %d",
		strings.Join(fs, ","), strings.Join(ws, ","), strings.Join(b.opts.scenarios, ","), strings.Join(b.opts.tools, ","), b.opts.runs)
	if len(b.opts.packages) > 0 {
		line += " -host-packages " + strings.Join(b.opts.packages, ",")
	}
	return line
}

func (b *bench) find(kind string, files, hosts int) *cell {
	for _, c := range b.cells {
		if c.w.kind == kind && (kind == "w1" || c.w.files == files) && c.hosts == hosts {
			return c
		}
	}
	return nil
}

// adhocCell is a cell of hosts hosts where tend ran the adhoc scenario.
func (b *bench) adhocCell(hosts int) *cell {
	for _, c := range b.cells {
		if c.hosts == hosts && len(c.runs["adhoc"]["tend"]) > 0 {
			return c
		}
	}
	return nil
}

func medianWall(c *cell, sc, tool string) float64 {
	if c == nil {
		return math.NaN()
	}
	return median(field(good(c.runs[sc][tool]), wall))
}

// targets checks the targets against what was measured.
func (b *bench) targets() string {
	var sb strings.Builder
	sb.WriteString("### Targets\n\n| Target | Measured | Met |\n|---|---|---|\n")
	row := func(name string, v float64, unit string, ok bool) {
		if math.IsNaN(v) {
			fmt.Fprintf(&sb, "| %s | not measured | |\n", name)
			return
		}
		met := "no"
		if ok {
			met = "yes"
		}
		fmt.Fprintf(&sb, "| %s | %.3g%s | %s |\n", name, v, unit, met)
	}
	w1 := b.find("w1", 0, 10)
	v := medianWall(w1, "noop-plan", "tend")
	row("10 hosts × W1, no-op plan ≤ 0.5 s", v, " s", v <= 0.5)
	if w1 != nil {
		for _, f := range []string{"floor-probe", "floor"} {
			r := ratio(w1.runs["noop-plan"]["tend"], w1.runs["noop-plan"][f])
			row("10 hosts × W1, no-op plan ≤ 2× the floor ("+f+")", r, "×", r <= 2)
		}
	}
	v = medianWall(w1, "noop-apply", "tend")
	row("10 hosts × W1, no-op apply ≤ 0.7 s", v, " s", v <= 0.7)
	v = medianWall(w1, "fresh", "tend")
	row("10 hosts × W1, fresh apply ≤ 3 s", v, " s", v <= 3)
	if w1 != nil {
		for _, sc := range []string{"noop-plan", "noop-apply", "fresh"} {
			r := ratio(w1.runs[sc]["tend"], w1.runs[sc]["ansible"])
			row("10 hosts × W1, "+sc+": ≥ 30× faster than Ansible (facts off)", 1/r, "×", 1/r >= 30)
		}
	}
	if ac := b.adhocCell(10); ac != nil {
		r := ratio(ac.runs["adhoc"]["tend"], ac.runs["adhoc"]["floor"])
		row("10 hosts, tend run '"+adhocCommand+"' ≤ 1.5× the floor running it", r, "×", r <= 1.5)
	} else {
		row("10 hosts, tend run '"+adhocCommand+"' ≤ 1.5× the floor running it", math.NaN(), "", false)
	}
	c := b.find("w2", 100, 50)
	v = medianWall(c, "noop-plan", "tend")
	row("50 hosts × 100 resources, no-op plan ≤ 3 s", v, " s", v <= 3)
	if c != nil {
		rss := median(field(good(c.runs["noop-plan"]["tend"]), func(m Measurement) float64 { return float64(m.MaxRSS) / 1024 }))
		row("50 hosts × 100 resources, controller peak RSS ≤ 150 MB", rss, " MB", rss <= 150)
	}
	// Large files: throughput against scp of the same file, run by run
	// (tend ÷ scp wall time is the inverse of the throughput ratio), and
	// the controller's peak RSS.
	for _, c := range b.cells {
		if c.w.kind != "big" {
			continue
		}
		r := ratio(c.runs["fresh"]["tend"], c.runs["fresh"]["scp"])
		row(fmt.Sprintf("%d × %s, fresh apply: ≥ 0.8× the throughput of scp", c.hosts, c.label), 1/r, "× scp's throughput", 1/r >= 0.8)
		rss := median(field(good(c.runs["fresh"]["tend"]), func(m Measurement) float64 { return float64(m.MaxRSS) / 1024 }))
		row(fmt.Sprintf("%d × %s, fresh apply: controller peak RSS < 100 MB", c.hosts, c.label), rss, " MB", rss < 100)
	}
	// Cost growth: CPU per added host between the smallest and largest
	// fleets measured, per workload.
	for _, w := range b.opts.workloads {
		var small, large *cell
		for _, c := range b.cells {
			if c.w != w || len(good(c.runs["noop-plan"]["tend"])) == 0 {
				continue
			}
			if small == nil || c.hosts < small.hosts {
				small = c
			}
			if large == nil || c.hosts > large.hosts {
				large = c
			}
		}
		if small == nil || small == large {
			continue
		}
		cpu := func(c *cell) float64 {
			return median(field(good(c.runs["noop-plan"]["tend"]), func(m Measurement) float64 { return m.CPU.Seconds() }))
		}
		per := (cpu(large) - cpu(small)) / float64(large.hosts-small.hosts) * 1000
		row(fmt.Sprintf("%s no-op plan: controller CPU per added host (%d → %d hosts) ≤ 10 ms", small.label, small.hosts, large.hosts), per, " ms", per <= 10)
	}
	return sb.String()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
