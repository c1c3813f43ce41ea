package cli

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/spf13/cobra"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/tendhq/tend/inventory"
	"github.com/tendhq/tend/lang"
	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/probe"
	"github.com/tendhq/tend/redact"
)

// factsFlags are tend facts' flags for fleet queries.
type factsFlags struct {
	where, selects string
	cached         bool
	asCSV          bool
}

func (ff *factsFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&ff.where, "where", "", "print only the hosts for which this HCL expression over host.name, host.facts, host.vars and host.groups is true")
	f.StringVar(&ff.selects, "select", "", "comma-separated HCL expressions to print as columns (default: the values --where reads)")
	f.BoolVar(&ff.cached, "cached", false, "answer from the facts cache (.tend/facts) without connecting")
	f.BoolVar(&ff.asCSV, "csv", false, "print a query's answer as CSV")
}

// query reports whether the flags ask for a fleet query rather than
// every host's facts as JSON.
func (ff *factsFlags) query() bool { return ff.where != "" || ff.selects != "" || ff.asCSV }

// The object a query reads, host.name, host.facts, host.vars and
// host.groups (names of the query language, not of any resource).
const (
	queryRoot   = "host"
	queryName   = "name"
	queryGroups = "groups"
)

// fleetQuery is a parsed fleet query: a condition and the columns to
// print for each host that meets it.
type fleetQuery struct {
	where   hcl.Expression // nil: every host
	columns []queryColumn
	// packages are the names whose installed versions the query reads
	// (host.facts.packages["NAME"]), in order.
	packages []string
	files    map[string]*hcl.File
}

type queryColumn struct {
	name string // the expression as written
	expr hcl.Expression
}

// queryHostAttrs are what host holds in a fleet query.
var queryHostAttrs = map[string]bool{"name": true, "facts": true, "vars": true, "groups": true}

// parseFleetQuery parses --where and --select and checks, before any
// host is contacted, that they read only host.name, host.facts,
// host.vars and host.groups, naming every package they read.
func parseFleetQuery(where, selects string) (*fleetQuery, hcl.Diagnostics) {
	q := &fleetQuery{files: map[string]*hcl.File{}}
	var diags hcl.Diagnostics
	if strings.TrimSpace(where) != "" {
		src := []byte(where)
		q.files["--where"] = &hcl.File{Bytes: src}
		expr, ds := hclsyntax.ParseExpression(src, "--where", hcl.Pos{Line: 1, Column: 1})
		diags = append(diags, ds...)
		if !ds.HasErrors() {
			q.where = expr
		}
	}
	if strings.TrimSpace(selects) != "" {
		// The list is parsed as one HCL tuple, so a comma inside a call
		// or a string does not split a column; the opening bracket sits
		// just before the flag's first character, so positions count
		// from the flag's value.
		src := []byte(selects + "]")
		q.files["--select"] = &hcl.File{Bytes: src}
		expr, ds := hclsyntax.ParseExpression(append([]byte("["), src...), "--select", hcl.Pos{Line: 1, Column: 0, Byte: -1})
		diags = append(diags, ds...)
		if tup, ok := expr.(*hclsyntax.TupleConsExpr); ok && !ds.HasErrors() {
			for _, e := range tup.Exprs {
				r := e.Range()
				q.columns = append(q.columns, queryColumn{name: string(src[r.Start.Byte:r.End.Byte]), expr: e})
			}
		} else if !ds.HasErrors() {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid --select",
				Detail: "--select is a comma-separated list of expressions, such as host.facts.os.version,host.vars.tier.", Subject: expr.Range().Ptr()})
		}
	}
	if diags.HasErrors() {
		return nil, diags
	}
	seen := map[string]bool{}
	check := func(expr hcl.Expression) {
		for _, tr := range expr.Variables() {
			if tr.RootName() != queryRoot {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown variable",
					Detail:  fmt.Sprintf("A fleet query reads host.name, host.facts, host.vars and host.groups; there is no %q here.", tr.RootName()),
					Subject: tr.SourceRange().Ptr()})
				continue
			}
			if len(tr) < 2 {
				continue
			}
			attr, ok := traversalStep(tr[1])
			if !ok || !queryHostAttrs[attr] {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unsupported attribute",
					Detail: "host has name, facts, vars and groups.", Subject: tr.SimpleSplit().Rel.SourceRange().Ptr()})
				continue
			}
			if attr != "facts" || len(tr) < 3 {
				continue
			}
			if a, _ := traversalStep(tr[2]); a != "packages" {
				continue
			}
			name, ok := "", len(tr) >= 4
			if ok {
				name, ok = traversalStep(tr[3])
			}
			if !ok {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Which package?",
					Detail:  `A query names each package it reads, as host.facts.packages["NAME"], so its version is gathered with the facts.`,
					Subject: tr.SourceRange().Ptr()})
				continue
			}
			if err := probe.CheckPackageName(name); err != nil {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid package name",
					Detail: err.Error() + ".", Subject: tr.SourceRange().Ptr()})
				continue
			}
			if !seen[name] {
				seen[name] = true
				q.packages = append(q.packages, name)
			}
		}
	}
	if q.where != nil {
		check(q.where)
	}
	for _, c := range q.columns {
		check(c.expr)
	}
	if diags.HasErrors() {
		return nil, diags
	}
	if len(q.columns) == 0 && q.where != nil {
		// By default a query shows what it read: the facts and vars
		// --where names.
		src := q.files["--where"].Bytes
		shown := map[string]bool{}
		for _, tr := range q.where.Variables() {
			if a, _ := traversalStep(tr[min(1, len(tr)-1)]); len(tr) < 3 || a == queryName || a == queryGroups {
				continue
			}
			r := tr.SourceRange()
			name := string(src[r.Start.Byte:r.End.Byte])
			if !shown[name] {
				shown[name] = true
				q.columns = append(q.columns, queryColumn{name: name, expr: &hclsyntax.ScopeTraversalExpr{Traversal: tr, SrcRange: r}})
			}
		}
	}
	return q, diags
}

