package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/tendhq/tend/cli"
)

// profileMain runs the tend command line in-process (the same code as the
// binary) under the CPU profiler, and optionally writes a heap profile at
// the end, for finding where the controller spends its time:
//
//	go run ./integration/bench profile -cpu cpu.pprof -- plan -C DIR
//	go tool pprof -top cpu.pprof
func profileMain(args []string) int {
	fs := flag.NewFlagSet("profile", flag.ContinueOnError)
	cpu := fs.String("cpu", "cpu.pprof", "CPU profile output")
	heap := fs.String("heap", "", "heap profile output (after the run)")
	repeat := fs.Int("repeat", 1, "run the command this many times (more samples)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	f, err := os.Create(*cpu)
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return 1
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return 1
	}
	code := 0
	start := time.Now()
	for i := 0; i < *repeat; i++ {
		code = cli.Run(context.Background(), fs.Args(), cli.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
	}
	pprof.StopCPUProfile()
	fmt.Fprintf(os.Stderr, "profile: %d run(s) in %s, exit %d\n", *repeat, time.Since(start).Round(time.Millisecond), code)
	if *heap != "" {
		h, err := os.Create(*heap)
		if err == nil {
			runtime.GC()
			_ = pprof.WriteHeapProfile(h)
			h.Close()
		}
	}
	return code
}
