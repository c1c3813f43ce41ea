package cli

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// writeDiags prints diagnostics as HCL's text writer does (severity and
// summary, the source line with the subject underlined, the detail), with
// the position as FILE:LINE:COLUMN so editors and CI annotations can jump
// to it.
func writeDiags(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics, color bool) {
	paint := func(code, s string) string {
		if !color {
			return s
		}
		return code + s + "\x1b[0m"
	}
	for _, d := range diags {
		sev := paint("\x1b[1;31m", "Error")
		if d.Severity == hcl.DiagWarning {
			sev = paint("\x1b[1;33m", "Warning")
		}
		fmt.Fprintf(w, "%s: %s\n\n", sev, paint("\x1b[1m", d.Summary))
		if d.Subject != nil {
			s := d.Subject
			fmt.Fprintf(w, "  on %s:%d:%d:\n", s.Filename, s.Start.Line, s.Start.Column)
			if f, ok := files[s.Filename]; ok && f != nil {
				if line, ok := sourceLine(f.Bytes, s.Start.Line); ok {
					fmt.Fprintf(w, "  %4d: %s\n", s.Start.Line, line)
					end := s.End.Column
					if s.End.Line != s.Start.Line || end <= s.Start.Column {
						end = len(line) + 1
					}
					if s.Start.Column <= len(line)+1 {
						fmt.Fprintf(w, "        %s%s\n", strings.Repeat(" ", s.Start.Column-1), paint("\x1b[1;31m", strings.Repeat("^", max(1, end-s.Start.Column))))
					}
				}
			}
			fmt.Fprintln(w)
		}
		if d.Detail != "" {
			fmt.Fprintf(w, "%s\n\n", d.Detail)
		}
	}
}

func sourceLine(src []byte, n int) (string, bool) {
	sc := bufio.NewScanner(bytes.NewReader(src))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for i := 1; sc.Scan(); i++ {
		if i == n {
			return strings.ReplaceAll(sc.Text(), "\t", " "), true
		}
	}
	return "", false
}
