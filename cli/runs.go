package cli

import (
	"context"
	"errors"
	"fmt"
	stdio "io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/engine"
	"github.com/tendhq/tend/inventory"
	"github.com/tendhq/tend/journal"
	"github.com/tendhq/tend/lang"
	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/resources/builtin"
	"github.com/tendhq/tend/transport"
)

func runsCmd(io IO) *cobra.Command {
	c := &common{io: io}
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List journaled runs: when, who, target, outcome",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := c.runStore(cmd)
			if err != nil {
				return err
			}
			runs, err := st.List()
			if err != nil {
				return err
			}
			if io.ui.active() {
				for _, r := range runs {
					m := map[string]any{"run_id": r.ID, "started": r.Started, "user": r.User, "command": r.Command,
						"target": r.Target, "hosts": len(r.Hosts), "changes": runChanges(r), "outcome": r.Outcome}
					if r.RevertsRun != "" {
						m["reverts_run"] = r.RevertsRun
					}
					io.ui.emit("journaled_run", m)
				}
				return nil
			}
			if len(runs) == 0 {
				fmt.Fprintf(io.Stdout, "No runs journaled in %s.\n", st.Where())
				return nil
			}
			tw := tabwriter.NewWriter(io.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RUN\tSTARTED\tUSER\tCOMMAND\tTARGET\tHOSTS\tCHANGES\tOUTCOME")
			for _, r := range runs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", r.ID, r.Started.Local().Format(time.DateTime), r.User,
					runsLabel(r), r.Target, len(r.Hosts), runChanges(r), r.Outcome)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&c.dir, "chdir", "C", ".", "configuration directory (runs are journaled in its .tend/runs)")
	cmd.AddCommand(pruneCmd(io))
	addJSONFlag(cmd, io)
	return cmd
}

// runChanges counts the changes a run made on its hosts that stand: for
// an apply, those applied (or of unknown outcome) that no rollback
// reverted since; for a rollback, the changes it reverted.
func runChanges(r *journal.Run) int {
	n := 0
	for _, h := range r.Hosts {
		for _, e := range h.Changes {
			switch {
			case r.Command == "rollback" && e.Status == journal.Reverted:
				n++
			case r.Command != "rollback" && (e.Status == journal.Applied || e.Status == journal.Unknown || e.Status == journal.Applying):
				n++
			}
		}
	}
	return n
}

// revertible lists a run's changes on one host that rollback would
// revert, last made first: applied ones, ones whose outcome is unknown
// (the run was killed while they were being made, or a rollback while
// reverting them), and ones an earlier revert could not undo. Changes
// that can never be reverted (commands) are left out.
func revertible(h *journal.Host) []int {
	var out []int
	for i := len(h.Changes) - 1; i >= 0; i-- {
		e := h.Changes[i]
		if e.Irreversible != "" {
			continue
		}
		switch e.Status {
		case journal.Applied, journal.Applying, journal.Unknown, journal.Reverting, journal.RevertFailed:
			out = append(out, i)
		}
	}
	return out
}

