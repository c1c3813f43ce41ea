package inventory

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// varsExts are the extensions group_vars and host_vars files may have
// (Ansible's YAML_FILENAME_EXTENSIONS), "" first.
var varsExts = []string{"", ".yml", ".yaml", ".json"}

// varsFiles returns the vars that dir/sub/name provides (sub is
// group_vars or host_vars), one level per file, as Ansible's
// host_group_vars plugin finds them: the first of NAME, NAME.yml,
// NAME.yaml, NAME.json that exists; when that is a directory, every file
// under it (sorted, recursively, skipping hidden files and backups ending
// in "~", and files with other extensions).
func (m *model) varsFiles(dir, sub, name string) []level {
	if strings.HasPrefix(name, string(filepath.Separator)) {
		return nil // Ansible skips names like /path/to/chroot
	}
	key := filepath.Join(dir, sub) + "\x00" + name
	if levels, ok := m.varsCache[key]; ok {
		return levels
	}
	var levels []level
	base := filepath.Join(dir, sub)
	if fi, err := os.Stat(base); err == nil && !fi.IsDir() {
		m.diag(&hcl.Diagnostic{
			Severity: hcl.DiagWarning,
			Summary:  "Vars directory is a file",
			Detail:   fmt.Sprintf("Found %s that is not a directory, skipping: %s.", sub, base),
		})
	} else if err == nil {
		for _, path := range findVarsFiles(base, name) {
			if vars := m.readVarsFile(path); len(vars) > 0 {
				levels = append(levels, level{vars: vars})
			}
		}
	}
	m.varsCache[key] = levels
	return levels
}

func findVarsFiles(base, name string) []string {
	for _, ext := range varsExts {
		p := filepath.Join(base, name) + ext
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		if fi.IsDir() {
			return dirVarsFiles(p)
		}
		return []string{p}
	}
	return nil
}

func dirVarsFiles(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, ".") || strings.HasSuffix(n, "~") {
			continue
		}
		p := filepath.Join(dir, n)
		ext := pyExt(n)
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		switch {
		case fi.IsDir() && ext == "":
			out = append(out, dirVarsFiles(p)...)
		case fi.Mode().IsRegular() && (ext == "" || ext == ".yml" || ext == ".yaml" || ext == ".json"):
			out = append(out, p)
		}
	}
	return out
}

// readVarsFile reads one vars file: a YAML (or JSON) mapping, or empty.
func (m *model) readVarsFile(path string) map[string]value {
	src, err := os.ReadFile(path)
	if err != nil {
		m.diag(&hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Failed to read vars file", Detail: err.Error(),
			Subject: &hcl.Range{Filename: path, Start: hcl.InitialPos, End: hcl.InitialPos}})
		return nil
	}
	if src, err = m.decrypt(src, path); err != nil {
		m.diag(&hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot decrypt vars file", Detail: err.Error() + ".",
			Subject: &hcl.Range{Filename: path, Start: hcl.InitialPos, End: hcl.InitialPos}})
		return nil
	}
	m.files[path] = &hcl.File{Bytes: src, Body: hcl.EmptyBody()}
	data, err := decodeData(src, path, m.vault)
	if err != nil {
		m.diag(dataError(path, "Invalid vars file", err))
		return nil
	}
	if !data.truthy() {
		return nil // Ansible ignores empty files
	}
	if data.kind != aMap {
		m.diag(&hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid vars file",
			Detail:  fmt.Sprintf("A vars file holds a mapping of variables, not a %s.", data.typeName()),
			Subject: data.rng.Ptr()})
		return nil
	}
	vars := make(map[string]value, len(data.keys))
	for i, k := range data.keys {
		vars[k.keyString()] = value{v: data.vals[i].cty(), rng: k.rng}
	}
	return vars
}
