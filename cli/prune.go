package cli

import (
	"context"
	"errors"
	"fmt"
	stdio "io"
	"path"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/engine"
	"github.com/tendhq/tend/inventory"
	"github.com/tendhq/tend/journal"
	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/shell"
	"github.com/tendhq/tend/transport"
)

// pruneCmd is `tend runs prune`: old runs' journals go, and with them the
// backups those runs keep on their hosts.
func pruneCmd(io IO) *cobra.Command {
	c := &common{io: io}
	var keep int
	var olderThan time.Duration
	var dryRun, yes bool
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Delete old runs: their backups on the hosts, then their journals",
		Long: `Delete the runs beyond --keep (the newest N are kept) or older than
--older-than (both given: runs beyond --keep that are also older): on each host of a run, the directory of pre-change copies
the run made (BACKUP_DIR/RUN-ID, e.g. /var/lib/tend/backup/RUN-ID), then
the run's journal and the key of its secret undo data. A pruned run can
no longer be rolled back.

Runs still running or interrupted (killed before they finished: resume or
roll them back first) are never pruned, nor a run whose backups could not
be removed from every one of its hosts: its journal stays, naming where
they are, and the next prune tries again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if keep < 0 || olderThan < 0 {
				return fmt.Errorf("--keep and --older-than cannot be negative")
			}
			if !cmd.Flags().Changed("keep") && !cmd.Flags().Changed("older-than") {
				return fmt.Errorf("say which runs to prune: --keep N (keep the newest N) and/or --older-than DURATION (e.g. 720h)")
			}
			st, err := c.runStore(cmd)
			if err != nil {
				return err
			}
			runs, err := st.List()
			if err != nil {
				return err
			}
			now := time.Now()
			var doomed []*journal.Run
			w := io.Stdout
			// With --json, a pruned_run message per run says what became
			// of it; the human lines go nowhere.
			ui := io.ui
			if ui.active() {
				w = stdio.Discard
			}
			tell := func(r *journal.Run, result, reason string) {
				if ui.active() {
					m := map[string]any{"run_id": r.ID, "started": r.Started, "command": r.Command, "result": result}
					if reason != "" {
						m["reason"] = reason
					}
					ui.emit("pruned_run", m)
				}
			}
			for i, r := range runs {
				newest := len(runs) - i // 1 for the newest run
				beyondKeep := !cmd.Flags().Changed("keep") || newest > keep
				tooOld := !cmd.Flags().Changed("older-than") || now.Sub(r.Started) > olderThan
				if !beyondKeep || !tooOld {
					continue
				}
				switch {
				case r.Running():
					fmt.Fprintf(w, "  kept %s: still running\n", r.ID)
					tell(r, "kept", "still running")
				case r.Interrupted():
					fmt.Fprintf(w, "  kept %s: interrupted; resume it (tend resume %s) or roll it back first\n", r.ID, r.ID)
					tell(r, "kept", "interrupted: resume it or roll it back first")
				default:
					doomed = append(doomed, r)
				}
			}
			if len(doomed) == 0 {
				fmt.Fprintln(w, "No runs to prune.")
				return nil
			}
			for _, r := range doomed {
				fmt.Fprintf(w, "  - %s  %s  %s  %s\n", r.ID, r.Started.Local().Format(time.DateTime), r.Command, backupsOf(r))
			}
			fmt.Fprintf(w, "\nPrune: %s, their backups on the hosts and their journals.\n", plural(len(doomed), "run", "runs"))
			if dryRun {
				for _, r := range doomed {
					tell(r, "would_prune", "")
				}
				return nil
			}
			if !yes && !c.confirm(cmd.Context(), "Delete these runs?", "Prune cancelled; nothing was deleted.", "Error: refusing to prune without confirmation: this is not a terminal. Review the runs above and pass -y.") {
				return &exitError{ExitError}
			}
			l, err := c.loadInventory()
			if err != nil {
				return err
			}
			pruned, kept := 0, 0
			for _, r := range doomed {
				if errs := c.removeBackups(cmd.Context(), l, r); len(errs) > 0 {
					kept++
					for _, e := range errs {
						fmt.Fprintf(w, "  %s: ! %v\n", r.ID, e)
					}
					fmt.Fprintf(w, "  kept %s: its backups remain on the hosts above\n", r.ID)
					tell(r, "kept", errors.Join(errs...).Error())
					continue
				}
				if err := st.Remove(r.ID); err != nil {
					kept++
					fmt.Fprintf(w, "  %s: ! %v\n", r.ID, err)
					tell(r, "kept", err.Error())
					continue
				}
				pruned++
				tell(r, "pruned", "")
			}
			fmt.Fprintf(w, "\nPruned %s.", plural(pruned, "run", "runs"))
			if kept > 0 {
				fmt.Fprintf(w, " %s could not be pruned.\n", plural(kept, "run", "runs"))
				return &exitError{ExitError}
			}
			fmt.Fprintln(w)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&c.dir, "chdir", "C", ".", "configuration directory (runs are journaled in its .tend/runs)")
	f.StringArrayVarP(&c.inventories, "inventory", "i", nil, "inventory file to reach the runs' hosts (repeatable; default: inventory.hcl in the configuration directory)")
	f.IntVar(&keep, "keep", 0, "keep the newest N runs")
	f.DurationVar(&olderThan, "older-than", 0, "prune runs started longer ago than this (e.g. 720h)")
	f.BoolVar(&dryRun, "dry-run", false, "list the runs that would be pruned, deleting nothing")
	f.BoolVarP(&yes, "yes", "y", false, "prune without asking")
	addJSONFlag(cmd, io)
	f.IntVar(&c.parallel, "parallel", 32, "hosts handled at once")
	f.BoolVar(&c.acceptNew, "accept-new-host-keys", false, "record unknown SSH host keys instead of refusing them (a changed key is still refused)")
	f.Var(&c.connectRate, "connect-rate", "open at most N new host connections a second (N/s or N/m), each at a random point of its slot (0: no limit)")
	f.StringArrayVar(&c.vaultIDs, "vault-id", nil, "Ansible Vault password: [label@]FILE, a password file or an executable printing it (repeatable)")
	f.StringArrayVar(&c.vaultFiles, "vault-password-file", nil, "Ansible Vault password file or script (repeatable; also ANSIBLE_VAULT_PASSWORD_FILE)")
	return cmd
}

// backupsOf says where a run keeps backups, for the listing.
func backupsOf(r *journal.Run) string {
	n := 0
	for _, h := range r.Hosts {
		if h.BackupDir != "" {
			n++
		}
	}
	if n == 0 {
		return "(no backups)"
	}
	return "(backups on " + plural(n, "host", "hosts") + ")"
}

// loadInventory loads the inventory alone (no configuration): every host
// of it, to reach the hosts of old runs.
func (c *common) loadInventory() (*loaded, error) {
	c.target = "all"
	return c.load(false)
}

// removeBackups deletes run r's backup directory on each of its hosts,
// returning what could not be done. A directory is removed only when its
// last element is the run's id, so a damaged journal cannot name
// anything else.
func (c *common) removeBackups(ctx context.Context, l *loaded, r *journal.Run) []error {
	var hosts []*journal.Host
	seen := map[string]bool{}
	for _, h := range r.Hosts {
		if h.BackupDir != "" && !seen[h.Name+"\x00"+h.BackupDir] {
			seen[h.Name+"\x00"+h.BackupDir] = true
			hosts = append(hosts, h)
		}
	}
	errs := make([]error, len(hosts))
	connect := c.connector()
	engine.Each(c.parallel, len(hosts), func(i int) {
		errs[i] = removeBackup(ctx, connect, l.inv, r.ID, hosts[i])
	})
	return slicesCompact(errs)
}

func removeBackup(ctx context.Context, connect plan.Connector, inv *inventory.Inventory, id string, h *journal.Host) error {
	dir := strings.TrimRight(h.BackupDir, `/\`)
	base := dir[strings.LastIndexAny(dir, `/\`)+1:]
	if base != id || strings.Contains(dir, "..") || path.Clean(strings.ReplaceAll(dir, `\`, "/")) == "/" {
		return fmt.Errorf("%s: the journal's backup directory %q is not the run's; left alone", h.Name, h.BackupDir)
	}
	ih := inv.Host(h.Name)
	if ih == nil {
		return fmt.Errorf("%s: not in the inventory, so its backups in %s cannot be reached", h.Name, dir)
	}
	t, err := connect(ctx, ih)
	if err != nil {
		return fmt.Errorf("%s: %w", h.Name, err)
	}
	defer t.Close()
	script := "rm -rf -- " + shell.Quote(dir)
	if ih.Windows() {
		script = "Remove-Item -LiteralPath " + shell.PSQuote(dir) + " -Recurse -Force -ErrorAction SilentlyContinue; if (Test-Path -LiteralPath " + shell.PSQuote(dir) + ") { exit 1 }"
	}
	if _, err := transport.Output(ctx, t, transport.Command{Script: script}); err != nil {
		return fmt.Errorf("%s: removing %s: %w", h.Name, dir, err)
	}
	return nil
}

func slicesCompact(errs []error) []error {
	var out []error
	for _, e := range errs {
		if e != nil {
			out = append(out, e)
		}
	}
	return out
}
