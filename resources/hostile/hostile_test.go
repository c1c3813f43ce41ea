//go:build linux

package hostile

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/probe"
	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/resources/builtin"
	"github.com/tendhq/tend/resources/resourcetest"
)

// canary is the command hostile values try to run.
const canary = "tendcanary"

// hostileValues are strings that must be refused, or carried as data.
var hostileValues = []string{
	"$(" + canary + ")",
	"`" + canary + "`",
	"x;" + canary + ";",
	"'$(" + canary + ")'",
	`"$(` + canary + `)"`,
	"a\n" + canary + "\n",
	"a\r\n" + canary,
	"-rf",
	"--help",
	"-",
	"a b",
	"a\x00" + canary,
	"\xff\xfe" + canary,
	"*",
	"~root",
	"x:y",
	"x\\",
	"$IFS" + canary,
	"",
	strings.Repeat("A", 64<<10) + "$(" + canary + ")",
}

// base is a valid configuration of a type, whose attributes the test
// replaces one at a time.
type base struct {
	attrs map[string]cty.Value
	// converges says the type's scripts need no stubbed program, so an
	// accepted value must leave exactly the declared state: a re-read
	// equals the desired state.
	converges bool
	// also are paths, beside the ones the type occupies, that its scripts
	// (or the sandbox's stubs of account tools, which add the account to
	// /etc/passwd or /etc/group) may create or change in the sandbox.
	also []string
}

func s(v string) cty.Value { return cty.StringVal(v) }

// bases holds one valid configuration of every built-in POSIX type; a
// type missing here fails the test, so a new type is fuzzed as soon as
// it is registered. Paths are under /srv/t, the sandbox's.
var bases = map[string]base{
	"file":           {attrs: map[string]cty.Value{"path": s("/srv/t/f"), "content": s("hello\n")}, converges: true},
	"directory":      {attrs: map[string]cty.Value{"path": s("/srv/t/d"), "mode": s("0750")}, converges: true},
	"symlink":        {attrs: map[string]cty.Value{"path": s("/srv/t/l"), "target": s("/srv/t/target")}, converges: true},
	"exec":           {attrs: map[string]cty.Value{"command": s("tendrun ok"), "creates": s("/srv/t/created")}},
	"package":        {attrs: map[string]cty.Value{"name": s("tendpkg"), "provider": s("apt")}},
	"service":        {attrs: map[string]cty.Value{"name": s("tendsvc"), "running": cty.True, "provider": s("systemd")}},
	"scheduled_task": {attrs: map[string]cty.Value{"name": s("tendjob"), "schedule": s("0 3 * * *"), "command": s("/usr/bin/true"), "kind": s("cron")}, also: []string{"/etc/cron.d"}},
	"user":           {attrs: map[string]cty.Value{"name": s("tenduser"), "home": s("/srv/t/home"), "comment": s("Tend User"), "groups": cty.ListVal([]cty.Value{s("daemon")})}, also: []string{"/var/lib/tend", "/var/mail", "/etc/passwd", "/etc/group", "/srv/t/home"}},
	"group":          {attrs: map[string]cty.Value{"name": s("tendgrp"), "members": cty.ListVal([]cty.Value{s("daemon")})}, also: []string{"/etc/group"}},
	"line":           {attrs: map[string]cty.Value{"path": s("/srv/t/line.conf"), "line": s("key = value"), "create": cty.True}, converges: true},
	"registry_value": {attrs: map[string]cty.Value{"hive": s("HKLM"), "key": s(`SOFTWARE\Tend`), "data": s("x")}},
	"db_user":        {attrs: map[string]cty.Value{"engine": s("postgresql"), "name": s("tenduser")}},
	"db_grant":       {attrs: map[string]cty.Value{"engine": s("postgresql"), "role": s("tenduser"), "on": s("database"), "database": s("app"), "privileges": cty.ListVal([]cty.Value{s("CONNECT")})}},
}

