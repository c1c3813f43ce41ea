package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/tendhq/tend/integration/lab"
	"github.com/tendhq/tend/shell"
)

// cell is one workload on one fleet: every scenario's measurements.
type cell struct {
	w     workload
	label string
	hosts int
	// runs[scenario][tool] holds one measurement per run; a run that was
	// skipped (over the Ansible budget) is missing from the end.
	runs map[string]map[string][]Measurement
	// notes[scenario][tool] are problems seen (a "no-op" that changed
	// something, a failed run).
	notes map[string]map[string][]string
	// skipped are the tools not run in this cell (too slow to be worth it).
	skipped []string
}

// hostInfo is what the Ansible inventory needs of a host.
type hostInfo struct{ name, address string }

// cellEnv is the files one cell's tools run from.
type cellEnv struct {
	w          workload
	n          int
	tendDir    string
	ansibleDir string
	addrs      []string
	scripts    string // directory of ADDRESS.sh probe scripts
	applies    string // directory of ADDRESS.sh floor-apply scripts
	home       string
}

func (b *bench) setupCell(w workload, n int) (*cellEnv, error) {
	base := filepath.Join(b.tmp, fmt.Sprintf("%s-%d", w.name, n))
	e := &cellEnv{
		w:          w,
		n:          n,
		tendDir:    filepath.Join(base, "tend"),
		ansibleDir: filepath.Join(base, "ansible"),
		scripts:    filepath.Join(base, "scripts"),
		applies:    filepath.Join(base, "floor-apply"),
		home:       filepath.Join(base, "home"),
	}
	for _, d := range []string{e.tendDir, e.ansibleDir, e.scripts, e.applies, filepath.Join(e.home, ".ssh")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	idx := make([]int, n)
	var hosts []hostInfo
	for i := range idx {
		idx[i] = i + 1
		h := b.lab.Host(i + 1)
		hosts = append(hosts, hostInfo{h.Name, h.Address})
		e.addrs = append(e.addrs, h.Address)
	}
	if err := writeTend(e.tendDir, w, b.types); err != nil {
		return nil, err
	}
	// The handshake's budget is the Go floor's (30 s), not tend's default
	// of 10 s: with 50 lab hosts handshaking and probing at once on two
	// cores, a handshake can wait longer than that for a CPU.
	sshCfg := filepath.Join(e.tendDir, "ssh_config")
	if err := os.WriteFile(sshCfg, []byte("# integration/bench: the floor's handshake budget.\nHost *\n  ConnectTimeout 30\n"), 0o644); err != nil {
		return nil, err
	}
	inv := filepath.Join(e.tendDir, "inventory.hcl")
	if err := b.lab.WriteInventory(inv, lab.InventoryHosts(idx...), lab.InventoryGroups("bench"), lab.InventorySSHConfig(sshCfg)); err != nil {
		return nil, err
	}
	if w.kind == "big" {
		// One file, timed against scp and the login floor only.
		return e, nil
	}
	if err := writeAnsible(e.ansibleDir, w, hosts, b.lab.ClientKeyFile(), b.lab.KnownHostsFile()); err != nil {
		return nil, err
	}
	for _, h := range hosts {
		if err := os.WriteFile(filepath.Join(e.applies, h.address+".sh"), []byte(floorApplyScript(w, h.name)), 0o644); err != nil {
			return nil, err
		}
	}
	scripts, err := probeScripts(e.tendDir, inv)
	if err != nil {
		return nil, fmt.Errorf("capture tend's probe scripts: %w", err)
	}
	for addr, s := range scripts {
		if err := os.WriteFile(filepath.Join(e.scripts, addr+".sh"), []byte(s), 0o644); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// applies reports whether tool changes hosts (and so needs a reset before a
// fresh apply, and a converged state before a no-op).
func applies(tool string) bool {
	return isTend(tool) || strings.HasPrefix(tool, "ansible") || tool == "floor-apply" || tool == "scp"
}

// freshOnly reports whether tool has only a fresh apply: the floor of a
// fresh apply and scp write without looking, so they have no no-op or
// drift run.
func freshOnly(tool string) bool { return tool == "floor-apply" || tool == "scp" }

// isTend reports whether tool is a build of tend (tend or tend-base: the
// same configuration and resources).
func isTend(tool string) bool { return tool == "tend" || tool == "tend-base" }

// command returns the command line tool runs for scenario.
func (b *bench) command(ctx context.Context, tool, scenario string, e *cellEnv) *exec.Cmd {
	var cmd *exec.Cmd
	n := fmt.Sprint(e.n)
	sshArgs := []string{"-F", "/dev/null", "-i", b.lab.ClientKeyFile(), "-o", "IdentitiesOnly=yes",
		"-o", "UserKnownHostsFile=" + b.lab.KnownHostsFile(), "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ControlPath=none",
		"-o", "LogLevel=ERROR", "-l", "root"}
	if scenario == "adhoc" {
		return b.adhocCommand(ctx, tool, e, sshArgs)
	}
	switch tool {
	case "tend", "tend-base":
		bin := b.tendBin
		if tool == "tend-base" {
			bin = b.opts.baseBin
		}
		if scenario == "noop-plan" {
			cmd = exec.CommandContext(ctx, bin, "plan", "-C", e.tendDir, "--parallel", n, "--no-color")
		} else {
			cmd = exec.CommandContext(ctx, bin, "apply", "-C", e.tendDir, "-y", "--parallel", n, "--no-color")
		}
	case "ansible", "ansible-facts":
		book := "site.yml"
		if tool == "ansible-facts" {
			book = "site-facts.yml"
		}
		args := []string{book}
		if scenario == "noop-plan" {
			args = []string{"--check", book}
		}
		cmd = exec.CommandContext(ctx, "ansible-playbook", args...)
		cmd.Dir = e.ansibleDir
		// A control directory of its own each run: every run starts cold,
		// as tend's do (ControlPersist still shares one connection per
		// host within the run).
		cp, _ := os.MkdirTemp(b.tmp, "cp-")
		cmd.Env = append(os.Environ(), "ANSIBLE_CONFIG="+filepath.Join(e.ansibleDir, "ansible.cfg"),
			"ANSIBLE_SSH_CONTROL_PATH_DIR="+cp, "ANSIBLE_LOCAL_TEMP="+cp, "HOME="+e.home, "ANSIBLE_NOCOLOR=1")
	case "floor", "floor-probe", "floor-apply":
		args := []string{"floor", "-key", b.lab.ClientKeyFile(), "-known-hosts", b.lab.KnownHostsFile()}
		switch tool {
		case "floor-probe":
			args = append(args, "-scripts", e.scripts)
		case "floor-apply":
			args = append(args, "-scripts", e.applies)
		}
		cmd = exec.CommandContext(ctx, b.self, append(args, e.addrs...)...)
	case "scp":
		// OpenSSH's scp (the sftp protocol since OpenSSH 9.0) of the big
		// workload's file to every host at once, one connection each.
		args := append([]string{"-P", n, "-I{}", "scp", "-q"}, sshArgs[:len(sshArgs)-2]...) // not -l root
		args = append(args, filepath.Join(e.tendDir, bigFile), "root@{}:"+e.w.dir("scp")+"/"+bigFile)
		cmd = exec.CommandContext(ctx, "xargs", args...)
		cmd.Stdin = strings.NewReader(strings.Join(e.addrs, "\n") + "\n")
	case "openssh":
		cmd = exec.CommandContext(ctx, "xargs", append([]string{"-P", n, "-I{}", "ssh"}, append(sshArgs, "{}", "true")...)...)
		cmd.Stdin = strings.NewReader(strings.Join(e.addrs, "\n") + "\n")
	case "openssh-probe":
		// sh only redirects the host's own script into ssh.
		sh := "exec ssh " + shell.Join(sshArgs...) + ` "$1" /bin/sh -s < ` + shell.Quote(e.scripts) + `/"$1".sh`
		cmd = exec.CommandContext(ctx, "xargs", "-P", n, "-n", "1", "sh", "-c", sh, "sh")
		cmd.Stdin = strings.NewReader(strings.Join(e.addrs, "\n") + "\n")
	}
	if cmd.Env == nil {
		cmd.Env = append(os.Environ(), "HOME="+e.home, "NO_COLOR=1")
	}
	return cmd
}

var recapRE = regexp.MustCompile(`(?m)^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)`)

// check looks at a run's output for what the scenario promises: a no-op
// changes nothing, a drift run fixes one resource on one host.
func check(tool, scenario string, n int, out []byte) string {
	s := string(out)
	if scenario == "adhoc" {
		return checkAdhoc(tool, n, s)
	}
	switch {
	case isTend(tool):
		switch scenario {
		case "noop-apply", "noop-plan":
			if !strings.Contains(s, fmt.Sprintf("No changes. %d of %d hosts", n, n)) {
				return "not a no-op: " + lastLines(s, 3)
			}
		case "drift":
			if !strings.Contains(s, "Apply complete: 1 change ") {
				return "drift did not apply exactly 1 change: " + lastLines(s, 3)
			}
		case "fresh":
			if !strings.Contains(s, "Apply complete:") {
				return "fresh apply incomplete: " + lastLines(s, 3)
			}
		}
	case strings.HasPrefix(tool, "ansible"):
		recap := recapRE.FindAllStringSubmatch(s, -1)
		if len(recap) != n {
			return fmt.Sprintf("%d hosts in the play recap, want %d", len(recap), n)
		}
		changed := 0
		for _, r := range recap {
			if r[4] != "0" || r[5] != "0" {
				return "failed or unreachable: " + r[0]
			}
			if r[3] != "0" {
				changed++
			}
		}
		switch scenario {
		case "noop-apply", "noop-plan":
			if changed != 0 {
				return fmt.Sprintf("not a no-op: %d hosts changed", changed)
			}
		case "drift":
			if changed != 1 {
				return fmt.Sprintf("drift changed %d hosts, want 1", changed)
			}
		}
	}
	return ""
}

// runCell runs every scenario of w on hosts 1..n.
func (b *bench) runCell(ctx context.Context, w workload, n int) error {
	c := &cell{w: w, label: w.label(b.types), hosts: n,
		runs: map[string]map[string][]Measurement{}, notes: map[string]map[string][]string{}}
	b.cells = append(b.cells, c)
	b.logf("== %s on %d hosts", c.label, n)
	if err := b.reset(ctx, w, n); err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	e, err := b.setupCell(w, n)
	if err != nil {
		return err
	}
	tools := b.opts.tools
	if w.kind == "big" {
		tools = nil
		for _, t := range b.opts.tools {
			if contains(bigTools, t) {
				tools = append(tools, t)
			} else {
				c.skipped = append(c.skipped, t)
			}
		}
	} else if contains(tools, "scp") {
		// scp copies the big workload's file: nothing to copy here.
		tools = nil
		for _, t := range b.opts.tools {
			if t != "scp" {
				tools = append(tools, t)
			}
		}
	}
	if w.kind != "big" && b.opts.maxWork > 0 && n*w.resources() > b.opts.maxWork {
		all := tools
		tools = nil
		for _, t := range all {
			if strings.HasPrefix(t, "ansible") {
				b.logf("%s on %d hosts: skipping %s (%d hosts × %d resources > -ansible-max-work %d)", w.name, n, t, n, w.resources(), b.opts.maxWork)
				c.skipped = append(c.skipped, t)
				continue
			}
			tools = append(tools, t)
		}
	}
	converged := false
	for _, sc := range b.opts.scenarios {
		c.runs[sc] = map[string][]Measurement{}
		c.notes[sc] = map[string][]string{}
		if sc != "fresh" && sc != "adhoc" && !converged {
			// Bring every applying tool's resources in place, untimed.
			for _, t := range tools {
				if !applies(t) || freshOnly(t) || t == "ansible-facts" && contains(b.opts.tools, "ansible") || t == "tend-base" && contains(b.opts.tools, "tend") {
					continue
				}
				if w.kind == "w2" && isTend(t) {
					// Files only: write them straight into the hosts'
					// file systems (a converging apply of 50 hosts × 500
					// files takes minutes here). The no-op checks show
					// tend agrees they are converged.
					if err := b.seedW2(w, n); err != nil {
						return fmt.Errorf("seeding %s: %w", w.name, err)
					}
					continue
				}
				cmd := b.command(ctx, t, "fresh", e)
				if isTend(t) && b.opts.convBin != "" {
					cmd.Path, cmd.Args[0] = b.opts.convBin, b.opts.convBin
				}
				if m, _ := b.cg.run(cmd); m.Err != "" {
					return fmt.Errorf("converging with %s: %s", t, m.Err)
				}
			}
			converged = true
		}
		skip := map[string]bool{}
		for r := 0; r < b.opts.runs; r++ {
			for _, t := range rotate(tools, r) {
				if skip[t] || freshOnly(t) && sc != "fresh" || sc == "adhoc" && !adhocTool(t) {
					continue
				}
				if applies(t) {
					switch sc {
					case "fresh":
						if err := b.reset(ctx, w, n); err != nil {
							return fmt.Errorf("reset: %w", err)
						}
					case "drift":
						if err := b.drift(ctx, w, t); err != nil {
							return fmt.Errorf("drift: %w", err)
						}
					}
				}
				var counter *sessionCounter
				if r == 0 {
					if counter, err = b.startCount(ctx, n); err != nil {
						return err
					}
				}
				m, out := b.cg.run(b.command(ctx, t, sc, e))
				m.Conns, m.Execs, m.SFTP = -1, -1, -1
				if counter != nil {
					time.Sleep(100 * time.Millisecond) // let journald take the last lines
					if m.Conns, m.Execs, m.SFTP, err = b.finishCount(ctx, counter); err != nil {
						return err
					}
				}
				if m.Err == "" {
					if note := check(t, sc, n, out); note != "" {
						m.Err = note
					}
				}
				if m.Err != "" {
					c.notes[sc][t] = append(c.notes[sc][t], m.Err)
					b.logf("%s %s %s run %d: %s", w.name, sc, t, r+1, m.Err)
				}
				c.runs[sc][t] = append(c.runs[sc][t], m)
				b.logf("%-8s %3d hosts %-10s %-13s run %d: %6.3fs cpu %6.3fs rss %4d MB load %.1f",
					w.name, n, sc, t, r+1, m.Wall.Seconds(), m.CPU.Seconds(), m.MaxRSS/1024, m.Load)
				if strings.HasPrefix(t, "ansible") && m.Wall > b.opts.budget {
					skip[t] = true
				}
				if ctx.Err() != nil {
					return ctx.Err()
				}
			}
		}
		if sc == "fresh" {
			converged = false // each fresh run reset the other tools' work
		}
	}
	fmt.Fprint(os.Stderr, b.cellTable(c))
	return nil
}

// rotate returns tools starting at index r, so that no tool always runs
// first (or right after another) in every run.
func rotate(tools []string, r int) []string {
	k := r % len(tools)
	return append(append([]string{}, tools[k:]...), tools[:k]...)
}

// holdCells prepares every cell, converges it with tend, prints how to
// run the tools by hand, and waits until ctx ends (Ctrl-C).
func (b *bench) holdCells(ctx context.Context) error {
	for _, w := range b.opts.workloads {
		for _, n := range b.opts.fleets {
			e, err := b.setupCell(w, n)
			if err != nil {
				return err
			}
			m, _ := b.cg.run(b.command(ctx, "tend", "fresh", e))
			if m.Err != "" {
				return fmt.Errorf("converging %s on %d hosts: %s", w.name, n, m.Err)
			}
			// A script that resets the cell's hosts, for timing fresh applies.
			var rs strings.Builder
			rs.WriteString("#!/bin/sh\n# Resets the hosts of this cell to the fresh state (integration/bench).\n")
			for i := 1; i <= n; i++ {
				fmt.Fprintf(&rs, "nsenter --target %d --all --root --wd /bin/sh -c %s &\n", b.lab.Host(i).PID, shell.Quote(resetScript(w)))
			}
			rs.WriteString("wait\n")
			reset := filepath.Join(filepath.Dir(e.tendDir), "reset.sh")
			if err := os.WriteFile(reset, []byte(rs.String()), 0o755); err != nil {
				return err
			}
			fmt.Printf("%s on %d hosts:\n  %s plan -C %s\n  (cd %s && ANSIBLE_CONFIG=ansible.cfg ansible-playbook site.yml)\n  probe scripts: %s\n  reset: %s\n",
				w.name, n, b.tendBin, e.tendDir, e.ansibleDir, e.scripts, reset)
		}
	}
	fmt.Printf("ssh %s\nCtrl-C tears the lab down.\n", strings.Join(b.lab.SSHArgs(1, "root"), " "))
	<-ctx.Done()
	return nil
}
