package inventory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// This file runs dynamic inventory executables the way Ansible's script
// inventory plugin does: `SCRIPT --list` prints a JSON object of groups,
// each a list of hosts or {"hosts": [...], "vars": {...}, "children":
// [...]} (an object with none of those keys is a host of that name with
// those vars), and "_meta": {"hostvars": {HOST: {...}}}. Without
// _meta.hostvars, `SCRIPT --host HOST` is run for each host.

// DefaultScriptTimeout bounds one run of a dynamic inventory script when
// Options.ScriptTimeout is zero. Cloud inventories can be slow; a hung
// one must still not hang tend.
const DefaultScriptTimeout = 2 * time.Minute

// hostVarsParallel bounds concurrent `--host` runs.
const hostVarsParallel = 8

// errNotExecutable is returned when the kernel refuses to execute a file
// that has an executable mode (exec format error): Ansible then reads it
// as a static inventory, and so does tend.
var errNotExecutable = errors.New("not an executable program")

// runScript runs path with args and returns its stdout. The error names
// the command, says how it failed, and includes its stderr.
func (l *loader) runScript(path string, args ...string) ([]byte, error) {
	timeout := l.opts.ScriptTimeout
	if timeout <= 0 {
		timeout = DefaultScriptTimeout
	}
	ctx, cancel := context.WithTimeout(l.ctx, timeout)
	defer cancel()
	// An absolute path, so "inventory.sh" runs the file named, not a
	// program of that name found in PATH.
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, abs, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	killProcessGroup(cmd)
	// Should a script's children survive it and hold its pipes open,
	// stop waiting for them soon after.
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	command := strings.Join(append([]string{path}, args...), " ")
	if err != nil {
		var exitErr *exec.ExitError
		switch {
		case isExecFormatError(err):
			return nil, errNotExecutable
		case l.ctx.Err() != nil:
			return nil, fmt.Errorf("%s: %w", command, l.ctx.Err())
		case ctx.Err() == context.DeadlineExceeded:
			return nil, fmt.Errorf("%s did not finish within %s%s", command, timeout, stderrText(stderr.Bytes()))
		case errors.As(err, &exitErr):
			return nil, fmt.Errorf("%s failed (%s)%s", command, exitErr.ProcessState, stderrText(stderr.Bytes()))
		default:
			return nil, fmt.Errorf("cannot run %s: %w", command, err)
		}
	}
	return stdout.Bytes(), nil
}

// stderrText formats a script's stderr for an error message.
func stderrText(b []byte) string {
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "; it wrote nothing to stderr"
	}
	const most = 4000
	if len(s) > most {
		s = "..." + s[len(s)-most:]
	}
	return ":\n" + s
}

// scriptInventory adds what an inventory script prints. It returns
// errNotExecutable, and adds nothing, when path cannot be executed.
func (l *loader) scriptInventory(path string) error {
	rng := hcl.Range{Filename: path, Start: hcl.InitialPos, End: hcl.InitialPos}
	fail := func(format string, args ...any) error {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Dynamic inventory failed",
			Detail:   fmt.Sprintf(format, args...),
		})
		return nil
	}
	out, err := l.runScript(path, "--list")
	if err == errNotExecutable {
		return err
	}
	if err != nil {
		return fail("%s", err)
	}
	l.m.ansible = true
	if !utf8.Valid(out) {
		return fail("%s --list printed text that is not UTF-8.", path)
	}
	data, err := decodeJSON(out, rng, l.m.vault)
	if err != nil {
		return fail("%s --list did not print valid JSON: %s.", path, err)
	}
	if data.kind != aMap {
		return fail("%s --list must print a JSON object of groups, not a %s.", path, data.typeName())
	}

	var meta *aval
	var hosts []string
	seen := map[string]bool{}
	for i, k := range data.keys {
		name, gdata := k.str(), data.vals[i]
		if name == "_meta" {
			if gdata.kind == aMap && gdata.has("hostvars") {
				meta = gdata.get("hostvars")
				if meta.kind != aMap {
					return fail("%s --list: _meta.hostvars must be an object of hosts, not a %s.", path, meta.typeName())
				}
			}
			continue
		}
		names, err := l.scriptGroup(path, name, gdata)
		if err != nil {
			return fail("%s --list: %s", path, err)
		}
		for _, h := range names {
			if !seen[h] {
				seen[h] = true
				hosts = append(hosts, h)
			}
		}
	}

	// Vars come from _meta.hostvars or, without it, one --host run per
	// host (run concurrently, applied in order).
	vars := make([]*aval, len(hosts))
	if meta != nil {
		for i, h := range hosts {
			if v := meta.get(h); v != nil {
				vars[i] = v
			}
		}
	} else {
		errs := make([]error, len(hosts))
		sem := make(chan struct{}, hostVarsParallel)
		var wg sync.WaitGroup
		for i, h := range hosts {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				vars[i], errs[i] = l.scriptHostVars(path, h)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return fail("%s", err)
		}
	}
	for i, name := range hosts {
		v := vars[i]
		if v == nil {
			continue
		}
		if v.kind != aMap {
			return fail("%s: the vars of host %q must be an object, not a %s.", path, name, v.typeName())
		}
		h := l.m.hosts[name]
		for j, k := range v.keys {
			h.vars[k.keyString()] = value{v: v.vals[j].cty(), rng: rng}
		}
	}
	return nil
}

