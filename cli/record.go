package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tendhq/tend/inventory"
	"github.com/tendhq/tend/journal"
	"github.com/tendhq/tend/lang"
	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/resources/builtin"
)

// changeRecord is what an ITSM change request says about a saved plan,
// made once and rendered as Markdown (tend show --format markdown) or as
// ServiceNow change_request fields (--format change-request).
type changeRecord struct {
	path, digest string
	saved        *plan.Saved
	pl           *plan.Plan
	summary      string
	changed      []string // hosts with changes
	unchanged    []string
	failed       []*plan.HostPlan
	groups       map[string][]string // inventory group → its changed hosts
	blocks       []*changeBlock
	risks        []riskNote
	rollout      *lang.Rollout
	rolloutErr   string
}

// changeBlock is the changes of hosts whose changes are identical.
type changeBlock struct {
	hosts []string
	rows  []changeRow
}

// changeRow is one change as the record shows it.
type changeRow struct {
	symbol, action, address, details, diff string
}

// riskNote is one kind of risk and what it concerns.
type riskNote struct {
	kind  string // irreversible, refresh, package
	text  string
	hosts []string
}

// newChangeRecord reads what the record needs from a saved plan: the
// plan file's digest, and the rollout of the configuration it was made
// from (no host is contacted).
func newChangeRecord(path string, saved *plan.Saved, pl *plan.Plan) (*changeRecord, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	rec := &changeRecord{path: path, digest: hex.EncodeToString(sum[:]), saved: saved, pl: pl,
		summary: (&plan.Renderer{}).Summary(pl), groups: map[string][]string{}}
	types := resources.ByName(builtin.Types())
	byKey := map[string]*changeBlock{}
	risks := map[string]*riskNote{}
	var riskOrder []string
	risk := func(kind, text, host string) {
		k := kind + "\x00" + text
		r := risks[k]
		if r == nil {
			r = &riskNote{kind: kind, text: text}
			risks[k] = r
			riskOrder = append(riskOrder, k)
		}
		r.hosts = append(r.hosts, host)
	}
	for _, h := range pl.Hosts {
		if h.Err != nil {
			rec.failed = append(rec.failed, h)
			continue
		}
		pending := h.Pending()
		if len(pending) == 0 {
			rec.unchanged = append(rec.unchanged, h.Name)
			continue
		}
		rec.changed = append(rec.changed, h.Name)
		for _, g := range h.Groups {
			if g != inventory.GroupAll && g != inventory.GroupUngrouped {
				rec.groups[g] = append(rec.groups[g], h.Name)
			}
		}
		var rows []changeRow
		var key strings.Builder
		for _, ch := range pending {
			r := recordRow(ch)
			rows = append(rows, r)
			fmt.Fprintf(&key, "%q %q %q %q\n", r.symbol, r.address, r.details, r.diff)
			if ch.Irreversible != "" {
				risk("irreversible", fmt.Sprintf("`%s` cannot be rolled back: %s", ch.Address, ch.Irreversible), h.Name)
			}
			// A notified resource is refreshed unless it is being made.
			if ch.Action == plan.Refresh || len(ch.NotifiedBy) > 0 && ch.Action != plan.Create {
				if _, ok := types[ch.Type].(resources.Refresher); ok || ch.Action == plan.Refresh {
					risk("refresh", fmt.Sprintf("`%s` is refreshed (a service restarts or reloads, a command runs again), notified by %s",
						ch.Address, strings.Join(ch.NotifiedBy, ", ")), h.Name)
				}
			}
			if v, ok := types[ch.Type].(resources.Versioned); ok {
				from, to := v.Version(ch.Before), v.Version(ch.After)
				switch {
				case ch.Before.Present && ch.After.Present && from != to && from != "" && to != "":
					risk("package", fmt.Sprintf("`%s` goes from version %s to %s", ch.Address, from, to), h.Name)
				case !ch.Before.Present && ch.After.Present:
					risk("package", fmt.Sprintf("`%s` is installed%s", ch.Address, versionSuffix(to)), h.Name)
				case ch.Before.Present && !ch.After.Present:
					risk("package", fmt.Sprintf("`%s` is removed%s", ch.Address, versionSuffix(from)), h.Name)
				}
			}
		}
		if b := byKey[key.String()]; b != nil {
			b.hosts = append(b.hosts, h.Name)
			continue
		}
		b := &changeBlock{hosts: []string{h.Name}, rows: rows}
		byKey[key.String()] = b
		rec.blocks = append(rec.blocks, b)
	}
	for _, k := range riskOrder {
		rec.risks = append(rec.risks, *risks[k])
	}
	if dir := saved.Inputs.ConfigDir; dir != "" {
		cfg, diags := lang.Load(dir, builtin.Types())
		switch {
		case diags.HasErrors():
			rec.rolloutErr = fmt.Sprintf("the configuration in %s does not load now: %s", dir, diags.Error())
		case cfg != nil:
			rec.rollout = cfg.Rollout
		}
	}
	return rec, nil
}

