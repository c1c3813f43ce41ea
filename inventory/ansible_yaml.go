package inventory

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// This file reads Ansible YAML inventories, following Ansible's yaml
// inventory plugin (ansible/plugins/inventory/yaml.py):
//
//	all:
//	  vars: {ntp: pool.ntp.org}
//	  hosts:
//	    web[01:03].example.com:
//	    db1: {ansible_host: 10.0.0.5}
//	  children:
//	    prod:
//	      hosts: {db1: }
//
// Every top-level key is a group; a group has vars, hosts (whose keys are
// host patterns with optional ranges and :port) and children (groups, to
// any depth). Values keep their YAML types, read with PyYAML's YAML 1.1
// rules as Ansible reads them.

type yamlInvParser struct {
	m     *model
	diags hcl.Diagnostics
}

func (p *yamlInvParser) errorf(rng hcl.Range, format string, args ...any) {
	p.diags = append(p.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Invalid YAML inventory",
		Detail:   fmt.Sprintf(format, args...),
		Subject:  rng.Ptr(),
	})
}

func (p *yamlInvParser) warnf(rng hcl.Range, format string, args ...any) {
	p.diags = append(p.diags, &hcl.Diagnostic{
		Severity: hcl.DiagWarning,
		Summary:  "Ignored YAML inventory entry",
		Detail:   fmt.Sprintf(format, args...),
		Subject:  rng.Ptr(),
	})
}

// checkYAMLInventory reports whether data has the shape of a YAML
// inventory rather than something else, with the error Ansible's yaml
// plugin would give otherwise.
func checkYAMLInventory(path string, data *aval) *hcl.Diagnostic {
	rng := hcl.Range{Filename: path, Start: hcl.InitialPos, End: hcl.InitialPos}
	switch {
	case data.isNull():
		return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid YAML inventory", Detail: "The file is empty.", Subject: &rng}
	case data.kind != aMap:
		return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid YAML inventory", Detail: fmt.Sprintf("A YAML inventory is a mapping of group names, not a %s.", data.typeName()), Subject: data.rng.Ptr()}
	case data.get("plugin").truthy():
		plugin := data.get("plugin")
		name := plugin.keyString()
		return &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Inventory plugins are not supported",
			Detail: fmt.Sprintf("This file configures the Ansible inventory plugin %q, which tend cannot run. "+
				"Use Ansible itself as a dynamic inventory: an executable script containing\n\n    #!/bin/sh\n    exec ansible-inventory -i %s \"$@\"\n\n"+
				"answers --list and --host as tend expects.", name, path),
			Subject: plugin.rng.Ptr(),
		}
	}
	return nil
}

// parseYAMLInventory adds a decoded YAML inventory to m.
func parseYAMLInventory(m *model, path string, data *aval) hcl.Diagnostics {
	if d := checkYAMLInventory(path, data); d != nil {
		return hcl.Diagnostics{d}
	}
	p := &yamlInvParser{m: m}
	for i, k := range data.keys {
		if _, ok := p.group(k, data.vals[i]); !ok {
			break
		}
	}
	return p.diags
}

// group reads one group definition and returns the group's name; ok is
// false after an error, which ends the file as in Ansible.
func (p *yamlInvParser) group(key, data *aval) (string, bool) {
	name := key.keyString()
	if data != nil && !data.isNull() && data.kind != aMap {
		p.warnf(key.rng, "Skipping %q as this is not a valid group definition (a group is a mapping with vars, hosts and children)", name)
		return name, true
	}
	if !key.isStr() {
		p.errorf(key.rng, "Invalid group name %s: group names must be strings, not %s. Quote it.", name, key.typeName())
		return name, false
	}
	if name == "" {
		p.errorf(key.rng, "Invalid empty group name.")
		return name, false
	}
	g := p.m.addGroup(name, key.rng)
	if data.isNull() {
		return name, true
	}
	// A section given as a string names one entry: "hosts: web1".
	section := map[string]*aval{}
	for _, s := range []string{"vars", "children", "hosts"} {
		v := data.get(s)
		if v == nil || !data.has(s) {
			continue
		}
		if v.isStr() {
			m := &aval{kind: aMap, rng: v.rng}
			m.set(v, nil)
			v = m
		}
		if !v.isNull() && v.kind != aMap {
			p.errorf(v.rng, "Invalid %q entry for %q group, requires a dictionary, found %q instead.", s, name, v.typeName())
			return name, false
		}
		section[s] = v
	}
	for i, k := range data.keys {
		v := data.vals[i]
		if k.isStr() {
			if sv, ok := section[k.str()]; ok {
				v = sv
			}
		}
		if !v.isNull() && v.kind != aMap {
			p.warnf(k.rng, "Skipping key (%s) in group (%s) as it is not a mapping, it is a %s", k.keyString(), name, v.typeName())
			continue
		}
		if v.isNull() {
			continue
		}
		switch {
		case k.isStr() && k.str() == "vars":
			for j, vk := range v.keys {
				p.m.setGroupVar(g, vk.keyString(), value{v: v.vals[j].cty(), rng: vk.rng})
			}
		case k.isStr() && k.str() == "children":
			for j, ck := range v.keys {
				child, ok := p.group(ck, v.vals[j])
				if !ok {
					return name, false
				}
				cg := p.m.groups[child]
				if cg == nil {
					p.errorf(ck.rng, "%s is not a known host nor group", child)
					return name, false
				}
				if cycle := p.m.addChild(g, cg); cycle != nil {
					p.diags = append(p.diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  "Group cycle",
						Detail:   fmt.Sprintf("Adding group %q as child to %q creates a recursive dependency loop: %s.", child, name, strings.Join(cycle, " -> ")),
						Subject:  ck.rng.Ptr(),
					})
					return name, false
				}
			}
		case k.isStr() && k.str() == "hosts":
			for j, hk := range v.keys {
				if !hk.isStr() {
					p.errorf(hk.rng, "Host pattern %s must be a string. Enclose integers/floats in quotation marks.", hk.keyString())
					return name, false
				}
				names, port, err := expandHostPattern(hk.str())
				if err != nil {
					p.errorf(hk.rng, "%s", err)
					return name, false
				}
				hv := v.vals[j]
				if !hv.truthy() {
					hv = nil
				} else if hv.kind != aMap {
					p.errorf(hv.rng, "Invalid data for host %s: expected a mapping of variables, got a %s.", hk.str(), hv.typeName())
					return name, false
				}
				for _, hn := range names {
					if hn == "" {
						p.errorf(hk.rng, "Invalid empty host name provided")
						return name, false
					}
					h := p.m.addHost(hn, g, port, hk.rng)
					if hv == nil {
						continue
					}
					for x, vk := range hv.keys {
						h.vars[vk.keyString()] = value{v: hv.vals[x].cty(), rng: vk.rng}
					}
				}
			}
		default:
			p.warnf(k.rng, "Skipping unexpected key (%s) in group (%s), only \"vars\", \"children\" and \"hosts\" are valid", k.keyString(), name)
		}
	}
	return name, true
}