// target is one string attribute of one type to put a hostile value in:
// the attribute itself, an element of a list, or a key or value of a map.
type target struct {
	typ  resources.Type
	attr resources.Attribute
	// kind is "", "element", "key" or "value".
	kind string
}

func (tg target) String() string {
	if tg.kind == "" {
		return tg.typ.Name() + "." + tg.attr.Name
	}
	return tg.typ.Name() + "." + tg.attr.Name + " " + tg.kind
}

// targets enumerates every string-carrying attribute of every built-in
// type from its schema, as a POSIX host sees the type.
func targets(t testing.TB) []target {
	var out []target
	for _, ty := range builtin.Types() {
		ty = resources.OnHost(ty, false)
		if _, ok := bases[ty.Name()]; !ok {
			t.Errorf("type %s has no base configuration in bases: add one, so its attributes are fuzzed", ty.Name())
			continue
		}
		for _, a := range ty.Schema().Attributes {
			switch {
			case a.Type == cty.String:
				out = append(out, target{ty, a, ""})
			case a.Type.IsListType() && a.Type.ElementType() == cty.String, a.Type.IsSetType() && a.Type.ElementType() == cty.String:
				out = append(out, target{ty, a, "element"})
			case a.Type.IsMapType() && a.Type.ElementType() == cty.String:
				out = append(out, target{ty, a, "key"}, target{ty, a, "value"})
			case a.Type == cty.DynamicPseudoType:
				out = append(out, target{ty, a, ""})
			}
		}
	}
	return out
}

// config is the base configuration with v put in tg.
func (tg target) config(v string) cty.Value {
	attrs := map[string]cty.Value{}
	for k, x := range bases[tg.typ.Name()].attrs {
		attrs[k] = x
	}
	switch tg.kind {
	case "":
		attrs[tg.attr.Name] = cty.StringVal(v)
	case "element":
		if tg.attr.Type.IsSetType() {
			attrs[tg.attr.Name] = cty.SetVal([]cty.Value{cty.StringVal(v)})
		} else {
			attrs[tg.attr.Name] = cty.ListVal([]cty.Value{cty.StringVal(v)})
		}
	case "key":
		attrs[tg.attr.Name] = cty.MapVal(map[string]cty.Value{v: cty.StringVal("x")})
	case "value":
		attrs[tg.attr.Name] = cty.MapVal(map[string]cty.Value{"TEND_VAR": cty.StringVal(v)})
	}
	return resourcetest.Object(tg.typ, attrs)
}

// values are the hostile values tried in tg: each as it is and, for an
// attribute whose base value is a sandbox path, also inside it.
func (tg target) values(v string) []string {
	if b, ok := bases[tg.typ.Name()].attrs[tg.attr.Name]; ok && tg.kind == "" && b.Type() == cty.String && strings.HasPrefix(b.AsString(), "/srv/t/") {
		return []string{v, "/srv/t/" + v, "/srv/t/x/../" + v}
	}
	return []string{v}
}

type noEnv struct{}

func (noEnv) ReadFile(p string) ([]byte, error) {
	return nil, fmt.Errorf("open %s: no such file in the test's configuration directory", p)
}

func (noEnv) RenderTemplate(p string, vars cty.Value) (string, error) {
	return "", fmt.Errorf("open %s: no such file in the test's configuration directory", p)
}

// outcome is what one hostile value did.
type outcome string

const (
	refused  outcome = "refused"
	applied  outcome = "applied"
	failed   outcome = "failed on the host"
	noScript outcome = "no shell script (direct reader)"
)

