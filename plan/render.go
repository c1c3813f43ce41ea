package plan

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/pmezard/go-difflib/difflib"
	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/resources"
)

// Renderer prints plans for people.
type Renderer struct {
	W     io.Writer
	Color bool
}

const (
	green  = "\x1b[32m"
	yellow = "\x1b[33m"
	red    = "\x1b[31m"
	bold   = "\x1b[1m"
	dim    = "\x1b[2m"
	reset  = "\x1b[0m"
)

func (r *Renderer) c(code, s string) string {
	if !r.Color {
		return s
	}
	return code + s + reset
}

func (r *Renderer) actionColor(a Action) string {
	switch a {
	case Create:
		return green
	case Update, Refresh:
		return yellow
	case Delete, Replace:
		return red
	}
	return ""
}

// Plan prints every host with changes or errors, then the summary line.
func (r *Renderer) Plan(p *Plan) {
	for _, h := range p.Hosts {
		r.Host(h)
	}
	fmt.Fprintln(r.W, r.Summary(p))
}

// Host prints one host's changes (nothing when it has none).
func (r *Renderer) Host(h *HostPlan) {
	if h.Err != nil {
		fmt.Fprintf(r.W, "%s %s\n  %s\n\n", r.c(bold, h.Name), r.c(red, "failed"), r.c(red, indentRest(h.Err.Error(), "  ")))
		return
	}
	pending := h.Pending()
	var noted []*Change
	for _, ch := range h.Changes {
		if !ch.HasChange() && len(ch.Notes) > 0 {
			noted = append(noted, ch)
		}
	}
	if len(pending) == 0 && len(noted) == 0 {
		return
	}
	fmt.Fprintf(r.W, "%s\n", r.c(bold, h.Name))
	for _, ch := range pending {
		r.Change(ch)
	}
	// Unchanged resources with something to say (an unknown password).
	for _, ch := range noted {
		fmt.Fprintf(r.W, "%s %s %s\n", r.c(yellow, fmt.Sprintf("%5s", "?")), r.c(bold, ch.Address), r.c(dim, "no change known"))
		for _, n := range ch.Notes {
			fmt.Fprintf(r.W, "        %s\n", r.c(yellow, n))
		}
	}
	fmt.Fprintln(r.W)
}

func indentRest(s, ind string) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+ind)
}

// Change prints one change: symbol, address, what happens, and the
// attributes before → after.
func (r *Renderer) Change(ch *Change) {
	col := r.actionColor(ch.Action)
	fmt.Fprintf(r.W, "%s %s %s\n", r.c(col, fmt.Sprintf("%5s", ch.Action.Symbol())), r.c(bold, ch.Address), r.c(dim, verb(ch)))
	switch ch.Action {
	case Create, Replace:
		for _, k := range ch.After.AttrNames() {
			fmt.Fprintf(r.W, "        %s = %s\n", k, formatValue(ch.After.Attrs[k]))
		}
		if ch.After.Content != nil {
			r.content(ch)
		}
	case Delete:
		if id, ok := ch.Resource.(resources.Identifier); ok {
			for _, k := range id.Identity() {
				if v := ch.Before.Attr(k); v != cty.NilVal {
					fmt.Fprintf(r.W, "        %s = %s\n", k, formatValue(v))
				}
			}
		}
	case Update:
		for _, k := range ch.Changed {
			if k == ContentChange {
				r.content(ch)
				continue
			}
			fmt.Fprintf(r.W, "        %s: %s → %s\n", k, formatValue(ch.Before.Attr(k)), formatValue(ch.After.Attr(k)))
		}
	}
	if len(ch.NotifiedBy) > 0 {
		fmt.Fprintf(r.W, "        notified by %s\n", strings.Join(ch.NotifiedBy, ", "))
	}
	for _, n := range ch.Notes {
		fmt.Fprintf(r.W, "        %s\n", r.c(yellow, n))
	}
	if ch.Deferred != "" {
		fmt.Fprintf(r.W, "        %s\n", r.c(yellow, "not there yet: "+ch.Deferred))
	}
	if ch.Irreversible != "" {
		fmt.Fprintf(r.W, "        %s\n", r.c(yellow, "cannot be rolled back: "+ch.Irreversible))
	}
}