// scriptGroup adds one group of --list output and returns its hosts.
func (l *loader) scriptGroup(path, name string, data *aval) ([]string, error) {
	rng := hcl.Range{Filename: path, Start: hcl.InitialPos, End: hcl.InitialPos}
	if name == "" {
		return nil, errors.New("invalid empty group name")
	}
	g := l.m.addGroup(name, rng)
	switch {
	case data.kind != aMap:
		data = &aval{kind: aMap, keys: []*aval{strVal("hosts", rng)}, vals: []*aval{data}}
	case !data.has("hosts") && !data.has("vars") && !data.has("children"):
		// {"var": 1} alone: a host named like the group, with vars.
		data = &aval{kind: aMap,
			keys: []*aval{strVal("hosts", rng), strVal("vars", rng)},
			vals: []*aval{{kind: aSeq, items: []*aval{strVal(name, rng)}}, data}}
	}
	var hosts []string
	if data.has("hosts") {
		hs := data.get("hosts")
		if hs.kind != aSeq {
			return nil, fmt.Errorf("group %q has bad data for the host list: want a list of host names, got a %s", name, hs.typeName())
		}
		for _, h := range hs.items {
			if !h.isStr() || h.str() == "" {
				return nil, fmt.Errorf("group %q: invalid host name %s: host names must be non-empty strings", name, h.keyString())
			}
			hosts = append(hosts, h.str())
			l.m.addHost(h.str(), g, 0, rng)
		}
	}
	if data.has("vars") {
		vs := data.get("vars")
		if vs.kind != aMap {
			return nil, fmt.Errorf("group %q has bad data for variables: want an object, got a %s", name, vs.typeName())
		}
		for i, k := range vs.keys {
			l.m.setGroupVar(g, k.keyString(), value{v: vs.vals[i].cty(), rng: rng})
		}
	}
	if data.has("children") {
		cs := data.get("children")
		var children []*aval
		switch cs.kind {
		case aSeq:
			children = cs.items
		case aMap:
			children = cs.keys // Python iterates a dict's keys
		default:
			return nil, fmt.Errorf("group %q has bad data for children: want a list of group names, got a %s", name, cs.typeName())
		}
		for _, c := range children {
			if !c.isStr() || c.str() == "" {
				return nil, fmt.Errorf("group %q: invalid child group name %s", name, c.keyString())
			}
			if cycle := l.m.addChild(g, l.m.addGroup(c.str(), rng)); cycle != nil {
				return nil, fmt.Errorf("adding group %q as child to %q creates a recursive dependency loop: %s", c.str(), name, strings.Join(cycle, " -> "))
			}
		}
	}
	return hosts, nil
}

// scriptHostVars runs SCRIPT --host NAME; empty output means no vars.
// Unlike Ansible, which ignores the exit status here, a failure is an
// error: vars silently missing would change what gets applied.
func (l *loader) scriptHostVars(path, name string) (*aval, error) {
	out, err := l.runScript(path, "--host", name)
	if err == errNotExecutable {
		return nil, fmt.Errorf("cannot run %s --host %s: %w", path, name, err)
	}
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(string(out)) == "" {
		return nil, nil
	}
	v, err := decodeData(out, path, l.m.vault)
	if err != nil {
		return nil, fmt.Errorf("could not parse the output of %s --host %s: %s", path, name, err)
	}
	return v, nil
}
