package builtin_test

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/resources/resourcetest"
	"github.com/tendhq/tend/transport"
)

// psMarker starts every hostile value, psCanary is the command each
// tries to run.
const (
	psMarker = "TENDHOSTILE"
	psCanary = "tendcanary"
)

// psHostile are values that must reach PowerShell as data: quotes of
// every kind PowerShell accepts, expansions, escapes, statement breaks
// and here-string delimiters.
var psHostile = []string{
	psMarker + "'; tendcanary; '",
	psMarker + "\u2019; tendcanary; \u2018",
	psMarker + "\u201a\u201b$(tendcanary)",
	psMarker + "$(tendcanary)`\"",
	psMarker + "\"; tendcanary; \"",
	psMarker + "\r\ntendcanary\r\n",
	psMarker + "\n'@\ntendcanary\n@'",
	psMarker + "\n\"@\ntendcanary\n@\"",
	psMarker + " # <# tendcanary #>",
	psMarker + "${env:PATH}`$(tendcanary)",
}

// TestPowerShellHostileValues puts hostile strings in every string
// attribute of every Windows provider case and checks the scripts tend
// generates (probe, apply, revert): a value is refused, or it appears
// only inside single-quoted string literals, never as code, in a
// comment or in a double-quoted (expanding) string.
func TestPowerShellHostileValues(t *testing.T) {
	carried := map[string]bool{}  // type name -> a script carried a value
	accepted := map[string]bool{} // type name -> a value was accepted
	for name, c := range windowsCases {
		for attr, val := range c.cfg {
			if !val.Type().Equals(cty.String) || !val.IsKnown() || val.IsNull() {
				continue
			}
			for _, hv := range psHostile {
				cfgVals := map[string]cty.Value{}
				for k, v := range c.cfg {
					cfgVals[k] = v
				}
				// After the case's own value, so that a value of the
				// attribute's shape (a path, a key) carries it.
				plain, marks := val.Unmark()
				cfgVals[attr] = cty.StringVal(plain.AsString() + hv).WithMarks(marks)
				scripts := psScripts(t, c.typ, cfgVals, c.values, c.reply)
				if len(scripts) > 0 {
					accepted[c.typ.Name()] = true
				}
				for _, s := range scripts {
					if !utf8.ValidString(s) {
						continue
					}
					if strings.Contains(s, psMarker) {
						carried[c.typ.Name()] = true
					}
					// The marker starts the value, the canary comes after a
					// quote or a line break: neither may be outside.
					rest := outsideSingleQuotes(s)
					if i := max(strings.Index(rest, psMarker), strings.Index(rest, psCanary)); i >= 0 {
						t.Errorf("%s: %s = %q reaches PowerShell outside a single-quoted string, near %q", name, attr, hv, rest[max(0, i-60):min(len(rest), i+60)])
					}
				}
			}
		}
	}
	// Every Windows type that accepts a value takes it into a script: a
	// test that saw none would prove nothing.
	for _, c := range windowsCases {
		if accepted[c.typ.Name()] && !carried[c.typ.Name()] {
			t.Errorf("no hostile value reached a %s script", c.typ.Name())
		}
	}
}

// psScripts returns the scripts a Windows provider generates for cfg:
// none when the configuration is refused.
func psScripts(t *testing.T, typ resources.Type, cfgVals map[string]cty.Value, values map[string]string, reply string) []string {
	t.Helper()
	wt := resources.OnHost(typ, true)
	cfg := resourcetest.Object(typ, cfgVals)
	if resources.CheckOS(wt, cfg, true) != nil {
		return nil
	}
	if _, err := wt.Key(cfg); err != nil {
		return nil
	}
	want, err := wt.Desired(cfg, nil)
	if err != nil {
		return nil
	}
	scripts := []string{wt.Probe(cfg, want)}
	cur, err := wt.Read(cfg, resources.ProbeOutput{Values: values})
	if err != nil {
		return scripts
	}
	if act, _ := plan.Diff(cur, want); act == plan.NoOp {
		return scripts
	}
	rec := &recorder{reply: func(string) *transport.Result { return &transport.Result{Stdout: []byte(reply)} }}
	h := &resources.Host{Name: "win1", T: rec, RunID: "RUN-ID", BackupDir: `C:\ProgramData\tend\backup\RUN-ID`}
	if undo, err := wt.Apply(context.Background(), h, cur, want); err == nil {
		_ = wt.Revert(context.Background(), h, cur, want, undo)
	}
	return append(scripts, rec.scripts...)
}

