package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/apply"
	"github.com/tendhq/tend/journal"
	"github.com/tendhq/tend/lang"
	"github.com/tendhq/tend/plan"
)

func applyCmd(io IO) *cobra.Command {
	c := &common{io: io}
	var yes, asJSON bool
	var onFailure string
	var rf rolloutFlags
	cmd := &cobra.Command{
		Use:   "apply [PLANFILE]",
		Short: "Make the changes a plan shows, on every targeted host in parallel",
		Long: `Plan, ask for confirmation, then apply. With PLANFILE (from plan --out), apply
exactly that plan: it is refused as stale when a host's state or the
configuration changed since it was made.

Without a terminal, apply refuses to run unless -y is given.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch onFailure {
			case apply.Rollback, apply.Stop, apply.Continue:
			default:
				return fmt.Errorf("--on-failure must be rollback, stop or continue, not %q", onFailure)
			}
			var saved *plan.Saved
			if len(args) == 1 {
				s, err := plan.Load(args[0])
				if err != nil {
					return err
				}
				saved = s
				if cmd.Flags().Changed("chdir") || cmd.Flags().Changed("inventory") || cmd.Flags().Changed("target") || cmd.Flags().Changed("var-file") {
					return fmt.Errorf("a saved plan carries its configuration directory, inventory, target and variable files; do not give them again")
				}
				c.dir, c.inventories, c.target, c.varFiles = s.Inputs.ConfigDir, s.Inputs.Inventories, s.Inputs.Target, s.Inputs.VarFiles
				c.vars = append(append([]string{}, s.Inputs.Vars...), c.vars...)
			}
			l, err := c.load(true)
			if err != nil {
				return err
			}
			ro, err := rf.rollout(cmd, l.cfg)
			if err != nil {
				return err
			}
			pl, err := c.makePlan(cmd, l)
			defer closeAll(pl)
			if err != nil {
				return err
			}
			r := &plan.Renderer{W: io.Stdout, Color: c.color()}
			if saved != nil {
				if stale := plan.Stale(saved.Plan, pl); len(stale) > 0 {
					fmt.Fprintf(io.Stderr, "Error: the saved plan %s is stale; nothing was applied:\n", args[0])
					for _, s := range stale {
						fmt.Fprintf(io.Stderr, "  - %s\n", s)
					}
					fmt.Fprintln(io.Stderr, "Run tend plan again.")
					return &exitError{ExitError}
				}
			} else if !asJSON {
				r.Plan(pl)
			}
			if !pl.HasChanges() {
				if asJSON {
					fmt.Fprintln(io.Stdout, `{"event":"no_changes"}`)
				} else if saved != nil {
					fmt.Fprintln(io.Stdout, r.Summary(pl))
				}
				if pl.HasErrors() {
					return &exitError{ExitError}
				}
				return nil
			}
			if saved == nil && !yes {
				if !io.IsTerminal {
					fmt.Fprintln(io.Stderr, "Error: refusing to apply without confirmation: this is not a terminal. Review the plan and pass -y, or apply a saved plan (tend plan --out FILE; tend apply FILE).")
					return &exitError{ExitError}
				}
				fmt.Fprint(io.Stdout, "Apply these changes? Only 'yes' is accepted: ")
				line, _ := bufio.NewReader(io.Stdin).ReadString('\n')
				if strings.TrimSpace(line) != "yes" {
					fmt.Fprintln(io.Stdout, "Apply cancelled; nothing was changed.")
					return &exitError{ExitError}
				}
			}
			return c.runApply(cmd, l, pl, onFailure, asJSON, ro)
		},
	}
	c.addConfigFlags(cmd)
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "apply without asking")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print events as JSON lines")
	rf.add(cmd)
	cmd.Flags().StringVar(&onFailure, "on-failure", apply.Rollback, "when a change fails on a host: rollback (revert the host's applied changes), stop (keep them), continue (go on with changes not depending on it)")
	return cmd
}

func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return os.Getenv("USER")
}

func (c *common) runApply(cmd *cobra.Command, l *loaded, pl *plan.Plan, onFailure string, asJSON bool, ro *lang.Rollout) error {
	io := c.io
	now := time.Now()
	runID := journal.NewID(now)
	j, err := journal.Create(c.dir, &journal.Run{ID: runID, Command: "apply", Started: now.UTC(), User: currentUser(),
		ConfigDir: l.cfg.Dir, Target: c.target, Outcome: "running"})
	if err != nil {
		return err
	}
	defer j.Close()
	var enc *json.Encoder
	if asJSON {
		enc = json.NewEncoder(io.Stdout)
		_ = enc.Encode(map[string]string{"event": "run", "run_id": runID, "journal": j.Path()})
	} else {
		fmt.Fprintf(io.Stdout, "\nApplying (run %s)\n", runID)
	}
	opts := apply.Options{
		RunID: runID, OnFailure: onFailure, Parallel: c.parallel, Journal: j, Env: l.cfg.Env(),
		Events: func(e apply.Event) {
			if enc != nil {
				_ = enc.Encode(e)
				return
			}
			printEvent(c, e)
		},
	}
	var res *apply.Result
	if ro != nil {
		if ro.HealthCheck != nil {
			opts.HealthCheck = healthCheck(ro.HealthCheck)
		}
		res = c.runRollout(cmd.Context(), l, pl, ro, opts, j)
	} else {
		res = apply.Apply(cmd.Context(), pl, opts)
	}
	outcome := "success"
	if !res.OK() {
		outcome = "failed"
	}
	_ = j.Update(func(r *journal.Run) { r.Outcome, r.Finished = outcome, time.Now().UTC() })
	if asJSON {
		_ = enc.Encode(map[string]any{"event": "summary", "run_id": runID, "outcome": outcome})
	} else {
		printApplySummary(c, res, onFailure, runID, j.Path())
	}
	if !res.OK() {
		return &exitError{ExitError}
	}
	return nil
}

func printEvent(c *common, e apply.Event) {
	r := &plan.Renderer{Color: c.color()}
	_ = r
	w := c.io.Stdout
	switch e.Kind {
	case apply.EvDone:
		fmt.Fprintf(w, "  %s: %s %s %s (%s)\n", e.Host, e.Action.Symbol(), e.Address, past(e.Action), e.Duration.Round(time.Millisecond))
	case apply.EvRefreshed:
		fmt.Fprintf(w, "  %s: ~ %s refreshed\n", e.Host, e.Address)
	case apply.EvFailed:
		if e.Address == "" {
			fmt.Fprintf(w, "  %s: ! %s\n", e.Host, e.Error)
		} else {
			fmt.Fprintf(w, "  %s: ! %s failed: %s\n", e.Host, e.Address, e.Error)
		}
	case apply.EvSkipped:
		fmt.Fprintf(w, "  %s: - %s skipped: %s\n", e.Host, e.Address, e.Error)
	case apply.EvHealthy:
		fmt.Fprintf(w, "  %s: health check passed\n", e.Host)
	case apply.EvUnhealthy:
		fmt.Fprintf(w, "  %s: ! %s\n", e.Host, e.Error)
	case apply.EvReverted:
		fmt.Fprintf(w, "  %s: ↶ %s reverted\n", e.Host, e.Address)
	case apply.EvRevertFailed:
		fmt.Fprintf(w, "  %s: ! %s could not be reverted: %s\n", e.Host, e.Address, e.Error)
	case apply.EvNotReverted:
		fmt.Fprintf(w, "  %s: ! %s not reverted: %s\n", e.Host, e.Address, e.Error)
	}
}

func past(a plan.Action) string {
	switch a {
	case plan.Create:
		return "created"
	case plan.Update:
		return "updated"
	case plan.Delete:
		return "removed"
	case plan.Replace:
		return "replaced"
	}
	return string(a)
}

func printApplySummary(c *common, res *apply.Result, onFailure, runID, journalPath string) {
	w := c.io.Stdout
	applied, ok := 0, 0
	var bad, notStarted []string
	for _, h := range res.Hosts {
		applied += h.Applied
		switch h.Outcome {
		case "success":
			ok++
		case "unreachable":
			bad = append(bad, fmt.Sprintf("%s (unreachable: %s)", h.Name, h.Err))
		case "rolled_back":
			bad = append(bad, fmt.Sprintf("%s (failed, rolled back %s: %s)", h.Name, plural(h.Reverted, "change", "changes"), h.Err))
		case "unhealthy":
			bad = append(bad, fmt.Sprintf("%s (unhealthy, %s stay applied: %s)", h.Name, plural(h.Applied, "change", "changes"), h.Err))
		case "not_started":
			notStarted = append(notStarted, h.Name)
			continue
		case "partial":
			bad = append(bad, fmt.Sprintf("%s (failed; %s applied before the failure stay applied (--on-failure %s): %s)",
				h.Name, plural(h.Applied, "change", "changes"), onFailure, h.Err))
		default:
			extra := ""
			if h.NotReverted > 0 {
				extra = fmt.Sprintf(", %s could not be reverted; once the host is reachable: tend rollback %s --target %s",
					plural(h.NotReverted, "change", "changes"), runID, h.Name)
			}
			bad = append(bad, fmt.Sprintf("%s (failed%s: %s)", h.Name, extra, h.Err))
		}
	}
	fmt.Fprintln(w)
	if len(bad) == 0 {
		fmt.Fprintf(w, "Apply complete: %s on %s.\n", plural(applied, "change", "changes"), plural(ok, "host", "hosts"))
	} else {
		fmt.Fprintf(w, "Apply failed on %d of %d hosts; %d succeeded.\n", len(bad), len(res.Hosts), ok)
		for _, b := range bad {
			fmt.Fprintf(w, "  %s\n", b)
		}
	}
	if len(notStarted) > 0 {
		fmt.Fprintf(w, "Not started: %s.\n", strings.Join(notStarted, ", "))
	}
	fmt.Fprintf(w, "Run %s journaled in %s\n", runID, journalPath)
}
