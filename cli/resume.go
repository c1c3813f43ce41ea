package cli

import (
	"fmt"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/engine"
	"github.com/tendhq/tend/journal"
	"github.com/tendhq/tend/plan"
)

func resumeCmd(io IO) *cobra.Command {
	c := &common{io: io}
	var yes bool
	var onFailure string
	cmd := &cobra.Command{
		Use:   "resume RUN-ID",
		Short: "Finish a failed or interrupted apply from its journal",
		Long: `Plan the run's hosts again, from the run's configuration directory,
target and --resource addresses, and apply what is still to do: the changes the run did not make,
and the refreshes (restarts) its changes notified that never ran. Changes
of the run whose outcome was unknown are settled from the new plan (made
when the host already holds them, not applied otherwise). The resume
continues the run in its own journal: tend rollback RUN-ID then reverts
what both made.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			asJSON := io.ui.active()
			if err := checkOnFailure(onFailure); err != nil {
				return err
			}
			st, err := c.runStore(cmd)
			if err != nil {
				return err
			}
			run, err := st.Read(args[0])
			if err != nil {
				return err
			}
			switch {
			case run.Running():
				return fmt.Errorf("run %s is still running (pid %d on %s)", run.ID, run.PID, run.Controller)
			case run.Command != "apply":
				return fmt.Errorf("run %s is a %s; only apply runs can be resumed", run.ID, run.Command)
			}
			c.outputs.continueRun(run.ID)
			if run.ConfigDir != "" && !cmd.Flags().Changed("chdir") {
				c.dir = run.ConfigDir
			}
			if !cmd.Flags().Changed("target") {
				c.target = run.Target
			}
			// A run limited to some resources is finished for them only
			// (--replace is not carried over: what it made again is made).
			c.resources = run.Resources
			l, err := c.load(true)
			if err != nil {
				return err
			}
			inRun := map[string]bool{}
			for _, h := range run.Hosts {
				inRun[h.Name] = true
			}
			hosts := l.hosts[:0:0]
			for _, h := range l.hosts {
				if inRun[h.Name] {
					hosts = append(hosts, h)
				}
			}
			if len(hosts) == 0 {
				return fmt.Errorf("none of run %s's hosts is in the inventory selected now", run.ID)
			}
			l.hosts = hosts
			// Before connecting: another run holding some of the hosts
			// in the backend stops the resume here.
			if err := c.reserveHosts(cmd, run.ID, l.hostNames()); err != nil {
				return err
			}
			defer c.releaseHosts()
			pl, err := c.makePlan(cmd, l)
			defer closeAll(pl)
			if err != nil {
				return err
			}
			owed := owedRefreshes(run)
			if asJSON {
				io.ui.plan(pl, "resume")
				for _, h := range sortedKeys(owed) {
					for _, t := range owed[h] {
						io.ui.emit("planned_refresh", map[string]any{"host": h, "address": t})
					}
				}
			} else {
				(&plan.Renderer{W: io.Stdout, Color: c.color()}).Plan(pl)
				for _, h := range sortedKeys(owed) {
					for _, t := range owed[h] {
						fmt.Fprintf(io.Stdout, "%s: ~ %s will be refreshed (notified by the run, never ran)\n", h, t)
					}
				}
			}
			if !pl.HasChanges() && len(owed) == 0 {
				// Nothing left: the run's unknown changes are settled.
				if j, err := st.Open(run); err == nil {
					settleUnknown(j, run, pl)
					_ = j.Update(func(r *journal.Run) { r.Outcome, r.Finished = engine.Success, time.Now().UTC() })
					j.Close()
				}
				if asJSON {
					io.ui.set("run_id", run.ID)
					io.ui.set("result", "no_changes")
				} else {
					fmt.Fprintf(io.Stdout, "Run %s has nothing left to do.\n", run.ID)
				}
				if pl.HasErrors() {
					return &exitError{ExitError}
				}
				return nil
			}
			if !yes && !c.confirm(cmd.Context(), "Apply these changes?", "Resume cancelled; nothing was changed.", "Error: refusing to resume without confirmation: this is not a terminal. Review the plan and pass -y.") {
				return &exitError{ExitError}
			}
			// The resume continues the run in its own journal: one run,
			// whose rollback reverts what both made.
			j, err := st.Open(run)
			if err != nil {
				return err
			}
			settleUnknown(j, run, pl)
			if err := j.Update(func(r *journal.Run) { r.Outcome, r.Finished = "running", time.Time{} }); err != nil {
				j.Close()
				return err
			}
			view, hv := c.view()
			if asJSON {
				io.ui.emit("run", map[string]any{"run_id": run.ID, "journal": j.Path()})
			} else {
				hv.hosts(pl)
				fmt.Fprintf(io.Stdout, "\nResuming run %s\n", run.ID)
			}
			eng := c.newEngine(run, j, l, onFailure, view)
			eng.Subscribers[0] = journal.ResumeRecorder(j, run)
			eng.Notified = owed
			eng.Entries = resumeEntries(run, pl)
			var res *engine.Result
			c.execute(eng, j, onFailure, func() { res = eng.Apply(cmd.Context(), pl) })
			if asJSON {
				io.ui.set("run_id", run.ID)
				io.ui.set("result", res.Outcome(eng))
				io.ui.set("hosts", hostOutcomes(res))
			} else {
				hv.stop()
				printApplySummary(c, res, onFailure, run.ID, j.Path())
			}
			if !res.OK() {
				return &exitError{ExitError}
			}
			return nil
		},
	}
	c.addConfigFlags(cmd)
	c.addRunFlags(cmd)
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "resume without asking")
	addJSONFlag(cmd, io)
	cmd.Flags().StringVar(&onFailure, "on-failure", engine.Rollback, "when a change fails on a host: rollback (revert what this resume made), stop, continue")
	c.addRunOutputs(cmd, false, true)
	return cmd
}

// owedRefreshes lists, per host, the resources a change of run notified
// whose refresh never ran (the run ended first).
func owedRefreshes(run *journal.Run) map[string][]string {
	out := map[string][]string{}
	for _, h := range run.Hosts {
		done := map[string]bool{}
		for _, a := range h.Refreshed {
			done[a] = true
		}
		for _, e := range h.Changes {
			if e.Refreshed {
				done[e.Address] = true
			}
		}
		seen := map[string]bool{}
		for _, e := range h.Changes {
			if e.Status != journal.Applied && e.Status != journal.Unknown {
				continue
			}
			for _, t := range e.Notify {
				if !done[t] && !seen[t] {
					seen[t] = true
					out[h.Name] = append(out[h.Name], t)
				}
			}
		}
	}
	return out
}

// settleUnknown marks the run's changes of unknown outcome from the new
// plan: made when the host holds them now (the plan has nothing to do for
// them), not applied otherwise (the resume makes them).
func settleUnknown(j *journal.Journal, run *journal.Run, pl *plan.Plan) {
	planned := map[string]*plan.HostPlan{}
	for _, hp := range pl.Hosts {
		planned[hp.Name] = hp
	}
	for hi, h := range run.Hosts {
		hp := planned[h.Name]
		if hp == nil || hp.Err != nil {
			continue
		}
		for ei, e := range h.Changes {
			if e.Status != journal.Unknown && e.Status != journal.Applying {
				continue
			}
			st := journal.NotApplied
			for _, ch := range hp.Changes {
				if ch.Address == e.Address && !ch.HasChange() {
					st = journal.Applied
				}
			}
			_ = j.UpdateEntries(hi, []int{ei}, func(_ int, en *journal.Entry) { en.Status = st })
		}
	}
}

// resumeEntries numbers the new plan's pending changes as the run's
// journal does: a change the run did not make takes its entry again;
// one it made that differs again, and one it never planned, a new one.
func resumeEntries(run *journal.Run, pl *plan.Plan) map[string]map[string]int {
	out := map[string]map[string]int{}
	for _, hp := range pl.Hosts {
		var h *journal.Host
		for _, rh := range run.Hosts {
			if rh.Name == hp.Name {
				h = rh
			}
		}
		if h == nil {
			continue
		}
		m := map[string]int{}
		next := len(h.Changes)
		for _, ch := range hp.Pending() {
			k := -1
			for i, e := range h.Changes {
				if e.Address == ch.Address && e.Status != journal.Applied {
					k = i
				}
			}
			if k < 0 {
				k = next
				next++
			}
			m[ch.Address] = k
		}
		out[hp.Name] = m
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
