// Package registry is the registry_value resource type: one value of the
// Windows registry (hive, key, name, type, data, 32- or 64-bit view). It
// exists only on Windows hosts; on any other host it is a plan error.
package registry

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/shell"
)

// Value is the registry_value resource type.
type Value struct{}

var (
	_ resources.Type    = Value{}
	_ resources.Windows = Value{}
)

// Name implements resources.Type.
func (Value) Name() string { return "registry_value" }

// Schema implements resources.Type.
func (Value) Schema() *resources.Schema {
	return &resources.Schema{
		Doc: "One value of the Windows registry, read and written through .NET's RegistryKey in the chosen registry view (so a 32-bit view is never confused with the 64-bit one). Windows hosts only. A removed or changed value is restored from its probed pre-state on rollback; keys tend had to create stay.",
		Attributes: []resources.Attribute{
			{Name: "hive", Type: cty.String, Required: true, OS: resources.OSWindows, Doc: "`HKLM` (HKEY_LOCAL_MACHINE), `HKCU`, `HKU`, `HKCR` or `HKCC`."},
			{Name: "key", Type: cty.String, Required: true, OS: resources.OSWindows, Doc: "The key's path below the hive, e.g. `SOFTWARE\\Policies\\Contoso`."},
			{Name: "name", Type: cty.String, OS: resources.OSWindows, Doc: "The value's name; \"\" is the key's default value. Defaults to the block's label."},
			{Name: "type", Type: cty.String, OS: resources.OSWindows, Doc: "`string` (REG_SZ, default), `expand_string` (REG_EXPAND_SZ, stored unexpanded), `multi_string` (REG_MULTI_SZ), `dword` (REG_DWORD), `qword` (REG_QWORD) or `binary` (REG_BINARY)."},
			{Name: "data", Type: cty.DynamicPseudoType, OS: resources.OSWindows, Doc: "The data: a string; a number (0 to 4294967295 for dword, to 18446744073709551615 for qword); a list of strings for multi_string; lowercase or uppercase hex for binary (`\"01ff\"`). Required unless state is \"absent\"."},
			{Name: "view", Type: cty.String, OS: resources.OSWindows, Doc: "`64` (default) or `32`: which registry view (WOW6432Node) to use."},
			{Name: "state", Type: cty.String, OS: resources.OSWindows, Doc: "\"present\" (default) or \"absent\" (the value is deleted; the key stays)."},
		},
	}
}

// WindowsDoc documents the Windows provider.
func (Value) WindowsDoc() string {
	return "the only provider. Data is compared in a canonical form: dword and qword as unsigned decimal, multi_string as a list, binary as lowercase hex."
}

var errNotWindows = errors.New("registry_value applies only to Windows hosts (transport winrm); select them with os:windows or a when condition")

// Key implements resources.Type (POSIX hosts: nothing to manage).
func (Value) Key(cfg cty.Value) (string, error) { return "", nil }

// Desired implements resources.Type: an error on POSIX hosts.
func (Value) Desired(cfg cty.Value, env resources.Env) (*resources.State, error) {
	return nil, errNotWindows
}

// Probe implements resources.Type.
func (Value) Probe(cfg cty.Value, want *resources.State) string { return "" }

// Read implements resources.Type.
func (Value) Read(cfg cty.Value, out resources.ProbeOutput) (*resources.State, error) {
	return nil, errNotWindows
}

// Apply implements resources.Type.
func (Value) Apply(ctx context.Context, h *resources.Host, before, after *resources.State) (resources.Undo, error) {
	return nil, errNotWindows
}

// Revert implements resources.Type.
func (Value) Revert(ctx context.Context, h *resources.Host, before, after *resources.State, undo resources.Undo) error {
	return errNotWindows
}

var hives = map[string]string{
	"HKLM": "LocalMachine", "HKEY_LOCAL_MACHINE": "LocalMachine",
	"HKCU": "CurrentUser", "HKEY_CURRENT_USER": "CurrentUser",
	"HKU": "Users", "HKEY_USERS": "Users",
	"HKCR": "ClassesRoot", "HKEY_CLASSES_ROOT": "ClassesRoot",
	"HKCC": "CurrentConfig", "HKEY_CURRENT_CONFIG": "CurrentConfig",
}

