package cli

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/plan"
)

func driftCmd(io IO) *cobra.Command {
	c := &common{io: io}
	var format string
	cmd := &cobra.Command{
		Use:   "drift",
		Short: "Report where hosts differ from the configuration, for CI (exit 0 none, 2 drift, 1 error)",
		Long: `Plan every targeted host and report each resource that differs from the
configuration. Formats: text, json (JSON lines, the same as --json),
junit (one test case per host and resource, a failure per drifted
resource, an error per unreachable host).

Exit codes: 0 no drift, 2 drift, 1 error (an error wins over drift).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch format {
			case "json":
				io.ui.on = true
			case "text", "junit":
				if io.ui.active() && cmd.Flags().Changed("format") {
					return fmt.Errorf("--json and --format %s cannot be used together", format)
				}
			default:
				return fmt.Errorf("--format must be text, json or junit, not %q", format)
			}
			l, err := c.load(true)
			if err != nil {
				return err
			}
			pl, err := c.makePlan(cmd, l)
			defer closeAll(pl)
			if err != nil {
				return err
			}
			c.html.planned(pl, c.dir, true)
			switch {
			case io.ui.active():
				io.ui.plan(pl, "drift")
				io.ui.emit("drift_summary", countDrift(pl))
			case format == "junit":
				if err := writeJUnit(io.Stdout, pl); err != nil {
					return err
				}
			default:
				r := &plan.Renderer{W: io.Stdout, Color: c.color()}
				for _, h := range pl.Hosts {
					r.Host(h)
				}
				fmt.Fprintln(io.Stdout, driftSummary(pl))
			}
			switch {
			case pl.HasErrors():
				return &exitError{ExitError}
			case pl.HasChanges():
				return &exitError{ExitChanges}
			}
			return nil
		},
	}
	c.addConfigFlags(cmd)
	cmd.Flags().StringVar(&format, "format", "text", "text, json (JSON lines, as --json) or junit")
	addJSONFlag(cmd, io)
	c.addRunOutputs(cmd, true, true)
	c.addHTMLReport(cmd)
	return cmd
}

func driftSummary(pl *plan.Plan) string {
	n, hosts := 0, 0
	for _, h := range pl.Hosts {
		if k := len(h.Pending()); k > 0 {
			n += k
			hosts++
		}
	}
	s := fmt.Sprintf("Drift: %s on %d of %d hosts.", plural(n, "resource differs", "resources differ"), hosts, len(pl.Hosts))
	if n == 0 {
		s = fmt.Sprintf("No drift: %d of %d hosts match the configuration.", len(pl.Hosts)-pl.Count().Failed, len(pl.Hosts))
	}
	if f := pl.Count().Failed; f > 0 {
		var names []string
		for _, h := range pl.Hosts {
			if h.Err != nil {
				names = append(names, h.Name)
			}
		}
		s += fmt.Sprintf(" %d could not be checked: %s.", f, strings.Join(names, ", "))
	}
	return s
}

// driftCounts counts the resources that differ, the hosts with any, and
// the hosts that could not be checked.
type driftCounts struct {
	Drifted      int `json:"drifted"`
	HostsDrifted int `json:"hosts_drifted"`
	HostsFailed  int `json:"hosts_failed"`
	Hosts        int `json:"hosts"`
}

func countDrift(pl *plan.Plan) driftCounts {
	r := driftCounts{Hosts: len(pl.Hosts)}
	for _, h := range pl.Hosts {
		if n := len(h.Pending()); n > 0 {
			r.Drifted += n
			r.HostsDrifted++
		}
		if h.Err != nil {
			r.HostsFailed++
		}
	}
	return r
}

// JUnit XML, as read by Jenkins, GitLab, GitHub Actions reporters and
// others: a suite per host, a case per resource.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Errors    int         `xml:"errors,attr"`
	Timestamp string      `xml:"timestamp,attr"`
	Cases     []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

func writeJUnit(w io.Writer, pl *plan.Plan) error {
	out := junitSuites{Name: "tend drift"}
	for _, h := range pl.Hosts {
		s := junitSuite{Name: h.Name, Timestamp: pl.Created.Format(time.RFC3339)}
		if h.Err != nil {
			kind := "plan_failed"
			if plan.Unreachable(h.Err) {
				kind = "unreachable"
			}
			s.Cases = append(s.Cases, junitCase{Name: "reach and probe host", Classname: h.Name,
				Error: &junitProblem{Message: h.Err.Error(), Type: kind, Text: h.Err.Error()}})
			s.Errors++
		}
		for _, ch := range h.Changes {
			tc := junitCase{Name: ch.Address, Classname: h.Name}
			if ch.HasChange() {
				var b strings.Builder
				(&plan.Renderer{W: &b}).Change(ch)
				tc.Failure = &junitProblem{Message: fmt.Sprintf("drift: %s (%s)", ch.Address, describeDrift(ch)), Type: string(ch.Action), Text: b.String()}
				s.Failures++
			}
			s.Cases = append(s.Cases, tc)
		}
		s.Tests = len(s.Cases)
		out.Tests += s.Tests
		out.Failures += s.Failures
		out.Errors += s.Errors
		out.Suites = append(out.Suites, s)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func describeDrift(ch *plan.Change) string {
	switch ch.Action {
	case plan.Create:
		return "missing"
	case plan.Delete:
		return "present but should be absent"
	case plan.Update:
		return "differs: " + strings.Join(ch.Changed, ", ")
	}
	return string(ch.Action)
}