// traversalStep returns the name a traversal step reads: an attribute,
// or a string index.
func traversalStep(s hcl.Traverser) (string, bool) {
	switch s := s.(type) {
	case hcl.TraverseAttr:
		return s.Name, true
	case hcl.TraverseIndex:
		if s.Key.IsKnown() && !s.Key.IsNull() && s.Key.Type() == cty.String {
			return s.Key.AsString(), true
		}
	}
	return "", false
}

// hostFacts is one host's facts, or why there are none.
type hostFacts struct {
	facts *probe.Facts
	err   error
	// gathered is when cached facts were gathered (zero: live).
	gathered time.Time
}

// gatherFacts returns every host's facts: live, in one probe round trip
// per host that also reads the installed versions of packages (saved in
// the facts cache), or from the facts cache when cached.
func (c *common) gatherFacts(ctx context.Context, hosts []*inventory.Host, packages []string, cached bool) map[string]hostFacts {
	out := make(map[string]hostFacts, len(hosts))
	var mu sync.Mutex
	var wg sync.WaitGroup
	connect := c.connector()
	limit := make(chan struct{}, max(c.parallel, 1))
	for _, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var r hostFacts
			if cached {
				r = c.facts().cached(h.Name, packages)
			} else {
				limit <- struct{}{}
				r = gatherHost(ctx, connect, h, packages)
				<-limit
				if r.err == nil {
					c.facts().save(h.Name, *r.facts)
				}
			}
			mu.Lock()
			out[h.Name] = r
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

func gatherHost(ctx context.Context, connect plan.Connector, h *inventory.Host, packages []string) hostFacts {
	t, err := connect(ctx, h)
	if err != nil {
		return hostFacts{err: err}
	}
	defer t.Close()
	windows := h.Windows()
	var frags []probe.Fragment
	if len(packages) > 0 {
		frags = append(frags, probe.PackagesFragment(packages, windows))
	}
	res, err := probe.RunOn(ctx, t, windows, true, frags)
	if err != nil {
		return hostFacts{err: err}
	}
	f := res.Facts
	if len(packages) > 0 {
		installed, err := probe.Packages(res, packages, windows)
		if err != nil {
			return hostFacts{err: err}
		}
		f.Packages = map[string]*string{}
		scheme := lang.SchemeFor(f.PackageManager)
		for _, n := range packages {
			f.Packages[n] = newestVersion(scheme, installed[n])
		}
	}
	return hostFacts{facts: &f}
}

// newestVersion returns the newest of the versions of a package
// installed on a host (a package manager may keep several, as rpm does
// kernels), or nil when there is none.
func newestVersion(scheme string, versions []string) *string {
	if len(versions) == 0 {
		return nil
	}
	best := versions[0]
	for _, v := range versions[1:] {
		if c, err := lang.CompareVersions(scheme, v, best); err == nil && c > 0 {
			best = v
		}
	}
	return &best
}

// queryRow is one host's answer to a query.
type queryRow struct {
	host   string
	values []cty.Value
	err    string
}

// runFleetQuery answers a query over the facts gathered, printing the
// hosts that meet it. Hosts whose facts could not be gathered, or for
// which the query could not be evaluated, are reported on stderr and
// make the exit status 1.
func (c *common) runFleetQuery(ctx context.Context, l *loaded, ff *factsFlags) error {
	if c.io.ui.active() && ff.asCSV {
		return fmt.Errorf("--json and --csv are exclusive")
	}
	q, diags := parseFleetQuery(ff.where, ff.selects)
	if diags.HasErrors() {
		c.printDiags(map[string]*hcl.File{"--where": {Bytes: []byte(ff.where)}, "--select": {Bytes: []byte(ff.selects + "]")}}, diags)
		return &exitError{ExitError}
	}
	gathered := c.gatherFacts(ctx, l.hosts, q.packages, ff.cached)
	fns := lang.Functions(c.dir, nil)
	var rows []queryRow
	var failed []queryRow
	var evalDiags hcl.Diagnostics
	seenDiag := map[string]bool{}
	for _, h := range l.hosts {
		g := gathered[h.Name]
		if g.err != nil {
			failed = append(failed, queryRow{host: h.Name, err: redact.String(g.err.Error())})
			continue
		}
		hostVal := queryHost(h, g.facts, q.packages)
		ectx := &hcl.EvalContext{Variables: map[string]cty.Value{"host": hostVal}, Functions: lang.HostFunctions(fns, hostVal.GetAttr("facts"))}
		row, ds := q.evaluate(ectx, h.Name)
		for _, d := range ds {
			key := d.Summary + d.Detail + fmt.Sprint(d.Subject)
			if !seenDiag[key] {
				seenDiag[key] = true
				evalDiags = append(evalDiags, d)
			}
		}
		switch {
		case ds.HasErrors():
			failed = append(failed, queryRow{host: h.Name, err: "the query cannot be evaluated for this host (above)"})
		case row != nil:
			rows = append(rows, *row)
		}
	}
	c.printDiags(q.files, evalDiags)
	var err error
	switch {
	case c.io.ui.active():
		err = emitQuery(c.io.ui, q, rows, failed)
	case ff.asCSV:
		err = writeQueryCSV(c.io.Stdout, q, rows)
	case len(rows) > 0:
		err = writeQueryTable(c.io.Stdout, q, rows)
	}
	if err != nil {
		return err
	}
	for _, f := range failed {
		fmt.Fprintf(c.io.Stderr, "%s: %s\n", f.host, f.err)
	}
	matched := "hosts match"
	if q.where == nil {
		matched = "hosts answered"
	}
	fmt.Fprintf(c.io.Stderr, "%d of %d %s", len(rows), len(l.hosts), matched)
	if len(failed) > 0 {
		fmt.Fprintf(c.io.Stderr, "; %d failed", len(failed))
	}
	fmt.Fprintln(c.io.Stderr)
	if len(failed) > 0 {
		return &exitError{ExitError}
	}
	return nil
}

// queryHost is the host object a query reads.
func queryHost(h *inventory.Host, f *probe.Facts, packages []string) cty.Value {
	facts := f.Value().AsValueMap()
	pkgs := map[string]cty.Value{}
	for _, n := range packages {
		if v := f.Packages[n]; v != nil {
			pkgs[n] = cty.StringVal(*v)
		} else {
			pkgs[n] = cty.NullVal(cty.String)
		}
	}
	if len(pkgs) == 0 {
		facts["packages"] = cty.MapValEmpty(cty.String)
	} else {
		facts["packages"] = cty.MapVal(pkgs)
	}
	vars := cty.EmptyObjectVal
	if len(h.Vars) > 0 {
		vars = cty.ObjectVal(h.Vars)
	}
	groups := cty.ListValEmpty(cty.String)
	if len(h.Groups) > 0 {
		gs := make([]cty.Value, len(h.Groups))
		for i, g := range h.Groups {
			gs[i] = cty.StringVal(g)
		}
		groups = cty.ListVal(gs)
	}
	return cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal(h.Name), "facts": cty.ObjectVal(facts), "vars": vars, "groups": groups})
}

