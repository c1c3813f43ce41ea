package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/engine"
	"github.com/tendhq/tend/hostlist"
	"github.com/tendhq/tend/inventory"
	"github.com/tendhq/tend/journal"
	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/redact"
	"github.com/tendhq/tend/transport"
	"github.com/tendhq/tend/transport/ssh"
)

// ExitUsage is the exit code of a command line tend run cannot make
// sense of (a missing command, flags that exclude each other).
const ExitUsage = 2

// confirmAboveEnv sets --confirm-above for every tend run of a shell
// (a team's profile): ask before running as root on more hosts.
const confirmAboveEnv = "TEND_RUN_CONFIRM_ABOVE"

// Outcomes of a host in an ad-hoc run. A host that ran the command has
// an exit status (success is 0, failed any other); the others do not.
const (
	adhocSuccess     = "success"
	adhocFailed      = "failed"
	adhocUnreachable = "unreachable"
	adhocTimedOut    = "timed_out"
	adhocError       = "error"
	adhocInterrupted = "interrupted"
	adhocNotStarted  = "not_started"
)

// connectHook, when set (by tests), wraps the connector of tend run.
var connectHook func(plan.Connector) plan.Connector

// adhoc is the state of one tend run command line.
type adhoc struct {
	common
	script       string
	timeout      time.Duration
	noGroup      bool
	asJSON       bool
	stdin        bool
	yes          bool
	confirm      bool
	confirmAbove int
	become       bool
	becomeUser   string
}

