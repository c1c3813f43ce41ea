package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/journal"
	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/resources/builtin"
)

func showCmd(io IO) *cobra.Command {
	c := &common{io: io}
	var asJSON bool
	var format string
	cmd := &cobra.Command{
		Use:   "show PLANFILE|RUN-ID",
		Short: "Display a saved plan or a journaled run",
		Long: `Display a plan saved with tend plan --out, or a run from the journal
(tend runs lists them; a unique prefix of a RUN-ID will do).

A plan is shown as tend plan showed it; with --json as the document
tend plan --json printed. A run is shown host by host with each change's
status and error; with --json as its journal, one JSON document.

--format markdown prints, for a plan, a change record to paste into a
change request or a pull request: summary, affected hosts and groups,
the changes (hosts with identical changes together), risks, and the
implementation, backout and test plans; for a run, the run host by host
and its close notes (close code, what was rolled back).
--format change-request prints the same as JSON in ServiceNow's
change_request field names (docs/change-records.md). Nothing connects
to any host.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if asJSON {
				if cmd.Flags().Changed("format") && format != "json" {
					return fmt.Errorf("--json and --format %s: give one of them", format)
				}
				format = "json"
			}
			switch format {
			case "text", "json", "markdown", "change-request":
			default:
				return fmt.Errorf("--format must be text, json, markdown or change-request, not %q", format)
			}
			arg := args[0]
			if fi, err := os.Stat(arg); err == nil && !fi.IsDir() {
				if saved, err := plan.Load(arg); err == nil {
					return c.showPlan(arg, saved, format)
				} else if !strings.HasSuffix(arg, ".journal") && !strings.HasSuffix(arg, ".json") {
					return err
				}
				run, err := journal.ReadFile(arg)
				if err != nil {
					return fmt.Errorf("%s is neither a tend plan file nor a run journal: %w", arg, err)
				}
				return c.showRun(run, format)
			}
			st, err := c.runStore(cmd)
			if err != nil {
				return err
			}
			run, err := st.Read(arg)
			if err != nil {
				if _, serr := os.Stat(arg); errors.Is(serr, fs.ErrNotExist) && strings.ContainsAny(arg, "/.") {
					return fmt.Errorf("%s: no such plan file, and %w", arg, err)
				}
				return err
			}
			return c.showRun(run, format)
		},
	}
	cmd.Flags().StringVarP(&c.dir, "chdir", "C", ".", "configuration directory (runs are journaled in its .tend/runs)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON: the plan document, or the run's journal")
	cmd.Flags().StringVar(&format, "format", "text", "text, json, markdown (a change record; a run's close notes) or change-request (the same as ServiceNow change_request fields, JSON)")
	cmd.Flags().BoolVar(&c.noColor, "no-color", false, "disable color (also NO_COLOR)")
	c.addHTMLReport(cmd)
	return cmd
}

// showPlan prints a saved plan.
func (c *common) showPlan(path string, saved *plan.Saved, format string) error {
	w := c.io.Stdout
	c.html.savedPlan(path, saved, saved.Plan.Plan(resources.ByName(builtin.Types())))
	switch format {
	case "json":
		// The plan exactly as saved, laid out as plan --json lays it out:
		// decoding it would drop what this tend does not know.
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var doc struct {
			Plan json.RawMessage `json:"plan"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		var out bytes.Buffer
		if err := json.Indent(&out, doc.Plan, "", "  "); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		out.WriteByte('\n')
		_, err = w.Write(out.Bytes())
		return err
	case "markdown", "change-request":
		rec, err := newChangeRecord(path, saved, saved.Plan.Plan(resources.ByName(builtin.Types())))
		if err != nil {
			return err
		}
		if format == "change-request" {
			return writeJSON(w, rec.changeRequest())
		}
		rec.writeMarkdown(w)
		return nil
	}
	pl := saved.Plan.Plan(resources.ByName(builtin.Types()))
	r := &plan.Renderer{W: w, Color: c.color()}
	r.Plan(pl)
	return nil
}