// check puts v in tg, plans and applies it in the sandbox, and fails t
// unless the value was refused with a diagnostic or did exactly what was
// declared: no canary ran, no stub got the value split, truncated or as
// an option, no path changed outside what the resource declares, nothing
// was written outside the sandbox, and (for a type whose scripts need no
// stub) the state read back is the desired one.
//
// With over set, the base configuration is applied first, so the value
// goes through the type's update scripts rather than its create ones.
func check(t *testing.T, sb *sandbox, tg target, v string, over bool) outcome {
	t.Helper()
	sb.reset(t)
	ctx := context.Background()
	typ := tg.typ
	cfg := tg.config(v)
	show := fmt.Sprintf("%s = %.60q", tg, v)
	if over {
		show += " (over the base)"
	}
	// Validation, as the planner does it.
	if err := resources.CheckOS(typ, cfg, false); err != nil {
		return diagnosed(t, show, err)
	}
	if _, err := typ.Key(cfg); err != nil {
		return diagnosed(t, show, err)
	}
	want, err := typ.Desired(cfg, noEnv{})
	if err != nil {
		return diagnosed(t, show, err)
	}
	if _, ok := typ.(resources.DirectReader); ok {
		return noScript
	}
	tr := sandboxTransport{sb}
	h := &resources.Host{Name: "sandbox", T: tr, RunID: "hostile", BackupDir: "/var/lib/tend/backup/hostile"}
	if over {
		applyBase(t, sb, tr, tg)
	}
	before0 := sb.snapshot(t)
	read := func() (*resources.State, error) {
		res, err := probe.Run(ctx, tr, false, []probe.Fragment{probe.For("r", typ, cfg, want)})
		if err != nil {
			t.Errorf("%s: the probe script broke: %.300v", show, err)
			return nil, errProbe
		}
		if msg, ok := res.Failed["r"]; ok {
			return nil, errors.New(msg)
		}
		return typ.Read(cfg, res.Outputs["r"])
	}
	current, err := read()
	if err == errProbe {
		checkCalls(t, sb, show, v)
		return failed
	}
	if err != nil {
		var ae *resources.AttrError
		if errors.As(err, &ae) {
			return diagnosed(t, show, err)
		}
		// A stub answers nothing: the resource reads as absent.
		current = &resources.State{Attrs: map[string]cty.Value{}}
		for k, x := range want.Attrs {
			if id, ok := typ.(resources.Identifier); ok && contains(id.Identity(), k) {
				current.Attrs[k] = x
			}
		}
	}
	if r, ok := typ.(resources.Resolver); ok {
		if want, err = r.Resolve(cfg, current, want); err != nil {
			return diagnosed(t, show, err)
		}
	}
	out := applied
	action, _ := plan.Diff(current, want)
	if action != plan.NoOp {
		undo, err := typ.Apply(ctx, h, current, want)
		if err != nil {
			noWriteOutside(t, show, err)
			if testing.Verbose() {
				t.Logf("%s: failed: %.200s", show, err)
			}
			out = failed
		} else if bases[typ.Name()].converges {
			got, err := read()
			if err != nil {
				t.Errorf("%s: applied, then reading it back failed: %v", show, err)
			} else if a, changed := plan.Diff(got, want); a != plan.NoOp && !onlyStubbed(changed) {
				t.Errorf("%s: applied, but the host is not as declared: %s %v", show, a, changed)
			}
		}
		checkCalls(t, sb, show, v)
		checkPaths(t, sb, show, tg, before0, current, want, h)
		if out == applied {
			if err := typ.Revert(ctx, h, current, want, undo); err != nil {
				noWriteOutside(t, show, err)
			}
			checkCalls(t, sb, show, v)
			checkPaths(t, sb, show, tg, before0, current, want, h)
		}
	} else {
		checkCalls(t, sb, show, v)
	}
	return out
}