// evaluate answers the query for one host: nil when --where is false
// (or null: a package that is not installed meets no version test).
func (q *fleetQuery) evaluate(ectx *hcl.EvalContext, host string) (*queryRow, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	if q.where != nil {
		v, ds := q.where.Value(ectx)
		diags = append(diags, ds...)
		if ds.HasErrors() {
			return nil, diags
		}
		v, _ = v.UnmarkDeep()
		bv, err := convert.Convert(v, cty.Bool)
		if err != nil || !v.IsKnown() {
			return nil, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid --where",
				Detail: fmt.Sprintf("--where must be true or false; for host %s it is %s.", host, describe(v)), Subject: q.where.Range().Ptr()})
		}
		if bv.IsNull() || bv.False() {
			return nil, diags
		}
	}
	row := &queryRow{host: host}
	for _, c := range q.columns {
		v, ds := c.expr.Value(ectx)
		diags = append(diags, ds...)
		row.values = append(row.values, v)
	}
	return row, diags
}

func describe(v cty.Value) string {
	switch {
	case !v.IsKnown():
		return "not known"
	case v.IsNull():
		return "null"
	}
	return "a " + v.Type().FriendlyName()
}

// cellText is how a value shows in a table or CSV cell: strings as
// they are, null as empty, sensitive values as (sensitive), anything
// else as JSON.
func cellText(v cty.Value) string {
	if v.ContainsMarked() {
		return redact.Replacement
	}
	switch {
	case !v.IsKnown():
		return "(not known)"
	case v.IsNull():
		return ""
	case v.Type() == cty.String:
		return v.AsString()
	}
	b, err := ctyjson.SimpleJSONValue{Value: v}.MarshalJSON()
	if err != nil {
		return "(" + v.Type().FriendlyName() + ")"
	}
	return string(b)
}

