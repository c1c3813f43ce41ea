package inventory

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"

	"github.com/tendhq/tend/vault"
)

// Options configure LoadContext.
type Options struct {
	// EvalContext supplies functions such as secret(...) to native HCL
	// sources; it may be nil.
	EvalContext *hcl.EvalContext
	// ScriptTimeout bounds each run of a dynamic inventory script;
	// zero means DefaultScriptTimeout.
	ScriptTimeout time.Duration
	// Vault holds the passwords of Ansible Vault data: whole encrypted
	// inventory and vars files, and inline !vault values. Without it,
	// such data is an error naming the file.
	Vault *vault.Keyring
}

// Load reads inventory sources and merges them into one Inventory. ectx
// supplies functions such as secret(...) to native HCL files and may be
// nil. It is LoadContext without cancellation or options.
func Load(paths []string, ectx *hcl.EvalContext) (*Inventory, hcl.Diagnostics) {
	return LoadContext(context.Background(), paths, Options{EvalContext: ectx})
}

// LoadFile is Load for a single file.
func LoadFile(path string, ectx *hcl.EvalContext) (*Inventory, hcl.Diagnostics) {
	return Load([]string{path}, ectx)
}

// LoadContext reads inventory sources, each detected by what it is, and
// merges them into one Inventory:
//
//   - a directory: every file in it, in name order, recursively, as
//     Ansible reads an inventory directory (hidden files, group_vars,
//     host_vars, vars_plugins and names ending in .ini, .cfg, .retry,
//     .md, .txt, .rst, .orig, .bak, .swp, .pyc, .pyo, .rpm or ~ are
//     skipped);
//   - a file ending in .hcl, or whose first line is a host, group or
//     defaults block: native HCL;
//   - an executable file: a dynamic inventory script (Ansible's JSON
//     protocol);
//   - a file ending in .yml, .yaml or .json: an Ansible YAML inventory;
//   - a file without extension: an Ansible YAML inventory if it is a
//     YAML mapping, else Ansible INI;
//   - any other file: Ansible INI;
//   - a path that does not exist but contains a comma: a host list
//     ("web1,web2:2222,"), as with ansible -i.
//
// Sources merge as in Ansible: groups and hosts are shared by all of
// them, so a host or group in two sources is one host or group, whose
// vars from the later source win. For each source path (for a file, its
// directory) group_vars/ and host_vars/ apply, as in Ansible.
//
// Native HCL files also merge, with two rules of their own: an
// inventory has at most one defaults block, and each host or group has
// one HCL block across all files; a second is an error naming the first.
//
// Vars and connection settings are merged, lowest first: the native
// defaults block; group "all"; the host's other groups ordered by depth
// (a group's depth is one more than its deepest parent, "all" is 0), then
// ansible_group_priority (default 1), then name; group_vars/all, then the
// group_vars of those groups (for each source in turn); the host; its
// host_vars. So a child group overrides its parents, and of two
// unrelated groups at the same depth the later name wins; this is
// Ansible's order, which keeps Ansible inventories meaning the same.
// Ansible's connection variables (ansible_host, ansible_port,
// ansible_user, ...) set the Host's fields rather than Vars; see Host.
//
// With no paths, LoadContext returns Localhost(). The Inventory is never
// nil; when the diagnostics hold errors it is incomplete and only fit for
// reporting. ctx (not nil) cancels dynamic inventory scripts.
func LoadContext(ctx context.Context, paths []string, opts Options) (*Inventory, hcl.Diagnostics) {
	if len(paths) == 0 {
		return Localhost(), nil
	}
	l := &loader{
		ctx:  ctx,
		opts: opts,
		m:    newModel(),
		p:    hclparse.NewParser(),
	}
	l.m.vault = opts.Vault
	l.d = &decls{m: l.m, hosts: map[string]*hostDecl{}, groups: map[string]*groupDecl{}}
	for _, path := range paths {
		l.source(path, true)
	}
	inv := l.m.resolve()
	l.m.hideSecretFiles()
	// Diagnostics need a file's bytes, not its syntax tree: a large
	// inventory's tree is many times its size, held for the whole run.
	inv.files = map[string]*hcl.File{}
	for name, f := range l.p.Files() {
		inv.files[name] = &hcl.File{Bytes: f.Bytes}
	}
	for name, f := range l.m.files {
		inv.files[name] = f
	}
	return inv, append(l.diags, l.m.diags...)
}

// loader reads sources into a model.
type loader struct {
	ctx   context.Context
	opts  Options
	m     *model
	p     *hclparse.Parser
	d     *decls
	diags hcl.Diagnostics
}

func (l *loader) errorf(path, summary, format string, args ...any) {
	l.diags = append(l.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  &hcl.Range{Filename: path, Start: hcl.InitialPos, End: hcl.InitialPos},
	})
}

// ignoredRE is Ansible's list of directory entries an inventory
// directory skips (IGNORED_ALWAYS and the default
// INVENTORY_IGNORE_EXTS). Note that .ini files are skipped too.
var ignoredRE = regexp.MustCompile(`^\.|^host_vars$|^group_vars$|^vars_plugins$|(?:\.pyc|\.pyo|\.swp|\.bak|~|\.rpm|\.md|\.txt|\.rst|\.orig|\.ini|\.cfg|\.retry)$`)

