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
	"syscall"
	"time"

	"github.com/tendhq/tend/integration/lab"
)

// scaleOptions are the flags of `bench scale`.
type scaleOptions struct {
	sizes    []int // inventory hosts per cell
	labHosts int   // lab sshd the inventory hosts are spread over
	parallel int   // --parallel of tend, -parallel of the floor
	runs     int
	tendBin  string
	baseBin  string
	extra    []string // more tend flags (e.g. --connect-rate 500/s)
	out      string
	profile  string // directory for pprof profiles of tend at the largest size
	// probeFloor also times floor-probe: the floor sending each host
	// tend's own probe script, the host's share of the plan.
	probeFloor bool
}

// scaleMain is `bench scale`: a no-op plan of W1 on thousands of inventory
// hosts, each an alias of one of a few lab hosts (host i of the inventory
// is lab host i mod -lab-hosts), against the Go floor logging in to the
// same addresses, as many times and as many at once. W1's content there
// depends on the host's address, not its name, so every alias of a lab
// host is converged by one apply to the lab host. The harness raises what
// thousands of connections need and restores it on exit: the lab sshd's
// MaxStartups (the lab is torn down), the open-file limit (its own and
// its children's) and the machine's ephemeral port range.
func scaleMain(args []string) int {
	log.SetFlags(log.Ltime)
	log.SetPrefix("bench scale: ")
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	sizes := fs.String("hosts", "1000,10000", "inventory sizes, comma-separated")
	labHosts := fs.Int("lab-hosts", 10, "lab hosts (sshd) the inventory hosts are spread over")
	parallel := fs.Int("parallel", 200, "hosts handled at once, by tend and by the floor")
	runs := fs.Int("runs", 3, "timed runs per size (medians are reported); 0 with -profile profiles only")
	tendBin := fs.String("tend", "", "tend binary (default: build ./cmd/tend)")
	baseBin := fs.String("tend-baseline", "", "also time this tend binary as tend-base in the same runs")
	extra := fs.String("tend-flags", "", "extra flags for tend plan, space-separated (e.g. \"--connect-rate 500/s\")")
	out := fs.String("out", "bench-scale.md", "write the Markdown table here too (- for stdout only)")
	profile := fs.String("profile", "", "after the timed runs, plan the largest size once more in-process under pprof, writing cpu.pprof, heap.pprof (at the end: go tool pprof -sample_index=alloc_space for allocations) and heap-peak.pprof (the live heap at its largest) here")
	probeFloor := fs.Bool("floor-probe", true, "also time floor-probe: the Go floor running tend's probe script (the host's work of the plan) instead of `true`")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	o := scaleOptions{probeFloor: *probeFloor, labHosts: *labHosts, parallel: *parallel, runs: *runs, tendBin: *tendBin, baseBin: *baseBin, extra: strings.Fields(*extra), out: *out, profile: *profile}
	for _, s := range splitList(*sizes) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100000 {
			fmt.Fprintf(os.Stderr, "bench scale: -hosts: %q is not a host count from 1 to 100000\n", s)
			return 2
		}
		o.sizes = append(o.sizes, n)
	}
	if o.labHosts < 1 || o.labHosts > 254 || o.parallel < 1 || o.runs < 0 || (o.runs == 0 && o.profile == "") || len(o.sizes) == 0 {
		fmt.Fprintln(os.Stderr, "bench scale: nothing to run (-lab-hosts 1..254, -parallel at least 1, -runs at least 1 or 0 with -profile)")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	report, err := runScale(ctx, o)
	if err != nil {
		log.Print(err)
		return 1
	}
	if err := writeReport(report, o.out); err != nil {
		log.Print(err)
		return 1
	}
	return 0
}

// scaleRow is one tool at one size.
type scaleRow struct {
	n    int
	tool string
	ms   []Measurement
	// ratios are tool ÷ floor, run by run.
	ratios []float64
	errs   []string
}

