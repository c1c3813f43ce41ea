package resources

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/transport"
)

// Windows is implemented by types that manage Windows hosts. Type's own
// methods are the POSIX provider (sh over SSH or locally); these are the
// Windows provider of the same resource type, speaking PowerShell over
// WinRM. A host is Windows when its inventory transport is winrm, so the
// provider is chosen before any fact is gathered (OnHost).
//
// The contract mirrors Type's: WindowsProbe returns a PowerShell fragment
// that reports the current state with `tendOut KEY VALUE` (see
// probe.WindowsScript; values are strings, the whole host's probe comes
// back as one JSON document), WindowsRead parses it, WindowsApply and
// WindowsRevert run PowerShell scripts through Host.T (values quoted with
// shell.PSQuote, content on stdin). Desired states use the same
// attribute names as the POSIX provider where they mean the same thing.
type Windows interface {
	WindowsKey(cfg cty.Value) (string, error)
	WindowsDesired(cfg cty.Value, env Env) (*State, error)
	WindowsProbe(cfg cty.Value, want *State) string
	WindowsRead(cfg cty.Value, out ProbeOutput) (*State, error)
	WindowsApply(ctx context.Context, h *Host, before, after *State) (Undo, error)
	WindowsRevert(ctx context.Context, h *Host, before, after *State, undo Undo) error
}

// WindowsRefresher is the Windows counterpart of Refresher.
type WindowsRefresher interface {
	WindowsRefresh(ctx context.Context, h *Host, cfg cty.Value) error
}

// WindowsResolver is the Windows counterpart of Resolver.
type WindowsResolver interface {
	WindowsResolve(cfg cty.Value, current, desired *State) (*State, error)
}

// WindowsIrreversibler is the Windows counterpart of Irreversibler.
type WindowsIrreversibler interface {
	WindowsIrreversible(before, after *State) string
}

// OnHost returns the provider of t for a host: t itself on POSIX hosts
// (their path is untouched), its Windows provider on Windows hosts. A type
// without one gets a provider whose every step is a clear error naming the
// type, so a role mixing hosts fails only where it cannot work.
func OnHost(t Type, windows bool) Type {
	if !windows {
		return t
	}
	w, ok := t.(Windows)
	if !ok {
		return noWindows{t}
	}
	wt := windowsType{t: t, w: w}
	if r, ok := t.(WindowsRefresher); ok {
		return windowsRefresher{wt, r}
	}
	return wt
}

// IsWindows reports whether a provider returned by OnHost is a Windows one.
func IsWindows(t Type) bool {
	switch t.(type) {
	case windowsType, windowsRefresher, noWindows:
		return true
	}
	return false
}

// CheckOS refuses attributes the configuration sets that mean nothing on
// the host's OS (Attribute.OS), and strings holding a NUL byte, which no
// shell, command line or file name can carry (a shell drops it, so the
// host would get another value than the one declared), naming the
// attribute.
func CheckOS(t Type, cfg cty.Value, windows bool) error {
	if cfg.IsNull() || !cfg.Type().IsObjectType() {
		return nil
	}
	for _, a := range t.Schema().Attributes {
		if !cfg.Type().HasAttribute(a.Name) || cfg.GetAttr(a.Name).IsNull() {
			continue
		}
		if hasNUL(cfg.GetAttr(a.Name)) {
			return &AttrError{Attr: a.Name, Msg: "must not contain a NUL byte (\\u0000)"}
		}
		if a.OS == "" {
			continue
		}
		switch {
		case a.OS == OSWindows && !windows:
			return &AttrError{Attr: a.Name, Msg: "applies only to Windows hosts (transport winrm)"}
		case a.OS == OSPOSIX && windows:
			return &AttrError{Attr: a.Name, Msg: "has no meaning on Windows hosts; set it only for POSIX hosts (for example with a when condition on host.facts.os.family)"}
		}
	}
	return nil
}

// hasNUL reports whether a known string in v, or a map key, holds a NUL
// byte.
func hasNUL(v cty.Value) bool {
	found := false
	v, _ = v.UnmarkDeep()
	cty.Walk(v, func(_ cty.Path, x cty.Value) (bool, error) {
		if found || !x.IsKnown() || x.IsNull() {
			return false, nil
		}
		switch {
		case x.Type() == cty.String:
			found = strings.IndexByte(x.AsString(), 0) >= 0
		case x.Type().IsMapType() || x.Type().IsObjectType():
			for k := range x.AsValueMap() {
				if strings.IndexByte(k, 0) >= 0 {
					found = true
				}
			}
		}
		return !found, nil
	})
	return found
}