func rollbackCmd(io IO) *cobra.Command {
	c := &common{io: io}
	var yes bool
	cmd := &cobra.Command{
		Use:   "rollback RUN-ID",
		Short: "Revert the changes a run made, showing what will be reverted first",
		Long: `Revert, on every host of the run (or those --target selects), the changes
the run made, newest first, each from what the journal kept: the state
before the run and its backups on the host. Changes whose outcome is
unknown (the run was killed while making them) are read back from the
host first: one never made is marked not applied, the others reverted.
A change counts as reverted only once the host was read back at its state
before the run.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := c.runStore(cmd)
			if err != nil {
				return err
			}
			run, err := st.Read(args[0])
			if err != nil {
				return err
			}
			if run.Running() {
				return fmt.Errorf("run %s is still running (pid %d on %s); wait for it to end, or stop it first", run.ID, run.PID, run.Controller)
			}
			chain := []*journal.Run{run}
			l, err := c.load(false)
			if err != nil {
				return err
			}
			selected := map[string]bool{}
			for _, h := range l.hosts {
				selected[h.Name] = true
			}
			types := resources.ByName(builtin.Types())
			secrets := lang.NewSecrets(c.dir)
			// With --json the human lines go nowhere: messages say it all.
			ui := io.ui
			w := io.Stdout
			if ui.active() {
				w = stdio.Discard
			}
			type src struct {
				run *journal.Run
				h   int
				e   int
			}
			// One RevertHost per host name (a rollout lists a host once per
			// run), each entry remembering where the run journals it.
			byName := map[string]*engine.RevertHost{}
			from := map[string][]src{}
			var order []string
			total := 0
			for _, r := range chain {
				for hi, h := range r.Hosts {
					es := revertible(h)
					if len(es) == 0 || !selected[h.Name] {
						continue
					}
					ih := l.inv.Host(h.Name)
					if ih == nil {
						ih = &inventory.Host{Name: h.Name}
					}
					rh := byName[h.Name]
					if rh == nil {
						connect := c.connector()
						rh = &engine.RevertHost{Name: h.Name, Windows: ih.Windows(), BackupDir: h.BackupDir,
							Connect: func(ctx context.Context) (transport.Transport, error) { return connect(ctx, ih) }}
						byName[h.Name] = rh
						order = append(order, h.Name)
					}
					for _, k := range es {
						re := revertEntry(r.ID, h.Changes[k], types, rh.Windows, secrets)
						rh.BackupDir = h.BackupDir
						rh.Entries = append(rh.Entries, re)
						from[h.Name] = append(from[h.Name], src{r, hi, k})
						total++
					}
				}
			}
			if total == 0 {
				if ui.active() {
					ui.set("result", "no_changes")
				}
				fmt.Fprintf(w, "Run %s has no applied changes left to revert on the targeted hosts.\n", run.ID)
				return nil
			}
			// Before the previews connect: another run holding some of
			// the hosts in the backend stops the rollback here.
			if err := c.reserveHosts(cmd, "", order); err != nil {
				return err
			}
			defer c.releaseHosts()
			var hosts []*engine.RevertHost
			tasks := map[string][]*previewTask{}
			for _, name := range order {
				rh := byName[name]
				hosts = append(hosts, rh)
				for k, re := range rh.Entries {
					if t := contentRestore(chainEntry(from[name][k].run, from[name][k].h, from[name][k].e), re, rh.Windows); t != nil {
						tasks[name] = append(tasks[name], t)
					}
				}
			}
			previews := c.previewContents(cmd.Context(), hosts, tasks)
			for _, name := range order {
				rh := byName[name]
				fmt.Fprintf(w, "%s\n", name)
				for k, re := range rh.Entries {
					e := chainEntry(from[name][k].run, from[name][k].h, from[name][k].e)
					what := describeRevert(e, re.Type)
					if re.Unknown {
						what += " (its outcome is unknown: the host is read first)"
					}
					fmt.Fprintf(w, "  ↶ %s %s\n", re.Address, what)
					if p, ok := previews[re]; ok {
						printContentPreview(w, e, p)
					}
					if re.UndoErr != nil {
						fmt.Fprintf(w, "    ! %v\n", re.UndoErr)
					}
					if ui.active() {
						m := map[string]any{"host": name, "address": re.Address, "description": what}
						if re.UndoErr != nil {
							m["error"] = re.UndoErr.Error()
						}
						ui.emit("planned_revert", m)
					}
				}
				for _, r := range chain {
					for _, h := range r.Hosts {
						if h.Name != name {
							continue
						}
						for _, e := range h.Changes {
							if e.Irreversible != "" && (e.Status == journal.Applied || e.Status == journal.NotReverted) {
								fmt.Fprintf(w, "  ! %s cannot be reverted: %s\n", e.Address, e.Irreversible)
								if ui.active() {
									ui.emit("planned_revert", map[string]any{"host": name, "address": e.Address, "irreversible": e.Irreversible})
								}
							}
						}
					}
				}
				fmt.Fprintln(w)
			}
			fmt.Fprintf(w, "Rollback: %s of run %s on %s.\n", plural(total, "change", "changes"), run.ID, plural(len(hosts), "host", "hosts"))
			if ui.active() {
				ui.emit("revert_summary", map[string]any{"reverts_run": run.ID, "changes": total, "hosts": len(hosts)})
			}
			if !yes && !c.confirm(cmd.Context(), "Revert these changes?", "Rollback cancelled; nothing was changed.", "Error: refusing to roll back without confirmation: this is not a terminal. Review the plan above and pass -y.") {
				return &exitError{ExitError}
			}
			// The runs being reverted are marked as their entries are.
			opened := map[*journal.Run]*journal.Journal{}
			for _, r := range chain {
				oj, err := st.Open(r)
				if err != nil {
					return fmt.Errorf("run %s: %w", r.ID, err)
				}
				defer oj.Close()
				opened[r] = oj
			}
			marker := &journal.Marker{Entries: map[int][]journal.Marked{}}
			for i, rh := range hosts {
				for k := range rh.Entries {
					s := from[rh.Name][k]
					marker.Entries[i] = append(marker.Entries[i], journal.Marked{J: opened[s.run], Host: s.h, Entry: s.e})
				}
			}
			rj, rrun, err := c.startRun(cmd.Context(), "rollback", c.dir, func(r *journal.Run) { r.RevertsRun = run.ID })
			if err != nil {
				return err
			}
			view, hv := c.view()
			if ui.active() {
				ui.emit("run", map[string]any{"run_id": rrun.ID, "journal": rj.Path()})
			} else {
				hv.width(order)
			}
			eng := c.newEngine(rrun, rj, l, engine.Rollback, view)
			eng.Subscribers = append(eng.Subscribers, marker)
			var res *engine.Result
			c.execute(eng, rj, engine.Stop, func() { res = eng.Revert(cmd.Context(), hosts) })
			if hv != nil {
				hv.stop()
			}
			reverted, failed := 0, 0
			for _, h := range res.Hosts {
				reverted += h.Reverted
				failed += h.NotReverted
				if h.Outcome == engine.Unreachable {
					fmt.Fprintf(w, "  %s: ! unreachable: %s\n", h.Name, h.Err)
					failed += len(byName[h.Name].Entries)
				} else if h.Outcome != engine.Success && h.NotReverted == 0 && h.Err != nil {
					failed += len(byName[h.Name].Entries)
				}
			}
			if ui.active() {
				ui.set("run_id", rrun.ID)
				ui.set("reverted", reverted)
				ui.set("not_reverted", failed)
				ui.set("hosts", hostOutcomes(res))
				if failed > 0 {
					ui.set("result", engine.Failed)
				} else {
					ui.set("result", engine.Success)
				}
			}
			if failed > 0 {
				fmt.Fprintf(w, "\nRollback failed for %s; run %s journaled in %s.\n", plural(failed, "change", "changes"), rrun.ID, rj.Path())
				return &exitError{ExitError}
			}
			fmt.Fprintf(w, "\nRollback complete: %s reverted. Journaled in %s\n", plural(reverted, "change", "changes"), rj.Path())
			return nil
		},
	}
	c.addConfigFlags(cmd)
	c.addRunFlags(cmd)
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "roll back without asking")
	addJSONFlag(cmd, io)
	c.addRunOutputs(cmd, false, true)
	return cmd
}

// revertEntry is what reverting journaled entry e of run id needs: its
// type's provider for the host, its configuration and states with the
// secrets resolved again, and its undo data decrypted.
func revertEntry(id string, e *journal.Entry, types map[string]resources.Type, windows bool, secrets *lang.Secrets) *engine.RevertEntry {
	re := &engine.RevertEntry{Address: e.Address, TypeName: e.Type, Action: e.Action, Before: e.Before, After: e.After,
		Unknown: e.Status == journal.Applying || e.Status == journal.Unknown, BackupKey: e.BackupKey, RunID: id}
	re.Undo, re.UndoErr = journal.OpenUndo(id, e.Undo)
	if typ, ok := types[e.Type]; ok {
		re.Type = resources.OnHost(typ, windows)
		re.Config = journal.DecodeConfig(typ, e.Config)
	}
	// A secret that cannot be resolved again fails only the changes
	// whose revert needs it.
	re.SecretErr = resolveSecrets(secrets, e)
	re.Config = withSecrets(re.Config, e.Before, e.After)
	if re.Type != nil && re.UndoErr == nil {
		re.Before = withSecretUndo(e.Before, re.Undo, resources.SecretUndoKeys(re.Type))
	}
	return re
}

func chainEntry(r *journal.Run, h, e int) *journal.Entry { return r.Hosts[h].Changes[e] }

// describeRevert says what reverting a journaled change of type typ
// (nil when unknown) does.
func describeRevert(e *journal.Entry, typ resources.Type) string {
	if e.Before == nil || !e.Before.Present {
		return "will be removed (it did not exist before the run)"
	}
	switch e.Action {
	case plan.Delete:
		return "will be put back"
	}
	var what []string
	if e.Before.Content != nil && e.After != nil && e.After.Content != nil && e.Before.Content.SHA256 != e.After.Content.SHA256 {
		what = append(what, "content")
	}
	// What it restores, beside the attributes naming it: what the
	// configuration can set (the schema's attributes), not what a probe
	// reads only to put back (numeric ownership).
	skip := map[string]bool{}
	if id, ok := typ.(resources.Identifier); ok {
		for _, k := range id.Identity() {
			skip[k] = true
		}
	}
	for _, k := range e.Before.AttrNames() {
		if skip[k] || e.After == nil || typ == nil || typ.Schema().Attribute(k) == nil {
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
func resolveSecrets(secrets *lang.Secrets, e *journal.Entry) error {
	return errors.Join(e.Before.ResolveSecrets(secrets.Resolve), e.After.ResolveSecrets(secrets.Resolve))
}

// withSecretUndo returns before with the sensitive attributes the journal
// left out put back from the secret undo values holding them (the
// previous password hash), so the host is checked against them: without
// them a change of the password alone would look reverted already.
func withSecretUndo(before *resources.State, undo resources.Undo, keys []string) *resources.State {
	if before == nil || !before.Present {
		return before
	}
	var out *resources.State
	for _, k := range keys {
		v, ok := undo[k]
		if _, has := before.Attrs[k]; !ok || v == "" || has {
			continue
		}
		if out == nil {
			c := *before
			c.Attrs = make(map[string]cty.Value, len(before.Attrs)+1)
			for n, a := range before.Attrs {
				c.Attrs[n] = a
			}
			out = &c
		}
		out.Attrs[k] = cty.StringVal(v).Mark(resources.Sensitive)
	}
	if out == nil {
		return before
	}
	return out
}

// withSecrets puts back into a journaled configuration (whose sensitive
// values were left out) the secrets its states resolved again, so the
// resource can be read back with them (a database admin's password).
func withSecrets(cfg cty.Value, states ...*resources.State) cty.Value {
	if cfg == cty.NilVal || !cfg.Type().IsObjectType() || cfg.IsNull() {
		return cfg
	}
	attrs := cfg.AsValueMap()
	changed := false
	for _, st := range states {
		if st == nil {
			continue
		}
		for k := range st.SecretRefs {
			v, ok := st.Attrs[k]
			cur, has := attrs[k]
			if !ok || !has || !cur.IsNull() || !v.Type().Equals(cur.Type()) {
				continue
			}
			attrs[k], changed = v, true
		}
	}
	if !changed {
		return cfg
	}
	return cty.ObjectVal(attrs)
}