func runScale(ctx context.Context, o scaleOptions) (string, error) {
	if os.Geteuid() != 0 {
		return "", errors.New("must run as root: it boots lab hosts and raises system limits")
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	b := &bench{opts: options{tools: []string{"tend", "floor"}}, cg: newCgroups()}
	defer b.cg.close()
	if b.self, err = os.Executable(); err != nil {
		return "", err
	}
	if b.tmp, err = os.MkdirTemp("", "tend-bench-scale-"); err != nil {
		return "", err
	}
	defer os.RemoveAll(b.tmp)
	b.tendBin = o.tendBin
	if b.tendBin == "" {
		b.tendBin = filepath.Join(b.tmp, "tend")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", b.tendBin, "./cmd/tend")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("go build ./cmd/tend: %v\n%s", err, out)
		}
	}
	b.types = probeTypes(b.tendBin, b.tmp)

	maxN := 0
	for _, n := range o.sizes {
		maxN = max(maxN, n)
	}
	restore, err := raiseLimits(maxN, o.parallel)
	if err != nil {
		return "", err
	}
	defer restore()

	l, err := lab.Start(ctx, lab.Options{Hosts: o.labHosts, Name: "scale", BootTimeout: 3 * time.Minute, Logf: b.logf})
	if err != nil {
		return "", err
	}
	defer l.Close()
	b.lab = l
	if err := b.prepareHosts(ctx); err != nil {
		return "", err
	}
	// Room for every connection the run opens at once on one lab sshd
	// (beyond it sshd drops connections: MaxStartups), and no per-session
	// logging (thousands of lines a second in a volatile journal).
	startups := 2*o.parallel/o.labHosts + 100
	if err := eachHost(o.labHosts, func(i int) error {
		h := l.Host(i)
		conf := fmt.Sprintf("# tend benchmark (integration/bench scale): many connections at once.\nLogLevel INFO\nMaxStartups %d\n", startups)
		if err := os.WriteFile(filepath.Join(h.Root, "etc/ssh/sshd_config.d/zz-bench.conf"), []byte(conf), 0o644); err != nil {
			return err
		}
		return l.ReloadSSH(ctx, i)
	}); err != nil {
		return "", fmt.Errorf("sshd limits: %w", err)
	}

	dir := filepath.Join(b.tmp, "config")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	w := workload{name: "w1", kind: "w1"}
	if err := writeTend(dir, w, b.types); err != nil {
		return "", err
	}
	// Aliases of one lab host converge together: the content follows a
	// host variable naming the lab host, which they share, not the name.
	mainHCL := filepath.Join(dir, "main.hcl")
	src, err := os.ReadFile(mainHCL)
	if err != nil {
		return "", err
	}
	if !strings.Contains(string(src), "host = host.name") {
		return "", errors.New("W1's configuration no longer names host.name in its template call")
	}
	if err := os.WriteFile(mainHCL, []byte(strings.ReplaceAll(string(src), "host = host.name", "host = host.vars.lab")), 0o644); err != nil {
		return "", err
	}
	sshCfg := filepath.Join(dir, "ssh_config")
	if err := os.WriteFile(sshCfg, []byte("# integration/bench: the floor's handshake budget.\nHost *\n  ConnectTimeout 30\n"), 0o644); err != nil {
		return "", err
	}
	// Converge the lab hosts themselves, untimed.
	convInv := filepath.Join(b.tmp, "lab-inventory.hcl")
	if _, err := writeAliasInventory(convInv, l, o.labHosts, sshCfg); err != nil {
		return "", err
	}
	conv := exec.CommandContext(ctx, b.tendBin, "apply", "-C", dir, "-i", convInv, "-y", "--no-color", "--parallel", strconv.Itoa(o.labHosts))
	if out, err := conv.CombinedOutput(); err != nil {
		return "", fmt.Errorf("converging the lab hosts: %v\n%s", err, lastLines(string(out), 15))
	}

	tools := []string{"tend"}
	if o.baseBin != "" {
		tools = append(tools, "tend-base")
	}
	tools = append(tools, "floor")
	scripts := filepath.Join(b.tmp, "scripts")
	if o.probeFloor {
		tools = append(tools, "floor-probe")
		// The very bytes tend's plan sends each lab host (its aliases
		// get the same).
		byAddr, err := probeScripts(dir, convInv)
		if err != nil {
			return "", fmt.Errorf("capture tend's probe scripts: %w", err)
		}
		if err := os.MkdirAll(scripts, 0o755); err != nil {
			return "", err
		}
		for addr, s := range byAddr {
			if err := os.WriteFile(filepath.Join(scripts, addr+".sh"), []byte(s), 0o644); err != nil {
				return "", err
			}
		}
	}
	var rows []*scaleRow
	for _, n := range o.sizes {
		inv := filepath.Join(b.tmp, fmt.Sprintf("inventory-%d.hcl", n))
		addrs, err := writeAliasInventory(inv, l, n, sshCfg)
		if err != nil {
			return "", err
		}
		addrFile := filepath.Join(b.tmp, fmt.Sprintf("addresses-%d", n))
		if err := os.WriteFile(addrFile, []byte(strings.Join(addrs, "\n")+"\n"), 0o644); err != nil {
			return "", err
		}
		byTool := map[string]*scaleRow{}
		for _, t := range tools {
			byTool[t] = &scaleRow{n: n, tool: t}
			rows = append(rows, byTool[t])
		}
		for r := 0; r < o.runs; r++ {
			walls := map[string]float64{}
			for _, t := range rotate(tools, r) {
				var cmd *exec.Cmd
				switch t {
				case "floor", "floor-probe":
					args := []string{"floor", "-key", l.ClientKeyFile(), "-known-hosts", l.KnownHostsFile(),
						"-parallel", strconv.Itoa(o.parallel), "-addresses", addrFile}
					if t == "floor-probe" {
						args = append(args, "-scripts", scripts)
					}
					cmd = exec.CommandContext(ctx, b.self, args...)
				default:
					bin := b.tendBin
					if t == "tend-base" {
						bin = o.baseBin
					}
					args := append([]string{"plan", "-C", dir, "-i", inv, "--parallel", strconv.Itoa(o.parallel), "--no-color"}, o.extra...)
					if t == "tend-base" {
						args = args[:8]
					}
					cmd = exec.CommandContext(ctx, bin, args...)
				}
				cmd.Env = append(os.Environ(), "NO_COLOR=1")
				m, out := b.cg.run(cmd)
				if m.Err == "" && !strings.HasPrefix(t, "floor") && !strings.Contains(string(out), fmt.Sprintf("No changes. %d of %d hosts", n, n)) {
					m.Err = "not a no-op: " + lastLines(string(out), 3)
				}
				row := byTool[t]
				if m.Err != "" {
					row.errs = append(row.errs, m.Err)
					b.logf("%d hosts %s run %d: %s", n, t, r+1, m.Err)
				} else {
					row.ms = append(row.ms, m)
					walls[t] = m.Wall.Seconds()
				}
				b.logf("%6d hosts %-9s run %d: %7.2fs cpu %7.2fs (%.2f ms/host) rss %5d MB (%.0f KB/host) load %.1f",
					n, t, r+1, m.Wall.Seconds(), m.CPU.Seconds(), m.CPU.Seconds()*1000/float64(n), m.MaxRSS/1024, float64(m.MaxRSS)/float64(n), m.Load)
				if ctx.Err() != nil {
					return "", ctx.Err()
				}
			}
			for _, t := range tools {
				if f, ok := walls["floor"]; ok && f > 0 && t != "floor" {
					// floor-probe ÷ floor: what the probe costs the hosts.
					if w, ok := walls[t]; ok {
						byTool[t].ratios = append(byTool[t].ratios, w/f)
					}
				}
			}
		}
	}
	if o.profile != "" {
		n := maxN
		if err := os.MkdirAll(o.profile, 0o755); err != nil {
			return "", err
		}
		args := append([]string{"profile", "-cpu", filepath.Join(o.profile, "cpu.pprof"), "-heap", filepath.Join(o.profile, "heap.pprof"), "-heap-peak", filepath.Join(o.profile, "heap-peak.pprof"), "--",
			"plan", "-C", dir, "-i", filepath.Join(b.tmp, fmt.Sprintf("inventory-%d.hcl", n)), "--parallel", strconv.Itoa(o.parallel), "--no-color"}, o.extra...)
		m, out := b.cg.run(exec.CommandContext(ctx, b.self, args...))
		b.logf("profile of %d hosts in %s: %s", n, o.profile, lastLines(string(out), 3))
		if m.Err != "" {
			b.logf("profiled run: %s", m.Err)
		}
	}
	return scaleReport(o, rows), nil
}

