package lang

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Rollout is the `rollout` block: how apply moves through the targeted
// hosts in batches.
type Rollout struct {
	// Serial is the batch sizes; the last repeats. Empty means one batch.
	Serial         []BatchSize
	MaxFailPercent float64
	Pause          time.Duration
	// OnFailure is stop, rollback_failed or rollback_batch.
	OnFailure   string
	HealthCheck *HealthCheck
	DeclRange   hcl.Range
}

// BatchSize is a number of hosts or a percentage of the targeted hosts.
type BatchSize struct {
	N       int
	Percent float64
}

// Hosts returns the batch size for a fleet of total hosts (at least 1).
func (b BatchSize) Hosts(total int) int {
	n := b.N
	if b.Percent > 0 {
		n = int(float64(total) * b.Percent / 100)
	}
	if n < 1 {
		n = 1
	}
	return n
}

func (b BatchSize) String() string {
	if b.Percent > 0 {
		return strconv.FormatFloat(b.Percent, 'f', -1, 64) + "%"
	}
	return strconv.Itoa(b.N)
}

// HealthCheck is a command run on each host after its apply; the host
// counts as failed unless it exits 0 within the retries.
type HealthCheck struct {
	// Command is the command when it is a literal string; an expression
	// using variables or functions (secret(...) among them) is evaluated
	// for a run by Config.HealthCommand.
	Command string
	// Expr is the command's expression, Source its text in the
	// configuration (what output shows of a command holding a secret).
	Expr    hcl.Expression
	Source  string
	Retries int
	Delay   time.Duration
	Timeout time.Duration
}

// Rollout failure policies.
const (
	RolloutStop           = "stop"
	RolloutRollbackFailed = "rollback_failed"
	RolloutRollbackBatch  = "rollback_batch"
)

// ParseSerial reads batch sizes: "3", "10%", or a comma-separated list
// such as "1,10%,50%".
func ParseSerial(s string) ([]BatchSize, error) {
	var out []BatchSize
	for _, part := range strings.Split(s, ",") {
		b, err := parseBatchSize(strings.TrimSpace(part))
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

func parseBatchSize(s string) (BatchSize, error) {
	if p, ok := strings.CutSuffix(s, "%"); ok {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || f <= 0 || f > 100 {
			return BatchSize{}, fmt.Errorf("batch size %q: a percentage must be above 0 and at most 100", s)
		}
		return BatchSize{Percent: f}, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return BatchSize{}, fmt.Errorf("batch size %q: want a number of hosts (1 or more) or a percentage such as \"25%%\"", s)
	}
	return BatchSize{N: n}, nil
}

// Batches splits n hosts into consecutive batches by the sizes.
func Batches(sizes []BatchSize, n int) [][2]int {
	if len(sizes) == 0 {
		return [][2]int{{0, n}}
	}
	var out [][2]int
	for i, start := 0, 0; start < n; i++ {
		size := sizes[min(i, len(sizes)-1)].Hosts(n)
		end := min(start+size, n)
		out = append(out, [2]int{start, end})
		start = end
	}
	return out
}

func (c *Config) loadRollout(b *hcl.Block) hcl.Diagnostics {
	if c.Rollout != nil {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Duplicate rollout block",
			Detail: fmt.Sprintf("A rollout block was already declared at %s.", c.Rollout.DeclRange), Subject: b.DefRange.Ptr()}}
	}
	r := &Rollout{OnFailure: RolloutStop, DeclRange: b.DefRange}
	content, diags := b.Body.Content(&hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "serial"}, {Name: "max_fail_percent"}, {Name: "pause"}, {Name: "on_failure"}},
		Blocks:     []hcl.BlockHeaderSchema{{Type: "health_check"}},
	})
	if a, ok := content.Attributes["serial"]; ok {
		v, ds := a.Expr.Value(nil)
		diags = append(diags, ds...)
		if !ds.HasErrors() {
			var parts []string
			if v.Type().IsTupleType() || v.Type().IsListType() {
				for _, e := range v.AsValueSlice() {
					s, err := convert.Convert(e, cty.String)
					if err != nil {
						parts = append(parts, "?")
						continue
					}
					parts = append(parts, s.AsString())
				}
			} else if s, err := convert.Convert(v, cty.String); err == nil && !s.IsNull() {
				parts = []string{s.AsString()}
			}
			sizes, err := ParseSerial(strings.Join(parts, ","))
			if err != nil || len(parts) == 0 {
				msg := "serial must be a number, a percentage or a list of them, such as [1, \"10%\", \"50%\"]"
				if err != nil {
					msg = err.Error()
				}
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid serial", Detail: msg, Subject: a.Expr.Range().Ptr()})
			}
			r.Serial = sizes
		}
	}
	if a, ok := content.Attributes["max_fail_percent"]; ok {
		diags = append(diags, decodeAttr(a, cty.Number, func(v cty.Value) { r.MaxFailPercent, _ = v.AsBigFloat().Float64() })...)
	}
	if a, ok := content.Attributes["pause"]; ok {
		diags = append(diags, durationAttr(a, &r.Pause)...)
	}
	if a, ok := content.Attributes["on_failure"]; ok {
		diags = append(diags, decodeAttr(a, cty.String, func(v cty.Value) { r.OnFailure = v.AsString() })...)
		switch r.OnFailure {
		case RolloutStop, RolloutRollbackFailed, RolloutRollbackBatch:
		default:
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid on_failure",
				Detail: "on_failure must be \"stop\", \"rollback_failed\" or \"rollback_batch\".", Subject: a.Expr.Range().Ptr()})
		}
	}
	for _, hb := range content.Blocks {
		hc := &HealthCheck{Retries: 0, Delay: time.Second, Timeout: 30 * time.Second}
		hcContent, ds := hb.Body.Content(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{
			{Name: "command", Required: true}, {Name: "retries"}, {Name: "delay"}, {Name: "timeout"},
		}})
		diags = append(diags, ds...)
		if a, ok := hcContent.Attributes["command"]; ok {
			diags = append(diags, c.healthCommand(hc, a)...)
		}
		if a, ok := hcContent.Attributes["retries"]; ok {
			diags = append(diags, decodeAttr(a, cty.Number, func(v cty.Value) { n, _ := v.AsBigFloat().Int64(); hc.Retries = int(n) })...)
		}
		if a, ok := hcContent.Attributes["delay"]; ok {
			diags = append(diags, durationAttr(a, &hc.Delay)...)
		}
		if a, ok := hcContent.Attributes["timeout"]; ok {
			diags = append(diags, durationAttr(a, &hc.Timeout)...)
		}
		r.HealthCheck = hc
	}
	c.Rollout = r
	return diags
}