func writeQueryTable(w io.Writer, q *fleetQuery, rows []queryRow) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	head := []string{"HOST"}
	for _, c := range q.columns {
		head = append(head, c.name)
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, r := range rows {
		cells := []string{r.host}
		for _, v := range r.values {
			t := cellText(v)
			if t == "" {
				t = "-"
			}
			cells = append(cells, strings.NewReplacer("\t", " ", "\n", " ").Replace(t))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

func writeQueryCSV(w io.Writer, q *fleetQuery, rows []queryRow) error {
	cw := csv.NewWriter(w)
	head := []string{"host"}
	for _, c := range q.columns {
		head = append(head, c.name)
	}
	if err := cw.Write(head); err != nil {
		return err
	}
	for _, r := range rows {
		rec := []string{r.host}
		for _, v := range r.values {
			rec = append(rec, cellText(v))
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// emitQuery prints a query_result message per host that meets the query
// (its columns' values by name), then one per host for which it could
// not be answered (its error).
func emitQuery(ui *jsonUI, q *fleetQuery, rows []queryRow, failed []queryRow) error {
	for _, r := range rows {
		values := map[string]json.RawMessage{}
		for i, v := range r.values {
			var b []byte
			switch {
			case v.ContainsMarked():
				b, _ = json.Marshal(redact.Replacement)
			case !v.IsKnown():
				b = []byte("null")
			default:
				var err error
				if b, err = (ctyjson.SimpleJSONValue{Value: v}).MarshalJSON(); err != nil {
					return err
				}
			}
			values[q.columns[i].name] = b
		}
		ui.emit("query_result", map[string]any{"host": r.host, "values": values})
	}
	for _, f := range failed {
		ui.emit("query_result", map[string]any{"host": f.host, "error": f.err})
	}
	return nil
}

// printFactsJSON prints every host's facts (or error) as JSON, by host
// name.
func printFactsJSON(w io.Writer, hosts []*inventory.Host, gathered map[string]hostFacts) (failed int, err error) {
	type result struct {
		Facts *probe.Facts `json:"facts,omitempty"`
		// GatheredAt is when cached facts were gathered.
		GatheredAt *time.Time `json:"gathered_at,omitempty"`
		Error      string     `json:"error,omitempty"`
	}
	out := map[string]result{}
	names := make([]string, 0, len(hosts))
	for _, h := range hosts {
		names = append(names, h.Name)
	}
	sort.Strings(names)
	for _, n := range names {
		g := gathered[n]
		if g.err != nil {
			out[n] = result{Error: redact.String(g.err.Error())}
			failed++
			continue
		}
		r := result{Facts: g.facts}
		if !g.gathered.IsZero() {
			at := g.gathered.UTC()
			r.GatheredAt = &at
		}
		out[n] = r
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return failed, enc.Encode(out)
}
