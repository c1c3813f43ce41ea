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
	peak := fs.String("heap-peak", "", "heap profile output, written when the live heap is at its largest during the run")
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
	stopPeak := func() {}
	if *peak != "" {
		stopPeak = samplePeak(*peak)
	}
	start := time.Now()
	for i := 0; i < *repeat; i++ {
		code = cli.Run(context.Background(), fs.Args(), cli.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
	}
	pprof.StopCPUProfile()
	stopPeak()
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

// samplePeak watches the live heap (as of the last collection) and the
// goroutines four times a second, writes a heap profile to path each time
// the heap is a tenth above the largest written, and, when stopped,
// reports the peaks.
func samplePeak(path string) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var written, peakHeap uint64
		peakG := 0
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				fmt.Fprintf(os.Stderr, "profile: peak live heap %d MB, peak goroutines %d; heap profile at the peak in %s\n", peakHeap>>20, peakG, path)
				return
			case <-tick.C:
			}
			peakG = max(peakG, runtime.NumGoroutine())
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peakHeap = max(peakHeap, ms.HeapAlloc)
			if ms.HeapAlloc > written+written/10 {
				if f, err := os.Create(path); err == nil {
					_ = pprof.WriteHeapProfile(f)
					f.Close()
					written = ms.HeapAlloc
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}
