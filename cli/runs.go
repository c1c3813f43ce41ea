package cli

import (
	"bufio"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/inventory"
	"github.com/tendhq/tend/journal"
	"github.com/tendhq/tend/lang"
	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/resources/builtin"
)

func runsCmd(io IO) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List journaled runs: when, who, target, outcome",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			runs, err := journal.List(dir)
			if err != nil {
				return err
			}
			if len(runs) == 0 {
				fmt.Fprintf(io.Stdout, "No runs journaled in %s.\n", journal.Dir(dir))
				return nil
			}
			tw := tabwriter.NewWriter(io.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RUN\tSTARTED\tUSER\tCOMMAND\tTARGET\tHOSTS\tCHANGES\tOUTCOME")
			for _, r := range runs {
				n := 0
				for _, h := range r.Hosts {
					for _, e := range h.Changes {
						if e.Status != journal.Pending && e.Status != journal.Skipped {
							n++
						}
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", r.ID, r.Started.Local().Format(time.DateTime), r.User,
					r.Command, r.Target, len(r.Hosts), n, r.Outcome)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&dir, "chdir", "C", ".", "configuration directory (runs are journaled in its .tend/runs)")
	return cmd
}

// revertible lists a run's changes on one host that rollback would revert,
// last applied first: applied ones, one interrupted while applying, and
// ones an earlier revert could not undo. Changes that can never be
// reverted (commands) are left out.
func revertible(h *journal.Host) []*journal.Entry {
	var out []*journal.Entry
	for i := len(h.Changes) - 1; i >= 0; i-- {
		e := h.Changes[i]
		if e.Irreversible != "" {
			continue
		}
		if e.Status == journal.Applied || e.Status == journal.Applying || e.Status == journal.Unknown || e.Status == journal.RevertFailed {
			out = append(out, e)
		}
	}
	return out
}

func rollbackCmd(io IO) *cobra.Command {
	c := &common{io: io}
	var yes bool
	cmd := &cobra.Command{
		Use:   "rollback RUN-ID",
		Short: "Revert the changes a finished run applied, showing the plan first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			run, err := journal.Read(c.dir, args[0])
			if err != nil {
				return err
			}
			l, err := c.load(false)
			if err != nil {
				return err
			}
			selected := map[string]bool{}
			for _, h := range l.hosts {
				selected[h.Name] = true
			}
			types := resources.ByName(builtin.Types())
			w := io.Stdout
			total := 0
			var hosts []*journal.Host
			for _, h := range run.Hosts {
				es := revertible(h)
				if len(es) == 0 || !selected[h.Name] {
					continue
				}
				hosts = append(hosts, h)
				fmt.Fprintf(w, "%s\n", h.Name)
				for _, e := range es {
					total++
					fmt.Fprintf(w, "  ↶ %s %s\n", e.Address, describeRevert(e))
				}
				for _, e := range h.Changes {
					if e.Irreversible != "" && (e.Status == journal.Applied || e.Status == journal.NotReverted) {
						fmt.Fprintf(w, "  ! %s cannot be reverted: %s\n", e.Address, e.Irreversible)
					}
				}
				fmt.Fprintln(w)
			}
			if total == 0 {
				fmt.Fprintf(w, "Run %s has no applied changes left to revert on the targeted hosts.\n", run.ID)
				return nil
			}
			fmt.Fprintf(w, "Rollback: %s of run %s on %s.\n", plural(total, "change", "changes"), run.ID, plural(len(hosts), "host", "hosts"))
			if !yes {
				if !io.IsTerminal {
					fmt.Fprintln(io.Stderr, "Error: refusing to roll back without confirmation: this is not a terminal. Review the plan above and pass -y.")
					return &exitError{ExitError}
				}
				fmt.Fprint(w, "Revert these changes? Only 'yes' is accepted: ")
				line, _ := bufio.NewReader(io.Stdin).ReadString('\n')
				if strings.TrimSpace(line) != "yes" {
					fmt.Fprintln(w, "Rollback cancelled; nothing was changed.")
					return &exitError{ExitError}
				}
			}
			now := time.Now()
			rj, err := journal.Create(c.dir, &journal.Run{ID: journal.NewID(now), Command: "rollback", Started: now.UTC(),
				User: currentUser(), ConfigDir: c.dir, Target: c.target, Outcome: "running", RevertsRun: run.ID})
			if err != nil {
				return err
			}
			defer rj.Close()
			connect := c.connector()
			failed := 0
			reverted := map[*journal.Entry]bool{}
			for _, h := range hosts {
				jh := &journal.Host{Name: h.Name, BackupDir: h.BackupDir, Outcome: "success", Changes: []*journal.Entry{}}
				ih := l.inv.Host(h.Name)
				if ih == nil {
					ih = &inventory.Host{Name: h.Name}
				}
				t, err := connect(cmd.Context(), ih)
				if err != nil {
					failed++
					jh.Outcome, jh.Error = "unreachable", err.Error()
					fmt.Fprintf(w, "  %s: ! unreachable: %s\n", h.Name, err)
					_ = rj.Update(func(r *journal.Run) { r.Hosts = append(r.Hosts, jh) })
					continue
				}
				rh := &resources.Host{Name: h.Name, T: t, RunID: run.ID, BackupDir: h.BackupDir}
				for _, e := range revertible(h) {
					ne := *e
					typ, ok := types[e.Type]
					if !ok {
						err = fmt.Errorf("unknown resource type %q", e.Type)
					} else {
						// A secret that cannot be resolved again fails only
						// the changes whose revert needs it.
						serr := resolveSecrets(e)
						err = resources.OnHost(typ, plan.IsWindows(ih)).Revert(cmd.Context(), rh, e.Before, e.After, e.Undo)
						switch {
						case err == nil || serr == nil:
						case errors.Is(err, resources.ErrSecretNeeded):
							err = fmt.Errorf("%v: set it and roll back again", serr)
						default:
							err = fmt.Errorf("%w (and %v)", err, serr)
						}
					}
					if err != nil {
						failed++
						jh.Outcome = "failed"
						ne.Status, ne.Error = journal.RevertFailed, err.Error()
						fmt.Fprintf(w, "  %s: ! %s could not be reverted: %s\n", h.Name, e.Address, err)
					} else {
						ne.Status = journal.Reverted
						e.Status = journal.Reverted
						reverted[e] = true
						fmt.Fprintf(w, "  %s: ↶ %s reverted\n", h.Name, e.Address)
					}
					jh.Changes = append(jh.Changes, &ne)
				}
				t.Close()
				_ = rj.Update(func(r *journal.Run) { r.Hosts = append(r.Hosts, jh) })
			}
			outcome := "success"
			if failed > 0 {
				outcome = "failed"
			}
			_ = rj.Update(func(r *journal.Run) { r.Outcome, r.Finished = outcome, time.Now().UTC() })
			// Mark what was reverted in the original run, so a second
			// rollback does not revert it again.
			if oj, err := journal.Open(c.dir, run); err == nil {
				for i, h := range run.Hosts {
					var ns []int
					for n, e := range h.Changes {
						if reverted[e] {
							ns = append(ns, n)
						}
					}
					if len(ns) > 0 {
						_ = oj.UpdateEntries(i, ns, func(int, *journal.Entry) {})
					}
				}
				oj.Close()
			}
			if failed > 0 {
				fmt.Fprintf(w, "\nRollback failed for %s; run %s journaled.\n", plural(failed, "change", "changes"), rj.Path())
				return &exitError{ExitError}
			}
			fmt.Fprintf(w, "\nRollback complete: %s reverted. Journaled in %s\n", plural(total, "change", "changes"), rj.Path())
			return nil
		},
	}
	c.addConfigFlags(cmd)
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "roll back without asking")
	return cmd
}

