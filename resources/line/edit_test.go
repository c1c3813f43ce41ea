package line

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tendhq/tend/resources"
)

// editCase is one edit: the attributes of a line resource, the content
// before and the content wanted after.
type editCase struct {
	line, re, state, after, before string
	noLine                         bool
	in, want                       string
}

func TestEditApply(t *testing.T) {
	sshd := "# sshd\n#PermitRootLogin prohibit-password\nPasswordAuthentication yes\nUsePAM yes\n"
	cases := map[string]editCase{
		// present, no regexp
		"present: appended":                   {line: "b", in: "a\n", want: "a\nb\n"},
		"present: already there":              {line: "b", in: "a\nb\nc\n", want: "a\nb\nc\n"},
		"present: empty file":                 {line: "a", in: "", want: "a\n"},
		"present: no trailing newline":        {line: "b", in: "a", want: "a\nb\n"},
		"present: there, no newline":          {line: "b", in: "a\nb", want: "a\nb"},
		"present: crlf file":                  {line: "b", in: "a\r\n", want: "a\r\nb\r\n"},
		"present: crlf there":                 {line: "b", in: "a\r\nb\r\n", want: "a\r\nb\r\n"},
		"present: crlf no trailing newline":   {line: "b", in: "a\r\nz", want: "a\r\nz\r\nb\r\n"},
		"present: partial match is not equal": {line: "b", in: "bb\n b\n", want: "bb\n b\nb\n"},
		"present: trailing space differs":     {line: "b", in: "b \n", want: "b \nb\n"},
		"present: blank line":                 {line: "", in: "a\n", want: "a\n\n"},
		"present: blank line there":           {line: "", in: "a\n\nb\n", want: "a\n\nb\n"},
		"present: lone CR kept":               {line: "b", in: "a\rx\n", want: "a\rx\nb\n"},
		"present: non-utf8 kept":              {line: "b", in: "\xff\xfe\n", want: "\xff\xfe\nb\n"},

		// insert positions
		"insert BOF":                       {line: "x", after: "BOF", in: "a\nb\n", want: "x\na\nb\n"},
		"insert_before BOF":                {line: "x", before: "BOF", in: "a\nb\n", want: "x\na\nb\n"},
		"insert EOF":                       {line: "x", after: "EOF", in: "a\nb\n", want: "a\nb\nx\n"},
		"insert_before EOF":                {line: "x", before: "EOF", in: "a\nb\n", want: "a\nb\nx\n"},
		"insert after last match":          {line: "x", after: "^a", in: "a1\nb\na2\nc\n", want: "a1\nb\na2\nx\nc\n"},
		"insert before last match":         {line: "x", before: "^a", in: "a1\nb\na2\nc\n", want: "a1\nb\nx\na2\nc\n"},
		"insert after: no match → EOF":     {line: "x", after: "^zz", in: "a\n", want: "a\nx\n"},
		"insert before: no match → EOF":    {line: "x", before: "^zz", in: "a\n", want: "a\nx\n"},
		"insert after last, no newline":    {line: "x", after: "^b", in: "a\nb", want: "a\nb\nx\n"},
		"insert BOF, no newline kept":      {line: "x", after: "BOF", in: "a", want: "x\na"},
		"insert BOF empty file":            {line: "x", after: "BOF", in: "", want: "x\n"},
		"insert after match, crlf":         {line: "x", after: "^a$", in: "a\r\nb\r\n", want: "a\r\nx\r\nb\r\n"},
		"insert: line there, no move":      {line: "x", after: "BOF", in: "a\nx\n", want: "a\nx\n"},
		"insert after: regexp on the text": {line: "x", after: "a$", in: "a\r\nb\r\n", want: "a\r\nx\r\nb\r\n"},

		// present with regexp
		"regexp: replaces the match": {line: "PermitRootLogin no", re: `^#?\s*PermitRootLogin\b`, in: sshd,
			want: "# sshd\nPermitRootLogin no\nPasswordAuthentication yes\nUsePAM yes\n"},
		"regexp: replaces the last match only":  {line: "X=1", re: "^X=", in: "X=a\nY\nX=b\nZ\n", want: "X=a\nY\nX=1\nZ\n"},
		"regexp: already right":                 {line: "X=1", re: "^X=", in: "X=1\n", want: "X=1\n"},
		"regexp: last match right, first not":   {line: "X=1", re: "^X=", in: "X=0\nX=1\n", want: "X=0\nX=1\n"},
		"regexp: no match → insert":             {line: "X=1", re: "^X=", in: "a\n", want: "a\nX=1\n"},
		"regexp: no match → insert after":       {line: "X=1", re: "^X=", after: "^a", in: "a\nb\n", want: "a\nX=1\nb\n"},
		"regexp: match wins over insert_after":  {line: "X=1", re: "^X=", after: "^a", in: "X=0\na\nb\n", want: "X=1\na\nb\n"},
		"regexp: exact line elsewhere":          {line: "X=1", re: "^Y=", in: "X=1\n", want: "X=1\n"},
		"regexp: keeps crlf of the line":        {line: "X=1", re: "^X=", in: "a\r\nX=0\r\nb\r\n", want: "a\r\nX=1\r\nb\r\n"},
		"regexp: keeps missing newline":         {line: "X=1", re: "^X=", in: "a\nX=0", want: "a\nX=1"},
		"regexp: crlf, insert":                  {line: "X=1", re: "^X=", in: "a\r\n", want: "a\r\nX=1\r\n"},
		"regexp: unanchored matches anywhere":   {line: "X=1", re: "X=", in: "# X=0\n", want: "X=1\n"},
		"regexp: $ anchors before the CR":       {line: "X=1", re: "^X=0$", in: "X=0\r\n", want: "X=1\r\n"},
		"regexp: empty file":                    {line: "X=1", re: "^X=", in: "", want: "X=1\n"},
		"regexp: mixed endings, style of first": {line: "X=1", re: "^X=", in: "a\r\nb\n", want: "a\r\nb\nX=1\r\n"},

		// absent
		"absent: removes equal lines":      {line: "b", state: "absent", in: "a\nb\nc\nb\n", want: "a\nc\n"},
		"absent: nothing to remove":        {line: "b", state: "absent", in: "a\nbb\n", want: "a\nbb\n"},
		"absent: crlf":                     {line: "b", state: "absent", in: "a\r\nb\r\nc\r\n", want: "a\r\nc\r\n"},
		"absent: last line no newline":     {line: "b", state: "absent", in: "a\nb", want: "a\n"},
		"absent: only line":                {line: "b", state: "absent", in: "b\n", want: ""},
		"absent: empty file":               {line: "b", state: "absent", in: "", want: ""},
		"absent regexp: all matches":       {re: "^#", noLine: true, state: "absent", in: "#a\nb\n#c\n", want: "b\n"},
		"absent regexp: line ignored":      {line: "b", re: "^#", state: "absent", in: "#a\nb\n", want: "b\n"},
		"absent regexp: no match":          {re: "^#", noLine: true, state: "absent", in: "a\n", want: "a\n"},
		"absent regexp: every line":        {re: ".*", noLine: true, state: "absent", in: "a\nb\n", want: ""},
		"absent regexp: blank lines":       {re: "^$", noLine: true, state: "absent", in: "a\n\n\r\nb\n", want: "a\nb\n"},
		"absent: keeps other line endings": {line: "b", state: "absent", in: "a\r\nb\nc", want: "a\r\nc"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			e, err := NewEdit(c.line, c.re, c.state, c.after, c.before, !c.noLine, c.re != "")
			if err != nil {
				t.Fatal(err)
			}
			got, changed := e.Apply([]byte(c.in))
			if diff := cmp.Diff(c.want, string(got)); diff != "" {
				t.Errorf("content (-want +got):\n%s", diff)
			}
			if changed != (c.want != c.in) {
				t.Errorf("changed = %v", changed)
			}
			// Idempotence: the edit made again changes nothing.
			again, changed := e.Apply(got)
			if changed || string(again) != string(got) {
				t.Errorf("second apply changed %q to %q", got, again)
			}
		})
	}
}

