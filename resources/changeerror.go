package resources

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/tendhq/tend/shell"
	"github.com/tendhq/tend/transport"
)

// ChangeError is how a change failed on the host: what it was doing, on
// what, and why, in words an operator reads; the host's own output kept
// beside it. Errors of the transport (connection lost, context cancelled)
// are never ChangeErrors: nobody knows what the host did.
type ChangeError struct {
	// Action is what the change was doing: create, update, remove,
	// restore, run, install...
	Action string
	// Path is the path or object acted on (a package's name, a user's);
	// it may be empty.
	Path string
	// Cause is one line: "parent /srv/x/notadir is not a directory",
	// "exit status 3".
	Cause string
	// Status is the script's exit status.
	Status int
	// Stderr is the rest of the host's standard error: what Cause does
	// not already say (tend's own cause lines and the line Cause was
	// taken from are left out). Stdout is the script's standard output.
	Stderr, Stdout []byte
}

// Error is "ACTION PATH: CAUSE", without the host's output: whoever shows
// it prints Stderr below it (Detail).
func (e *ChangeError) Error() string {
	head := strings.TrimSpace(e.Action + " " + e.Path)
	switch {
	case head == "":
		return e.Cause
	case e.Cause == "":
		return head + ": failed"
	}
	return head + ": " + e.Cause
}

// Detail returns the host's standard error and output kept with a
// change's error (a *ChangeError anywhere in its chain), or nils.
func Detail(err error) (stderr, stdout []byte) {
	var ce *ChangeError
	if errors.As(err, &ce) {
		return ce.Stderr, ce.Stdout
	}
	return nil, nil
}

// Indent returns text with every line prefixed by prefix and no trailing
// blank lines: how a change's stderr is shown under its error.
func Indent(text []byte, prefix string) string {
	s := strings.TrimRight(string(text), "\r\n\t ")
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = prefix + strings.TrimRight(l, "\r")
	}
	return strings.Join(lines, "\n") + "\n"
}

// causePrefix starts the line a change script prints on stderr to say,
// in an operator's words, why it stopped (causeScript).
const causePrefix = "tend-cause: "

// CauseLine is the shell command a change script runs to give its
// failure's cause (msg, a double-quoted shell word or expansions): the
// last such line is the error's Cause, and is not repeated in Stderr.
func CauseLine(msg string) string {
	return causeStart + msg + causeEnd
}

// causeStart and causeEnd surround CauseLine's message, for constant
// scripts.
const (
	causeStart = "printf '" + causePrefix + "%s\\n' "
	causeEnd   = " >&2"
)

// shPrefix is how a POSIX shell starts its own error messages:
// "/bin/sh: 13: ", "sh: 2: ", "bash: line 3: ".
var shPrefix = regexp.MustCompile(`^(?:[^\s:]*/)?(?:ba|da|k|z|mk|)sh: (?:line )?[0-9]+: `)

// ScriptError turns a change script's failure (a non-zero exit status)
// into a ChangeError for action on object: the cause is the last line the
// script gave with CauseLine, else the last non-empty line of its
// standard error (the shell's own prefix removed), else the exit status.
func ScriptError(action, object string, res *transport.Result) *ChangeError {
	ce := &ChangeError{Action: action, Path: object, Status: res.ExitStatus, Stdout: res.Stdout}
	var rest []string
	for _, l := range strings.Split(strings.TrimRight(string(res.Stderr), "\n"), "\n") {
		if c, ok := strings.CutPrefix(l, causePrefix); ok {
			ce.Cause = c
			continue
		}
		rest = append(rest, l)
	}
	if ce.Cause == "" {
		for i := len(rest) - 1; i >= 0; i-- {
			l := strings.TrimSpace(rest[i])
			if l == "" {
				continue
			}
			ce.Cause = shPrefix.ReplaceAllString(l, "")
			rest = rest[:i]
			break
		}
	}
	if ce.Cause == "" {
		ce.Cause = fmt.Sprintf("exit status %d", res.ExitStatus)
	}
	if s := strings.TrimRight(strings.Join(rest, "\n"), "\n"); strings.TrimSpace(s) != "" {
		ce.Stderr = []byte(s + "\n")
	}
	return ce
}