func versionSuffix(v string) string {
	if v == "" {
		return ""
	}
	return " (version " + v + ")"
}

// recordRow is a change as a row of the record.
func recordRow(ch *plan.Change) changeRow {
	d, note := plan.ContentView(ch)
	details := []string{plan.Verb(ch)}
	switch ch.Action {
	case plan.Create, plan.Replace:
		for _, k := range ch.After.AttrNames() {
			details = append(details, fmt.Sprintf("%s = %s", k, plan.FormatValue(ch.After.Attrs[k])))
		}
	case plan.Update:
		for _, k := range ch.Changed {
			if k != plan.ContentChange {
				details = append(details, fmt.Sprintf("%s: %s → %s", k, plan.FormatValue(ch.Before.Attr(k)), plan.FormatValue(ch.After.Attr(k))))
			}
		}
	}
	switch {
	case d != "":
		details = append(details, "content: see the diff below")
	case note != "":
		details = append(details, "content: "+note)
	}
	if len(ch.NotifiedBy) > 0 {
		details = append(details, "notified by "+strings.Join(ch.NotifiedBy, ", "))
	}
	details = append(details, ch.Notes...)
	if ch.Deferred != "" {
		details = append(details, "not there yet: "+ch.Deferred)
	}
	if ch.Irreversible != "" {
		details = append(details, "cannot be rolled back: "+ch.Irreversible)
	}
	return changeRow{symbol: ch.Action.Symbol(), action: string(ch.Action), address: ch.Address, details: strings.Join(details, "; "), diff: d}
}

// blockTitle names a block's hosts: one host, or "web1, web2: same 4
// changes".
func (b *changeBlock) title() string {
	if len(b.hosts) == 1 {
		return b.hosts[0]
	}
	return fmt.Sprintf("%s: same %s", strings.Join(b.hosts, ", "), plural(len(b.rows), "change", "changes"))
}

// applyCommand is the command that applies exactly the reviewed plan.
func (r *changeRecord) applyCommand() string { return "tend apply " + shellWord(r.path) }

// checkCommand checks the plan file is the reviewed one.
func (r *changeRecord) checkCommand() string {
	return fmt.Sprintf("echo '%s  %s' | sha256sum -c -", r.digest, strings.ReplaceAll(r.path, "'", `'\''`))
}

// rollbackCommand is the command that reverts the apply's run.
func (r *changeRecord) rollbackCommand() string {
	return "tend rollback RUN-ID -C " + shellWord(r.saved.Inputs.ConfigDir)
}

// shellWord quotes s for a POSIX shell when it needs it.
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:@%+=,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// shortDescription is the record's one-line summary.
func (r *changeRecord) shortDescription() string {
	c := r.pl.Count()
	target := r.pl.Target
	if target == "" {
		target = "all"
	}
	return fmt.Sprintf("tend apply: %d to add, %d to change, %d to remove on %s (target %s)",
		c.Add, c.Change, c.Remove, plural(len(r.changed), "host", "hosts"), target)
}

// riskLines are the risk notes as sentences, by kind, with the
// reboots line (tend apply reboots no host).
func (r *changeRecord) riskLines() []string {
	var out []string
	titles := map[string]string{"irreversible": "Irreversible", "refresh": "Restart or refresh", "package": "Package"}
	for _, kind := range []string{"irreversible", "refresh", "package"} {
		for _, n := range r.risks {
			if n.kind == kind {
				out = append(out, fmt.Sprintf("%s: %s, on %s.", titles[kind], n.text, strings.Join(n.hosts, ", ")))
			}
		}
	}
	if !r.hasRisk("irreversible") {
		out = append(out, "Irreversible: none; tend rollback can revert every change of this plan.")
	}
	out = append(out, "Reboots: none; tend apply reboots no host (tend patch is the command that does).")
	if len(r.failed) > 0 {
		var names []string
		for _, h := range r.failed {
			names = append(names, h.Name)
		}
		out = append(out, fmt.Sprintf("Not planned: %s could not be planned and will not be changed.", strings.Join(names, ", ")))
	}
	return out
}

