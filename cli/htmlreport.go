package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/journal"
	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/report"
)

// htmlReport writes --html FILE: the fleet report (package report) of
// the plan a command made, or of the saved plan or run it shows. Its
// methods do nothing on a nil receiver or without the flag.
type htmlReport struct {
	path    string
	command string
	rep     *report.Report
}

// addHTMLReport adds --html to a command, and makes the command write
// the report when it ends, whatever its outcome, if it got as far as a
// plan or a run to report.
func (c *common) addHTMLReport(cmd *cobra.Command) {
	h := &htmlReport{command: "tend " + cmd.Name()}
	c.html = h
	cmd.Flags().StringVar(&h.path, "html", "", "write a self-contained HTML report (hosts by status, changes, content diffs) to FILE, atomically (docs/report.md)")
	inner := cmd.RunE
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := h.check(); err != nil {
			return err
		}
		err := inner(cmd, args)
		if werr := h.write(); werr != nil {
			return errors.Join(err, werr)
		}
		return err
	}
}

// check refuses, before any host is contacted, a report path that
// cannot be written: a directory, or in a directory that does not exist.
func (h *htmlReport) check() error {
	if h == nil || h.path == "" {
		return nil
	}
	if fi, err := os.Stat(h.path); err == nil && fi.IsDir() {
		return fmt.Errorf("--html %s: is a directory", h.path)
	}
	dir := filepath.Dir(h.path)
	if fi, err := os.Stat(dir); err != nil {
		return fmt.Errorf("--html %s: %w", h.path, err)
	} else if !fi.IsDir() {
		return fmt.Errorf("--html %s: %s is not a directory", h.path, dir)
	}
	return nil
}

func (h *htmlReport) meta(fields ...report.Field) report.Meta {
	who := currentUser()
	if host := controllerName(); host != "" {
		who += " on " + host
	}
	return report.Meta{Command: h.command, User: who, Version: Version, Time: time.Now(), Fields: fields}
}

// planned reports a plan the command made; drift names its statuses as
// tend drift does.
func (h *htmlReport) planned(pl *plan.Plan, configDir string, drift bool) {
	if h == nil || h.path == "" {
		return
	}
	h.rep = report.FromPlan(pl, drift, h.meta(
		report.Field{Label: "planned", Value: pl.Created.UTC().Format(time.RFC3339)},
		report.Field{Label: "target", Value: orAll(pl.Target)},
		report.Field{Label: "config", Value: absPath(configDir)}))
}

// savedPlan reports a plan file.
func (h *htmlReport) savedPlan(path string, saved *plan.Saved, pl *plan.Plan) {
	if h == nil || h.path == "" {
		return
	}
	h.rep = report.FromPlan(pl, false, h.meta(
		report.Field{Label: "plan file", Value: absPath(path)},
		report.Field{Label: "planned", Value: pl.Created.UTC().Format(time.RFC3339)},
		report.Field{Label: "target", Value: orAll(pl.Target)},
		report.Field{Label: "config", Value: saved.Inputs.ConfigDir}))
	h.rep.Title = "tend plan: " + filepath.Base(path)
}

// run reports a journaled run.
func (h *htmlReport) run(run *journal.Run) {
	if h == nil || h.path == "" {
		return
	}
	fields := []report.Field{{Label: "outcome", Value: run.Outcome}}
	for _, kv := range runFacts(run) {
		fields = append(fields, report.Field{Label: kv[0], Value: kv[1]})
	}
	if run.AdHoc != nil && run.AdHoc.Command != "" {
		fields = append(fields, report.Field{Label: "command", Value: run.AdHoc.Command})
	}
	h.rep = report.FromRun(run, h.meta(fields...))
}

func (h *htmlReport) write() error {
	if h == nil || h.rep == nil {
		return nil
	}
	return h.rep.Write(h.path)
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
