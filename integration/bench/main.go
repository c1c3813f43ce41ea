// Command bench measures tend against tuned Ansible and the raw SSH floor
// on the same lab hosts (integration/lab), the same workloads and in the
// same run, and prints the results as Markdown tables (BENCHMARKS.md
// explains them). Run it as root from the repository:
//
//	go run ./integration/bench                  # the whole matrix (hours)
//	go run ./integration/bench -fleets 10 -workloads w2-100 -runs 5 -scenarios noop-plan
//	go run ./integration/bench scale -hosts 1000,10000  # inventory aliases of a few lab hosts (scale.go)
//	go run ./integration/bench workers -hosts 20        # apply --distributed with 1, 2, 4 workers against a local run (workers.go)
//
// It installs ansible-core on the controller (integration/scripts/
// bench-deps.sh), builds tend, boots the largest fleet asked for, puts
// python3 on the hosts for Ansible, and then, for each workload and fleet,
// runs every scenario -runs times, each run timing every tool once (in a
// rotating order). Hosts are reset to a fresh state before each timed
// fresh apply, outside the timing.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tendhq/tend/integration/lab"
)

// Scenarios, in the order they run.
var allScenarios = []string{"fresh", "noop-apply", "noop-plan", "drift", "adhoc"}

// adhocCommand is what the adhoc scenario runs on every host: tend run,
// Ansible's ad-hoc command module, the floors (the same command through
// one exec session per host).
const adhocCommand = "uname -a"

// Tools, in the order they are listed.
var allTools = []string{"tend", "tend-base", "ansible", "ansible-facts", "floor", "floor-probe", "floor-apply", "openssh", "openssh-probe", "scp"}

type options struct {
	fleets    []int
	workloads []workload
	scenarios []string
	tools     []string
	runs      int
	out       string
	tendBin   string
	baseBin   string
	convBin   string
	budget    time.Duration
	maxWork   int
	skipDeps  bool
	hold      bool
	packages  []string
}

type bench struct {
	opts    options
	lab     *lab.Lab
	tmp     string
	tendBin string
	self    string
	cg      *cgroups
	types   typeSupport
	cells   []*cell
}

func (b *bench) logf(format string, args ...any) {
	log.Printf(format, args...)
}

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "floor":
			os.Exit(floorMain(os.Args[2:]))
		case "scale":
			os.Exit(scaleMain(os.Args[2:]))
		case "profile":
			os.Exit(profileMain(os.Args[2:]))
		case "rtt":
			os.Exit(rttMain(os.Args[2:]))
		case "netem":
			os.Exit(netemMain(os.Args[2:]))
		case "html-report":
			os.Exit(htmlReportMain(os.Args[2:]))
		case "probe-script":
			os.Exit(probeScriptMain(os.Args[2:]))
		case "winrm":
			os.Exit(winrmMain(os.Args[2:]))
		case "workers":
			os.Exit(workersMain(os.Args[2:]))
		}
	}
	log.SetFlags(log.Ltime)
	log.SetPrefix("bench: ")
	opts, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if _, err := run(ctx, opts); err != nil {
		log.Fatal(err)
	}
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fleets := fs.String("fleets", "1,10,50", "fleet sizes (hosts), comma-separated")
	workloads := fs.String("workloads", "w1,w2-100,w2-500", "workloads: w1, w2-N (N files per host), big-N (one file of N MiB, against scp)")
	scenarios := fs.String("scenarios", strings.Join(allScenarios, ","), "scenarios: fresh, noop-apply, noop-plan, drift, adhoc (tend run '"+adhocCommand+"' against the floor, openssh and ansible running it)")
	tools := fs.String("tools", "tend,ansible,ansible-facts,floor,floor-probe,floor-apply,openssh,openssh-probe", "tools to time: "+strings.Join(allTools, ", ")+" (tend-base needs -tend-baseline)")
	runs := fs.Int("runs", 5, "timed runs per scenario (medians are reported)")
	out := fs.String("out", "bench-results.md", "write the Markdown results here too (- for stdout only)")
	tendBin := fs.String("tend", "", "use this tend binary instead of building ./cmd/tend")
	baseBin := fs.String("tend-baseline", "", "also time this tend binary, as tool tend-base (e.g. a build of an earlier commit), in the same runs")
	convBin := fs.String("converge-tend", "", "tend binary for the untimed step that converges hosts before no-op scenarios (default: the tend under test)")
	budget := fs.Duration("ansible-budget", 10*time.Minute, "an Ansible run slower than this is not repeated in its cell (reported with its run count)")
	maxWork := fs.Int("ansible-max-work", 2000, "skip Ansible in cells of more than this many hosts × resources (it would take hours); 0: no limit")
	skipDeps := fs.Bool("skip-deps", false, "do not run integration/scripts/bench-deps.sh")
	packages := fs.String("host-packages", "", "extra Debian packages on the lab hosts, comma-separated (a base image of their own), e.g. openssl, which hashes large files faster than sha256sum")
	hold := fs.Bool("hold", false, "set up the lab and each cell's directories, converge them with tend, print where they are and wait for Ctrl-C (for profiling by hand)")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	o := options{runs: *runs, out: *out, tendBin: *tendBin, baseBin: *baseBin, convBin: *convBin, budget: *budget, maxWork: *maxWork, skipDeps: *skipDeps, hold: *hold, packages: splitList(*packages)}
	for _, f := range splitList(*fleets) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > 200 {
			return o, fmt.Errorf("-fleets: %q is not a host count from 1 to 200", f)
		}
		o.fleets = append(o.fleets, n)
	}
	for _, w := range splitList(*workloads) {
		wl, err := parseWorkload(w)
		if err != nil {
			return o, err
		}
		o.workloads = append(o.workloads, wl)
	}
	for _, s := range splitList(*scenarios) {
		if !contains(allScenarios, s) {
			return o, fmt.Errorf("-scenarios: unknown %q (want %s)", s, strings.Join(allScenarios, ", "))
		}
	}
	// Keep the canonical order whatever the flag's order.
	for _, s := range allScenarios {
		if contains(splitList(*scenarios), s) {
			o.scenarios = append(o.scenarios, s)
		}
	}
	for _, t := range splitList(*tools) {
		if !contains(allTools, t) {
			return o, fmt.Errorf("-tools: unknown %q (want %s)", t, strings.Join(allTools, ", "))
		}
		o.tools = append(o.tools, t)
	}
	if o.baseBin != "" && !contains(o.tools, "tend-base") {
		o.tools = append(o.tools[:1:1], append([]string{"tend-base"}, o.tools[1:]...)...)
	}
	if contains(o.tools, "tend-base") && o.baseBin == "" {
		return o, fmt.Errorf("-tools tend-base needs -tend-baseline BINARY")
	}
	if o.runs < 1 || len(o.fleets) == 0 || len(o.workloads) == 0 || len(o.scenarios) == 0 || len(o.tools) == 0 {
		return o, fmt.Errorf("nothing to run")
	}
	return o, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// repoRoot is the module's root directory (the benchmark runs from the