func adhocCmd(io IO) *cobra.Command {
	a := &adhoc{common: common{io: io}}
	cmd := &cobra.Command{
		Use: "run PATTERN [--] COMMAND...",
		Example: `  tend run web -- uname -r
  tend run 'web:&prod' --timeout 30s 'systemctl is-active nginx'
  tend run all --script checks/disk.sh
  tend run db --no-group -- tail -n 3 /var/log/syslog`,
		Short: "Run a command on every host a pattern selects, in parallel, with identical answers folded",
		Long: `Run a command (POSIX sh; PowerShell on WinRM hosts), or a script file
with --script, on every host PATTERN selects, in parallel, over the
transports and connection settings apply uses (inventory, ssh config,
become). The command travels on the connection's input, never on a
command line on the host. The command's input is empty unless --stdin
gives it tend's.

Hosts whose output and exit status are identical are shown as one block
headed by their compact list (web[01-03,07],db1), largest group first;
--no-group prints each line prefixed by its host instead, each host as
it finishes. A summary counts hosts by exit status and lists those that
could not run it (unreachable, timed out). Exit status: 0 when every host
ran the command and it exited 0, 1 otherwise, 2 for a bad command line.

Every run is journaled (tend runs, tend show RUN-ID): who ran what, when,
on which hosts, each host's exit status and keyed digests of its output
(not the output). Known secret values are redacted from the output.

tend run asks nothing by default. With --confirm-above N (or
TEND_RUN_CONFIRM_ABOVE=N) it asks first when the command would run as
root (a root login, or become root) on more than N hosts; --confirm is
--confirm-above 0; -y answers yes. tend run does not take the hosts'
run lock: it works while an apply holds them.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.run(cmd, args)
		},
	}
	cmd.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageError(cmd, io.ui, flagHint(cmd, err).Error())
	})
	a.addConfigFlags(cmd)
	addJSONFlag(cmd, io)
	// The pattern is an argument; no configuration is loaded.
	for _, name := range []string{"target", "var", "var-file"} {
		_ = cmd.Flags().MarkHidden(name)
	}
	f := cmd.Flags()
	f.StringVar(&a.script, "script", "", "run this script file (POSIX sh; PowerShell on WinRM hosts) instead of a command")
	f.DurationVar(&a.timeout, "timeout", 0, "bound each host's connection and command (e.g. 30s; 0: no bound); a host past it is stopped and reported as timed out")
	f.BoolVar(&a.noGroup, "no-group", false, "print each output line prefixed by its host, each host as it finishes, instead of folding identical answers")
	f.BoolVar(&a.stdin, "stdin", false, "give tend's standard input to the command on every host (read once, sent to each)")
	f.BoolVarP(&a.yes, "yes", "y", false, "answer yes to the confirmation --confirm-above asks for")
	f.BoolVar(&a.confirm, "confirm", false, "ask before running as root on any host (as --confirm-above 0)")
	f.IntVar(&a.confirmAbove, "confirm-above", -1, "ask before running as root on more than N hosts (-1: as "+confirmAboveEnv+" says, else never)")
	f.BoolVar(&a.become, "become", false, "become another user on every host (sudo, or the inventory's become method), whatever the inventory says")
	f.StringVar(&a.becomeUser, "become-user", "", "the user --become becomes (default root)")
	return cmd
}

// usageError prints a command line mistake with the command's usage and
// returns exit status 2.
func usageError(cmd *cobra.Command, ui *jsonUI, msg string) error {
	const usage = "Usage: tend run PATTERN [--] COMMAND...\n       tend run PATTERN --script FILE\nSee tend run --help."
	if ui.active() {
		ui.diagnostic("error", msg, usage)
		return &exitError{ExitUsage}
	}
	w := cmd.ErrOrStderr()
	fmt.Fprintf(w, "Error: %s\n%s\n", msg, usage)
	return &exitError{ExitUsage}
}

// adhocHost is one host's part of an ad-hoc run.
type adhocHost struct {
	host     *inventory.Host
	root     bool
	outcome  string
	exit     *int
	stdout   []byte
	stderr   []byte
	err      string
	started  time.Time
	finished time.Time
}

func (a *adhoc) run(cmd *cobra.Command, args []string) error {
	io := a.io
	if _, err := a.runStore(cmd); err != nil {
		return err
	}
	a.asJSON = io.ui.active()
	// The command line: PATTERN, then the command's words (joined with
	// spaces, as ssh joins them), after -- or not.
	dash := cmd.ArgsLenAtDash()
	switch {
	case len(args) == 0 || dash == 0:
		return usageError(cmd, io.ui, "no host pattern: give one before the command (tend run all -- uptime)")
	case dash > 1:
		return usageError(cmd, io.ui, fmt.Sprintf("one host pattern before --, not %d words (%s); to select several, join them with commas or colons (web,db)", dash, strings.Join(args[:dash], " ")))
	case cmd.Flags().Changed("target"):
		return usageError(cmd, io.ui, "tend run takes the host pattern as its first argument, not --target")
	case cmd.Flags().Changed("var") || cmd.Flags().Changed("var-file"):
		return usageError(cmd, io.ui, "tend run reads the inventory, not the configuration: --var and --var-file do not apply")
	}
	pattern, words := args[0], args[1:]
	command := strings.Join(words, " ")
	switch {
	case a.script != "" && len(words) > 0:
		return usageError(cmd, io.ui, "give a command or --script FILE, not both")
	case a.script == "" && strings.TrimSpace(command) == "":
		return usageError(cmd, io.ui, "no command: give one after the host pattern (tend run "+pattern+" -- uptime) or --script FILE")
	case a.timeout < 0:
		return usageError(cmd, io.ui, fmt.Sprintf("--timeout %s: want a positive duration, or 0 for none", a.timeout))
	case a.parallel < 1:
		return usageError(cmd, io.ui, fmt.Sprintf("--parallel %d: want 1 or more", a.parallel))
	case a.becomeUser != "" && !a.become:
		return usageError(cmd, io.ui, "--become-user needs --become")
	case a.asJSON && a.noGroup:
		return usageError(cmd, io.ui, "--json prints each host's result on its own; --no-group does not apply")
	}
	threshold, err := a.threshold(cmd)
	if err != nil {
		return usageError(cmd, io.ui, err.Error())
	}
	script := command
	var scriptSum string
	if a.script != "" {
		b, err := os.ReadFile(a.script)
		if err != nil {
			return fmt.Errorf("--script: %w", err)
		}
		if len(bytes.TrimSpace(b)) == 0 {
			return fmt.Errorf("--script %s: the file is empty", a.script)
		}
		sum := sha256.Sum256(b)
		script, scriptSum = string(b), hex.EncodeToString(sum[:])
	}

	a.target = pattern
	l, err := a.load(false)
	if err != nil {
		var ee *exitError
		if !errors.As(err, &ee) && strings.HasPrefix(err.Error(), "--target ") {
			// The pattern is an argument here, not a flag.
			return errors.New("host pattern " + strings.TrimPrefix(err.Error(), "--target "))
		}
		return err
	}
	hosts := make([]*adhocHost, len(l.hosts))
	var root []string
	for i, h := range l.hosts {
		if a.become {
			hc := *h
			hc.Become, hc.BecomeUser = true, a.becomeUser
			h = &hc
		}
		hosts[i] = &adhocHost{host: h, root: runsAsRoot(h)}
		if hosts[i].root {
			root = append(root, h.Name)
		}
	}
	if threshold >= 0 && len(root) > threshold && !a.yes {
		what := "the command"
		if a.script != "" {
			what = "the script " + a.script
		}
		switch {
		case a.asJSON:
			return a.fail(fmt.Sprintf("refusing to run as root on more than %d hosts without confirmation: %s would run as root on %s (%s); pass -y to run it (--json never asks)",
				threshold, what, plural(len(root), "host", "hosts"), hostlist.Fold(root)))
		case a.stdin:
			return a.fail(fmt.Sprintf("refusing to run as root on more than %d hosts without confirmation: %s would run as root on %s (%s), and --stdin gives tend's input to the command; pass -y to run it",
				threshold, what, plural(len(root), "host", "hosts"), hostlist.Fold(root)))
		}
		q := fmt.Sprintf("Run %s as root on %s (%s)?", what, plural(len(root), "host", "hosts"), hostlist.Fold(root))
		if !a.common.confirm(cmd.Context(), q, "Cancelled; nothing was run.",
			fmt.Sprintf("Error: refusing to run as root on more than %d hosts without confirmation: this is not a terminal. Pass -y to run it.", threshold)) {
			return &exitError{ExitError}
		}
	}
	var input []byte
	if a.stdin {
		if input, err = readInput(io.Stdin); err != nil {
			return fmt.Errorf("--stdin: %w", err)
		}
	}

	j, run, err := a.startRun(cmd.Context(), "run", a.dir, func(r *journal.Run) {
		r.Target = pattern
		r.AdHoc = &journal.AdHoc{Command: redact.Default.String(command), Script: a.script, ScriptSHA256: scriptSum,
			Timeout: a.timeout, Stdin: a.stdin, Become: a.become, BecomeUser: a.becomeUser}
		for _, h := range hosts {
			r.Hosts = append(r.Hosts, &journal.Host{Name: h.host.Name})
		}
	})
	if err != nil {
		return fmt.Errorf("the run could not be journaled; nothing was run: %w", err)
	}
	out := newAdhocOutput(a, run.ID, hosts)
	if a.asJSON {
		io.ui.emit("run", map[string]any{"run_id": run.ID, "journal": j.Path()})
	}

	connect := a.connector()
	if connectHook != nil {
		connect = connectHook(connect)
	}
	var stopping atomic.Bool
	var journalErr error
	var jmu sync.Mutex
	a.io.sig.running(func() { stopping.Store(true) }, "the run ends (hosts not started yet are reported as not started)",
		fmt.Sprintf("  tend show %s\n", run.ID))
	engine.Each(a.parallel, len(hosts), func(i int) {
		h := hosts[i]
		jmu.Lock()
		jerr := journalErr
		jmu.Unlock()
		switch {
		case jerr != nil:
			h.outcome, h.err = adhocNotStarted, "not started: the journal could not record the run: "+jerr.Error()
		case stopping.Load():
			h.outcome, h.err = adhocNotStarted, "not started: interrupted"
		default:
			a.runHost(cmd.Context(), connect, h, script, input)
		}
		if err := j.UpdateHost(i, func(jh *journal.Host) {
			jh.Outcome, jh.Error = h.outcome, h.err
			jh.Result = h.record()
		}); err != nil {
			jmu.Lock()
			if journalErr == nil {
				journalErr = err
			}
			jmu.Unlock()
		}
		out.hostDone(h)
	})
	a.io.sig.done()
	ok := true
	for _, h := range hosts {
		ok = ok && h.outcome == adhocSuccess
	}
	outcome := adhocSuccess
	if !ok {
		outcome = adhocFailed
	}
	if err := j.Update(func(r *journal.Run) {
		r.Outcome, r.Finished = outcome, time.Now().UTC()
	}); err != nil && journalErr == nil {
		journalErr = err
	}
	_ = j.Close()
	out.finish(outcome, j.Path())
	if journalErr != nil {
		return a.fail(fmt.Sprintf("the journal of run %s could not record the run: %v", run.ID, journalErr))
	}
	if !ok {
		return &exitError{ExitError}
	}
	return nil
}

// threshold is the number of root hosts beyond which to ask: the flags,
// else the environment; -1 never asks.
func (a *adhoc) threshold(cmd *cobra.Command) (int, error) {
	switch {
	case cmd.Flags().Changed("confirm-above"):
		if a.confirmAbove < 0 {
			return 0, fmt.Errorf("--confirm-above %d: want 0 or more", a.confirmAbove)
		}
		return a.confirmAbove, nil
	case a.confirm:
		return 0, nil
	}
	v, ok := os.LookupEnv(confirmAboveEnv)
	if !ok || strings.TrimSpace(v) == "" {
		return -1, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s=%q: want a number of hosts, 0 or more", confirmAboveEnv, v)
	}
	return n, nil
}

// readInput reads what --stdin gives every host.
func readInput(r io.Reader) ([]byte, error) {
	if r == nil {
		return nil, nil
	}
	return io.ReadAll(r)
}

// runsAsRoot says whether commands run as root on h, from its inventory
// entry: become root, a root login (ssh's default user included), a
// local tend run by root. WinRM admits administrators only by default:
// its hosts count as root.
func runsAsRoot(h *inventory.Host) bool {
	if h.Become && h.Transport != "local" && h.Transport != "" {
		return h.BecomeUser == "" || h.BecomeUser == "root"
	}
	switch h.Transport {
	case "local", "":
		return os.Geteuid() == 0
	case "winrm":
		return true
	case "ssh":
		if h.User != "" {
			return h.User == "root"
		}
		u, err := ssh.LoginUser(h, ssh.Options{})
		return err == nil && u == "root"
	}
	return false
}

// runHost connects to one host and runs the script, within --timeout.
func (a *adhoc) runHost(ctx context.Context, connect plan.Connector, h *adhocHost, script string, input []byte) {
	hctx := ctx
	if a.timeout > 0 {
		var cancel context.CancelFunc
		hctx, cancel = context.WithTimeout(ctx, a.timeout)
		defer cancel()
	}
	h.started = time.Now()
	defer func() { h.finished = time.Now() }()
	stopped := func(err error) bool {
		switch {
		case ctx.Err() != nil:
			h.outcome, h.err = adhocInterrupted, "interrupted"
		case hctx.Err() != nil:
			h.outcome, h.err = adhocTimedOut, fmt.Sprintf("timed out after %s", a.timeout)
		default:
			return false
		}
		if err != nil {
			h.err += ": " + err.Error()
		}
		return true
	}
	t, err := connect(hctx, h.host)
	if err != nil {
		if !stopped(err) {
			h.outcome, h.err = adhocUnreachable, err.Error()
		}
		return
	}
	defer t.Close()
	c := transport.Command{Script: script}
	if input != nil {
		c.Stdin = bytes.NewReader(input)
	}
	res, err := t.Run(hctx, c)
	if err != nil {
		if !stopped(nil) {
			h.outcome, h.err = adhocError, err.Error()
			if errors.Is(err, transport.ErrConnLost) {
				h.outcome = adhocUnreachable
			}
		}
		return
	}
	status := res.ExitStatus
	h.exit, h.stdout, h.stderr = &status, res.Stdout, res.Stderr
	h.outcome = adhocSuccess
	if status != 0 {
		h.outcome = adhocFailed
	}
}

// record is the host's result as the journal keeps it.
func (h *adhocHost) record() *journal.CommandResult {
	return &journal.CommandResult{ExitStatus: h.exit, Root: h.root, Stdout: outputDigest(h.stdout), Stderr: outputDigest(h.stderr),
		Started: h.started.UTC(), Finished: h.finished.UTC()}
}

// outputDigest describes an output by its length and keyed digest: the
// output may hold secrets, which a plain digest would let be guessed.
func outputDigest(b []byte) journal.OutputDigest {
	d := journal.OutputDigest{Bytes: len(b)}
	if len(b) > 0 {
		m := redact.KeyedHash()
		m.Write(b)
		d.Digest = redact.KeyedPrefix + hex.EncodeToString(m.Sum(nil))
	}
	return d
}

// outputGroup is the hosts that gave one answer: the same exit status,
// standard output and standard error.
type outputGroup struct {
	hosts  []string
	exit   int
	stdout []byte
	stderr []byte
}

// groupOutputs folds the hosts that ran the command by identical answers,
// largest group first (then by exit status, then by first host).
func groupOutputs(hosts []*adhocHost) []*outputGroup {
	byKey := map[string]*outputGroup{}
	var groups []*outputGroup
	for _, h := range hosts {
		if h.exit == nil {
			continue
		}
		k := fmt.Sprintf("%d\x00%d\x00%s\x00%s", *h.exit, len(h.stdout), h.stdout, h.stderr)
		g := byKey[k]
		if g == nil {
			g = &outputGroup{exit: *h.exit, stdout: h.stdout, stderr: h.stderr}
			byKey[k] = g
			groups = append(groups, g)
		}
		g.hosts = append(g.hosts, h.host.Name)
	}
	for _, g := range groups {
		sort.Strings(g.hosts)
	}
	sort.SliceStable(groups, func(i, j int) bool {
		gi, gj := groups[i], groups[j]
		if len(gi.hosts) != len(gj.hosts) {
			return len(gi.hosts) > len(gj.hosts)
		}
		if gi.exit != gj.exit {
			return gi.exit < gj.exit
		}
		return gi.hosts[0] < gj.hosts[0]
	})
	return groups
}

// writeGroups prints each group as ClusterShell's -b does: a header with
// the folded host list and the host count (and the exit status when not
// 0) between rules, then the output; standard error follows standard
// output under a "--- stderr" line.
func writeGroups(w io.Writer, groups []*outputGroup, color bool) {
	for _, g := range groups {
		head := fmt.Sprintf("%s (%d)", hostlist.Fold(g.hosts), len(g.hosts))
		if g.exit != 0 {
			head += fmt.Sprintf(" exit %d", g.exit)
		}
		rule := strings.Repeat("-", max(15, len(head)))
		if color {
			head = "\x1b[1m" + head + "\x1b[0m"
		}
		fmt.Fprintf(w, "%s\n%s\n%s\n", rule, head, rule)
		if len(g.stdout) == 0 && len(g.stderr) == 0 {
			fmt.Fprintln(w, "(no output)")
			continue
		}
		writeText(w, g.stdout)
		if len(g.stderr) > 0 {
			fmt.Fprintln(w, "--- stderr")
			writeText(w, g.stderr)
		}
	}
}

// writeText writes b, ending its last line.
func writeText(w io.Writer, b []byte) {
	if len(b) == 0 {
		return
	}
	_, _ = w.Write(b)
	if b[len(b)-1] != '\n' {
		fmt.Fprintln(w)
	}
}

// writePrefixed writes each line of b prefixed by the host's name, padded
// to width.
func writePrefixed(w io.Writer, name string, width int, b []byte) {
	if len(b) == 0 {
		return
	}
	var sb strings.Builder
	for _, line := range strings.SplitAfter(strings.TrimSuffix(string(b), "\n"), "\n") {
		fmt.Fprintf(&sb, "%-*s %s", width+1, name+":", line)
		if !strings.HasSuffix(line, "\n") {
			sb.WriteByte('\n')
		}
	}
	_, _ = io.WriteString(w, sb.String())
}

// summaryLines are the run's summary: hosts counted by exit status, with
// their folded lists, then each host that did not run the command to its
// end, with why.
func summaryLines(hosts []*adhocHost) []string {
	byExit := map[int][]string{}
	byOutcome := map[string][]string{}
	var exits []int
	for _, h := range hosts {
		if h.exit != nil {
			if byExit[*h.exit] == nil {
				exits = append(exits, *h.exit)
			}
			byExit[*h.exit] = append(byExit[*h.exit], h.host.Name)
			continue
		}
		byOutcome[h.outcome] = append(byOutcome[h.outcome], h.host.Name)
	}
	sort.Ints(exits)
	var parts []string
	for _, e := range exits {
		parts = append(parts, fmt.Sprintf("%d exit %d (%s)", len(byExit[e]), e, hostlist.Fold(byExit[e])))
	}
	for _, o := range []string{adhocUnreachable, adhocTimedOut, adhocError, adhocInterrupted, adhocNotStarted} {
		if ns := byOutcome[o]; len(ns) > 0 {
			parts = append(parts, fmt.Sprintf("%d %s (%s)", len(ns), strings.ReplaceAll(o, "_", " "), hostlist.Fold(ns)))
		}
	}
	lines := []string{fmt.Sprintf("%s: %s.", plural(len(hosts), "host", "hosts"), strings.Join(parts, ", "))}
	for _, h := range hosts {
		if h.exit == nil {
			lines = append(lines, fmt.Sprintf("  %s: %s: %s", h.host.Name, strings.ReplaceAll(h.outcome, "_", " "), h.err))
		}
	}
	return lines
}

// adhocOutput prints a run's results: grouped at the end, prefixed lines
// as hosts finish, or JSON lines.
type adhocOutput struct {
	a     *adhoc
	runID string
	hosts []*adhocHost
	width int
	mu    sync.Mutex
	ui    *jsonUI
}

func newAdhocOutput(a *adhoc, runID string, hosts []*adhocHost) *adhocOutput {
	o := &adhocOutput{a: a, runID: runID, hosts: hosts}
	for _, h := range hosts {
		o.width = max(o.width, len(h.host.Name)+1)
	}
	if a.asJSON {
		o.ui = a.io.ui
	}
	return o
}

// hostDone reports one host's result as it finishes.
func (o *adhocOutput) hostDone(h *adhocHost) {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case o.ui != nil:
		m := map[string]any{"run_id": o.runID, "host": h.host.Name, "outcome": h.outcome,
			"stdout": string(h.stdout), "stderr": string(h.stderr), "root": h.root,
			"duration_ns": h.finished.Sub(h.started).Nanoseconds()}
		if h.exit != nil {
			m["exit_status"] = *h.exit
		}
		if h.err != "" {
			m["error"] = h.err
		}
		if h.started.IsZero() {
			m["duration_ns"] = 0
		}
		o.ui.emit("command_result", m)
	case o.a.noGroup:
		name := h.host.Name
		writePrefixed(o.a.io.Stdout, name, o.width-1, h.stdout)
		writePrefixed(o.a.io.Stderr, name, o.width-1, h.stderr)
		switch {
		case h.exit == nil:
			fmt.Fprintf(o.a.io.Stderr, "%-*s ! %s: %s\n", o.width, name+":", strings.ReplaceAll(h.outcome, "_", " "), h.err)
		case *h.exit != 0:
			fmt.Fprintf(o.a.io.Stderr, "%-*s ! exit %d\n", o.width, name+":", *h.exit)
		}
	}
}

// finish prints the groups (unless streamed) and the summary.
func (o *adhocOutput) finish(outcome, journalPath string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ui != nil {
		exits := map[string]int{}
		others := map[string][]string{}
		for _, h := range o.hosts {
			if h.exit != nil {
				exits[strconv.Itoa(*h.exit)]++
			} else {
				others[h.outcome] = append(others[h.outcome], h.host.Name)
			}
		}
		m := map[string]any{"run_id": o.runID, "outcome": outcome, "hosts": len(o.hosts), "exit_statuses": exits}
		for k, v := range others {
			m[k] = v
		}
		o.ui.emit("command_summary", m)
		o.ui.set("result", outcome)
		o.ui.set("run_id", o.runID)
		return
	}
	w := o.a.io.Stdout
	if groups := groupOutputs(o.hosts); !o.a.noGroup && len(groups) > 0 {
		writeGroups(w, groups, o.a.color())
		fmt.Fprintln(w)
	}
	for _, l := range summaryLines(o.hosts) {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintf(w, "Run %s journaled in %s\n", o.runID, journalPath)
}