// Verb says what applying the change does ("will be created").
func Verb(ch *Change) string { return verb(ch) }

func verb(ch *Change) string {
	switch ch.Action {
	case Create:
		if _, ok := ch.Resource.(resources.Command); ok {
			return "will run"
		}
		return "will be created"
	case Update:
		return "will be updated"
	case Delete:
		return "will be removed"
	case Replace:
		return "will be replaced"
	case Refresh:
		if _, ok := ch.Resource.(resources.Command); ok {
			return "will run"
		}
		return "will be refreshed"
	}
	return ""
}

// content prints a content change as a unified diff when both sides are
// known, displayable text and not sensitive, and otherwise a line saying
// what changed.
func (r *Renderer) content(ch *Change) {
	diff, note := contentView(ch)
	if diff == "" {
		fmt.Fprintf(r.W, "        content: %s\n", note)
		return
	}
	fmt.Fprintln(r.W, "        content:")
	for _, l := range strings.Split(strings.TrimRight(diff, "\n"), "\n") {
		col := ""
		switch {
		case strings.HasPrefix(l, "+++") || strings.HasPrefix(l, "---"):
			col = bold
		case strings.HasPrefix(l, "+"):
			col = green
		case strings.HasPrefix(l, "-"):
			col = red
		case strings.HasPrefix(l, "@@"):
			col = dim
		}
		fmt.Fprintf(r.W, "          %s\n", r.c(col, l))
	}
}

// changesContent reports whether a change writes content: one created or
// replaced with content, or updated where content differs.
func changesContent(ch *Change) bool {
	switch ch.Action {
	case Create, Replace:
		return ch.After != nil && ch.After.Content != nil
	case Update:
		return slices.Contains(ch.Changed, "content")
	}
	return false
}

// contentView returns a content change's unified diff, or, when it
// cannot be shown (sensitive, too large, binary), a note saying what
// changed. A change rebuilt from a saved plan has no content bytes: the
// diff and note computed when it was planned stand in for them.
func contentView(ch *Change) (diff, note string) {
	if ch.saved != nil {
		return ch.saved.diff, ch.saved.note
	}
	before, after := ch.Before.Content, ch.After.Content
	if after == nil {
		return "", ""
	}
	if after.Sensitive || (before != nil && before.Sensitive) {
		return "", fmt.Sprintf("(sensitive, %d bytes)", after.Size)
	}
	var old []byte
	if before != nil {
		if !before.Known || !diffable(after) {
			return "", fmt.Sprintf("%s (%d bytes) → %s (%d bytes); too large to show",
				short(before.SHA256), before.Size, short(after.SHA256), after.Size)
		}
		old = before.Data
	}
	if !diffable(after) {
		return "", fmt.Sprintf("%s (%d bytes); too large to show", short(after.SHA256), after.Size)
	}
	if !isText(old) || !isText(after.Data) {
		return "", fmt.Sprintf("binary, %d → %d bytes (sha256 %s)", len(old), after.Size, short(after.SHA256))
	}
	return unified(old, after.Data), ""
}

// TextDiff returns a unified diff of two texts, headed with their names,
// or false when either is not displayable text.
func TextDiff(fromName string, from []byte, toName string, to []byte) (string, bool) {
	if !isText(from) || !isText(to) {
		return "", false
	}
	return unifiedNamed(from, to, fromName, toName), true
}

// unified returns a unified diff of two texts. A last line without a
// newline is followed by diff's marker, on its own line, on each side
// it ends: "b" to "a" is "-b", the marker, "+a", the marker.
func unified(a, b []byte) string { return unifiedNamed(a, b, "before", "after") }

func unifiedNamed(a, b []byte, aName, bName string) string {
	d := difflib.UnifiedDiff{
		A: splitLines(a), B: splitLines(b),
		FromFile: aName, ToFile: bName, Context: 3,
	}
	s, _ := difflib.GetUnifiedDiffString(d)
	return strings.ReplaceAll(s, noNewline, "\n"+noNewlineMarker+"\n")
}