func (r *changeRecord) hasRisk(kind string) bool {
	for _, n := range r.risks {
		if n.kind == kind {
			return true
		}
	}
	return false
}

// testLines are the checks the apply makes.
func (r *changeRecord) testLines() []string {
	out := []string{"Before the apply, every targeted host is planned again: the apply is refused as stale, with nothing changed, when a host's state or the configuration differs from this plan."}
	out = append(out, "Each change is verified on its host: the resource is read back after the change and must match the configuration, or the change fails (and, with --on-failure rollback, the default, the host's changes of the run are reverted).")
	switch {
	case r.rolloutErr != "":
		out = append(out, "Rollout: unknown: "+r.rolloutErr+".")
	case r.rollout == nil:
		out = append(out, "Rollout: all hosts at once, no health check (the configuration has no rollout block).")
	default:
		ro := r.rollout
		var sizes []string
		for _, s := range ro.Serial {
			if s.Percent > 0 {
				sizes = append(sizes, strconv.FormatFloat(s.Percent, 'f', -1, 64)+"%")
			} else {
				sizes = append(sizes, strconv.Itoa(s.N))
			}
		}
		batches := "one batch"
		if len(sizes) > 0 {
			batches = "batches of " + strings.Join(sizes, ", ") + " hosts (the last size repeats)"
		}
		out = append(out, fmt.Sprintf("Rollout: %s; a batch fails when more than %s%% of its hosts fail; on failure: %s.",
			batches, strconv.FormatFloat(ro.MaxFailPercent, 'f', -1, 64), ro.OnFailure))
		if hc := ro.HealthCheck; hc != nil {
			cmd := hc.Command
			if cmd == "" {
				cmd = hc.Source
			}
			line := fmt.Sprintf("Health check on each host once its changes are applied and verified: `%s` must exit 0 (%s, %s apart", cmd, plural(hc.Retries, "retry", "retries"), hc.Delay)
			if hc.Timeout > 0 {
				line += fmt.Sprintf(", each within %s", hc.Timeout)
			}
			out = append(out, line+"); a host that fails it fails its batch.")
		}
	}
	out = append(out, fmt.Sprintf("After the apply, `tend drift -C %s --target %s` must exit 0 (no resource differs).",
		shellWord(r.saved.Inputs.ConfigDir), shellWord(orAll(r.pl.Target))))
	return out
}

func orAll(t string) string {
	if t == "" {
		return "all"
	}
	return t
}

// groupNames are the record's inventory groups, sorted.
func (r *changeRecord) groupNames() []string {
	out := make([]string, 0, len(r.groups))
	for g := range r.groups {
		out = append(out, g)
	}
	sort.Strings(out)
	return out
}

