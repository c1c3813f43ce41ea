package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"
	"github.com/zclconf/go-cty/cty"
	"golang.org/x/term"

	"github.com/tendhq/tend/backend"
	"github.com/tendhq/tend/inventory"
	"github.com/tendhq/tend/journal"
	"github.com/tendhq/tend/lang"
	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/redact"
	"github.com/tendhq/tend/resources/builtin"
	"github.com/tendhq/tend/transport/ssh"
	"github.com/tendhq/tend/vault"
)

// Version is set at build time with -ldflags "-X github.com/tendhq/tend/cli.Version=...".
var Version = "0.1.0-dev"

// Exit codes, as Terraform's plan -detailed-exitcode uses them.
const (
	ExitOK      = 0
	ExitError   = 1
	ExitChanges = 2
)

// exitError carries an exit code through cobra.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// IO is where a command reads and writes; tests replace it.
type IO struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// IsTerminal reports whether Stdin and Stdout are a terminal (prompts,
	// color, progress).
	IsTerminal bool
	// Signals, when set, delivers SIGINT and SIGTERM: the first stops a
	// run from starting new changes, the second stops it at once (see
	// interrupts). Without it, cancelling Run's context stops at once.
	Signals <-chan os.Signal

	sig *interrupts
	// ui is the command line's JSON output, written when --json is given.
	ui *jsonUI
	// backends are the backend connections opened, closed at the end.
	backends *backends
}

// Main runs the tend command line and returns the exit code.
func Main(args []string) int {
	stdinTTY := term.IsTerminal(int(os.Stdin.Fd()))
	stdoutTTY := term.IsTerminal(int(os.Stdout.Fd()))
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	// A closed stdout (tend apply | head) must not kill tend in the middle
	// of a run or its rollback: with SIGPIPE caught, writes fail instead,
	// and output is best effort while the run goes on to its end.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	return Run(context.Background(), args, IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, IsTerminal: stdinTTY && stdoutTTY, Signals: sigs})
}

// Run runs the command line with the given IO.
func Run(ctx context.Context, args []string, io IO) int {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Every byte tend prints goes through the run's redactor: the last
	// line of defence, by value, should a secret reach a message.
	stdout, stderr := redact.Default.Writer(io.Stdout), redact.Default.Writer(io.Stderr)
	redact.SetDigestKeySource(journal.DigestKey)
	defer stderr.Flush()
	defer stdout.Flush()
	io.Stdout, io.Stderr = stdout, stderr
	if io.Stdin != nil {
		io.Stdin = &flushingReader{r: io.Stdin, w: []*redact.Writer{stdout, stderr}}
	}
	if io.Signals != nil {
		io.sig = &interrupts{cancel: cancel, w: io.Stderr}
		go func() {
			for {
				select {
				case s := <-io.Signals:
					io.sig.signal(s)
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	io.ui = &jsonUI{w: io.Stdout}
	io.backends = &backends{}
	defer io.backends.closeAll()
	root := newRoot(io)
	root.SetArgs(longFlags(args))
	root.SetIn(io.Stdin)
	root.SetOut(io.Stdout)
	root.SetErr(io.Stderr)
	root.SetContext(ctx)
	cmd, err := root.ExecuteC()
	code := ExitOK
	var ee *exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.code
	default:
		code = ExitError
		if io.ui.on || wantsJSON(args) {
			io.ui.diagnostic("error", err.Error(), "")
		} else {
			fmt.Fprintf(io.Stderr, "Error: %s\n", err)
		}
	}
	// With --json every command ends with its outcome, even one that
	// failed before it could say anything else.
	if io.ui.on || (err != nil && ee == nil && wantsJSON(args)) {
		name := "tend"
		if cmd != nil {
			name = cmd.Name()
		}
		io.ui.outcome(name, code)
	}
	return code
}

// flushingReader passes on what the redacting writers hold back before
// reading: a prompt without a line end is shown before tend waits for
// the answer.
type flushingReader struct {
	r io.Reader
	w []*redact.Writer
}

func (f *flushingReader) Read(p []byte) (int, error) {
	for _, w := range f.w {
		_ = w.Flush()
	}
	return f.r.Read(p)
}

// longFlags accepts Terraform-style single-dash long flags (-var, -out,
// -check, -detailed-exitcode, ...) by rewriting them to the double-dash
// form; single-letter flags keep one dash.
func longFlags(args []string) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' {
			name, _, _ := strings.Cut(a[1:], "=")
			if len(name) > 1 {
				a = "-" + a
			}
		}
		out = append(out, a)
	}
	return out
}

// common holds the flags shared by commands that load configuration.
type common struct {
	io          IO
	dir         string
	inventories []string
	target      string
	vars        []string
	varFiles    []string
	noColor     bool
	parallel    int
	acceptNew   bool
	connectRate connectRateFlag // --connect-rate
	planOnly    bool            // the plan is not applied: close each host's connection once planned
	jumpsOnce   sync.Once
	jumps       *ssh.JumpHosts // bastion connections shared by this command's hosts
	lockTimeout time.Duration
	vaultIDs    []string // --vault-id
	vaultFiles  []string // --vault-password-file
	resources   []string // --resource
	replace     []string // --replace

	// outputs writes --metrics-file and --events (addRunOutputs).
	outputs *runOutputs

	// store is where runs are journaled (runStore); pg is it when it
	// is the PostgreSQL backend, and hold the host leases taken there
	// for runID, the ID reserved for the run about to start.
	store journal.Store
	pg    *backend.Postgres
	hold  *backend.Hold
	runID string
	// html writes --html (addHTMLReport).
	html *htmlReport
}