// showRun prints a journaled run.
func (c *common) showRun(run *journal.Run, format string) error {
	w := c.io.Stdout
	c.html.run(run)
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(run)
	case "markdown":
		runMarkdown(w, run)
		writeCloseNotes(w, run)
		return nil
	case "change-request":
		return writeJSON(w, runChangeRequest(run))
	}
	runText(w, run)
	return nil
}

// runText prints a run for people: what it was, then each host with its
// changes, their statuses and errors.
func runText(w io.Writer, run *journal.Run) {
	if run.AdHoc != nil {
		adhocText(w, run)
		return
	}
	fmt.Fprintf(w, "Run %s: %s, %s\n", run.ID, run.Command, run.Outcome)
	for _, kv := range runFacts(run) {
		fmt.Fprintf(w, "  %-9s %s\n", kv[0], kv[1])
	}
	if len(run.Batches) > 0 {
		fmt.Fprintln(w)
		for _, b := range run.Batches {
			fmt.Fprintf(w, "Batch %d: %s: %s", b.Number, b.Outcome, strings.Join(b.Hosts, ", "))
			if b.Detail != "" {
				fmt.Fprintf(w, " (%s)", b.Detail)
			}
			fmt.Fprintln(w)
		}
	}
	for _, h := range run.Hosts {
		fmt.Fprintf(w, "\n%s: %s\n", h.Name, hostOutcome(h))
		if h.Error != "" {
			fmt.Fprint(w, indent(h.Error, "  ! "))
		}
		for _, e := range h.Changes {
			fmt.Fprintf(w, "  %3s %s %s", e.Action.Symbol(), e.Address, e.Status)
			if d := entryDuration(e); d != "" {
				fmt.Fprintf(w, " (%s)", d)
			}
			fmt.Fprintln(w)
			if e.Error != "" {
				fmt.Fprint(w, indent(e.Error, "      ! "))
			}
			if e.Irreversible != "" {
				fmt.Fprintf(w, "      cannot be reverted: %s\n", e.Irreversible)
			}
		}
		for _, a := range h.Refreshed {
			fmt.Fprintf(w, "    ~ %s refreshed\n", a)
		}
	}
	fmt.Fprintf(w, "\n%s\n", runSummary(run))
}

// runFacts are the run's own fields worth showing, in order.
func runFacts(run *journal.Run) [][2]string {
	var out [][2]string
	who := run.User
	if run.Controller != "" {
		who += " on " + run.Controller
	}
	out = append(out, [2]string{"started", run.Started.Local().Format(time.DateTime) + " by " + who})
	if !run.Finished.IsZero() {
		out = append(out, [2]string{"finished", fmt.Sprintf("%s (%s)", run.Finished.Local().Format(time.DateTime), run.Finished.Sub(run.Started).Round(time.Millisecond))})
	}
	if run.Target != "" {
		out = append(out, [2]string{"target", run.Target})
	}
	if len(run.Resources) > 0 {
		out = append(out, [2]string{"resources", strings.Join(run.Resources, ", ")})
	}
	out = append(out, [2]string{"config", run.ConfigDir})
	if run.RevertsRun != "" {
		out = append(out, [2]string{"reverts", "run " + run.RevertsRun})
	}
	return out
}

func hostOutcome(h *journal.Host) string {
	if h.Outcome == "" {
		return "not finished"
	}
	return h.Outcome
}

func entryDuration(e *journal.Entry) string {
	if e.Started.IsZero() || e.Finished.IsZero() {
		return ""
	}
	return e.Finished.Sub(e.Started).Round(time.Millisecond).String()
}

// runSummary counts a run's changes by status.
func runSummary(run *journal.Run) string {
	counts := map[journal.Status]int{}
	total := 0
	for _, h := range run.Hosts {
		for _, e := range h.Changes {
			counts[e.Status]++
			total++
		}
	}
	if total == 0 {
		return fmt.Sprintf("No changes on %s.", plural(len(run.Hosts), "host", "hosts"))
	}
	statuses := make([]string, 0, len(counts))
	for s := range counts {
		statuses = append(statuses, string(s))
	}
	sort.Strings(statuses)
	var parts []string
	for _, s := range statuses {
		parts = append(parts, fmt.Sprintf("%d %s", counts[journal.Status(s)], s))
	}
	return fmt.Sprintf("%s on %s: %s.", plural(total, "change", "changes"), plural(len(run.Hosts), "host", "hosts"), strings.Join(parts, ", "))
}

