package cli

import (
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

var errNoBackend = errors.New("no backend: runs are journaled in the configuration directory's files; give --backend postgres://... or TEND_BACKEND")

func locksCmd(io IO) *cobra.Command {
	c := &common{io: io}
	cmd := &cobra.Command{
		Use:   "locks",
		Short: "List the hosts runs hold in the backend: run, user, controller, since when",
		Long: `List the host leases of the backend (--backend or TEND_BACKEND): which run,
user and controller (host name, pid) holds each host, since when, and its
last heartbeat. A run takes its hosts' leases before connecting to them
and drops them when it ends; a lease whose holder stopped renewing it
expires. With files there are no leases (each host's own lock is the only
one): the command says so and fails.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := c.runStore(cmd); err != nil {
				return err
			}
			if c.pg == nil {
				return errNoBackend
			}
			ls, err := c.pg.Leases(cmd.Context())
			if err != nil {
				return err
			}
			if io.ui.active() {
				for _, l := range ls {
					io.ui.emit("host_lease", map[string]any{"host": l.Host, "run_id": l.RunID, "user": l.User, "controller": l.Controller,
						"pid": l.PID, "acquired": l.Acquired, "heartbeat": l.Heartbeat, "token": l.Token})
				}
				return nil
			}
			if len(ls) == 0 {
				fmt.Fprintf(io.Stdout, "No host is held in %s.\n", c.pg.Where())
				return nil
			}
			tw := tabwriter.NewWriter(io.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "HOST\tRUN\tUSER\tCONTROLLER\tPID\tSINCE\tHEARTBEAT\tTOKEN")
			for _, l := range ls {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%d\n", l.Host, l.RunID, l.User, l.Controller, l.PID,
					l.Acquired.Local().Format(time.DateTime), l.Heartbeat.Local().Format(time.TimeOnly), l.Token)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&c.dir, "chdir", "C", ".", "configuration directory (whose backend block names the backend, when neither --backend nor TEND_BACKEND does)")
	addJSONFlag(cmd, io)
	return cmd
}

func backendCmd(io IO) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backend",
		Short: "Manage the backend where runs are journaled",
	}
	dir := "."
	migrate := &cobra.Command{
		Use:   "migrate",
		Short: "Create or upgrade the backend's schema (idempotent)",
		Long: `Bring the schema of the backend (--backend or TEND_BACKEND) to the version
this tend uses: create its tables on an empty database, apply the missing
steps on an older one, do nothing on a current one. Migrations take an
advisory lock, so several controllers may run it at once. A schema newer
than this tend's is refused.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, _, err := backendSpec(cmd, dir)
			if err != nil {
				return err
			}
			if spec == "" {
				return errNoBackend
			}
			pg, err := io.connectBackend(cmd.Context(), spec, false)
			if err != nil {
				return err
			}
			from, to, err := pg.Migrate(cmd.Context())
			if err != nil {
				return err
			}
			if io.ui.active() {
				io.ui.emit("schema_migrated", map[string]any{"backend": pg.Where(), "from": from, "to": to})
				return nil
			}
			if from == to {
				fmt.Fprintf(io.Stdout, "The schema of %s is at version %d: nothing to do.\n", pg.Where(), to)
			} else {
				fmt.Fprintf(io.Stdout, "Migrated %s from schema version %d to %d.\n", pg.Where(), from, to)
			}
			return nil
		},
	}
	migrate.Flags().StringVarP(&dir, "chdir", "C", ".", "configuration directory (whose backend block names the backend, when neither --backend nor TEND_BACKEND does)")
	addJSONFlag(migrate, io)
	cmd.AddCommand(migrate)
	return cmd
}
