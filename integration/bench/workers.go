package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/backend/pgtest"
	"github.com/tendhq/tend/integration/lab"
)

// workersMain measures distributed runs: the same fresh apply of the
// same hosts by a local run (journaled in files, and in PostgreSQL) and
// by apply --distributed with 1, 2 and 4 tend worker processes on a
// private PostgreSQL server, timed from the command's start to its end
// (the workers run already, as they would).
//
//	go run ./integration/bench workers -hosts 20 -workload w2-20 -runs 5
func workersMain(args []string) int {
	log.SetFlags(log.Ltime)
	log.SetPrefix("bench workers: ")
	fs := flag.NewFlagSet("workers", flag.ContinueOnError)
	hosts := fs.Int("hosts", 20, "lab hosts")
	wl := fs.String("workload", "w2-20", "workload: w2-N (N files per host)")
	counts := fs.String("workers", "1,2,4", "worker process counts, comma-separated")
	runs := fs.Int("runs", 5, "timed runs per mode (medians are reported)")
	tendBin := fs.String("tend", "", "tend binary (default: build ./cmd/tend)")
	out := fs.String("out", "bench-workers.md", "write the Markdown table here too (- for stdout only)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	w, err := parseWorkload(*wl)
	if err != nil || w.kind != "w2" {
		fmt.Fprintf(os.Stderr, "bench workers: -workload: %q is not w2-N\n", *wl)
		return 2
	}
	var ns []int
	for _, s := range splitList(*counts) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 16 {
			fmt.Fprintf(os.Stderr, "bench workers: -workers: %q is not a count from 1 to 16\n", s)
			return 2
		}
		ns = append(ns, n)
	}
	if *hosts < 1 || *hosts > 254 || *runs < 1 || len(ns) == 0 {
		fmt.Fprintln(os.Stderr, "bench workers: nothing to run (-hosts 1..254, -runs at least 1)")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	report, err := runWorkers(ctx, *hosts, w, ns, *runs, *tendBin)
	if err != nil {
		log.Print(err)
		return 1
	}
	if err := writeReport(report, *out); err != nil {
		log.Print(err)
		return 1
	}
	return 0
}

// serverTB lets pgtest, made for tests, start a server for the
// benchmark: its failures end the benchmark, its cleanups run at close.
type serverTB struct {
	testing.TB
	mu       sync.Mutex
	cleanups []func()
}

func (s *serverTB) Helper()                           {}
func (s *serverTB) Logf(format string, args ...any)   { log.Printf(format, args...) }
func (s *serverTB) Fatal(args ...any)                 { log.Panic(args...) }
func (s *serverTB) Fatalf(format string, args ...any) { log.Panicf(format, args...) }
func (s *serverTB) Skip(args ...any)                  { log.Panic(args...) }
func (s *serverTB) Cleanup(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cleanups = append(s.cleanups, f)
}

func (s *serverTB) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.cleanups) - 1; i >= 0; i-- {
		s.cleanups[i]()
	}
	s.cleanups = nil
}

