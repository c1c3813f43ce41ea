package inventory

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// This file reads Ansible INI inventories, following Ansible's ini
// inventory plugin line for line (ansible/plugins/inventory/ini.py):
//
//	[web]                       hosts of group web
//	web[01:20].example.com      a range of hosts
//	db1:2222 ansible_user=ops   a port, and host vars parsed as Python literals
//	[web:vars]                  group vars, one key=value a line (also Python literals)
//	[web:children]              child groups
//
// Lines before the first section are hosts of "ungrouped"; lines starting
// with "#" or ";" are comments, as is "#..." after a host definition.

var (
	iniSectionRE   = regexp.MustCompile(`^\[([^:\]\s]+)(?::([\p{L}\p{N}_]+))?\]\s*(?:#.*)?$`)
	iniGroupNameRE = regexp.MustCompile(`^([^:\]\s]+)\s*(?:#.*)?$`)
)

// iniParser holds the state of one INI file.
type iniParser struct {
	m     *model
	path  string
	src   []byte
	lines []int
	diags hcl.Diagnostics
}

// pendingDecl is a group named in [x:vars] or [x:children] before its
// own section, as Ansible tracks it: an error if never declared.
type pendingDecl struct {
	line    int
	state   string
	name    string
	parents []string
}

// parseINI adds the hosts and groups of an INI inventory to m.
func parseINI(m *model, path string, src []byte) hcl.Diagnostics {
	p := &iniParser{m: m, path: path, src: src, lines: lineOffsets(src)}
	m.files[path] = &hcl.File{Bytes: src, Body: hcl.EmptyBody()}
	p.parse()
	return p.diags
}

// lineRange is the range of line n (1-based), trimmed of surrounding
// space, for diagnostics with a snippet.
func (p *iniParser) lineRange(n int) hcl.Range {
	if n < 1 || n > len(p.lines) {
		return hcl.Range{Filename: p.path, Start: hcl.InitialPos, End: hcl.InitialPos}
	}
	start := p.lines[n-1]
	end := len(p.src)
	if n < len(p.lines) {
		end = p.lines[n] - 1
	}
	line := string(p.src[start:end])
	trimmedLeft := strings.TrimLeft(line, " \t")
	col := len(line) - len(trimmedLeft)
	body := strings.TrimRight(trimmedLeft, " \t\r")
	return hcl.Range{
		Filename: p.path,
		Start:    hcl.Pos{Line: n, Column: utf8.RuneCountInString(line[:col]) + 1, Byte: start + col},
		End:      hcl.Pos{Line: n, Column: utf8.RuneCountInString(line[:col]+body) + 1, Byte: start + col + len(body)},
	}
}

func (p *iniParser) errorf(line int, format string, args ...any) {
	p.diags = append(p.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Invalid INI inventory",
		Detail:   fmt.Sprintf(format, args...),
		Subject:  p.lineRange(line).Ptr(),
	})
}

func (p *iniParser) parse() {
	text := string(p.src)
	if !utf8.ValidString(text) {
		// Ansible tolerates bad UTF-8 only in comment lines.
		for i, line := range splitLines(text) {
			t := strings.TrimSpace(line)
			if t != "" && t[0] != '#' && t[0] != ';' && !utf8.ValidString(line) {
				p.errorf(i+1, "line %d is not valid UTF-8", i+1)
				return
			}
		}
	}
	pending := map[string]*pendingDecl{}
	var pendingOrder []string
	addPending := func(d *pendingDecl) {
		pending[d.name] = d
		pendingOrder = append(pendingOrder, d.name)
	}
	groupName, state := GroupUngrouped, "hosts"
	for i, line := range splitLines(text) {
		n := i + 1
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if m := iniSectionRE.FindStringSubmatch(line); m != nil {
			groupName, state = m[1], m[2]
			if state == "" {
				state = "hosts"
			}
			if state != "hosts" && state != "children" && state != "vars" {
				p.errorf(n, "Section [%s:%s] has unknown type: %s", m[1], m[2], m[2])
				return
			}
			if _, ok := p.m.groups[groupName]; !ok {
				// [g] or [g:children] declares g; [g:vars] needs a
				// declaration somewhere in the file.
				if _, ok := pending[groupName]; state == "vars" && !ok {
					addPending(&pendingDecl{line: n, state: state, name: groupName})
				}
				p.m.addGroup(groupName, p.lineRange(n))
			}
			if d, ok := pending[groupName]; ok && state != "vars" {
				if d.state == "children" {
					if !p.addPendingChildren(groupName, pending) {
						return
					}
				} else if d.state == "vars" {
					delete(pending, groupName)
				}
			}
			continue
		} else if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			p.errorf(n, "Invalid section entry: '%s'. Please make sure that there are no spaces in the section entry, and that there are no other invalid characters", line)
			return
		}
		switch state {
		case "hosts":
			if !p.hostLine(n, line, groupName) {
				return
			}
		case "vars":
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				p.errorf(n, "Expected key=value, got: %s", line)
				return
			}
			p.m.setGroupVar(p.m.groups[groupName], strings.TrimSpace(k), value{v: iniValue(strings.TrimSpace(v)), rng: p.lineRange(n)})
		case "children":
			m := iniGroupNameRE.FindStringSubmatch(line)
			if m == nil {
				p.errorf(n, "Expected group name, got: %s", line)
				return
			}
			child := m[1]
			if _, ok := p.m.groups[child]; !ok {
				if d, ok := pending[child]; ok {
					d.parents = append(d.parents, groupName)
				} else {
					addPending(&pendingDecl{line: n, state: state, name: child, parents: []string{groupName}})
				}
			} else if !p.addChild(n, groupName, child) {
				return
			}
		}
	}
	for _, name := range pendingOrder {
		d, ok := pending[name]
		if !ok || d.name != name {
			continue
		}
		switch d.state {
		case "vars":
			p.errorf(d.line, "Section [%s:vars] not valid for undefined group: %s", d.name, d.name)
		case "children":
			p.errorf(d.line, "Section [%s:children] includes undefined group: %s", d.parents[len(d.parents)-1], d.name)
		}
		return // Ansible reports the first only
	}
}

