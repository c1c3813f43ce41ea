package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/tendhq/tend/integration/browser"
	"github.com/tendhq/tend/report"
	"github.com/tendhq/tend/report/reporttest"
)

// htmlReportMain measures the HTML fleet report of a synthetic plan
// (report/reporttest: no host is contacted): the time tend takes to write
// it, its size, and how long headless Chromium takes to open it: the
// page's own mark (performance.now() when its grid is drawn, from
// navigation start, written into the DOM as data-rendered-ms) and the
// whole Chromium process, start to exit.
//
//	go run ./integration/bench html-report -hosts 1000 -resources 30 -runs 5
func htmlReportMain(args []string) int {
	fs := flag.NewFlagSet("html-report", flag.ContinueOnError)
	hosts := fs.Int("hosts", 1000, "hosts in the synthetic plan")
	perHost := fs.Int("resources", 30, "resources per host")
	runs := fs.Int("runs", 5, "times Chromium opens the report (medians are reported)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	dir, err := os.MkdirTemp("", "tend-html-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "html-report:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "report.html")
	pl := reporttest.Fleet(*hosts, *perHost)
	start := time.Now()
	r := report.FromPlan(pl, false, report.Meta{Command: "tend plan", Version: "bench", Time: time.Now()})
	if err := r.Write(path); err != nil {
		fmt.Fprintln(os.Stderr, "html-report:", err)
		return 1
	}
	write := time.Since(start)
	fi, err := os.Stat(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "html-report:", err)
		return 1
	}
	mark := regexp.MustCompile(`data-rendered-ms="([0-9.]+)"`)
	tile := regexp.MustCompile(`<button [^>]*class="tile `)
	// Chromium's own start and exit, timed on an empty page in the same
	// runs, to set the whole process's time against.
	empty := filepath.Join(dir, "empty.html")
	if err := os.WriteFile(empty, []byte("<!DOCTYPE html><title>empty</title>"), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "html-report:", err)
		return 1
	}
	var rendered, wall, base []float64
	for i := range *runs {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		_, tookEmpty, err := browser.DumpDOM(ctx, empty, "")
		if err != nil {
			cancel()
			fmt.Fprintln(os.Stderr, "html-report:", err)
			return 1
		}
		base = append(base, float64(tookEmpty.Milliseconds()))
		dom, took, err := browser.DumpDOM(ctx, path, "")
		cancel()
		if err != nil {
			fmt.Fprintln(os.Stderr, "html-report:", err)
			return 1
		}
		m := mark.FindStringSubmatch(dom)
		if m == nil {
			fmt.Fprintln(os.Stderr, "html-report: the page's script did not finish: no data-rendered-ms in the DOM")
			return 1
		}
		if n := len(tile.FindAllStringIndex(dom, -1)); n != *hosts {
			fmt.Fprintf(os.Stderr, "html-report: the DOM has %d host tiles, want %d\n", n, *hosts)
			return 1
		}
		ms, _ := strconv.ParseFloat(m[1], 64)
		rendered = append(rendered, ms)
		wall = append(wall, float64(took.Milliseconds()))
		fmt.Fprintf(os.Stderr, "run %d: rendered at %.0f ms, chromium %v\n", i+1, ms, took.Round(time.Millisecond))
	}
	fmt.Printf("| hosts × resources | file size | distinct changes / diffs | tend writes it | page drawn (data-rendered-ms, median, min–max) | chromium --dump-dom wall (median) | the same, empty page (median) |\n")
	fmt.Printf("|---|---|---|---|---|---|---|\n")
	fmt.Printf("| %d × %d | %.2f MB | %d / %d | %v | %.0f ms (%.0f–%.0f) | %.2f s | %.2f s |\n",
		*hosts, *perHost, float64(fi.Size())/1e6, len(r.Changes), len(r.Diffs), write.Round(time.Millisecond),
		median(rendered), slices.Min(rendered), slices.Max(rendered), median(wall)/1000, median(base)/1000)
	return 0
}