// writeMarkdown prints the change record in CommonMark with GitHub's
// tables.
func (r *changeRecord) writeMarkdown(w io.Writer) {
	fmt.Fprintf(w, "# Change record\n\n%s\n\n%s\n\n", mdText(r.shortDescription()), mdText(r.summary))
	fmt.Fprintf(w, "- **Plan file:** %s\n", mdCode(r.path))
	fmt.Fprintf(w, "- **Plan SHA-256:** %s\n", mdCode(r.digest))
	fmt.Fprintf(w, "- **Made:** %s\n", r.pl.Created.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "- **Configuration:** %s\n", mdCode(r.saved.Inputs.ConfigDir))
	fmt.Fprintf(w, "- **Target:** %s\n", mdCode(orAll(r.pl.Target)))

	fmt.Fprint(w, "\n## Affected hosts and groups\n\n")
	fmt.Fprintf(w, "- **Changed (%d):** %s\n", len(r.changed), mdText(orNone(r.changed)))
	for _, g := range r.groupNames() {
		fmt.Fprintf(w, "- **Group %s:** %s\n", mdText(g), mdText(strings.Join(r.groups[g], ", ")))
	}
	if len(r.unchanged) > 0 {
		fmt.Fprintf(w, "- **Unchanged (%d):** %s\n", len(r.unchanged), mdText(strings.Join(r.unchanged, ", ")))
	}
	if len(r.failed) > 0 {
		var names []string
		for _, h := range r.failed {
			names = append(names, h.Name)
		}
		fmt.Fprintf(w, "- **Could not be planned (%d):** %s\n", len(r.failed), mdText(strings.Join(names, ", ")))
	}

	fmt.Fprint(w, "\n## Changes\n")
	if len(r.blocks) == 0 {
		fmt.Fprint(w, "\nNo changes.\n")
	}
	for _, b := range r.blocks {
		fmt.Fprintf(w, "\n### %s\n\n", mdText(b.title()))
		fmt.Fprintln(w, "| Action | Resource | Details |")
		fmt.Fprintln(w, "|---|---|---|")
		for _, row := range b.rows {
			fmt.Fprintf(w, "| %s %s | %s | %s |\n", mdCell(row.symbol), row.action, mdCodeCell(row.address), mdCell(row.details))
		}
		for _, row := range b.rows {
			if row.diff != "" {
				fmt.Fprintf(w, "\n#### %s content\n\n%s", mdCode(row.address), mdFence(row.diff, "diff"))
			}
		}
	}
	for _, h := range r.failed {
		fmt.Fprintf(w, "\n### %s (failed)\n\n%s", mdText(h.Name), mdFence(h.Err.Error(), "text"))
	}

	fmt.Fprint(w, "\n## Risk and impact\n\n")
	for _, l := range r.riskLines() {
		fmt.Fprintf(w, "- %s\n", mdInline(l))
	}

	fmt.Fprint(w, "\n## Implementation plan\n\n")
	fmt.Fprintf(w, "1. Check that the plan file is the one reviewed (SHA-256 %s):\n\n%s\n", mdCode(r.digest), indentBlock(mdFence(r.checkCommand(), "sh"), "   "))
	fmt.Fprintf(w, "2. Apply exactly this plan:\n\n%s\n", indentBlock(mdFence(r.applyCommand(), "sh"), "   "))
	fmt.Fprint(w, "   tend prints the run's ID (`Applying (run RUN-ID)`); note it for the backout plan.\n")

	fmt.Fprint(w, "\n## Backout plan\n\n")
	fmt.Fprint(w, "A host whose change fails is rolled back by the apply itself. To revert the whole change after it was applied, with RUN-ID the ID the apply printed (`tend runs` lists it too):\n\n")
	fmt.Fprint(w, mdFence(r.rollbackCommand(), "sh"))
	fmt.Fprint(w, "\ntend rollback shows what it will revert and asks first; it restores each resource's state from before the run (file contents from their backups on the host).\n\n")
	if irr := r.irreversible(); len(irr) > 0 {
		fmt.Fprint(w, "It cannot undo:\n\n")
		for _, n := range irr {
			fmt.Fprintf(w, "- %s, on %s\n", mdInline(n.text), mdText(strings.Join(n.hosts, ", ")))
		}
	} else {
		fmt.Fprint(w, "Every change of this plan can be reverted.\n")
	}

	fmt.Fprint(w, "\n## Test plan\n\n")
	for _, l := range r.testLines() {
		fmt.Fprintf(w, "- %s\n", mdInline(l))
	}
}