// Values of Attribute.OS.
const (
	OSWindows = "windows"
	OSPOSIX   = "posix"
)

type windowsType struct {
	t Type
	w Windows
}

func (x windowsType) Name() string                            { return x.t.Name() }
func (x windowsType) Schema() *Schema                         { return x.t.Schema() }
func (x windowsType) Key(cfg cty.Value) (string, error)       { return x.w.WindowsKey(cfg) }
func (x windowsType) Probe(cfg cty.Value, want *State) string { return x.w.WindowsProbe(cfg, want) }
func (x windowsType) Desired(cfg cty.Value, env Env) (*State, error) {
	return x.w.WindowsDesired(cfg, env)
}
func (x windowsType) Read(cfg cty.Value, out ProbeOutput) (*State, error) {
	return x.w.WindowsRead(cfg, out)
}
func (x windowsType) Apply(ctx context.Context, h *Host, before, after *State) (Undo, error) {
	return x.w.WindowsApply(ctx, h, before, after)
}
func (x windowsType) Revert(ctx context.Context, h *Host, before, after *State, undo Undo) error {
	return x.w.WindowsRevert(ctx, h, before, after, undo)
}

// Irreversible implements Irreversibler when the Windows provider does.
func (x windowsType) Irreversible(before, after *State) string {
	if ir, ok := x.t.(WindowsIrreversibler); ok {
		return ir.WindowsIrreversible(before, after)
	}
	return ""
}

// Resolve implements Resolver when the Windows provider does; without
// one the desired state is the configuration's, as for a type that is no
// Resolver.
func (x windowsType) Resolve(cfg cty.Value, current, desired *State) (*State, error) {
	if r, ok := x.t.(WindowsResolver); ok {
		return r.WindowsResolve(cfg, current, desired)
	}
	return desired, nil
}

type windowsRefresher struct {
	windowsType
	r WindowsRefresher
}

func (x windowsRefresher) Refresh(ctx context.Context, h *Host, cfg cty.Value) error {
	return x.r.WindowsRefresh(ctx, h, cfg)
}

// noWindows is a type without a Windows provider.
type noWindows struct{ t Type }

func (x noWindows) err() error {
	return fmt.Errorf("resource type %s has no Windows provider", x.t.Name())
}
func (x noWindows) Name() string                            { return x.t.Name() }
func (x noWindows) Schema() *Schema                         { return x.t.Schema() }
func (x noWindows) Key(cfg cty.Value) (string, error)       { return "", nil }
func (x noWindows) Probe(cfg cty.Value, want *State) string { return "" }
func (x noWindows) Desired(cfg cty.Value, env Env) (*State, error) {
	return nil, x.err()
}
func (x noWindows) Read(cfg cty.Value, out ProbeOutput) (*State, error) { return nil, x.err() }
func (x noWindows) Apply(ctx context.Context, h *Host, before, after *State) (Undo, error) {
	return nil, x.err()
}
func (x noWindows) Revert(ctx context.Context, h *Host, before, after *State, undo Undo) error {
	return x.err()
}

// PowerShellPrelude is prepended by the Windows providers to every change
// script: the transport's bootstrap already sets $ErrorActionPreference
// = 'Stop', $ProgressPreference and UTF-8 output; this repeats the first
// two so a script means the same under any runner.
const PowerShellPrelude = "$ErrorActionPreference = 'Stop'\n$ProgressPreference = 'SilentlyContinue'\n"

// RunPowerShell runs a change script on a Windows host (stdin may be nil)
// and returns its standard output; a failure is an error carrying the
// host's own words (the transport turns CLIXML error records into text).
func RunPowerShell(ctx context.Context, h *Host, script string, stdin []byte) ([]byte, error) {
	if stdin == nil {
		stdin = []byte{}
	}
	return transport.Output(ctx, h.T, transport.Command{Script: PowerShellPrelude + script, Stdin: bytes.NewReader(stdin)})
}

// RefreshSatisfied passes on the type's answer (a service just started
// needs no restart for a notification of the same apply).
func (x windowsRefresher) RefreshSatisfied(before, after *State) bool {
	if rs, ok := x.t.(interface {
		RefreshSatisfied(before, after *State) bool
	}); ok {
		return rs.RefreshSatisfied(before, after)
	}
	return false
}