// noNewline ends, in place of its newline, a last line that has none,
// so that it is a line of its own in the diff; noNewlineMarker replaces
// it after.
const (
	noNewline       = "\x00no-newline\n"
	noNewlineMarker = "\\ No newline at end of file"
)

// splitLines splits text after each newline, keeping them; a last line
// without one ends with noNewline.
func splitLines(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	lines := strings.SplitAfter(string(b), "\n")
	if lines[len(lines)-1] == "" {
		return lines[:len(lines)-1]
	}
	lines[len(lines)-1] += noNewline
	return lines
}

func isText(b []byte) bool { return utf8.Valid(b) && !bytes.ContainsRune(b, 0) }

func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12]
	}
	return sum
}

// FormatValue prints an attribute value as HCL would write it, or
// (sensitive).
func FormatValue(v cty.Value) string { return formatValue(v) }

func formatValue(v cty.Value) string {
	if v == cty.NilVal {
		return "(unset)"
	}
	if v.ContainsMarked() {
		return "(sensitive)"
	}
	if v.IsNull() {
		return "null"
	}
	if !v.IsKnown() {
		return "(known after apply)"
	}
	switch {
	case v.Type() == cty.String:
		return fmt.Sprintf("%q", v.AsString())
	case v.Type() == cty.Number:
		return v.AsBigFloat().Text('f', -1)
	case v.Type() == cty.Bool:
		if v.True() {
			return "true"
		}
		return "false"
	case v.CanIterateElements():
		var parts []string
		if v.Type().IsMapType() || v.Type().IsObjectType() {
			for k, e := range v.AsValueMap() {
				parts = append(parts, fmt.Sprintf("%s = %s", k, formatValue(e)))
			}
			return "{ " + strings.Join(parts, ", ") + " }"
		}
		for _, e := range v.AsValueSlice() {
			parts = append(parts, formatValue(e))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return v.GoString()
}

// Summary is the plan's last line.
func (r *Renderer) Summary(p *Plan) string {
	c := p.Count()
	total := len(p.Hosts)
	var s string
	switch {
	case c.HostsChanged == 0 && c.Failed > 0:
		// Not "No changes.": a host that could not be planned may well
		// need some.
		s = fmt.Sprintf("Plan: no changes on %d of %d hosts.", c.HostsUnchanged, total)
	case c.HostsChanged == 0:
		s = fmt.Sprintf("No changes. %d of %d hosts match the configuration.", c.HostsUnchanged, total)
	default:
		s = fmt.Sprintf("Plan: %d to add, %d to change, %d to remove on %d of %d hosts; %d %s unchanged.",
			c.Add, c.Change, c.Remove, c.HostsChanged, total, c.HostsUnchanged, hostsWord(c.HostsUnchanged))
	}
	if c.Failed > 0 {
		var names []string
		for _, h := range p.Hosts {
			if h.Err != nil {
				names = append(names, h.Name)
			}
		}
		verb := "hosts failed"
		if c.Failed == 1 {
			verb = "host failed"
		}
		s += fmt.Sprintf(" %d %s: %s.", c.Failed, verb, strings.Join(names, ", "))
	}
	return s
}

func hostsWord(n int) string {
	if n == 1 {
		return "host"
	}
	return "hosts"
}

// ContentView returns what the human plan shows of a change's content:
// its unified diff, or a note saying what changed when no diff can be
// shown; both are "" when the change does not write content.
func ContentView(ch *Change) (diff, note string) {
	if !changesContent(ch) {
		return "", ""
	}
	return contentView(ch)
}

// ContentDiff returns the unified diff of a change's content, or "" when
// it is not displayable.
func ContentDiff(ch *Change) string {
	d, _ := contentView(ch)
	return d
}

// maxDiff is the largest desired content a plan shows a diff of: the
// host sends current content up to the same size (larger files are
// compared by digest), and a diff of more is neither readable nor cheap.
const maxDiff = 256 << 10

// diffable reports whether desired content is held in memory (content
// streamed from a large source file is not) and small enough to diff.
func diffable(c *resources.Content) bool {
	return c.Known && len(c.Data) <= maxDiff
}
