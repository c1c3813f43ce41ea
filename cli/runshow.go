package cli

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/tendhq/tend/hostlist"
	"github.com/tendhq/tend/journal"
)

// adhocAnswer is the hosts of a journaled ad-hoc run that gave one
// answer: the same exit status and output digests.
type adhocAnswer struct {
	hosts          []string
	exit           int
	stdout, stderr journal.OutputDigest
}

// adhocAnswers folds a journaled ad-hoc run's hosts by answer, largest
// group first; hosts without an exit status are left out.
func adhocAnswers(run *journal.Run) []*adhocAnswer {
	by := map[string]*adhocAnswer{}
	var out []*adhocAnswer
	for _, h := range run.Hosts {
		r := h.Result
		if r == nil || r.ExitStatus == nil {
			continue
		}
		k := fmt.Sprintf("%d %d %s %d %s", *r.ExitStatus, r.Stdout.Bytes, r.Stdout.Digest, r.Stderr.Bytes, r.Stderr.Digest)
		a := by[k]
		if a == nil {
			a = &adhocAnswer{exit: *r.ExitStatus, stdout: r.Stdout, stderr: r.Stderr}
			by[k] = a
			out = append(out, a)
		}
		a.hosts = append(a.hosts, h.Name)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if len(out[i].hosts) != len(out[j].hosts) {
			return len(out[i].hosts) > len(out[j].hosts)
		}
		return out[i].exit < out[j].exit
	})
	return out
}

func describeOutput(name string, d journal.OutputDigest) string {
	if d.Bytes == 0 {
		return "no " + name
	}
	return fmt.Sprintf("%s %s (%s)", name, plural(d.Bytes, "byte", "bytes"), d.Digest)
}

// adhocFacts are the ad-hoc run's own fields worth showing.
func adhocFacts(run *journal.Run) [][2]string {
	out := runFacts(run)
	ah := run.AdHoc
	if ah.Command != "" {
		out = append(out, [2]string{factCommand, ah.Command})
	}
	if ah.Script != "" {
		out = append(out, [2]string{"script", fmt.Sprintf("%s (sha256 %s)", ah.Script, ah.ScriptSHA256)})
	}
	if ah.Timeout > 0 {
		out = append(out, [2]string{"timeout", ah.Timeout.String()})
	}
	if ah.Become {
		u := ah.BecomeUser
		if u == "" {
			u = "root"
		}
		out = append(out, [2]string{"become", u})
	}
	if ah.Stdin {
		out = append(out, [2]string{"stdin", "tend's standard input"})
	}
	if ah.ReadOnly {
		out = append(out, [2]string{"read-only", "declared by the operator (no host leases)"})
	}
	root := 0
	for _, h := range run.Hosts {
		if h.Result != nil && h.Result.Root {
			root++
		}
	}
	if root > 0 {
		out = append(out, [2]string{"as root", "on " + plural(root, "host", "hosts")})
	}
	return out
}

// adhocText prints a journaled ad-hoc run: the command, then its hosts
// folded by answer (exit status and output digests), then the hosts
// that did not run it, with why.
func adhocText(w io.Writer, run *journal.Run) {
	fmt.Fprintf(w, "Run %s: %s, %s\n", run.ID, run.Command, run.Outcome)
	for _, kv := range adhocFacts(run) {
		fmt.Fprintf(w, "  %-9s %s\n", kv[0], kv[1])
	}
	fmt.Fprintln(w)
	for _, a := range adhocAnswers(run) {
		fmt.Fprintf(w, "%s (%d): exit %d\n  %s\n  %s\n", hostlist.Fold(a.hosts), len(a.hosts), a.exit,
			describeOutput("stdout", a.stdout), describeOutput("stderr", a.stderr))
	}
	for _, h := range run.Hosts {
		if h.Result == nil || h.Result.ExitStatus == nil {
			fmt.Fprintf(w, "%s: %s\n", h.Name, strings.ReplaceAll(hostOutcome(h), "_", " "))
			if h.Error != "" {
				fmt.Fprint(w, indent(h.Error, "  ! "))
			}
		}
	}
	fmt.Fprintf(w, "\n%s\n", adhocSummary(run))
}

// adhocSummary counts a journaled ad-hoc run's hosts by exit status.
func adhocSummary(run *journal.Run) string {
	exits := map[int]int{}
	other := map[string]int{}
	for _, h := range run.Hosts {
		if h.Result != nil && h.Result.ExitStatus != nil {
			exits[*h.Result.ExitStatus]++
		} else {
			other[strings.ReplaceAll(hostOutcome(h), "_", " ")]++
		}
	}
	var parts []string
	codes := make([]int, 0, len(exits))
	for c := range exits {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d exit %d", exits[c], c))
	}
	for _, o := range sortedKeys(other) {
		parts = append(parts, fmt.Sprintf("%d %s", other[o], o))
	}
	return fmt.Sprintf("%s: %s.", plural(len(run.Hosts), "host", "hosts"), strings.Join(parts, ", "))
}

// factCommand labels the command among an ad-hoc run's facts: the
// markdown record shows it as code.
const factCommand = "command"

// adhocMarkdown prints a journaled ad-hoc run as a record for a ticket.
func adhocMarkdown(w io.Writer, run *journal.Run) {
	fmt.Fprintf(w, "# Run %s: %s, %s\n\n", mdText(run.ID), mdText(run.Command), mdText(run.Outcome))
	for _, kv := range adhocFacts(run) {
		v := mdText(kv[1])
		if kv[0] == factCommand {
			v = mdCode(kv[1])
		}
		fmt.Fprintf(w, "- **%s:** %s\n", strings.ToUpper(kv[0][:1])+kv[0][1:], v)
	}
	fmt.Fprintln(w, "\n| Hosts | Count | Exit status | Stdout | Stderr |")
	fmt.Fprintln(w, "|---|---:|---:|---|---|")
	for _, a := range adhocAnswers(run) {
		fmt.Fprintf(w, "| %s | %d | %d | %s | %s |\n", mdCodeCell(hostlist.Fold(a.hosts)), len(a.hosts), a.exit,
			mdCell(describeOutput("stdout", a.stdout)), mdCell(describeOutput("stderr", a.stderr)))
	}
	for _, h := range run.Hosts {
		if h.Result == nil || h.Result.ExitStatus == nil {
			fmt.Fprintf(w, "| %s | 1 | %s | | %s |\n", mdCodeCell(h.Name), mdCell(hostOutcome(h)), mdCell(h.Error))
		}
	}
	fmt.Fprintf(w, "\n%s\n", mdText(adhocSummary(run)))
}

// runsLabel is a run's command as tend runs lists it: an ad-hoc run's
// command line follows "run", shortened.
func runsLabel(r *journal.Run) string {
	if r.AdHoc == nil {
		return r.Command
	}
	what := r.AdHoc.Command
	if r.AdHoc.Script != "" {
		what = "--script " + r.AdHoc.Script
	}
	what = strings.Join(strings.Fields(what), " ")
	if n := []rune(what); len(n) > 40 {
		what = string(n[:39]) + "…"
	}
	return r.Command + ": " + what
}