// psSingle and psDouble are the characters PowerShell reads as single
// and double quotes.
const (
	psSingle = "'\u2018\u2019\u201a\u201b"
	psDouble = "\"\u201c\u201d\u201e"
)

// outsideSingleQuotes returns script without the contents of its
// single-quoted strings and single-quoted here-strings, the only places
// where PowerShell expands nothing. Comments, double-quoted strings and
// code are kept. It is a tokenizer for what tend generates, not for all
// of PowerShell: a single quote inside a subexpression of a
// double-quoted string is kept as text, so a value there is reported.
func outsideSingleQuotes(script string) string {
	rs := []rune(script)
	var out strings.Builder
	isSingle := func(r rune) bool { return strings.ContainsRune(psSingle, r) }
	isDouble := func(r rune) bool { return strings.ContainsRune(psDouble, r) }
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case r == '`' && i+1 < len(rs):
			out.WriteRune(r)
			out.WriteRune(rs[i+1])
			i++
		case r == '<' && i+1 < len(rs) && rs[i+1] == '#':
			// A block comment, kept whole.
			j := i
			for ; j < len(rs) && !(rs[j] == '>' && rs[j-1] == '#' && j-1 > i); j++ {
				out.WriteRune(rs[j])
			}
			if j < len(rs) {
				out.WriteRune(rs[j])
			}
			i = j
		case r == '#' && (i == 0 || strings.ContainsRune(" \t\r\n;", rs[i-1])):
			// A line comment, kept whole.
			j := i
			for ; j < len(rs) && rs[j] != '\n'; j++ {
				out.WriteRune(rs[j])
			}
			i = j - 1
		case r == '@' && i+2 < len(rs) && isSingle(rs[i+1]) && (rs[i+2] == '\n' || rs[i+2] == '\r'):
			// A single-quoted here-string ends at a line starting with '@.
			out.WriteString("@''@")
			j := i + 2
			for ; j+1 < len(rs); j++ {
				if rs[j] == '\n' && isSingle(rs[j+1]) && j+2 < len(rs) && rs[j+2] == '@' {
					break
				}
			}
			i = j + 2
		case isSingle(r):
			out.WriteString("''")
			j := i + 1
			for ; j < len(rs); j++ {
				if isSingle(rs[j]) {
					if j+1 < len(rs) && isSingle(rs[j+1]) {
						j++
						continue
					}
					break
				}
			}
			i = j
		case isDouble(r):
			// Kept whole; a doubled quote or a backtick escapes.
			out.WriteRune(r)
			j := i + 1
			for ; j < len(rs); j++ {
				out.WriteRune(rs[j])
				if rs[j] == '`' && j+1 < len(rs) {
					j++
					out.WriteRune(rs[j])
					continue
				}
				if isDouble(rs[j]) {
					if j+1 < len(rs) && isDouble(rs[j+1]) {
						j++
						out.WriteRune(rs[j])
						continue
					}
					break
				}
			}
			i = j
		default:
			out.WriteRune(r)
		}
	}
	return out.String()
}

func TestOutsideSingleQuotes(t *testing.T) {
	for in, want := range map[string]string{
		`a 'b' c`:                   `a '' c`,
		`a 'b''c' d`:                `a '' d`,
		"a \u2018b\u2019\u2019c' d": `a '' d`,
		`a "b'c" 'd'`:               `a "b'c" ''`,
		"a \"b`\"'c\" 'd'":          "a \"b`\"'c\" ''",
		"x @'\nb'\n'@ y":            "x @''@ y",
		"x `'b":                     "x `'b",
	} {
		if got := outsideSingleQuotes(in); got != want {
			t.Errorf("outsideSingleQuotes(%q) = %q, want %q", in, got, want)
		}
	}
}