// repository).
func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("run the benchmark from the tend repository")
	}
	return filepath.Dir(mod), nil
}

// run runs the benchmark opts asks for and returns its measurements.
func run(ctx context.Context, opts options) (*bench, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("must run as root: it boots lab hosts (namespaces, mounts)")
	}
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	b := &bench{opts: opts, cg: newCgroups()}
	defer b.cg.close()
	if b.cg.dir == "" {
		b.logf("no cgroup2 hierarchy: CPU is rusage of waited-for children only")
	}
	if b.self, err = os.Executable(); err != nil {
		return nil, err
	}
	if b.tmp, err = os.MkdirTemp("", "tend-bench-"); err != nil {
		return nil, err
	}
	defer os.RemoveAll(b.tmp)

	if !opts.skipDeps && b.ansible() {
		cmd := exec.CommandContext(ctx, filepath.Join(root, "integration/scripts/bench-deps.sh"))
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("bench-deps.sh: %w", err)
		}
	}
	b.tendBin = opts.tendBin
	if b.tendBin == "" {
		b.tendBin = filepath.Join(b.tmp, "tend")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", b.tendBin, "./cmd/tend")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build ./cmd/tend: %v\n%s", err, out)
		}
	}
	b.types = probeTypes(b.tendBin, b.tmp)

	maxHosts := 0
	for _, n := range opts.fleets {
		maxHosts = max(maxHosts, n)
	}
	start := time.Now()
	l, err := lab.Start(ctx, lab.Options{Hosts: maxHosts, Name: "bench", BootTimeout: 3 * time.Minute, Logf: b.logf, Packages: opts.packages})
	if err != nil {
		return nil, err
	}
	defer l.Close()
	b.lab = l
	if err := b.prepareHosts(ctx); err != nil {
		return nil, err
	}
	b.logf("%d hosts ready in %s", maxHosts, time.Since(start).Round(time.Second))

	if opts.hold {
		return b, b.holdCells(ctx)
	}
	for _, w := range opts.workloads {
		for _, n := range opts.fleets {
			if err := b.runCell(ctx, w, n); err != nil {
				return nil, fmt.Errorf("%s on %d hosts: %w", w.name, n, err)
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
		}
	}
	report := b.report(machine())
	if err := writeReport(report, opts.out); err != nil {
		return nil, err
	}
	if opts.out != "-" {
		b.logf("results written to %s", opts.out)
	}
	return b, nil
}

// writeReport prints a benchmark's report and, unless out is "-", also
// writes it to the file out.
func writeReport(report, out string) error {
	fmt.Print(report)
	if out == "-" {
		return nil
	}
	return os.WriteFile(out, []byte(report), 0o644)
}

// machine describes the controller, which also runs every lab host.
func machine() string {
	var b strings.Builder
	cpu := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := ""
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(strings.SplitN(string(data), "\n", 2)[0], "MemTotal: %d kB", &kb)
		mem = fmt.Sprintf(", %.0f GiB RAM", float64(kb)/(1<<20))
	}
	var uts syscall.Utsname
	kernel := ""
	if syscall.Uname(&uts) == nil {
		kernel = ", Linux " + utsString(uts.Release[:])
	}
	ansible := "Ansible not installed"
	if out, err := exec.Command("ansible", "--version").Output(); err == nil {
		ansible = strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	ssh := ""
	if out, err := exec.Command("ssh", "-V").CombinedOutput(); err == nil {
		ssh = strings.TrimSpace(string(out))
	}
	load := ""
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(data))[:3], " ")
	}
	fmt.Fprintf(&b, "%d × %s%s%s; %s; %s; load average at the end %s", runtime.NumCPU(), cpu, mem, kernel, ansible, ssh, load)
	return b.String()
}

func utsString(a []int8) string {
	var s []byte
	for _, c := range a {
		if c == 0 {
			break
		}
		s = append(s, byte(c))
	}
	return string(s)
}
