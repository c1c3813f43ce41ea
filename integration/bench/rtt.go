package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tendhq/tend/inventory"
	"github.com/tendhq/tend/transport"
	"github.com/tendhq/tend/transport/ssh"
)

// rttMain measures what one Run costs on an open connection, with workers
// and with a session per Run: the wall time on the controller and, when
// -host-cgroup names the lab host's cgroup, the CPU the host spent:
//
//	go run ./integration/bench rtt -inventory DIR/inventory.hcl -host bench1 \
//	    -host-cgroup /sys/fs/cgroup/unified/tend-lab/LAB/bench1
func rttMain(args []string) int {
	fs := flag.NewFlagSet("rtt", flag.ContinueOnError)
	invPath := fs.String("inventory", "", "tend inventory (e.g. a cell's inventory.hcl)")
	hostName := fs.String("host", "", "host to measure")
	cg := fs.String("host-cgroup", "", "the host's cgroup2 directory (its cpu.stat gives the host's CPU)")
	n := fs.Int("n", 50, "Runs per measurement")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	inv, diags := inventory.Load([]string{*invPath}, nil)
	if diags.HasErrors() {
		fmt.Fprintln(os.Stderr, "rtt:", diags.Error())
		return 1
	}
	h := inv.Host(*hostName)
	if h == nil {
		fmt.Fprintln(os.Stderr, "rtt: no host", *hostName)
		return 1
	}
	content := bytes.Repeat([]byte("key = value\n"), 40)
	dir := "/var/tmp/tend-rtt"
	scripts := []struct {
		name  string
		cmd   func(i int) transport.Command
		setup string
	}{
		{"true", func(int) transport.Command { return transport.Command{Script: "true"} }, ""},
		{"file write (as resources.File)", func(i int) transport.Command {
			p := fmt.Sprintf("%s/f%d", dir, i%10)
			return transport.Command{Script: "set -e\nt=$(mktemp " + dir + "/.tend.XXXXXX)\ntrap 'rm -f \"$t\"' EXIT\ncat > \"$t\"\nchmod 0644 \"$t\"\nmv -f \"$t\" " + p + "\ntrap - EXIT\n", Stdin: bytes.NewReader(content)}
		}, "mkdir -p " + dir},
	}
	for _, perRun := range []bool{false, true} {
		mode := "worker"
		if perRun {
			mode = "session per Run"
		}
		tr, err := ssh.Dial(context.Background(), h, ssh.Options{SessionPerRun: perRun})
		if err != nil {
			fmt.Fprintln(os.Stderr, "rtt:", err)
			return 1
		}
		for _, s := range scripts {
			ctx := context.Background()
			if s.setup != "" {
				transport.Output(ctx, tr, transport.Command{Script: s.setup})
			}
			transport.Output(ctx, tr, s.cmd(0)) // warm: the worker exists
			cpu0 := hostCPU(*cg)
			start := time.Now()
			for i := 0; i < *n; i++ {
				if _, err := transport.Output(ctx, tr, s.cmd(i)); err != nil {
					fmt.Fprintln(os.Stderr, "rtt:", err)
					return 1
				}
			}
			d := time.Since(start) / time.Duration(*n)
			line := fmt.Sprintf("%-16s %-32s %7.2f ms/Run", mode, s.name, float64(d.Microseconds())/1000)
			if cpu0 >= 0 {
				line += fmt.Sprintf("  host CPU %6.2f ms/Run", float64(hostCPU(*cg)-cpu0)/1000/float64(*n))
			}
			fmt.Println(line)
		}
		st := tr.Stats()
		fmt.Printf("%-16s stats %+v\n", mode, st)
		tr.Close()
	}
	return 0
}

// hostCPU is the usage_usec of a cgroup, or -1.
func hostCPU(cg string) int64 {
	if cg == "" {
		return -1
	}
	b, err := os.ReadFile(filepath.Join(cg, "cpu.stat"))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		var v int64
		if _, err := fmt.Sscanf(l, "usage_usec %d", &v); err == nil {
			return v
		}
	}
	return -1
}