// runMarkdown prints a journaled run as a change record.
func runMarkdown(w io.Writer, run *journal.Run) {
	if run.AdHoc != nil {
		adhocMarkdown(w, run)
		return
	}
	fmt.Fprintf(w, "# Run %s: %s, %s\n\n", mdText(run.ID), mdText(run.Command), mdText(run.Outcome))
	for _, kv := range runFacts(run) {
		fmt.Fprintf(w, "- **%s:** %s\n", strings.ToUpper(kv[0][:1])+kv[0][1:], mdText(kv[1]))
	}
	if len(run.Batches) > 0 {
		fmt.Fprintln(w, "\n| Batch | Outcome | Hosts |")
		fmt.Fprintln(w, "|---|---|---|")
		for _, b := range run.Batches {
			out := b.Outcome
			if b.Detail != "" {
				out += ": " + b.Detail
			}
			fmt.Fprintf(w, "| %d | %s | %s |\n", b.Number, mdCell(out), mdCell(strings.Join(b.Hosts, ", ")))
		}
	}
	for _, h := range run.Hosts {
		fmt.Fprintf(w, "\n## %s: %s\n\n", mdText(h.Name), mdText(hostOutcome(h)))
		if h.Error != "" {
			fmt.Fprint(w, mdFence(h.Error, "text"))
			fmt.Fprintln(w)
		}
		if len(h.Changes) == 0 {
			fmt.Fprintln(w, "No changes.")
			continue
		}
		fmt.Fprintln(w, "| Status | Action | Resource | Duration | Error |")
		fmt.Fprintln(w, "|---|---|---|---|---|")
		var long []*journal.Entry
		for _, e := range h.Changes {
			msg, _, more := strings.Cut(strings.TrimSpace(e.Error), "\n")
			if more {
				long = append(long, e)
			}
			if e.Irreversible != "" {
				if msg != "" {
					msg += "; "
				}
				msg += "cannot be reverted: " + e.Irreversible
			}
			fmt.Fprintf(w, "| %s | %s %s | %s | %s | %s |\n", mdCell(string(e.Status)), mdCell(e.Action.Symbol()), e.Action,
				mdCodeCell(e.Address), entryDuration(e), mdCell(msg))
		}
		for _, e := range long {
			fmt.Fprintf(w, "\n### %s error\n\n%s", mdCode(e.Address), mdFence(e.Error, "text"))
		}
	}
	fmt.Fprintf(w, "\n%s\n", mdText(runSummary(run)))
}

// mdText escapes the characters that would make text markup.
func mdText(s string) string {
	var b strings.Builder
	for _, r := range strings.ReplaceAll(s, "\n", " ") {
		if strings.ContainsRune("\\`*_[]<>#|!~&", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// mdCell is text for a table cell, "|" escaped; a blank cell stays blank.
func mdCell(s string) string {
	if strings.TrimSpace(s) == "" {
		return ""
	}
	return mdText(s)
}

// mdCode is s as a code span: its fence is longer than any run of
// backticks in s.
func mdCode(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	tick := strings.Repeat("`", longestRun(s, '`')+1)
	pad := ""
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		pad = " "
	}
	return tick + pad + s + pad + tick
}

// mdCodeCell is s as a code span in a table cell, where pipes are
// escaped: GitHub's tables split cells at a pipe even inside a code span.
func mdCodeCell(s string) string { return strings.ReplaceAll(mdCode(s), "|", `\|`) }

// mdFence is s in a fenced code block with the given info string, the
// fence longer than any run of backticks in s.
func mdFence(s, info string) string {
	fence := strings.Repeat("`", max(3, longestRun(s, '`')+1))
	return fence + info + "\n" + strings.TrimRight(s, "\n") + "\n" + fence + "\n"
}

func longestRun(s string, c byte) int {
	best, n := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			n++
			best = max(best, n)
		} else {
			n = 0
		}
	}
	return best
}
