package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/tendhq/tend/inventory"
	"github.com/tendhq/tend/lang"
	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/resources/builtin"
	"github.com/tendhq/tend/transport"
)

// errCaptured stops a plan once its probe script is recorded.
var errCaptured = errors.New("probe script captured")

// recorder is a transport that records the first script it is asked to
// run instead of running it.
type recorder struct {
	mu     sync.Mutex
	script *string
}

func (r *recorder) Run(_ context.Context, cmd transport.Command) (*transport.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if *r.script == "" {
		*r.script = cmd.Script
	}
	return nil, errCaptured
}

func (r *recorder) Close() error { return nil }

// probeScripts returns, by host address (address:port for a host with a
// port), the probe script (facts and
// every resource's probe) tend's planner sends to each host for the
// configuration in dir with the inventory at invPath: the floor runs the
// very same bytes.
func probeScripts(dir, invPath string) (map[string]string, error) {
	cfg, diags := lang.Load(dir, builtin.Types())
	if diags.HasErrors() {
		return nil, diags
	}
	vars, diags := cfg.Values(lang.VarInputs{Env: []string{}})
	if diags.HasErrors() {
		return nil, diags
	}
	inv, diags := inventory.Load([]string{invPath}, nil)
	if diags.HasErrors() {
		return nil, diags
	}
	var mu sync.Mutex
	scripts := map[string]*string{}
	p := &plan.Planner{Config: cfg, Vars: vars, Inventory: inv, Connect: func(_ context.Context, h *inventory.Host) (transport.Transport, error) {
		s := new(string)
		key := h.Address
		if h.Port != 0 {
			key = net.JoinHostPort(h.Address, strconv.Itoa(h.Port))
		}
		mu.Lock()
		scripts[key] = s
		mu.Unlock()
		return &recorder{script: s}, nil
	}}
	if _, diags := p.Plan(context.Background(), inv.Hosts()); diags.HasErrors() {
		return nil, diags
	}
	out := map[string]string{}
	for addr, s := range scripts {
		if *s == "" {
			return nil, fmt.Errorf("no probe script captured for %s", addr)
		}
		out[addr] = *s
	}
	return out, nil
}

// probeScriptMain prints the probe script tend would send to one host of
// the configuration in -C (its inventory.hcl), for measuring what a probe
// costs the host:
//
//	go run ./integration/bench probe-script -C DIR -host lab1 > probe.sh
func probeScriptMain(args []string) int {
	fs := flag.NewFlagSet("probe-script", flag.ContinueOnError)
	dir := fs.String("C", ".", "configuration directory (with inventory.hcl)")
	host := fs.String("host", "", "host name (default: the first)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	inv := filepath.Join(*dir, "inventory.hcl")
	scripts, err := probeScripts(*dir, inv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe-script:", err)
		return 1
	}
	loaded, diags := inventory.Load([]string{inv}, nil)
	if diags.HasErrors() {
		fmt.Fprintln(os.Stderr, "probe-script:", diags.Error())
		return 1
	}
	for _, h := range loaded.Hosts() {
		if *host == "" || h.Name == *host {
			fmt.Print(scripts[h.Address])
			return 0
		}
	}
	fmt.Fprintln(os.Stderr, "probe-script: no host", *host)
	return 1
}