func TestNewEditErrors(t *testing.T) {
	cases := map[string]struct {
		line, re, state, after, before string
		lineSet, reSet                 bool
		attr                           string
	}{
		"no line":               {state: "present", attr: "line"},
		"absent without either": {state: "absent", attr: "line"},
		"newline in line":       {line: "a\nb", lineSet: true, attr: "line"},
		"cr in line":            {line: "a\r", lineSet: true, attr: "line"},
		"bad regexp":            {line: "a", lineSet: true, re: "(", reSet: true, attr: "regexp"},
		"perl regexp":           {line: "a", lineSet: true, re: `(?<=x)a`, reSet: true, attr: "regexp"},
		"bad insert_after":      {line: "a", lineSet: true, after: "[", attr: "insert_after"},
		"bad insert_before":     {line: "a", lineSet: true, before: "[", attr: "insert_before"},
		"both inserts":          {line: "a", lineSet: true, after: "x", before: "y", attr: "insert_before"},
		"bad state":             {line: "a", lineSet: true, state: "gone", attr: "state"},
	}
	for name, c := range cases {
		_, err := NewEdit(c.line, c.re, c.state, c.after, c.before, c.lineSet, c.reSet)
		var ae *resources.AttrError
		if !errors.As(err, &ae) || ae.Attr != c.attr {
			t.Errorf("%s: error %v, want an AttrError on %s", name, err, c.attr)
		}
	}
}