// onlyStubbed reports whether changed lists only ownership, which the
// sandbox's chown and chgrp stubs record instead of changing.
func onlyStubbed(changed []string) bool {
	for _, c := range changed {
		if c != "owner" && c != "group" {
			return false
		}
	}
	return len(changed) > 0
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// applyBase applies tg's type's base configuration in the sandbox.
func applyBase(t *testing.T, sb *sandbox, tr sandboxTransport, tg target) {
	t.Helper()
	ctx := context.Background()
	cfg := resourcetest.Object(tg.typ, bases[tg.typ.Name()].attrs)
	want, err := tg.typ.Desired(cfg, noEnv{})
	if err != nil {
		t.Fatalf("%s: base configuration: %v", tg.typ.Name(), err)
	}
	res, err := probe.Run(ctx, tr, false, []probe.Fragment{probe.For("r", tg.typ, cfg, want)})
	if err != nil {
		t.Fatalf("%s: probing the base configuration: %v", tg.typ.Name(), err)
	}
	current, err := tg.typ.Read(cfg, res.Outputs["r"])
	if err != nil {
		t.Fatalf("%s: reading the base configuration: %v", tg.typ.Name(), err)
	}
	if r, ok := tg.typ.(resources.Resolver); ok {
		if want, err = r.Resolve(cfg, current, want); err != nil {
			t.Fatalf("%s: resolving the base configuration: %v", tg.typ.Name(), err)
		}
	}
	h := &resources.Host{Name: "sandbox", T: tr, RunID: "base", BackupDir: "/var/lib/tend/backup/base"}
	if _, err := tg.typ.Apply(ctx, h, current, want); err != nil {
		t.Fatalf("%s: applying the base configuration: %v", tg.typ.Name(), err)
	}
	sb.calls(t)
	if err := os.WriteFile(sb.root+"/"+argvLog, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// errProbe is a probe script that did not run to its end.
var errProbe = errors.New("the probe script broke")

// diagnosed accepts a refusal that says something.
func diagnosed(t *testing.T, show string, err error) outcome {
	t.Helper()
	if strings.TrimSpace(err.Error()) == "" {
		t.Errorf("%s: refused without a diagnostic", show)
	}
	return refused
}

// noWriteOutside fails t when a script tried to write where the sandbox
// is read-only: outside the sandbox.
func noWriteOutside(t *testing.T, show string, err error) {
	t.Helper()
	stderr, _ := resources.Detail(err)
	if msg := err.Error() + string(stderr); strings.Contains(msg, "Read-only file system") {
		t.Errorf("%s: a script wrote outside the sandbox: %.300s", show, msg)
	}
}

// checkCalls fails t when a canary ran, or a stub got v other than as
// one whole argument (a value starting with "-" after "--" or as an
// option's value).
func checkCalls(t *testing.T, sb *sandbox, show, v string) {
	t.Helper()
	for _, c := range sb.calls(t) {
		if c[0] == canary {
			t.Errorf("%s: the value ran a command: %q", show, c)
			continue
		}
		for i, a := range c[1:] {
			i++
			if strings.Contains(a, canary) && !strings.Contains(a, v) {
				t.Errorf("%s: %s got the value split or truncated: argument %d is %.80q", show, c[0], i, a)
			}
			if a == v && strings.HasPrefix(v, "-") && !contains(c[1:i], "--") && !(i > 1 && strings.HasPrefix(c[i-1], "-")) {
				t.Errorf("%s: %s got the value as an option: %.200q", show, c[0], c)
			}
		}
	}
	if err := os.WriteFile(sb.root+"/"+argvLog, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkPaths fails t when a path changed in the sandbox that is neither
// the resource's (what it occupies, its temporary names, its backups and
// the directories holding them) nor one its type is known to write.
func checkPaths(t *testing.T, sb *sandbox, show string, tg target, before map[string]entry, current, want *resources.State, h *resources.Host) {
	t.Helper()
	allowed := append([]string{h.BackupDir, "/tmp"}, bases[tg.typ.Name()].also...)
	if o, ok := tg.typ.(resources.Occupant); ok {
		for _, st := range []*resources.State{current, want} {
			if p := o.Occupies(st); p != "" {
				allowed = append(allowed, p, path.Dir(p)+"/.tend.")
			}
		}
	}
	if home := want.Str("home"); home != "" {
		allowed = append(allowed, home)
	}
	after := sb.snapshot(t)
	var bad []string
	for p, e := range after {
		if b, ok := before[p]; ok && b == e {
			continue
		}
		if !under(p, allowed) && !(e.mode.IsDir() && strings.HasPrefix(h.BackupDir, p+"/")) {
			bad = append(bad, p)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok && !under(p, allowed) {
			bad = append(bad, p+" (removed)")
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		t.Errorf("%s: paths changed that the resource does not declare: %.300q", show, bad)
	}
}

// under reports whether p is one of prefixes, inside one, or starts with
// one ending in "." (a temporary name).
func under(p string, prefixes []string) bool {
	for _, x := range prefixes {
		if x != "/" && strings.HasSuffix(x, "/") {
			x = path.Clean(x)
		}
		if p == x || strings.HasPrefix(p, strings.TrimSuffix(x, "/")+"/") || (strings.HasSuffix(x, ".") && strings.HasPrefix(p, x)) {
			return true
		}
	}
	return false
}

// TestBaseConfigurations: the configuration each type's values are put
// in is valid and applies in the sandbox, so a refusal of a hostile value
// is the value's.
func TestBaseConfigurations(t *testing.T) {
	sb := newSandbox(t, t.TempDir())
	for _, ty := range builtin.Types() {
		ty = resources.OnHost(ty, false)
		b, ok := bases[ty.Name()]
		if !ok {
			t.Errorf("type %s has no base configuration in bases", ty.Name())
			continue
		}
		var a resources.Attribute
		for _, x := range ty.Schema().Attributes {
			if v, ok := b.attrs[x.Name]; ok && v.Type() == cty.String {
				a = x
				break
			}
		}
		tg := target{typ: ty, attr: a}
		got := check(t, sb, tg, b.attrs[a.Name].AsString(), false)
		switch {
		case windowsOnly(ty) && got != refused:
			t.Errorf("%s, a Windows type, was not refused on a POSIX host: %s", ty.Name(), got)
		case !windowsOnly(ty) && got != applied && got != noScript:
			t.Errorf("%s's base configuration did not apply: %s", ty.Name(), got)
		}
	}
}

// windowsOnly reports whether every attribute of ty is Windows-only.
func windowsOnly(ty resources.Type) bool {
	for _, a := range ty.Schema().Attributes {
		if a.OS != resources.OSWindows {
			return false
		}
	}
	return true
}

// TestHostileValues puts every hostile value in every string attribute of
// every built-in type.
func TestHostileValues(t *testing.T) {
	byType := map[string][]target{}
	var order []string
	for _, tg := range targets(t) {
		if tg.attr.Script {
			// Its text is the declared behaviour (an exec's command).
			continue
		}
		if byType[tg.typ.Name()] == nil {
			order = append(order, tg.typ.Name())
		}
		byType[tg.typ.Name()] = append(byType[tg.typ.Name()], tg)
	}
	for _, name := range order {
		tgs := byType[name]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sb := newSandbox(t, t.TempDir())
			for _, tg := range tgs {
				counts := map[outcome]int{}
				updates := map[outcome]int{}
				for _, hv := range hostileValues {
					for _, v := range tg.values(hv) {
						counts[check(t, sb, tg, v, false)]++
						if _, direct := tg.typ.(resources.DirectReader); !direct && !windowsOnly(tg.typ) && v == hv {
							updates[check(t, sb, tg, v, true)]++
						}
					}
				}
				t.Logf("%-36s %v; over the base: %v", tg, counts, updates)
			}
		})
	}
}

// FuzzHostileValues is TestHostileValues with values the fuzzer finds:
//
//	go test -fuzz=FuzzHostileValues -fuzztime=60s ./resources/hostile/
func FuzzHostileValues(f *testing.F) {
	for i, v := range hostileValues {
		f.Add(uint16(i*7), v)
	}
	var tgs []target
	for _, tg := range targets(f) {
		if !tg.attr.Script {
			tgs = append(tgs, tg)
		}
	}
	sb := newSandbox(f, f.TempDir())
	f.Fuzz(func(t *testing.T, which uint16, v string) {
		tg := tgs[int(which)%len(tgs)]
		for _, x := range tg.values(v) {
			check(t, sb, tg, x, false)
			if _, direct := tg.typ.(resources.DirectReader); !direct && !windowsOnly(tg.typ) {
				check(t, sb, tg, x, true)
			}
		}
	})
}