func runWorkers(ctx context.Context, n int, w workload, counts []int, runs int, tendBin string) (report string, err error) {
	if os.Geteuid() != 0 {
		return "", errors.New("must run as root: it boots lab hosts")
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp("", "tend-bench-workers-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if tendBin == "" {
		tendBin = filepath.Join(tmp, "tend")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", tendBin, "./cmd/tend")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("go build ./cmd/tend: %v\n%s", err, out)
		}
	}
	tb := &serverTB{}
	defer tb.close()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("postgres: %v", r)
		}
	}()
	srv := pgtest.Start(tb)
	url := srv.URL()
	if out, err := exec.CommandContext(ctx, tendBin, "backend", "migrate", "--backend", url).CombinedOutput(); err != nil {
		return "", fmt.Errorf("tend backend migrate: %v\n%s", err, out)
	}

	l, err := lab.Start(ctx, lab.Options{Hosts: n, Name: "bworkers", BootTimeout: 3 * time.Minute, Logf: log.Printf})
	if err != nil {
		return "", err
	}
	defer l.Close()
	b := &bench{lab: l, tmp: tmp, tendBin: tendBin}
	dir := filepath.Join(tmp, "config")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := writeTend(dir, w, typeSupport{}); err != nil {
		return "", err
	}
	if err := l.WriteInventory(filepath.Join(dir, "inventory.hcl")); err != nil {
		return "", err
	}
	parallel := strconv.Itoa(n)

	type mode struct {
		name    string
		workers int
		args    []string
	}
	modes := []mode{
		{"local, files", 0, []string{"apply", "-C", dir, "-y", "--parallel", parallel, "--backend", "files"}},
		{"local, postgres", 0, []string{"apply", "-C", dir, "-y", "--parallel", parallel, "--backend", url}},
	}
	for _, k := range counts {
		modes = append(modes, mode{fmt.Sprintf("%d %s", k, map[bool]string{true: "worker", false: "workers"}[k == 1]), k,
			[]string{"apply", "-C", dir, "-y", "--parallel", parallel, "--distributed", "--backend", url}})
	}
	walls := map[string][]float64{}
	for _, m := range modes {
		var stopWorkers func()
		if m.workers > 0 {
			stopWorkers, err = startBenchWorkers(ctx, tendBin, url, m.workers, n, tmp)
			if err != nil {
				return "", err
			}
		}
		for r := 0; r < runs; r++ {
			if err := b.reset(ctx, w, n); err != nil {
				if stopWorkers != nil {
					stopWorkers()
				}
				return "", fmt.Errorf("reset: %w", err)
			}
			cmd := exec.CommandContext(ctx, tendBin, m.args...)
			start := time.Now()
			out, err := cmd.CombinedOutput()
			wall := time.Since(start)
			if err != nil || !strings.Contains(string(out), "Apply complete:") {
				if stopWorkers != nil {
					stopWorkers()
				}
				logs, _ := filepath.Glob(filepath.Join(tmp, fmt.Sprintf("worker-%d-*.log", m.workers)))
				for _, p := range logs {
					b, _ := os.ReadFile(p)
					log.Printf("%s:\n%s", filepath.Base(p), b)
				}
				return "", fmt.Errorf("%s: %v\n%s", m.name, err, lastLines(string(out), 15))
			}
			log.Printf("%s, run %d: %.2fs", m.name, r+1, wall.Seconds())
			walls[m.name] = append(walls[m.name], wall.Seconds())
		}
		if stopWorkers != nil {
			stopWorkers()
		}
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "Fresh apply of %s on %d lab hosts, median of %d runs (load %.1f at the end):\n\n", w.name, n, runs, loadAverage())
	sb.WriteString("| mode | wall (s) | ÷ local, postgres | ÷ local, files |\n|---|---:|---:|---:|\n")
	files, pg := median(walls["local, files"]), median(walls["local, postgres"])
	for _, m := range modes {
		x := median(walls[m.name])
		fmt.Fprintf(&sb, "| %s | %.2f | %.2f | %.2f |\n", m.name, x, x/pg, x/files)
	}
	return sb.String(), nil
}

// startBenchWorkers starts k tend worker processes sharing n hosts at
// once between them (the local run's --parallel); the returned function
// stops them.
func startBenchWorkers(ctx context.Context, tendBin, url string, k, n int, tmp string) (func(), error) {
	var cmds []*exec.Cmd
	stop := func() {
		for _, c := range cmds {
			_ = c.Process.Signal(syscall.SIGTERM)
		}
		for _, c := range cmds {
			_ = c.Wait()
		}
	}
	for i := 0; i < k; i++ {
		f, err := os.Create(filepath.Join(tmp, fmt.Sprintf("worker-%d-%d.log", k, i)))
		if err != nil {
			stop()
			return nil, err
		}
		c := exec.Command(tendBin, "worker", "--backend", url, "--concurrency", strconv.Itoa((n+k-1)/k), "--poll", "100ms")
		c.Stdout, c.Stderr = f, f
		if err := c.Start(); err != nil {
			f.Close()
			stop()
			return nil, err
		}
		f.Close()
		cmds = append(cmds, c)
	}
	// Each worker has started its River client before it is timed.
	time.Sleep(2 * time.Second)
	return stop, nil
}