// kinds maps tend's type names to RegistryValueKind names.
var kinds = map[string]string{
	"string": "String", "expand_string": "ExpandString", "multi_string": "MultiString",
	"dword": "DWord", "qword": "QWord", "binary": "Binary",
}

type ident struct{ hive, key, name, view string }

func (i ident) String() string {
	return fmt.Sprintf(`%s\%s\%s (%s-bit)`, i.hive, i.key, i.name, i.view)
}

func readIdent(cfg cty.Value) (ident, error) {
	var id ident
	h := strings.ToUpper(resources.Str(cfg, "hive", ""))
	if _, ok := hives[h]; !ok {
		return id, &resources.AttrError{Attr: "hive", Msg: fmt.Sprintf("must be HKLM, HKCU, HKU, HKCR or HKCC, got %q", resources.Str(cfg, "hive", ""))}
	}
	id.hive = hives[h]
	id.key = strings.Trim(strings.ReplaceAll(resources.Str(cfg, "key", ""), "/", `\`), `\`)
	if id.key == "" || strings.Contains(id.key, `\\`) || strings.ContainsAny(id.key, "\r\n\x00") {
		return id, &resources.AttrError{Attr: "key", Msg: fmt.Sprintf("%q is not a registry key path (SOFTWARE\\Vendor\\Product)", resources.Str(cfg, "key", ""))}
	}
	id.name = resources.Str(cfg, "name", "")
	if strings.ContainsAny(id.name, "\x00") {
		return id, &resources.AttrError{Attr: "name", Msg: "a value name cannot contain NUL"}
	}
	switch id.view = resources.Str(cfg, "view", "64"); id.view {
	case "64", "32":
	default:
		return id, &resources.AttrError{Attr: "view", Msg: fmt.Sprintf("must be \"64\" or \"32\", got %q", id.view)}
	}
	return id, nil
}

// WindowsKey implements resources.Windows: registry paths are
// case-insensitive.
func (Value) WindowsKey(cfg cty.Value) (string, error) {
	for _, a := range []string{"hive", "key", "name", "view"} {
		if !cfg.GetAttr(a).IsKnown() {
			return "", nil
		}
	}
	id, err := readIdent(cfg)
	if err != nil {
		return "", err
	}
	return "registry " + strings.ToLower(id.String()), nil
}

// canonical returns data in the form the probe reports it.
func canonical(kind string, data cty.Value) (string, error) {
	data, _ = data.UnmarkDeep()
	switch kind {
	case "string", "expand_string":
		if data.Type() == cty.Number {
			return data.AsBigFloat().Text('f', -1), nil
		}
		if data.Type() != cty.String {
			return "", fmt.Errorf("%s data must be a string", kind)
		}
		return data.AsString(), nil
	case "dword", "qword":
		var n *big.Int
		switch data.Type() {
		case cty.Number:
			bf := data.AsBigFloat()
			if !bf.IsInt() {
				return "", fmt.Errorf("%s data must be a whole number", kind)
			}
			n, _ = bf.Int(nil)
		case cty.String:
			s := data.AsString()
			var ok bool
			if strings.HasPrefix(strings.ToLower(s), "0x") {
				n, ok = new(big.Int).SetString(s[2:], 16)
			} else {
				n, ok = new(big.Int).SetString(s, 10)
			}
			if !ok {
				return "", fmt.Errorf("%q is not a number", s)
			}
		default:
			return "", fmt.Errorf("%s data must be a number", kind)
		}
		bitsize := uint(32)
		if kind == "qword" {
			bitsize = 64
		}
		if n.Sign() < 0 || n.BitLen() > int(bitsize) {
			return "", fmt.Errorf("%s data out of range (0 to 2^%d-1)", kind, bitsize)
		}
		return n.String(), nil
	case "multi_string":
		if !data.Type().IsListType() && !data.Type().IsTupleType() {
			return "", errors.New("multi_string data must be a list of strings")
		}
		list := []string{}
		for it := data.ElementIterator(); it.Next(); {
			_, v := it.Element()
			if v.IsNull() || v.Type() != cty.String {
				return "", errors.New("multi_string data must be a list of strings")
			}
			if strings.ContainsRune(v.AsString(), 0) {
				return "", errors.New("multi_string elements cannot contain NUL")
			}
			list = append(list, v.AsString())
		}
		b, _ := json.Marshal(list)
		return string(b), nil
	case "binary":
		if data.Type() != cty.String {
			return "", errors.New("binary data must be a hex string")
		}
		b, err := hex.DecodeString(strings.ReplaceAll(data.AsString(), " ", ""))
		if err != nil {
			return "", fmt.Errorf("binary data: %v", err)
		}
		return hex.EncodeToString(b), nil
	}
	return "", fmt.Errorf("unknown type %q", kind)
}

// WindowsDesired implements resources.Windows.
func (Value) WindowsDesired(cfg cty.Value, env resources.Env) (*resources.State, error) {
	id, err := readIdent(cfg)
	if err != nil {
		return nil, err
	}
	st := &resources.State{Attrs: id.attrs()}
	switch s := resources.Str(cfg, "state", "present"); s {
	case "absent":
		return st, nil
	case "present":
		st.Present = true
	default:
		return nil, &resources.AttrError{Attr: "state", Msg: fmt.Sprintf("must be \"present\" or \"absent\", got %q", s)}
	}
	kind := resources.Str(cfg, "type", "string")
	if _, ok := kinds[kind]; !ok {
		return nil, &resources.AttrError{Attr: "type", Msg: fmt.Sprintf("must be string, expand_string, multi_string, dword, qword or binary, got %q", kind)}
	}
	data := cfg.GetAttr("data")
	if data.IsNull() {
		return nil, &resources.AttrError{Attr: "data", Msg: "data is required unless state is \"absent\""}
	}
	c, err := canonical(kind, data)
	if err != nil {
		return nil, &resources.AttrError{Attr: "data", Msg: err.Error()}
	}
	st.Attrs["type"] = cty.StringVal(kind)
	dv := cty.StringVal(c)
	if data.ContainsMarked() {
		dv = dv.Mark(resources.Sensitive)
	}
	st.Attrs["data"] = dv
	return st, nil
}

// psOpen sets $k to the key (nil when missing), writable when create.
func psOpen(id ident, create bool) string {
	view := "Registry64"
	if id.view == "32" {
		view = "Registry32"
	}
	s := "$b = [Microsoft.Win32.RegistryKey]::OpenBaseKey([Microsoft.Win32.RegistryHive]::" + id.hive + ", [Microsoft.Win32.RegistryView]::" + view + ")\n"
	if create {
		return s + "$k = $b.CreateSubKey(" + shell.PSQuote(id.key) + ")\n"
	}
	return s + "$k = $b.OpenSubKey(" + shell.PSQuote(id.key) + ")\n"
}

// WindowsProbe implements resources.Windows.
func (Value) WindowsProbe(cfg cty.Value, want *resources.State) string {
	id, _ := readIdent(cfg)
	return psOpen(id, false) + "$n = " + shell.PSQuote(id.name) + `
if (-not $k -or ($n -ne '' -and $k.GetValueNames() -notcontains $n) -or ($n -eq '' -and $null -eq $k.GetValue(''))) { tendOut present 'false'; return }
tendOut present 'true'
$kind = $k.GetValueKind($n)
$v = $k.GetValue($n, $null, [Microsoft.Win32.RegistryValueOptions]::DoNotExpandEnvironmentNames)
tendOut kind $kind
switch ($kind) {
  'MultiString' { tendOut data (ConvertTo-Json -InputObject @($v) -Compress) }
  'Binary' { tendOut data (($v | ForEach-Object { $_.ToString('x2') }) -join '') }
  'DWord' { tendOut data ([BitConverter]::ToUInt32([BitConverter]::GetBytes([int32]$v), 0)) }
  'QWord' { tendOut data ([BitConverter]::ToUInt64([BitConverter]::GetBytes([int64]$v), 0)) }
  default { tendOut data $v }
}
`
}

// WindowsRead implements resources.Windows.
func (Value) WindowsRead(cfg cty.Value, out resources.ProbeOutput) (*resources.State, error) {
	id, err := readIdent(cfg)
	if err != nil {
		return nil, err
	}
	p, ok := out.Get("present")
	if !ok {
		return nil, fmt.Errorf("registry probe printed no state: %s", strings.TrimSpace(out.Other))
	}
	st := &resources.State{Present: p == "true", Attrs: id.attrs()}
	if !st.Present {
		return st, nil
	}
	kind := ""
	for k, v := range kinds {
		if v == out.Values["kind"] {
			kind = k
		}
	}
	if kind == "" {
		kind = strings.ToLower(out.Values["kind"])
	}
	data := out.Values["data"]
	if kind == "multi_string" {
		// Re-encode: PowerShell's JSON escapes differ from Go's.
		var list []string
		if err := json.Unmarshal([]byte(data), &list); err == nil {
			if list == nil {
				list = []string{}
			}
			b, _ := json.Marshal(list)
			data = string(b)
		}
	}
	st.Attrs["type"] = cty.StringVal(kind)
	dv := cty.StringVal(data)
	if v := cfg.GetAttr("data"); !v.IsNull() && v.ContainsMarked() {
		dv = dv.Mark(resources.Sensitive)
	}
	st.Attrs["data"] = dv
	return st, nil
}

// psValue is the PowerShell expression of canonical data of a kind.
func psValue(kind, data string) string {
	switch kind {
	case "dword":
		n, _ := strconv.ParseUint(data, 10, 32)
		return "[int32]" + strconv.FormatInt(int64(int32(uint32(n))), 10)
	case "qword":
		n, _ := strconv.ParseUint(data, 10, 64)
		return "[int64]" + strconv.FormatInt(int64(n), 10)
	case "multi_string":
		var list []string
		_ = json.Unmarshal([]byte(data), &list)
		q := make([]string, len(list))
		for i, s := range list {
			q[i] = shell.PSQuote(s)
		}
		return "[string[]]@(" + strings.Join(q, ", ") + ")"
	case "binary":
		b, _ := hex.DecodeString(data)
		q := make([]string, len(b))
		for i, c := range b {
			q[i] = strconv.Itoa(int(c))
		}
		return "[byte[]]@(" + strings.Join(q, ", ") + ")"
	}
	return shell.PSQuote(data)
}

func set(id ident, st *resources.State) string {
	d := st.Attr("data")
	d, _ = d.Unmark()
	kind := st.Str("type")
	return psOpen(id, true) + "$k.SetValue(" + shell.PSQuote(id.name) + ", " + psValue(kind, d.AsString()) + ", [Microsoft.Win32.RegistryValueKind]::" + kinds[kind] + ")\n"
}

func del(id ident) string {
	return psOpen(id, false) + "if ($k) { $k.Close(); $k = $b.OpenSubKey(" + shell.PSQuote(id.key) + ", $true); $k.DeleteValue(" + shell.PSQuote(id.name) + ", $false) }\n"
}

// attrs are the identifying attributes every state carries: path for
// display, the parts for apply and revert.
func (i ident) attrs() map[string]cty.Value {
	return map[string]cty.Value{"path": cty.StringVal(i.String()), "hive": cty.StringVal(i.hive),
		"key": cty.StringVal(i.key), "name": cty.StringVal(i.name), "view": cty.StringVal(i.view)}
}

func identOf(st *resources.State) (ident, error) {
	id := ident{hive: st.Str("hive"), key: st.Str("key"), name: st.Str("name"), view: st.Str("view")}
	if id.hive == "" || id.key == "" || id.view == "" {
		return id, fmt.Errorf("registry state without hive, key and view: %s", st.Str("path"))
	}
	return id, nil
}

// WindowsApply implements resources.Windows.
func (Value) WindowsApply(ctx context.Context, h *resources.Host, before, after *resources.State) (resources.Undo, error) {
	id, err := identOf(after)
	if err != nil {
		return nil, err
	}
	script := del(id)
	if after.Present {
		script = set(id, after)
	}
	_, err = resources.RunPowerShell(ctx, h, script, nil)
	return resources.Undo{}, err
}

// WindowsRevert implements resources.Windows: the value comes back as it
// was probed (its data is in the journal unless it was sensitive).
func (Value) WindowsRevert(ctx context.Context, h *resources.Host, before, after *resources.State, undo resources.Undo) error {
	id, err := identOf(before)
	if err != nil {
		return err
	}
	script := del(id)
	if before.Present {
		if d := before.Attr("data"); d == cty.NilVal || d.IsNull() {
			return fmt.Errorf("the previous data of %s is not in the journal (it was sensitive)", id)
		}
		script = set(id, before)
	}
	_, err = resources.RunPowerShell(ctx, h, script, nil)
	return err
}