// addTargetingFlags adds --resource and --replace (plan and apply).
func (c *common) addTargetingFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringArrayVar(&c.resources, "resource", nil, "plan only this resource address (TYPE.NAME or TYPE.NAME[\"key\"]) and what it depends on or notifies (repeatable)")
	f.StringArrayVar(&c.replace, "replace", nil, "plan this resource address as replaced, made again from its configuration even when it matches (repeatable)")
}

// addRunFlags adds the flags of commands that change hosts.
func (c *common) addRunFlags(cmd *cobra.Command) {
	cmd.Flags().DurationVar(&c.lockTimeout, "lock-timeout", 0, "how long to wait for a host another run holds (0: fail at once, naming the holder)")
}

func (c *common) color() bool {
	if c.noColor || os.Getenv("NO_COLOR") != "" {
		return false
	}
	return c.io.IsTerminal
}

func (c *common) addConfigFlags(cmd *cobra.Command) {
	c.addLoadFlags(cmd, true)
	c.addConnectFlags(cmd)
}

// addLoadFlags adds the flags that say what configuration, variables and
// inventory to read; vars adds -var and -var-file.
func (c *common) addLoadFlags(cmd *cobra.Command, vars bool) {
	f := cmd.Flags()
	f.StringVarP(&c.dir, "chdir", "C", ".", "configuration directory")
	f.StringArrayVarP(&c.inventories, "inventory", "i", nil, "inventory file (repeatable; default: inventory.hcl in the configuration directory, else localhost)")
	f.StringVarP(&c.target, "target", "t", "all", "host pattern selecting the hosts to act on")
	if vars {
		f.StringArrayVar(&c.vars, "var", nil, "set a variable: -var name=value (repeatable)")
		f.StringArrayVar(&c.varFiles, "var-file", nil, "read variables from an HCL file (repeatable)")
	}
	f.BoolVar(&c.noColor, "no-color", false, "disable color (also NO_COLOR)")
	f.StringArrayVar(&c.vaultIDs, "vault-id", nil, "Ansible Vault password: [label@]FILE, a password file or an executable printing it (repeatable)")
	f.StringArrayVar(&c.vaultFiles, "vault-password-file", nil, "Ansible Vault password file or script (repeatable; also ANSIBLE_VAULT_PASSWORD_FILE)")
}

// addConnectFlags adds the flags of commands that connect to hosts.
func (c *common) addConnectFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.IntVar(&c.parallel, "parallel", 32, "hosts handled at once")
	f.BoolVar(&c.acceptNew, "accept-new-host-keys", false, "record unknown SSH host keys instead of refusing them (a changed key is still refused)")
	f.Var(&c.connectRate, "connect-rate", "open at most N new host connections a second (N/s or N/m), each at a random point of its slot (0: no limit)")
}

// vaultKeyring returns the Ansible Vault passwords the flags name, and
// makes them the ones secret("vault:...") uses. Nothing is read until
// vault data is met.
func (c *common) vaultKeyring() (*vault.Keyring, error) {
	k, err := vault.NewKeyring(vault.OptionsFromEnv(c.vaultIDs, c.vaultFiles))
	if err != nil {
		return nil, err
	}
	vault.SetDefault(k)
	return k, nil
}

func newRoot(io IO) *cobra.Command {
	root := &cobra.Command{
		Use:           "tend",
		Short:         "Agentless configuration management: plan and apply desired state over SSH and WinRM",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       Version,
	}
	root.SetFlagErrorFunc(flagHint)
	root.PersistentFlags().String("backend", "", "where runs are journaled: files (the configuration directory's .tend/runs) or a postgres:// URL; else TEND_BACKEND, else the configuration's backend block, else files")
	root.AddCommand(
		validateCmd(io), fmtCmd(io), inventoryCmd(io), factsCmd(io), planCmd(io),
		applyCmd(io), driftCmd(io), patchCmd(io), adhocCmd(io), runsCmd(io), rollbackCmd(io), resumeCmd(io), showCmd(io), versionCmd(io),
		locksCmd(io), backendCmd(io),
	)
	return root
}

func versionCmd(io IO) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print tend's version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, args []string) {
			if !io.ui.active() { // the version message says it
				fmt.Fprintf(io.Stdout, "tend %s\n", Version)
			}
		},
	}
	addJSONFlag(cmd, io)
	return cmd
}

// loaded is configuration, variables and inventory, ready to plan.
type loaded struct {
	cfg   *lang.Config
	vars  map[string]cty.Value
	inv   *inventory.Inventory
	files map[string]*hcl.File
	hosts []*inventory.Host
}