// writeAliasInventory writes n inventory hosts, host i an alias of lab
// host 1 + i mod the lab's size (its variable lab names that host), and
// returns their addresses in order.
func writeAliasInventory(path string, l *lab.Lab, n int, sshCfg string) ([]string, error) {
	var sb strings.Builder
	addrs := make([]string, n)
	sb.WriteString("# integration/bench scale: aliases of the lab's hosts.\n")
	for i := 0; i < n; i++ {
		h := l.Host(1 + i%len(l.Hosts))
		addrs[i] = h.Address
		fmt.Fprintf(&sb, "\nhost %q {\n  address       = %q\n  user          = \"root\"\n  identity_file = %q\n  groups        = [\"bench\"]\n  vars          = { lab = %q }\n  ssh {\n    known_hosts_file = %q\n    config_file      = %q\n  }\n}\n",
			fmt.Sprintf("s%05d", i+1), h.Address, l.ClientKeyFile(), h.Name, l.KnownHostsFile(), sshCfg)
	}
	return addrs, os.WriteFile(path, []byte(sb.String()), 0o644)
}

// raiseLimits lets this process and its children open enough sockets for
// n hosts, parallel at once, and widens the ephemeral port range (closed
// connections keep their port in TIME_WAIT for a minute). The returned
// function restores the port range.
func raiseLimits(n, parallel int) (func(), error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return nil, err
	}
	// A tend that keeps every host's connection until the end of the plan
	// holds n sockets.
	want := uint64(n + 4*parallel + 1024)
	if rl.Cur < want {
		rl.Cur = max(want, rl.Cur)
		if rl.Max < rl.Cur {
			rl.Max = rl.Cur
		}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			return nil, fmt.Errorf("raise the open-file limit to %d: %w", rl.Cur, err)
		}
	}
	const ports = "/proc/sys/net/ipv4/ip_local_port_range"
	old, err := os.ReadFile(ports)
	if err != nil {
		return nil, err
	}
	var lo, hi int
	if _, err := fmt.Sscanf(string(old), "%d %d", &lo, &hi); err != nil {
		return nil, fmt.Errorf("%s: %q: %w", ports, old, err)
	}
	if lo <= 1024 && hi >= 65000 {
		return func() {}, nil
	}
	if err := os.WriteFile(ports, []byte("1024 65000\n"), 0o644); err != nil {
		return nil, fmt.Errorf("widen the ephemeral port range: %w", err)
	}
	log.Printf("ephemeral ports 1024-65000 for %d hosts (was %d-%d; restored on exit)", n, lo, hi)
	return func() {
		if err := os.WriteFile(ports, old, 0o644); err != nil {
			log.Printf("restore %s to %q: %v", ports, strings.TrimSpace(string(old)), err)
		}
	}, nil
}

