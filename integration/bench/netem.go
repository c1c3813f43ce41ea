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
	"strings"
	"syscall"
	"time"

	"github.com/tendhq/tend/integration/lab"
	"github.com/tendhq/tend/integration/netem"
)

// netemMain times a no-op plan of many inventory hosts over links with a
// round-trip time and jitter (integration/netem: a userspace proxy in
// front of each lab sshd, run in this process), against the Go floors
// reaching the same hosts through the same proxies, in the same runs:
//
//	go run ./integration/bench netem -hosts 100 -lab-hosts 10 -latency 25ms -jitter 5ms -runs 5
//
// The inventory names -hosts hosts, -hosts/-lab-hosts of them on each lab
// host (one proxy each, on its own port); every host gets the same files,
// whose content does not depend on the host's name, so that all the names
// of one lab host converge together.
func netemMain(args []string) int {
	fs := flag.NewFlagSet("netem", flag.ContinueOnError)
	hosts := fs.Int("hosts", 100, "inventory hosts")
	labHosts := fs.Int("lab-hosts", 10, "lab hosts they are spread over")
	latency := fs.Duration("latency", 25*time.Millisecond, "delay added in each direction (the round trip is twice this)")
	jitter := fs.Duration("jitter", 5*time.Millisecond, "± this, at random, on each delay")
	files := fs.Int("files", 20, "files per host in the configuration")
	runs := fs.Int("runs", 5, "timed runs (medians are reported)")
	tendBin := fs.String("tend", "", "tend binary (default: build ./cmd/tend)")
	out := fs.String("out", "bench-netem.md", "write the Markdown table here too (- for stdout only)")
	hold := fs.Bool("hold", false, "set up and converge, print the commands and wait for Ctrl-C (for profiling by hand)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *labHosts < 1 || *hosts < *labHosts || *hosts%*labHosts != 0 {
		fmt.Fprintln(os.Stderr, "netem: -hosts must be a multiple of -lab-hosts")
		return 2
	}
	log.SetFlags(log.Ltime)
	log.SetPrefix("bench netem: ")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	report, err := runNetem(ctx, netemOptions{hosts: *hosts, labHosts: *labHosts, latency: *latency, jitter: *jitter,
		files: *files, runs: *runs, tendBin: *tendBin, hold: *hold, args: args})
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

type netemOptions struct {
	hosts, labHosts int
	latency, jitter time.Duration
	files, runs     int
	tendBin         string
	hold            bool
	args            []string
}

// netemTools are the tools a netem run times, in order.
var netemTools = []string{"tend", "floor", "floor-probe"}

func runNetem(ctx context.Context, o netemOptions) (string, error) {
	if os.Geteuid() != 0 {
		return "", fmt.Errorf("must run as root: it boots lab hosts")
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp("", "tend-bench-netem-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	bin := o.tendBin
	if bin == "" {
		bin = filepath.Join(tmp, "tend")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/tend")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("go build ./cmd/tend: %v\n%s", err, out)
		}
	}
	cg := newCgroups()
	defer cg.close()

	l, err := lab.Start(ctx, lab.Options{Hosts: o.labHosts, Name: "netem", BootTimeout: 3 * time.Minute, Logf: log.Printf})
	if err != nil {
		return "", err
	}
	defer l.Close()
	// Every name of a lab host connects to the same sshd at once: let it
	// take them all (OpenSSH starts dropping at 10 unauthenticated).
	if err := eachHost(o.labHosts, func(i int) error {
		conf := "# integration/bench netem: many inventory names per lab host.\nMaxStartups 1000\n"
		if err := os.WriteFile(filepath.Join(l.Host(i).Root, "etc/ssh/sshd_config.d/zz-netem.conf"), []byte(conf), 0o644); err != nil {
			return err
		}
		return l.ReloadSSH(ctx, i)
	}); err != nil {
		return "", err
	}
	n, err := netem.Start(l, o.hosts/o.labHosts)
	if err != nil {
		return "", err
	}
	defer n.Close()
	if err := n.AddAll(netem.Delay(o.latency.Milliseconds(), o.jitter.Milliseconds())); err != nil {
		return "", err
	}

	// The configuration, and an inventory of every name (timed) and of
	// the first name of each lab host (to converge, untimed: the names of
	// one host share its run lock).
	dir, conv := filepath.Join(tmp, "config"), filepath.Join(tmp, "converge")
	scripts, home := filepath.Join(tmp, "scripts"), filepath.Join(tmp, "home")
	for _, d := range []string{dir, conv, scripts, home} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return "", err
		}
	}
	var cfg strings.Builder
	cfg.WriteString("directory \"netem\" {\n  path = \"/srv/bench-netem\"\n  mode = \"0755\"\n}\n")
	for k := 0; k < o.files; k++ {
		fmt.Fprintf(&cfg, "file \"f%03d\" {\n  path       = \"/srv/bench-netem/f%03d.conf\"\n  content    = \"key%d = value\\n\"\n  mode       = \"0644\"\n  depends_on = [directory.netem]\n}\n", k, k, k)
	}
	sshCfg := filepath.Join(tmp, "ssh_config")
	if err := os.WriteFile(sshCfg, []byte("# integration/bench: the floor's handshake budget.\nHost *\n  ConnectTimeout 30\n"), 0o644); err != nil {
		return "", err
	}
	var firsts []*netem.Link
	for _, lk := range n.Links {
		if lk.Port == netem.FirstPort {
			firsts = append(firsts, lk)
		}
	}
	for _, c := range []struct {
		dir   string
		links []*netem.Link
	}{{dir, nil}, {conv, firsts}} {
		if err := os.WriteFile(filepath.Join(c.dir, "main.hcl"), []byte(cfg.String()), 0o644); err != nil {
			return "", err
		}
		if err := n.WriteInventory(filepath.Join(c.dir, "inventory.hcl"), netem.InventoryOptions{Links: c.links, Groups: []string{"bench"}, SSHConfig: sshCfg}); err != nil {
			return "", err
		}
	}
	env := append(os.Environ(), "HOME="+home, "NO_COLOR=1")
	conv1 := exec.CommandContext(ctx, bin, "apply", "-C", conv, "-y", "--parallel", fmt.Sprint(o.labHosts), "--no-color")
	conv1.Env = env
	if out, err := conv1.CombinedOutput(); err != nil {
		return "", fmt.Errorf("converging: %v\n%s", err, lastLines(string(out), 15))
	}
	inv := filepath.Join(dir, "inventory.hcl")
	probes, err := probeScripts(dir, inv)
	if err != nil {
		return "", fmt.Errorf("capture tend's probe scripts: %w", err)
	}
	var endpoints []string
	for _, lk := range n.Links {
		endpoints = append(endpoints, lk.Endpoint())
		if err := os.WriteFile(filepath.Join(scripts, lk.Endpoint()+".sh"), []byte(probes[lk.Endpoint()]), 0o644); err != nil {
			return "", err
		}
	}
	command := func(tool string) *exec.Cmd {
		var cmd *exec.Cmd
		switch tool {
		case "tend":
			cmd = exec.CommandContext(ctx, bin, "plan", "-C", dir, "--parallel", fmt.Sprint(o.hosts), "--no-color")
		default:
			args := []string{"floor", "-key", l.ClientKeyFile(), "-known-hosts", inv + ".known_hosts"}
			if tool == "floor-probe" {
				args = append(args, "-scripts", scripts)
			}
			cmd = exec.CommandContext(ctx, self, append(args, endpoints...)...)
		}
		cmd.Env = env
		return cmd
	}
	if o.hold {
		for _, tool := range netemTools {
			fmt.Printf("%s:\n  HOME=%s %s\n", tool, home, strings.Join(command(tool).Args, " "))
		}
		fmt.Println("Ctrl-C tears the lab down.")
		<-ctx.Done()
		return "", nil
	}
	ms := map[string][]Measurement{}
	for r := 0; r < o.runs; r++ {
		for _, tool := range rotate(netemTools, r) {
			m, out := cg.run(command(tool))
			if m.Err == "" && tool == "tend" && !strings.Contains(string(out), fmt.Sprintf("No changes. %d of %d hosts", o.hosts, o.hosts)) {
				m.Err = "not a no-op: " + lastLines(string(out), 3)
			}
			if m.Err != "" {
				log.Printf("%s run %d: %s", tool, r+1, m.Err)
			}
			ms[tool] = append(ms[tool], m)
			log.Printf("%-12s run %d: %6.3fs cpu %6.3fs rss %4d MB", tool, r+1, m.Wall.Seconds(), m.CPU.Seconds(), m.MaxRSS/1024)
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "    go run ./integration/bench netem %s\n\n", strings.Join(o.args, " "))
	fmt.Fprintf(&b, "%d hosts (%d names on each of %d lab hosts), each behind its own proxy adding %s ± %s each way (round trip %s), no-op plan of %d files and their directory, %d runs:\n\n",
		o.hosts, o.hosts/o.labHosts, o.labHosts, o.latency, o.jitter, 2*o.latency, o.files, o.runs)
	b.WriteString("| Tool | median (s) | min–max (s) | ok runs | tend ÷ tool (same run) | controller CPU (s) | peak RSS, one process (MB) |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, tool := range netemTools {
		g := good(ms[tool])
		walls := field(g, wall)
		lo, hi := minMax(walls)
		r := "—"
		if tool != "tend" {
			r = fmtRatio(ratio(ms["tend"], ms[tool]))
		}
		fmt.Fprintf(&b, "| %s | %.3f | %.3f–%.3f | %d of %d | %s | %.2f | %.0f |\n", tool, median(walls), lo, hi, len(g), len(ms[tool]), r,
			median(field(g, func(m Measurement) float64 { return m.CPU.Seconds() })),
			median(field(g, func(m Measurement) float64 { return float64(m.MaxRSS) / 1024 })))
	}
	fmt.Fprintf(&b, "\nMachine: %s.\n", machine())
	return b.String(), nil
}

func minMax(xs []float64) (lo, hi float64) {
	for i, x := range xs {
		if i == 0 || x < lo {
			lo = x
		}
		if i == 0 || x > hi {
			hi = x
		}
	}
	return lo, hi
}