// diagsPrinter prints diagnostics the way HCL does, with source snippets.
func (c *common) printDiags(files map[string]*hcl.File, diags hcl.Diagnostics) {
	if len(diags) == 0 {
		return
	}
	if c.io.ui.active() {
		c.io.ui.diagnostics(files, diags)
		return
	}
	writeDiags(c.io.Stderr, files, diags, c.color())
}

// inventoryPaths returns the inventory files to read.
func (c *common) inventoryPaths() []string {
	if len(c.inventories) > 0 {
		return c.inventories
	}
	p := filepath.Join(c.dir, "inventory.hcl")
	if _, err := os.Stat(p); err == nil {
		return []string{p}
	}
	return nil
}

// load reads configuration, variables and inventory, and selects the
// target hosts. Diagnostics are printed; a non-nil error means exit 1.
func (c *common) load(needConfig bool) (*loaded, error) {
	l := &loaded{files: map[string]*hcl.File{}}
	var diags hcl.Diagnostics
	keys, err := c.vaultKeyring()
	if err != nil {
		return nil, err
	}
	if needConfig {
		cfg, ds := lang.Load(c.dir, builtin.Types())
		diags = append(diags, ds...)
		if cfg != nil {
			for k, v := range cfg.Parser.Files() {
				l.files[k] = v
			}
		}
		if ds.HasErrors() {
			c.printDiags(l.files, diags)
			return nil, &exitError{ExitError}
		}
		l.cfg = cfg
		vars, ds := cfg.Values(lang.VarInputs{Flags: c.vars, Files: c.varFiles})
		diags = append(diags, ds...)
		for k, v := range cfg.Parser.Files() {
			l.files[k] = v
		}
		if ds.HasErrors() {
			c.printDiags(l.files, diags)
			return nil, &exitError{ExitError}
		}
		l.vars = vars
	}
	invPaths := c.inventoryPaths()
	if len(invPaths) == 0 {
		l.inv = inventory.Localhost()
	} else {
		var secrets *lang.Secrets // the configuration's, when loaded: one resolution per run
		if l.cfg != nil {
			secrets = l.cfg.Secrets
		}
		ectx := &hcl.EvalContext{Functions: lang.Functions(c.dir, secrets)}
		inv, ds := inventory.LoadContext(context.Background(), invPaths, inventory.Options{EvalContext: ectx, Vault: keys})
		diags = append(diags, ds...)
		for k, v := range inv.Files() {
			l.files[k] = v
		}
		if ds.HasErrors() {
			c.printDiags(l.files, diags)
			return nil, &exitError{ExitError}
		}
		l.inv = inv
	}
	l.inv = l.inv.WithFacts(c.facts())
	hosts, err := l.inv.SelectString(c.target)
	if err != nil {
		c.printDiags(l.files, diags)
		if l.cfg != nil && l.cfg.Resource(plan.ResourceOf(c.target)) != nil {
			return nil, fmt.Errorf("--target %q: %w (--target selects hosts; to plan one resource use --resource %s)", c.target, err, c.target)
		}
		return nil, fmt.Errorf("--target %q: %w", c.target, err)
	}
	c.printDiags(l.files, diags)
	if len(hosts) == 0 {
		return nil, fmt.Errorf("--target %q selects no hosts", c.target)
	}
	l.hosts = hosts
	return l, nil
}

// planner returns a planner for the loaded configuration.
func (c *common) planner(l *loaded) *plan.Planner {
	return &plan.Planner{Config: l.cfg, Vars: l.vars, Inventory: l.inv, Connect: c.connector(), Parallel: c.parallel,
		Resources: c.resources, Replace: c.replace, CloseEach: c.planOnly}
}

// closeAll closes every host connection of a plan.
func closeAll(p *plan.Plan) {
	if p == nil {
		return
	}
	for _, h := range p.Hosts {
		if h.T != nil {
			h.T.Close()
		}
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// flagHint adds, to an unknown flag's error, the flag tend has for what
// a Terraform or Ansible habit reached for.
func flagHint(cmd *cobra.Command, err error) error {
	msg := err.Error()
	name := ""
	switch {
	case strings.HasPrefix(msg, "unknown flag: --"):
		name, _, _ = strings.Cut(strings.TrimPrefix(msg, "unknown flag: --"), "=")
	case strings.HasPrefix(msg, "unknown shorthand flag: '"):
		name = strings.TrimPrefix(msg, "unknown shorthand flag: '")
		name, _, _ = strings.Cut(name, "'")
	default:
		return err
	}
	hint := ""
	switch name {
	case "auto-approve":
		if cmd.Flags().Lookup("yes") != nil {
			hint = "did you mean -y (--yes)?"
		} else {
			hint = fmt.Sprintf("tend %s never asks for approval", cmd.Name())
		}
	case "check":
		hint = "to see what would change without changing anything, use tend plan"
	case "limit", "l":
		if cmd.Flags().Lookup("target") != nil {
			hint = "tend selects hosts with --target PATTERN (-t), in Ansible's pattern syntax"
		}
	}
	if hint == "" {
		return err
	}
	return fmt.Errorf("%w; %s", err, hint)
}