// describeRevert says what reverting a journaled change does.
func describeRevert(e *journal.Entry) string {
	if e.Before == nil || !e.Before.Present {
		return "will be removed (it did not exist before the run)"
	}
	switch e.Action {
	case plan.Delete:
		return "will be put back"
	}
	var what []string
	if e.Before.Content != nil && e.After != nil && e.After.Content != nil && e.Before.Content.SHA256 != e.After.Content.SHA256 {
		what = append(what, fmt.Sprintf("content (sha256 %.12s)", e.Before.Content.SHA256))
	}
	for _, k := range e.Before.AttrNames() {
		if k == "uid" || k == "gid" || k == "path" || e.After == nil {
			continue
		}
		if a := e.After.Attr(k); a != cty.NilVal && !a.RawEquals(e.Before.Attr(k)) {
			what = append(what, fmt.Sprintf("%s %s", k, plan.FormatValue(e.Before.Attr(k))))
		}
	}
	if len(what) == 0 {
		return "will be restored to its state before the run"
	}
	return "will be restored: " + strings.Join(what, ", ")
}

// resolveSecrets puts back the secrets a journaled change needs to be
// reverted (a database admin's password): the journal keeps the
// secret(...) reference each came from, never the value, and it is
// resolved again here, from the environment rollback runs in.
func resolveSecrets(e *journal.Entry) error {
	return errors.Join(e.Before.ResolveSecrets(lang.ResolveSecret), e.After.ResolveSecrets(lang.ResolveSecret))
}