func (l *loader) source(path string, top bool) {
	fi, err := os.Stat(path)
	if err != nil {
		if top && os.IsNotExist(err) && strings.Contains(path, ",") {
			l.hostList(path)
			return
		}
		l.errorf(path, "Failed to read inventory", "%s", err)
		return
	}
	if fi.IsDir() {
		if top {
			l.m.varDirs = append(l.m.varDirs, path)
		}
		entries, err := os.ReadDir(path)
		if err != nil {
			l.errorf(path, "Failed to read inventory", "%s", err)
			return
		}
		for _, e := range entries {
			if ignoredRE.MatchString(e.Name()) {
				continue
			}
			l.source(filepath.Join(path, e.Name()), false)
		}
		return
	}
	if top {
		l.m.varDirs = append(l.m.varDirs, filepath.Dir(path))
	}
	l.file(path, fi)
}

// pyExt is Python's os.path.splitext extension: a leading dot does not
// start one (".hosts" has none).
func pyExt(path string) string {
	base := strings.TrimLeft(filepath.Base(path), ".")
	if i := strings.LastIndexByte(base, '.'); i >= 0 {
		return base[i:]
	}
	return ""
}

func (l *loader) file(path string, fi os.FileInfo) {
	ext := pyExt(path)
	if ext == ".hcl" {
		l.diags = append(l.diags, l.d.addFile(l.p, path, l.opts.EvalContext)...)
		return
	}
	if fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
		if err := l.scriptInventory(path); err != errNotExecutable {
			return
		}
		// Executable bits on a text file: read it as Ansible does, as a
		// static inventory.
	}
	src, err := os.ReadFile(path)
	if err != nil {
		l.errorf(path, "Failed to read inventory", "%s", err)
		return
	}
	// An encrypted file is decrypted first, whatever its format, as
	// Ansible's DataLoader does; never read as INI text.
	if src, err = l.m.decrypt(src, path); err != nil {
		l.errorf(path, "Cannot decrypt inventory", "%s.", err)
		return
	}
	switch {
	case bytes.HasPrefix(src, []byte("#!")):
		l.errorf(path, "Inventory script is not executable",
			"%s starts with #!, like a dynamic inventory script, but is not executable; make it executable (chmod +x) so tend can run it.", path)
		return
	case looksLikeHCL(src):
		l.diags = append(l.diags, l.d.addFile(l.p, path, l.opts.EvalContext)...)
		return
	case ext == ".toml":
		l.errorf(path, "Unsupported inventory format", "TOML inventories are not supported; convert it to YAML with ansible-inventory -i %s --list --yaml.", path)
		return
	}
	l.m.ansible = true
	switch ext {
	case ".yml", ".yaml", ".json":
		data, err := decodeData(src, path, l.m.vault)
		if err != nil {
			l.diags = append(l.diags, dataError(path, "Invalid YAML inventory", err))
			return
		}
		l.m.files[path] = &hcl.File{Bytes: src, Body: hcl.EmptyBody()}
		l.diags = append(l.diags, parseYAMLInventory(l.m, path, data)...)
	case "":
		// Ansible tries its yaml plugin first, then ini.
		if data, err := decodeData(src, path, l.m.vault); err == nil && checkYAMLInventory(path, data) == nil {
			l.m.files[path] = &hcl.File{Bytes: src, Body: hcl.EmptyBody()}
			l.diags = append(l.diags, parseYAMLInventory(l.m, path, data)...)
			return
		} else if err == nil && data != nil && data.kind == aMap && data.get("plugin").truthy() {
			l.diags = append(l.diags, checkYAMLInventory(path, data))
			return
		}
		l.diags = append(l.diags, parseINI(l.m, path, src)...)
	default:
		l.diags = append(l.diags, parseINI(l.m, path, src)...)
	}
}

// hclStartRE matches the first line of a native inventory.
var hclStartRE = regexp.MustCompile(`^(?:host|group)\s+"|^defaults\s*\{`)

// looksLikeHCL reports whether a file without the .hcl extension is a
// native inventory: its first statement is a host, group or defaults
// block, which no Ansible format can start with.
func looksLikeHCL(src []byte) bool {
	for _, line := range strings.Split(string(src), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "//") {
			continue
		}
		return hclStartRE.MatchString(line)
	}
	return false
}

// decodeData reads a YAML or JSON file as Ansible's DataLoader does:
// JSON first (with JSON's types), then YAML with PyYAML's rules. Inline
// Ansible Vault values (YAML's !vault, JSON's {"__ansible_vault": ...})
// are decrypted with k. A whole encrypted file is decrypted before this
// (model.decrypt); one still encrypted here is refused.
func decodeData(src []byte, path string, k *vault.Keyring) (*aval, error) {
	if bytes.HasPrefix(bytes.TrimSpace(src), []byte("$ANSIBLE_VAULT;")) {
		return nil, errVault
	}
	if v, err := decodeJSON(src, hcl.Range{Filename: path, Start: hcl.InitialPos, End: hcl.InitialPos}, k); err == nil {
		return v, nil
	}
	return yamlDoc(src, path, k)
}

// dataError turns a decodeData error into a diagnostic, at the place in
// the file when the error has one.
func dataError(path, summary string, err error) *hcl.Diagnostic {
	d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: err.Error() + "."}
	if ye, ok := err.(*yamlError); ok {
		d.Subject = ye.rng.Ptr()
	} else {
		d.Subject = &hcl.Range{Filename: path, Start: hcl.InitialPos, End: hcl.InitialPos}
	}
	return d
}

// hostList reads "host1,host2:2222," as Ansible's host_list plugin does:
// each entry is a host (with an optional port) in "ungrouped".
func (l *loader) hostList(list string) {
	l.m.ansible = true
	rng := hcl.Range{Filename: list, Start: hcl.InitialPos, End: hcl.InitialPos}
	for _, h := range strings.Split(list, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		name, port, err := parseAddress(h)
		if err != nil || strings.Contains(name, "[") {
			name, port = h, 0
		}
		l.m.addHost(name, l.m.groups[GroupUngrouped], port, rng)
	}
}
