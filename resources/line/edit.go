package line

import (
	"bytes"
	"fmt"
	"regexp"

	"github.com/tendhq/tend/resources"
)

// Keywords of insert_after and insert_before naming the ends of the file.
const (
	BOF = "BOF"
	EOF = "EOF"
)

// Edit is one line edit, computed on the controller (Go's RE2 regexps)
// and applied to a file's whole content.
type Edit struct {
	// Line is the line wanted (present) or removed (absent, no Regexp).
	Line string
	// Regexp, when set, selects the line to replace (present) or the
	// lines to remove (absent).
	Regexp *regexp.Regexp
	// Absent removes lines instead of ensuring one.
	Absent bool
	// Where to insert Line when nothing matches: after the last line
	// matching InsertAfter, or before the last line matching InsertBefore;
	// nil with AtBOF false means the end of the file.
	InsertAfter, InsertBefore *regexp.Regexp
	AtBOF                     bool
}

// NewEdit builds an edit from the attribute values of a line resource
// (empty strings for unset ones). Errors name the attribute.
func NewEdit(line, re, state, insertAfter, insertBefore string, lineSet, reSet bool) (*Edit, error) {
	e := &Edit{Line: line}
	switch state {
	case "", "present":
	case "absent":
		e.Absent = true
	default:
		return nil, &resources.AttrError{Attr: "state", Msg: fmt.Sprintf("must be \"present\" or \"absent\", got %q", state)}
	}
	if lineSet {
		if bytes.ContainsAny([]byte(line), "\r\n") {
			return nil, &resources.AttrError{Attr: "line", Msg: "must be a single line (no newline or carriage return)"}
		}
	} else if !e.Absent || !reSet {
		if e.Absent {
			return nil, &resources.AttrError{Attr: "line", Msg: "state = \"absent\" needs line or regexp"}
		}
		return nil, &resources.AttrError{Attr: "line", Msg: "line is required with state = \"present\""}
	}
	if reSet {
		r, err := regexp.Compile(re)
		if err != nil {
			return nil, &resources.AttrError{Attr: "regexp", Msg: "not a valid RE2 regular expression: " + err.Error()}
		}
		e.Regexp = r
	}
	if insertAfter != "" && insertBefore != "" {
		return nil, &resources.AttrError{Attr: "insert_before", Msg: "only one of insert_after and insert_before may be set"}
	}
	for _, ins := range []struct {
		name, val string
		dst       **regexp.Regexp
	}{{"insert_after", insertAfter, &e.InsertAfter}, {"insert_before", insertBefore, &e.InsertBefore}} {
		switch ins.val {
		case "", EOF:
		case BOF:
			e.AtBOF = true
		default:
			r, err := regexp.Compile(ins.val)
			if err != nil {
				return nil, &resources.AttrError{Attr: ins.name, Msg: "not a valid RE2 regular expression (nor BOF or EOF): " + err.Error()}
			}
			*ins.dst = r
		}
	}
	return e, nil
}

// textLine is one line of a file: its text without terminator, and the
// terminator ("\n", "\r\n", or "" for a last line without one).
type textLine struct {
	text []byte
	eol  string
}

// split cuts content into lines, keeping each line's terminator.
func split(content []byte) []textLine {
	var out []textLine
	for len(content) > 0 {
		i := bytes.IndexByte(content, '\n')
		if i < 0 {
			out = append(out, textLine{text: content, eol: ""})
			break
		}
		l := textLine{text: content[:i], eol: "\n"}
		if i > 0 && content[i-1] == '\r' {
			l.text, l.eol = content[:i-1], "\r\n"
		}
		out = append(out, l)
		content = content[i+1:]
	}
	return out
}

func join(lines []textLine) []byte {
	var b bytes.Buffer
	for _, l := range lines {
		b.Write(l.text)
		b.WriteString(l.eol)
	}
	return b.Bytes()
}

// eolStyle is the file's line ending: that of its first terminated line,
// "\n" when it has none.
func eolStyle(lines []textLine) string {
	for _, l := range lines {
		if l.eol != "" {
			return l.eol
		}
	}
	return "\n"
}

// Apply returns content with the edit made, and whether that changed it.
// Applying an edit to its own result changes nothing.
func (e *Edit) Apply(content []byte) ([]byte, bool) {
	lines := split(content)
	want := []byte(e.Line)
	if e.Absent {
		kept := lines[:0:0]
		for _, l := range lines {
			if e.matches(l.text, want) {
				continue
			}
			kept = append(kept, l)
		}
		if len(kept) == len(lines) {
			return content, false
		}
		return join(kept), true
	}
	if e.Regexp != nil {
		last, exact := -1, false
		for i, l := range lines {
			if e.Regexp.Match(l.text) {
				last = i
			} else if bytes.Equal(l.text, want) {
				exact = true
			}
		}
		if last >= 0 {
			if bytes.Equal(lines[last].text, want) {
				return content, false
			}
			lines[last].text = want
			return join(lines), true
		}
		if exact {
			// The regexp does not match the line it writes: the line is
			// there already, so adding it again would not converge.
			return content, false
		}
	} else {
		for _, l := range lines {
			if bytes.Equal(l.text, want) {
				return content, false
			}
		}
	}
	return join(e.insert(lines, want)), true
}

func (e *Edit) matches(text, want []byte) bool {
	if e.Regexp != nil {
		return e.Regexp.Match(text)
	}
	return bytes.Equal(text, want)
}

// insert adds the line at the configured position: after the last line
// matching InsertAfter, before the last line matching InsertBefore, at the
// beginning (BOF), or at the end (EOF, and when the regexp matches nothing).
func (e *Edit) insert(lines []textLine, want []byte) []textLine {
	style := eolStyle(lines)
	at := len(lines)
	switch {
	case e.AtBOF:
		at = 0
	case e.InsertAfter != nil:
		if i := lastMatch(lines, e.InsertAfter); i >= 0 {
			at = i + 1
		}
	case e.InsertBefore != nil:
		if i := lastMatch(lines, e.InsertBefore); i >= 0 {
			at = i
		}
	}
	if at > 0 && lines[at-1].eol == "" {
		// The last line had no terminator; it needs one before another line.
		lines[at-1].eol = style
	}
	out := make([]textLine, 0, len(lines)+1)
	out = append(out, lines[:at]...)
	out = append(out, textLine{text: want, eol: style})
	return append(out, lines[at:]...)
}

func lastMatch(lines []textLine, re *regexp.Regexp) int {
	last := -1
	for i, l := range lines {
		if re.Match(l.text) {
			last = i
		}
	}
	return last
}
