package resources

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/shell"
	"github.com/tendhq/tend/transport"
)

// Exec runs a command: once, when `creates` is missing or `unless`
// fails, or, with refresh_only, only when a resource that notifies it
// changes (a reload after a configuration file changed).
type Exec struct{}

// Name implements Type.
func (Exec) Name() string { return "exec" }

// Schema implements Type.
func (Exec) Schema() *Schema {
	return &Schema{
		Doc: "A command run on the host by /bin/sh, which reads it as its script (never from its command line, so a secret in it is not on the process list, unless the command itself passes it to a program as an argument). Without a guard it would run on every apply, so it must have `creates`, `unless` or `refresh_only`. A command cannot be undone: a rollback reports it as not reverted.",
		Attributes: []Attribute{
			{Name: "command", Type: cty.String, Required: true, Script: true, Doc: "The command, a POSIX sh script."},
			{Name: "creates", Type: cty.String, Doc: "A path the command creates: the command runs only while it does not exist."},
			{Name: "unless", Type: cty.String, Script: true, Doc: "A shell command run during the probe (evaluated by the probe's shell in a subshell, never passed on a command line): the command runs only when this one exits non-zero."},
			{Name: "refresh_only", Type: cty.Bool, Doc: "Run only when notified by a changed resource (notify = [exec.NAME])."},
		},
	}
}

// Key implements Type: commands manage nothing exclusively.
func (Exec) Key(cfg cty.Value) (string, error) { return "", nil }

// Desired implements Type.
func (Exec) Desired(cfg cty.Value, env Env) (*State, error) {
	ro := cfg.GetAttr("refresh_only")
	if !isSet(cfg, "creates") && !isSet(cfg, "unless") && (ro.IsNull() || ro.False()) {
		return nil, &AttrError{Attr: "command", Msg: "an exec needs creates, unless or refresh_only = true, or it would run on every apply"}
	}
	return &State{Present: true, Attrs: map[string]cty.Value{"command": cfg.GetAttr("command")}}, nil
}

// RunsCommand implements Command.
func (Exec) RunsCommand() {}

// Probe implements Type.
func (Exec) Probe(cfg cty.Value, want *State) string {
	s := shell.NewScript("out done 0")
	if c := Str(cfg, "creates", ""); c != "" {
		s.If(shell.Test("-e", c), func(s *shell.Script) { s.Line("out done 1") })
	}
	if u := Str(cfg, "unless", ""); u != "" {
		// Evaluated by the probe's own shell, in a subshell: as an
		// argument of sh -c it would be on the host's process list,
		// which every user can read, and it may carry a secret.
		s.Set("_tu", u)
		s.Line(`if (set --; eval "$_tu") >/dev/null 2>&1 </dev/null; then out done 1; fi`)
	}
	return s.String()
}

// Read implements Type.
func (Exec) Read(cfg cty.Value, out ProbeOutput) (*State, error) {
	done, ok := out.Get("done")
	if !ok {
		return nil, ProbeFailed(out)
	}
	ro := cfg.GetAttr("refresh_only")
	if done == "1" || (!ro.IsNull() && ro.True()) {
		return &State{Present: true, Attrs: map[string]cty.Value{"command": cfg.GetAttr("command")}}, nil
	}
	return &State{Attrs: map[string]cty.Value{}}, nil
}

// Apply implements Type.
func (Exec) Apply(ctx context.Context, h *Host, before, after *State) (Undo, error) {
	return nil, runCommand(ctx, h, after.Attr("command"))
}

// Revert implements Type.
func (Exec) Revert(ctx context.Context, h *Host, before, after *State, undo Undo) error {
	return errors.New("a command cannot be undone")
}

// Irreversible implements Irreversibler.
func (Exec) Irreversible(before, after *State) string {
	return "a command cannot be undone"
}

// Refresh implements Refresher.
func (Exec) Refresh(ctx context.Context, h *Host, cfg cty.Value) error {
	return runCommand(ctx, h, cfg.GetAttr("command"))
}

// runCommand runs an exec's command: its failure is "run COMMAND: exit
// status N" (a command holding a secret is not shown), the command's
// stderr and stdout kept whole beside it (they are its own words, not a
// cause tend can tell).
func runCommand(ctx context.Context, h *Host, v cty.Value) error {
	command, shown := "", "(sensitive command)"
	if v != cty.NilVal && v.IsKnown() && !v.IsNull() {
		u, _ := v.Unmark()
		command = u.AsString()
		if !v.ContainsMarked() {
			shown = OneLine(command)
		}
	}
	res, err := h.T.Run(ctx, transport.Command{Script: command, Stdin: bytes.NewReader(nil)})
	if err != nil {
		return err
	}
	if res.ExitStatus != 0 {
		return &ChangeError{Action: "run", Path: shown, Cause: fmt.Sprintf("exit status %d", res.ExitStatus),
			Status: res.ExitStatus, Stderr: res.Stderr, Stdout: res.Stdout}
	}
	return nil
}

// Irreversibler is implemented by types some of whose changes cannot be
// reverted; the plan says so before anything is applied.
type Irreversibler interface {
	// Irreversible returns why the change cannot be reverted, or "".
	Irreversible(before, after *State) string
}