// RunChange runs a change script on the host (stdin may be nil): its
// failure is a *ChangeError for action on object (ScriptError), an error
// of the transport is returned as it is.
func RunChange(ctx context.Context, h *Host, action, object, script string, stdin []byte) error {
	_, err := runChange(ctx, h, action, object, script, stdin)
	return err
}

// runChange is RunChange returning the script's output too.
func runChange(ctx context.Context, h *Host, action, object, script string, stdin []byte) ([]byte, error) {
	res, err := h.T.Run(ctx, transport.Command{Script: script, Stdin: bytes.NewReader(stdin)})
	if err != nil {
		return nil, err
	}
	if res.ExitStatus != 0 {
		return res.Stdout, ScriptError(action, object, res)
	}
	return res.Stdout, nil
}

// RunScript runs a change script on the host (stdin may be nil); a
// failure is a *ChangeError without action or path (RunChange names
// them).
func RunScript(ctx context.Context, h *Host, script string, stdin []byte) error {
	return RunChange(ctx, h, "", "", script, stdin)
}

// OneLine shortens a command to one line of at most about 80 characters,
// for the Path of its ChangeError.
func OneLine(cmd string) string {
	s := strings.Join(strings.Fields(cmd), " ")
	if first, _, ok := strings.Cut(strings.TrimSpace(cmd), "\n"); ok {
		s = strings.Join(strings.Fields(first), " ") + " ..."
	}
	if r := []rune(s); len(r) > 80 {
		s = string(r[:77]) + "..."
	}
	return s
}

// PathCheckFunc defines _tpc, which checks, with the shell's builtins
// only, that a file can be written or removed at $1: that its parent is
// an existing directory tend may write in, and, when $2 is "file", that
// $1 is not a directory. It gives the cause (CauseLine) and returns 1
// otherwise, so a change fails with these words rather than the shell's
// about a temporary name.
const PathCheckFunc = `_tpc() {
  _d=${1%/*}; [ -n "$_d" ] || _d=/
  if [ ! -d "$_d" ]; then
    if [ -h "$_d" ] && [ ! -e "$_d" ]; then ` + causeStart + `"parent $_d is a broken symbolic link"` + causeEnd + `; return 1; fi
    if [ -e "$_d" ]; then ` + causeStart + `"parent $_d is not a directory"` + causeEnd + `; return 1; fi
    _a=$_d
    while [ "$_a" != / ] && [ ! -e "$_a" ]; do _a=${_a%/*}; [ -n "$_a" ] || _a=/; done
    if [ ! -d "$_a" ]; then ` + causeStart + `"parent $_d does not exist: $_a is not a directory"` + causeEnd + `
    elif [ ! -x "$_a" ]; then ` + causeStart + `"permission denied: cannot search $_a"` + causeEnd + `
    else ` + causeStart + `"parent $_d does not exist"` + causeEnd + `; fi
    return 1
  fi
  if [ ! -w "$_d" ] || [ ! -x "$_d" ]; then ` + causeStart + `"permission denied: cannot write in $_d"` + causeEnd + `; return 1; fi
  if [ "$2" = file ] && [ -d "$1" ] && [ ! -h "$1" ]; then ` + causeStart + `"it is a directory, not a regular file"` + causeEnd + `; return 1; fi
}
`

// PathCheck is the command checking p with _tpc (want "file" or ""),
// running fail when the check fails.
func PathCheck(p, want, fail string) string {
	if want == "" {
		want = "-"
	}
	return "_tpc " + shell.Quote(p) + " " + want + " || " + fail + "\n"
}
