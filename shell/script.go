package shell

import (
	"strconv"
	"strings"
)

// constant is shell text fixed when tend is compiled. Outside this
// package only an untyped string constant converts to it (implicitly, as
// an argument): a string variable does not, so no value read from a
// configuration, a probe or a host can become shell syntax through the
// builder. This is how Go's safehtml keeps its trusted strings.
type constant string

// Script is a POSIX sh script under construction: commands whose program
// names and options are constants and whose values are always quoted,
// conditionals, redirections and here-documents. Its zero value is an
// empty script.
type Script struct {
	b strings.Builder
}

// NewScript returns a script starting with the given lines of constant
// shell text (for example "set -e").
func NewScript(lines ...constant) *Script {
	s := &Script{}
	for _, l := range lines {
		s.Line(l)
	}
	return s
}

// Raw appends constant shell text as it is (no newline added).
func (s *Script) Raw(text constant) *Script {
	s.b.WriteString(string(text))
	return s
}

// Line appends one line of constant shell text.
func (s *Script) Line(text constant) *Script {
	s.b.WriteString(string(text))
	s.b.WriteByte('\n')
	return s
}

// Set appends an assignment of value, quoted, to the shell variable name.
func (s *Script) Set(name constant, value string) *Script {
	s.b.WriteString(string(name) + "=" + Quote(value) + "\n")
	return s
}

// Capture appends an assignment of c's standard output, without its
// final newlines, to the shell variable name (name=$(c)).
func (s *Script) Capture(name constant, c *Command) *Script {
	s.b.WriteString(string(name) + "=$(" + c.String() + ")\n")
	return s
}

// Run appends a command as one line.
func (s *Script) Run(c *Command) *Script {
	s.b.WriteString(c.String())
	s.b.WriteByte('\n')
	return s
}

// Inline appends c's text with no newline, for a command inside
// constant text: s.Raw("v=$(").Inline(c).Raw(") || v=\n").
func (s *Script) Inline(c *Command) *Script {
	s.b.WriteString(c.String())
	return s
}

// Word appends, with no newline, one word made of constant text around
// a quoted value: s.Raw("for f in ").Word(`"$d/"`, name, "-*").
func (s *Script) Word(prefix constant, value string, suffix constant) *Script {
	s.b.WriteString(string(prefix) + Quote(value) + string(suffix))
	return s
}

// Int appends the decimal digits of n, with no newline: digits are
// never shell syntax, so it may complete a variable name (_tn_3) or a
// constant expression.
func (s *Script) Int(n uint) *Script {
	s.b.WriteString(strconv.FormatUint(uint64(n), 10))
	return s
}

// Append appends another script built with this package.
func (s *Script) Append(o *Script) *Script {
	s.b.WriteString(o.b.String())
	return s
}

// If appends `if COND; then ...; fi`, the body built by then.
func (s *Script) If(cond *Command, then func(*Script)) *Script {
	return s.IfElse(cond, then, nil)
}

// IfElse appends `if COND; then ...; else ...; fi`; els may be nil.
func (s *Script) IfElse(cond *Command, then, els func(*Script)) *Script {
	s.b.WriteString("if " + cond.String() + "; then\n")
	if then != nil {
		n := s.b.Len()
		then(s)
		if s.b.Len() == n {
			s.b.WriteString(":\n")
		}
	} else {
		s.b.WriteString(":\n")
	}
	if els != nil {
		s.b.WriteString("else\n")
		n := s.b.Len()
		els(s)
		if s.b.Len() == n {
			s.b.WriteString(":\n")
		}
	}
	s.b.WriteString("fi\n")
	return s
}

// HereDoc appends c reading text on its standard input from a
// here-document whose body is never expanded (a quoted delimiter that no
// line of text equals). The command reads text followed by a newline
// unless text already ends with one. text must not hold a NUL byte,
// which no shell keeps: content that may go through stdin instead.
func (s *Script) HereDoc(c *Command, text string) *Script {
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	delim := "TEND_EOF"
	for n := 0; hasLine(text, delim); n++ {
		delim = "TEND_EOF_" + strconv.Itoa(n)
	}
	s.b.WriteString(c.String() + " <<'" + delim + "'\n" + text + delim + "\n")
	return s
}

// hasLine reports whether some line of text is exactly line.
func hasLine(text, line string) bool {
	for _, l := range strings.Split(text, "\n") {
		if l == line {
			return true
		}
	}
	return false
}

// String returns the script's text.
func (s *Script) String() string { return s.b.String() }