// healthCommand keeps a health check's command: a literal string as it
// is, an expression to be evaluated for each run. The expression may use
// var.* and functions; what a host sees (host.*) is not known to a
// rollout, which spans hosts.
func (c *Config) healthCommand(hc *HealthCheck, a *hcl.Attribute) hcl.Diagnostics {
	hc.Expr = a.Expr
	rng := a.Expr.Range()
	if f := c.Parser.Files()[rng.Filename]; f != nil && rng.End.Byte <= len(f.Bytes) {
		hc.Source = string(rng.SliceBytes(f.Bytes))
	}
	var diags hcl.Diagnostics
	for _, tr := range a.Expr.Variables() {
		if root := tr.RootName(); root != "var" {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid reference in health check",
				Detail:  fmt.Sprintf("A health check's command may use var.* and functions such as secret(...); %s is not available to it (the rollout spans hosts).", root),
				Subject: tr.SourceRange().Ptr()})
		}
	}
	if diags.HasErrors() {
		return diags
	}
	if _, ds := a.Expr.Value(nil); len(a.Expr.Variables()) > 0 || ds.HasErrors() {
		// Variables and function calls: checked now with the variables
		// unknown, evaluated for the run.
		ctx := &hcl.EvalContext{Variables: map[string]cty.Value{"var": cty.DynamicVal}, Functions: c.functions()}
		_, ds := a.Expr.Value(ctx)
		return append(diags, ds...)
	}
	return decodeAttr(a, cty.String, func(v cty.Value) { hc.Command = v.AsString() })
}

// HealthCommand evaluates the rollout's health check command with the
// run's variables. sensitive reports a command derived from a secret or
// a sensitive variable: it travels only inside the script the host runs
// (never on a command line), and output shows hc.Source instead. A
// secret it needs that cannot be resolved is an error naming it.
func (c *Config) HealthCommand(hc *HealthCheck, vars map[string]cty.Value) (cmd string, sensitive bool, diags hcl.Diagnostics) {
	if hc.Command != "" || hc.Expr == nil {
		return hc.Command, false, nil
	}
	varVal := cty.EmptyObjectVal
	if len(vars) > 0 {
		varVal = cty.ObjectVal(vars)
	}
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{"var": varVal}, Functions: c.functions()}
	v, diags := hc.Expr.Value(ctx)
	if diags.HasErrors() {
		return "", false, diags
	}
	rng := hc.Expr.Range().Ptr()
	if u := UnresolvedIn(v); len(u) > 0 {
		return "", false, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Secret not available",
			Detail: fmt.Sprintf("The rollout's health check needs %s.", u[0].Secret), Subject: rng})
	}
	cv, err := convert.Convert(v, cty.String)
	if err == nil && !cv.IsNull() && !cv.IsKnown() {
		err = fmt.Errorf("unknown")
	}
	if err != nil || cv.IsNull() {
		return "", false, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid value",
			Detail: "The health check's command must be a string.", Subject: rng})
	}
	sensitive = cv.ContainsMarked()
	cv, _ = cv.UnmarkDeep()
	return cv.AsString(), sensitive, diags
}

func durationAttr(a *hcl.Attribute, dst *time.Duration) hcl.Diagnostics {
	var raw string
	diags := decodeAttr(a, cty.String, func(v cty.Value) { raw = v.AsString() })
	if diags.HasErrors() {
		return diags
	}
	d, err := time.ParseDuration(raw)
	if err != nil || d < 0 {
		return append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid duration",
			Detail: fmt.Sprintf("%s must be a duration such as \"30s\" or \"2m\", not %q.", a.Name, raw), Subject: a.Expr.Range().Ptr()})
	}
	*dst = d
	return diags
}