// addPendingChildren links a group that was named as a child before its
// section to its parents, recursively for parents in the same situation.
func (p *iniParser) addPendingChildren(group string, pending map[string]*pendingDecl) bool {
	d := pending[group]
	for _, parent := range d.parents {
		if !p.addChild(d.line, parent, group) {
			return false
		}
		if pd, ok := pending[parent]; ok && pd.state == "children" {
			if !p.addPendingChildren(parent, pending) {
				return false
			}
		}
	}
	delete(pending, group)
	return true
}

func (p *iniParser) addChild(line int, parent, child string) bool {
	pg, cg := p.m.groups[parent], p.m.groups[child]
	if pg == nil {
		pg = p.m.addGroup(parent, p.lineRange(line))
	}
	if cycle := p.m.addChild(pg, cg); cycle != nil {
		p.diags = append(p.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Group cycle",
			Detail:   fmt.Sprintf("Adding group %q as child to %q creates a recursive dependency loop: %s.", child, parent, strings.Join(cycle, " -> ")),
			Subject:  p.lineRange(line).Ptr(),
		})
		return false
	}
	return true
}

// hostLine reads "PATTERN [key=value ...]" into the current group.
func (p *iniParser) hostLine(n int, line, groupName string) bool {
	tokens, err := shlexSplit(line, true)
	if err != nil {
		p.errorf(n, "Error parsing host definition '%s': %s", line, err)
		return false
	}
	if len(tokens) == 0 {
		p.errorf(n, "Expected a host name, got: %s", line)
		return false
	}
	names, port, err := expandHostPattern(tokens[0])
	if err != nil {
		p.errorf(n, "%s", err)
		return false
	}
	if strings.HasSuffix(strings.TrimSpace(tokens[0]), ":") && port == 0 {
		p.errorf(n, "Invalid host pattern '%s' supplied, ending in ':' is not allowed, this character is reserved to provide a port.", tokens[0])
		return false
	}
	for _, name := range names {
		if name == "" {
			p.errorf(n, "Invalid empty host name provided")
			return false
		}
		if strings.TrimSpace(name) == "---" {
			p.errorf(n, "Invalid host pattern '%s' supplied, '---' is normally a sign this is a YAML file.", tokens[0])
			return false
		}
	}
	type kv struct {
		k string
		v cty.Value
	}
	var vars []kv
	for _, t := range tokens[1:] {
		k, v, ok := strings.Cut(t, "=")
		if !ok {
			p.errorf(n, "Expected key=value host variable assignment, got: %s", t)
			return false
		}
		vars = append(vars, kv{k, iniValue(v)})
	}
	rng := p.lineRange(n)
	for _, name := range names {
		h := p.m.addHost(name, p.m.groups[groupName], port, rng)
		for _, e := range vars {
			h.vars[e.k] = value{v: e.v, rng: rng}
		}
	}
	return true
}

// iniValue is Ansible's INI _parse_value: a Python literal when the text
// is one (22, True, 'x', [1, 2]), else the text. This applies to host
// lines and, despite Ansible's documentation, to [group:vars] too.
func iniValue(s string) cty.Value {
	if v, ok := pyLiteral(s); ok {
		return v
	}
	return cty.StringVal(s)
}

// expandHostPattern is the plugins' _expand_hostpattern: an optional
// :port is split off (when the text is an address), then ranges are
// expanded.
func expandHostPattern(pattern string) (names []string, port int, err error) {
	host, port, perr := parseAddress(pattern)
	if perr != nil {
		host, port = pattern, 0
	}
	names, err = expandHostRange(host)
	return names, port, err
}

// splitLines splits as Python's str.splitlines does for the line ends
// found in text files.
func splitLines(s string) []string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	lines := strings.Split(s, "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}