// Command is one simple command, or a condition or pipeline made of them.
type Command struct {
	words []string
	dash  bool // "--" written
}

// Cmd starts a command: a constant program name and constant flags.
func Cmd(prog constant, flags ...constant) *Command {
	c := &Command{words: []string{string(prog)}}
	return c.Flag(flags...)
}

// Flag appends constant options.
func (c *Command) Flag(flags ...constant) *Command {
	for _, f := range flags {
		c.words = append(c.words, string(f))
	}
	return c
}

// Opt appends an option and its value, quoted ("-m" "0644"): a value
// starting with "-" stays the option's value, since it is its own word
// after the option.
func (c *Command) Opt(flag constant, value string) *Command {
	c.words = append(c.words, string(flag), Quote(value))
	return c
}

// OptJoined appends an option and its value as one word, the value
// quoted ("--root="'/srv/x'), for a tool that wants them joined.
func (c *Command) OptJoined(flag constant, value string) *Command {
	c.words = append(c.words, string(flag)+Quote(value))
	return c
}

// Word appends one word made of constant text around a quoted value, for
// a pattern or an expansion next to a value: Word(`"${c%/}/"`, name,
// "-*.pkg.tar*") is a glob whose name part matches only itself.
func (c *Command) Word(prefix constant, value string, suffix constant) *Command {
	c.words = append(c.words, string(prefix)+Quote(value)+string(suffix))
	return c
}

// Wrap appends the words of o: c is a wrapper that runs its arguments
// as a command (env, nice, a shell function of the script).
func (c *Command) Wrap(o *Command) *Command {
	c.words = append(c.words, o.words...)
	c.dash = c.dash || o.dash
	return c
}

// Arg appends values as quoted words, for a tool that takes no "--" (a
// value starting with "-" must then be refused before it gets here, or
// made harmless by the caller, e.g. as an absolute path).
func (c *Command) Arg(values ...string) *Command {
	for _, v := range values {
		c.words = append(c.words, Quote(v))
	}
	return c
}

// Operands appends "--", once, then values as quoted words: the tool
// reads each as an operand even when it starts with "-".
func (c *Command) Operands(values ...string) *Command {
	if !c.dash {
		c.words = append(c.words, "--")
		c.dash = true
	}
	return c.Arg(values...)
}

// Var appends the expansion of a shell variable as one word ("$name").
func (c *Command) Var(name constant) *Command {
	c.words = append(c.words, `"$`+string(name)+`"`)
	return c
}

// VarOperand appends "--", once, then "$name".
func (c *Command) VarOperand(name constant) *Command {
	if !c.dash {
		c.words = append(c.words, "--")
		c.dash = true
	}
	return c.Var(name)
}

// Redirect appends a constant redirection (">/dev/null 2>&1").
func (c *Command) Redirect(r constant) *Command {
	c.words = append(c.words, string(r))
	return c
}

// To redirects standard output to the file at path.
func (c *Command) To(path string) *Command {
	c.words = append(c.words, ">"+Quote(path))
	return c
}

// AppendTo redirects standard output to the end of the file at path.
func (c *Command) AppendTo(path string) *Command {
	c.words = append(c.words, ">>"+Quote(path))
	return c
}

// From redirects standard input from the file at path.
func (c *Command) From(path string) *Command {
	c.words = append(c.words, "<"+Quote(path))
	return c
}

// Test is the condition `[ OP VALUE ]` ("-d", path).
func Test(op constant, value string) *Command {
	return &Command{words: []string{"[", string(op), Quote(value), "]"}}
}

// Compare is the condition `[ "$name" OP VALUE ]` ("=", "!=", "-eq"...).
func Compare(name, op constant, value string) *Command {
	return &Command{words: []string{"[", `"$` + string(name) + `"`, string(op), Quote(value), "]"}}
}

// Not is the condition `! c`.
func Not(c *Command) *Command {
	return &Command{words: append([]string{"!"}, c.words...)}
}

// And is `c && o`.
func (c *Command) And(o *Command) *Command { return c.join("&&", o) }

// Or is `c || o`.
func (c *Command) Or(o *Command) *Command { return c.join("||", o) }

// Pipe is `c | o`.
func (c *Command) Pipe(o *Command) *Command { return c.join("|", o) }

func (c *Command) join(op string, o *Command) *Command {
	w := make([]string, 0, len(c.words)+1+len(o.words))
	w = append(append(append(w, c.words...), op), o.words...)
	return &Command{words: w}
}

// String returns the command's text.
func (c *Command) String() string { return strings.Join(c.words, " ") }