func (r *changeRecord) irreversible() []riskNote {
	var out []riskNote
	for _, n := range r.risks {
		if n.kind == "irreversible" {
			out = append(out, n)
		}
	}
	return out
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// mdInline is text holding `code spans`: the spans are kept, the rest
// escaped.
func mdInline(s string) string {
	parts := strings.Split(s, "`")
	if len(parts)%2 == 0 {
		return mdText(s)
	}
	var b strings.Builder
	for i, p := range parts {
		if i%2 == 1 {
			b.WriteString(mdCode(p))
		} else {
			b.WriteString(mdText(p))
		}
	}
	return b.String()
}

// indentBlock indents every non-empty line of s (a block inside a list
// item).
func indentBlock(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

// plainText is s with code-span backticks removed, for the plain text
// fields of an ITSM record.
func plainText(s string) string { return strings.ReplaceAll(s, "`", "") }

// ChangeRequest is a change record in ServiceNow's change_request field
// names (docs/change-records.md): the text fields are plain text, ready
// for the Table API; Tend holds the same data structured.
type ChangeRequest struct {
	ShortDescription   string   `json:"short_description"`
	Description        string   `json:"description,omitempty"`
	ImplementationPlan string   `json:"implementation_plan,omitempty"`
	BackoutPlan        string   `json:"backout_plan,omitempty"`
	TestPlan           string   `json:"test_plan,omitempty"`
	RiskImpactAnalysis string   `json:"risk_impact_analysis,omitempty"`
	CMDBCI             []string `json:"cmdb_ci"`
	WorkStart          string   `json:"work_start,omitempty"`
	WorkEnd            string   `json:"work_end,omitempty"`
	CloseCode          string   `json:"close_code,omitempty"`
	CloseNotes         string   `json:"close_notes,omitempty"`
	Tend               TendCR   `json:"tend"`
}

// TendCR is the structured part of a change request.
type TendCR struct {
	PlanFile   string              `json:"plan_file,omitempty"`
	PlanSHA256 string              `json:"plan_sha256,omitempty"`
	RunID      string              `json:"run_id,omitempty"`
	Apply      string              `json:"apply_command,omitempty"`
	Rollback   string              `json:"rollback_command,omitempty"`
	Groups     map[string][]string `json:"groups,omitempty"`
	Unchanged  []string            `json:"unchanged,omitempty"`
	Failed     []string            `json:"failed,omitempty"`
	Statuses   map[string]int      `json:"statuses,omitempty"`
	RolledBack []string            `json:"rolled_back,omitempty"`
}

// changeRequest is the record as ServiceNow fields.
func (r *changeRecord) changeRequest() *ChangeRequest {
	var desc strings.Builder
	fmt.Fprintf(&desc, "%s\n", r.summary)
	fmt.Fprintf(&desc, "Configuration: %s; target: %s; plan made %s.\n", r.saved.Inputs.ConfigDir, orAll(r.pl.Target), r.pl.Created.UTC().Format(time.RFC3339))
	for _, b := range r.blocks {
		fmt.Fprintf(&desc, "\n%s:\n", b.title())
		for _, row := range b.rows {
			fmt.Fprintf(&desc, "  %s %s: %s\n", row.symbol, row.address, row.details)
		}
	}
	for _, h := range r.failed {
		fmt.Fprintf(&desc, "\n%s could not be planned: %s\n", h.Name, h.Err)
	}
	var risk []string
	for _, l := range r.riskLines() {
		risk = append(risk, plainText(l))
	}
	backout := fmt.Sprintf("A host whose change fails is rolled back by the apply itself. To revert the change after it was applied, run, with RUN-ID the ID tend apply printed:\n  %s\n", r.rollbackCommand())
	if irr := r.irreversible(); len(irr) > 0 {
		backout += "It cannot undo:\n"
		for _, n := range irr {
			backout += fmt.Sprintf("  - %s, on %s\n", plainText(n.text), strings.Join(n.hosts, ", "))
		}
	} else {
		backout += "Every change of this plan can be reverted.\n"
	}
	var tests []string
	for _, l := range r.testLines() {
		tests = append(tests, "- "+plainText(l))
	}
	var failed []string
	for _, h := range r.failed {
		failed = append(failed, h.Name)
	}
	return &ChangeRequest{
		ShortDescription:   r.shortDescription(),
		Description:        desc.String(),
		ImplementationPlan: fmt.Sprintf("1. Check the plan file is the one reviewed:\n  %s\n2. Apply exactly this plan:\n  %s\n", r.checkCommand(), r.applyCommand()),
		BackoutPlan:        backout,
		TestPlan:           strings.Join(tests, "\n") + "\n",
		RiskImpactAnalysis: "- " + strings.Join(risk, "\n- ") + "\n",
		CMDBCI:             append([]string{}, r.changed...),
		Tend: TendCR{PlanFile: r.path, PlanSHA256: r.digest, Apply: r.applyCommand(), Rollback: r.rollbackCommand(),
			Groups: r.groups, Unchanged: r.unchanged, Failed: failed},
	}
}

// Close codes of a change request, as ServiceNow names them.
const (
	CloseSuccessful       = "successful"
	CloseSuccessfulIssues = "successful_issues"
	CloseUnsuccessful     = "unsuccessful"
)

// closeCode judges a run as its journal stands now: successful when
// every host succeeded and kept its changes; unsuccessful when none did
// and nothing it made stays (its hosts failed and were rolled back, or
// the change was backed out since), or when it has not finished;
// successful with issues otherwise.
func closeCode(run *journal.Run) string {
	good, stays := 0, false
	for _, h := range run.Hosts {
		backedOut := false
		for _, e := range h.Changes {
			switch e.Status {
			case journal.Applied, journal.NotReverted, journal.RevertFailed, journal.Unknown:
				stays = true
			case journal.Reverted:
				backedOut = true
			}
		}
		if h.Outcome == "success" && !backedOut {
			good++
		}
	}
	switch {
	case run.Running():
		return CloseUnsuccessful
	case good == len(run.Hosts) && run.Outcome == "success":
		return CloseSuccessful
	case good == 0 && !stays:
		return CloseUnsuccessful
	}
	return CloseSuccessfulIssues
}

var closeLabels = map[string]string{CloseSuccessful: "Successful", CloseSuccessfulIssues: "Successful with issues", CloseUnsuccessful: "Unsuccessful"}

// statusCounts counts a run's changes by status.
func statusCounts(run *journal.Run) map[string]int {
	out := map[string]int{}
	for _, h := range run.Hosts {
		for _, e := range h.Changes {
			out[string(e.Status)]++
		}
	}
	return out
}

// rolledBack lists "host: address" for each change the run reverted.
func rolledBack(run *journal.Run) []string {
	var out []string
	for _, h := range run.Hosts {
		for _, e := range h.Changes {
			if e.Status == journal.Reverted {
				out = append(out, h.Name+": "+e.Address)
			}
		}
	}
	return out
}

// closeNotes are a run's close notes: its outcome per host, its changes
// counted by status, what was rolled back and what could not be.
func closeNotes(run *journal.Run) []string {
	var out []string
	byOutcome := map[string][]string{}
	var outcomes []string
	for _, h := range run.Hosts {
		o := hostOutcome(h)
		if byOutcome[o] == nil {
			outcomes = append(outcomes, o)
		}
		byOutcome[o] = append(byOutcome[o], h.Name)
	}
	for _, o := range outcomes {
		out = append(out, fmt.Sprintf("Hosts %s (%d): %s.", o, len(byOutcome[o]), strings.Join(byOutcome[o], ", ")))
	}
	counts := statusCounts(run)
	var parts []string
	for _, s := range sortedKeys(counts) {
		parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
	}
	if len(parts) == 0 {
		parts = append(parts, "none")
	}
	out = append(out, "Changes by status: "+strings.Join(parts, ", ")+".")
	if rb := rolledBack(run); len(rb) > 0 {
		out = append(out, "Rolled back: "+strings.Join(rb, "; ")+".")
	} else {
		out = append(out, "Rolled back: nothing.")
	}
	var kept []string
	for _, h := range run.Hosts {
		for _, e := range h.Changes {
			if e.Status == journal.RevertFailed || e.Status == journal.NotReverted || e.Status == journal.Unknown {
				kept = append(kept, fmt.Sprintf("%s: %s (%s)", h.Name, e.Address, e.Status))
			}
		}
	}
	if len(kept) > 0 {
		out = append(out, "Not rolled back or unknown: "+strings.Join(kept, "; ")+".")
	}
	if !run.Running() && run.Command == "apply" && counts[string(journal.Applied)] > 0 {
		out = append(out, fmt.Sprintf("To revert what stays applied: tend rollback %s -C %s", run.ID, shellWord(run.ConfigDir)))
	}
	return out
}

// writeCloseNotes prints a run's close code and notes in Markdown.
func writeCloseNotes(w io.Writer, run *journal.Run) {
	code := closeCode(run)
	fmt.Fprintf(w, "\n## Close notes\n\n**Close code:** %s (%s)\n\n", closeLabels[code], mdCode(code))
	for _, l := range closeNotes(run) {
		fmt.Fprintf(w, "- %s\n", mdText(l))
	}
}

// runChangeRequest is a run's close fields in ServiceNow's names.
func runChangeRequest(run *journal.Run) *ChangeRequest {
	cr := &ChangeRequest{
		ShortDescription: fmt.Sprintf("tend %s run %s: %s", run.Command, run.ID, run.Outcome),
		CloseCode:        closeCode(run),
		CloseNotes:       strings.Join(closeNotes(run), "\n") + "\n",
		WorkStart:        run.Started.UTC().Format(time.RFC3339),
		CMDBCI:           []string{},
		Tend:             TendCR{RunID: run.ID, Statuses: statusCounts(run), RolledBack: rolledBack(run)},
	}
	if !run.Finished.IsZero() {
		cr.WorkEnd = run.Finished.UTC().Format(time.RFC3339)
	}
	for _, h := range run.Hosts {
		cr.CMDBCI = append(cr.CMDBCI, h.Name)
	}
	return cr
}

// writeJSON prints v as an indented JSON document.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