// scaleReport is the Markdown table of the runs: medians, the ratio to
// the floor run by run, and controller CPU and peak RSS per host.
func scaleReport(o scaleOptions, rows []*scaleRow) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "Machine: %s.\n\nCommand: `go run ./integration/bench scale -hosts %s -lab-hosts %d -parallel %d -runs %d",
		machine(), joinInts(o.sizes), o.labHosts, o.parallel, o.runs)
	if o.baseBin != "" {
		sb.WriteString(" -tend-baseline TEND-BASE")
	}
	if len(o.extra) > 0 {
		fmt.Fprintf(&sb, " -tend-flags %q", strings.Join(o.extra, " "))
	}
	sb.WriteString("`\n\n")
	sb.WriteString("| hosts | tool | wall median (min–max) | ÷ floor (per run) | controller CPU | CPU per host | peak RSS | RSS per host | runs |\n")
	sb.WriteString("|---:|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		if len(r.ms) == 0 && len(r.errs) == 0 {
			continue // not run (-runs 0)
		}
		if len(r.ms) == 0 {
			fmt.Fprintf(&sb, "| %d | %s | failed | | | | | | 0 of %d |\n", r.n, r.tool, len(r.errs))
			continue
		}
		walls := field(r.ms, wall)
		cpu := median(field(r.ms, func(m Measurement) float64 { return m.CPU.Seconds() }))
		rss := median(field(r.ms, func(m Measurement) float64 { return float64(m.MaxRSS) }))
		lo, hi := walls[0], walls[0]
		for _, x := range walls {
			lo, hi = min(lo, x), max(hi, x)
		}
		ratio := "—"
		if len(r.ratios) > 0 {
			ratio = fmt.Sprintf("%.2f×", median(r.ratios))
		}
		fmt.Fprintf(&sb, "| %d | %s | %.2f s (%.2f–%.2f) | %s | %.2f s | %.2f ms | %.0f MB | %.0f KB | %d |\n",
			r.n, r.tool, median(walls), lo, hi, ratio, cpu, cpu*1000/float64(r.n), rss/1024, rss/float64(r.n), len(r.ms))
	}
	for _, r := range rows {
		for _, e := range r.errs {
			if len(e) > 300 {
				e = e[:300] + "…"
			}
			fmt.Fprintf(&sb, "\n- %d hosts, %s: %s", r.n, r.tool, strings.ReplaceAll(e, "\n", " "))
		}
	}
	sb.WriteString("\n")
	return sb.String()
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}
