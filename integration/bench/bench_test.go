package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/integration/lab"
	"github.com/tendhq/tend/lang"
	"github.com/tendhq/tend/resources/builtin"
)

// TestMain lets the test binary stand in for the benchmark's own binary:
// the harness runs its floor as a child process of itself (os.Executable),
// which in a test is this binary.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "floor" {
		os.Exit(floorMain(os.Args[2:]))
	}
	os.Exit(m.Run())
}

// TestWorkloadConfigs: the tend configurations the benchmark writes load
// without diagnostics and declare the resources the workloads promise,
// with every W1 type available (none falls back to exec).
func TestWorkloadConfigs(t *testing.T) {
	all := typeSupport{}
	for _, ty := range w1Types {
		all[ty] = true
	}
	for _, name := range []string{"w1", "w2-100"} {
		w, err := parseWorkload(name)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		if err := writeTend(dir, w, all); err != nil {
			t.Fatal(err)
		}
		cfg, diags := lang.Load(dir, builtin.Types())
		if diags.HasErrors() {
			t.Fatalf("%s: %s", name, diags.Error())
		}
		if got := len(cfg.Resources); got == 0 {
			t.Fatalf("%s: no resources", name)
		}
		if w.label(all) != map[string]string{"w1": "W1", "w2-100": "W2-100 (100 files)"}[name] {
			t.Errorf("%s: label %q", name, w.label(all))
		}
		if err := writeAnsible(t.TempDir(), w, []hostInfo{{"h1", "127.0.10.1"}}, "/key", "/known"); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFloorApplyScript: the floor's fresh apply is a valid sh script that
// writes W1's contents as tend's template renders them (every expression
// replaced) and, for W2, one printf per file.
func TestFloorApplyScript(t *testing.T) {
	if c := w1Content("app03", 3, "h1"); strings.Contains(c, "${") || !strings.Contains(c, "port    = 8003\n") || !strings.Contains(c, "cache_mb    = 256\n") {
		t.Errorf("w1Content:\n%s", c)
	}
	for _, name := range []string{"w1", "w2-100"} {
		w, err := parseWorkload(name)
		if err != nil {
			t.Fatal(err)
		}
		s := floorApplyScript(w, "h1")
		cmd := exec.Command("/bin/sh", "-n")
		cmd.Stdin = strings.NewReader(s)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: sh -n: %v: %s", name, err, out)
		}
		want := 25
		if w.kind == "w2" {
			want = 100
		}
		if got := strings.Count(s, "\nprintf %s "); got != want {
			t.Errorf("%s: %d files written, want %d", name, got, want)
		}
	}
}

// TestCheck: a run's output is checked against what its scenario
// promises, for tend and for Ansible's recap.
func TestCheck(t *testing.T) {
	tests := map[string]struct {
		tool, scenario, out string
		bad                 bool
	}{
		"tend no-op":             {"tend", "noop-plan", "No changes. 2 of 2 hosts match the configuration.\n", false},
		"tend not no-op":         {"tend", "noop-apply", "Plan: 1 to add, 0 to change, 0 to remove on 1 of 2 hosts\n", true},
		"tend drift":             {"tend", "drift", "Apply complete: 1 change on 2 hosts.\n", false},
		"tend drift two":         {"tend", "drift", "Apply complete: 2 changes on 2 hosts.\n", true},
		"ansible no-op":          {"ansible", "noop-plan", "a : ok=3 changed=0 unreachable=0 failed=0\nb : ok=3 changed=0 unreachable=0 failed=0\n", false},
		"ansible changed":        {"ansible", "noop-apply", "a : ok=3 changed=1 unreachable=0 failed=0\nb : ok=3 changed=0 unreachable=0 failed=0\n", true},
		"ansible failed":         {"ansible", "fresh", "a : ok=3 changed=1 unreachable=0 failed=1\nb : ok=3 changed=0 unreachable=0 failed=0\n", true},
		"ansible drift one host": {"ansible", "drift", "a : ok=3 changed=1 unreachable=0 failed=0\nb : ok=3 changed=0 unreachable=0 failed=0\n", false},
		"ansible missing host":   {"ansible", "drift", "a : ok=3 changed=1 unreachable=0 failed=0\n", true},
	}
	for name, tc := range tests {
		if got := check(tc.tool, tc.scenario, 2, []byte(tc.out)); (got != "") != tc.bad {
			t.Errorf("%s: check = %q, want a problem: %t", name, got, tc.bad)
		}
	}
}

// TestSmoke runs the harness end to end at its smallest: W1 on one lab
// host, one run of each scenario (adhoc included), tend and the Go floors only (Ansible
// takes minutes; the full benchmark is not a test). Every run must
// succeed, and tend must use one connection, and one exec session for a
// plan (two for a fresh apply: the probe's, and its changes' worker).
func TestSmoke(t *testing.T) {
	lab.Required(t)
	opts, err := parseFlags([]string{"-fleets", "1", "-workloads", "w1", "-runs", "1",
		"-scenarios", "fresh,noop-plan,adhoc", "-tools", "tend,floor,floor-probe,floor-apply", "-out", filepath.Join(t.TempDir(), "results.md")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	b, err := run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.cells) != 1 || b.cells[0].label != "W1" {
		t.Fatalf("cells: %+v", b.cells)
	}
	c := b.cells[0]
	for _, sc := range opts.scenarios {
		for _, tool := range opts.tools {
			ms := c.runs[sc][tool]
			if freshOnly(tool) && sc != "fresh" || sc == "adhoc" && !adhocTool(tool) {
				if len(ms) != 0 {
					t.Errorf("%s %s: ran %d times, want only in fresh", sc, tool, len(ms))
				}
				continue
			}
			if len(ms) != 1 || ms[0].Err != "" || ms[0].Wall <= 0 {
				t.Errorf("%s %s: %+v", sc, tool, ms)
			}
		}
		// The probe in a session of its own, then (fresh) the host's run
		// lock in one and one worker for every change; tend run's worker.
		execs := map[string]float64{"fresh": 3, "noop-plan": 1, "adhoc": 1}[sc]
		if m := c.runs[sc]["tend"]; len(m) == 1 && (m[0].Conns != 1 || m[0].Execs != execs) {
			t.Errorf("%s: tend used %v connections and %v exec sessions per host, want 1 and %v", sc, m[0].Conns, m[0].Execs, execs)
		}
	}
	if r := b.report(machine()); !strings.Contains(r, "| W1 | 1 | noop-plan | tend |") {
		t.Errorf("report lacks tend's no-op plan row:\n%s", r)
	}
}

// TestWinRMCellSmoke runs the WinRM cell once: tend's plan and pywinrm's
// run of the same probe script against the WS-Management test server,
// both checked (plan finds the one change; pywinrm gets the answer), and
// the table printed with a ratio.
func TestWinRMCellSmoke(t *testing.T) {
	lab.Required(t)
	var out strings.Builder
	if err := runWinRMCell(1, "", "/usr/bin/python3", &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "| pywinrm, same probe script |") || strings.Contains(out.String(), "NaN") {
		t.Errorf("table:\n%s", out.String())
	}
}
