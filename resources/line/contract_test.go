package line_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/probe"
	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/resources/line"
	"github.com/tendhq/tend/resources/resourcetest"
	"github.com/tendhq/tend/transport/local"
)

// step is one line resource applied in a timeline.
type step struct {
	name   string
	config map[string]cty.Value
	want   plan.Action
	setup  func(t *testing.T)
}

// desired plans one step: Desired, Read, Resolve, Diff.
func desired(t *testing.T, host *resources.Host, cfg cty.Value) (before, want *resources.State, act plan.Action) {
	t.Helper()
	typ := line.Line{}
	d, err := typ.Desired(cfg, nil)
	if err != nil {
		t.Fatalf("desired: %v", err)
	}
	before = resourcetest.Read(t, host.T, typ, cfg, d)
	want, err = typ.Resolve(cfg, before, d)
	if err != nil {
		t.Fatalf("resolve: %v", err)
	}
	act, _ = plan.Diff(before, want)
	return before, want, act
}

// runSteps is resourcetest.Run for a Resolver: plan (with Resolve) shows
// the action; apply; the re-read state resolves to itself; revert restores
// the pre-state exactly (bytes, mode, owner); apply again is a no-op after.
func runSteps(t *testing.T, host *resources.Host, steps []step) {
	ctx := context.Background()
	typ := line.Line{}
	for _, s := range steps {
		ok := t.Run(s.name, func(t *testing.T) {
			if s.setup != nil {
				s.setup(t)
			}
			cfg := resourcetest.Object(typ, s.config)
			before, want, act := desired(t, host, cfg)
			if act != s.want {
				t.Fatalf("first plan: %s, want %s", act, s.want)
			}
			if act == plan.NoOp {
				return
			}
			undo, err := typ.Apply(ctx, host, before, want)
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			if _, _, act := desired(t, host, cfg); act != plan.NoOp {
				t.Fatalf("after apply the state still differs: %s", act)
			}
			if err := typ.Revert(ctx, host, before, want, undo); err != nil {
				t.Fatalf("revert: %v", err)
			}
			reverted := resourcetest.Read(t, host.T, typ, cfg, want)
			if plan.Fingerprint(reverted) != plan.Fingerprint(before) {
				t.Fatalf("revert did not restore the pre-state:\nbefore %+v %+v\nafter  %+v %+v", before.Attrs, before.Content, reverted.Attrs, reverted.Content)
			}
			before, want, _ = desired(t, host, cfg)
			if _, err := typ.Apply(ctx, host, before, want); err != nil {
				t.Fatalf("apply after revert: %v", err)
			}
			if _, _, act := desired(t, host, cfg); act != plan.NoOp {
				t.Fatalf("second plan is not a no-op: %s", act)
			}
		})
		if !ok {
			return
		}
	}
}

func newHost(t *testing.T) *resources.Host {
	return &resources.Host{Name: "local", T: local.New(), RunID: "test", BackupDir: filepath.Join(t.TempDir(), "backup")}
}

// TestContractLocal plays the idempotence contract on the local transport.
func TestContractLocal(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sshd_config")
	crlf := filepath.Join(dir, "win.ini")
	noNL := filepath.Join(dir, "no-newline")
	link := filepath.Join(dir, "link")
	if err := os.WriteFile(p, []byte("# sshd\n#PermitRootLogin prohibit-password\nPasswordAuthentication yes\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(crlf, []byte("[a]\r\nx=1\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(noNL, []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("no-newline", link); err != nil {
		t.Fatal(err)
	}
	s := cty.StringVal
	runSteps(t, newHost(t), []step{
		{name: "regexp replace", config: map[string]cty.Value{"path": s(p), "line": s("PermitRootLogin no"), "regexp": s(`^#?\s*PermitRootLogin\b`)}, want: plan.Update},
		{name: "regexp replace no-op", config: map[string]cty.Value{"path": s(p), "line": s("PermitRootLogin no"), "regexp": s(`^#?\s*PermitRootLogin\b`)}, want: plan.NoOp},
		{name: "regexp change value", config: map[string]cty.Value{"path": s(p), "line": s("PermitRootLogin prohibit-password"), "regexp": s(`^#?\s*PermitRootLogin\b`)}, want: plan.Update},
		{name: "insert after", config: map[string]cty.Value{"path": s(p), "line": s("MaxAuthTries 3"), "insert_after": s("^# sshd")}, want: plan.Update},
		{name: "absent regexp", config: map[string]cty.Value{"path": s(p), "regexp": s("^Password"), "state": s("absent")}, want: plan.Update},
		{name: "absent line", config: map[string]cty.Value{"path": s(p), "line": s("MaxAuthTries 3"), "state": s("absent")}, want: plan.Update},
		{name: "hand edit is drift", setup: func(t *testing.T) { appendFile(t, p, "PermitRootLogin yes\n") },
			config: map[string]cty.Value{"path": s(p), "line": s("PermitRootLogin prohibit-password"), "regexp": s(`^#?\s*PermitRootLogin\b`)}, want: plan.Update},
		{name: "crlf", config: map[string]cty.Value{"path": s(crlf), "line": s("y=2")}, want: plan.Update},
		{name: "no trailing newline via symlink", config: map[string]cty.Value{"path": s(link), "line": s("b")}, want: plan.Update},
		{name: "create", config: map[string]cty.Value{"path": s(filepath.Join(dir, "new.conf")), "line": s("k=v"), "create": cty.True}, want: plan.Create},
		{name: "absent on a missing file", config: map[string]cty.Value{"path": s(filepath.Join(dir, "missing")), "line": s("k"), "state": s("absent")}, want: plan.NoOp},
	})
	if got := readFile(t, crlf); got != "[a]\r\nx=1\r\ny=2\r\n" {
		t.Errorf("crlf file: %q", got)
	}
	if got := readFile(t, noNL); got != "a\nb\n" {
		t.Errorf("the symlink's target: %q", got)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the symlink was replaced: %v %v", fi, err)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("mode not kept: %v %v", fi.Mode(), err)
	}
}

func appendFile(t *testing.T, p, s string) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestTwoEditsOneFile: two line resources planned against the same
// content are applied one after the other; each applies its edit to what
// the other left, both verify against the final file, and reverting in
// reverse order restores the original bytes.
func TestTwoEditsOneFile(t *testing.T) {
	ctx := context.Background()
	host := newHost(t)
	p := filepath.Join(t.TempDir(), "sshd_config")
	orig := "Include /etc/ssh/sshd_config.d/*.conf\n#PermitRootLogin prohibit-password\n#PasswordAuthentication yes\nUsePAM yes\n"
	if err := os.WriteFile(p, []byte(orig), 0o644); err != nil {
		t.Fatal(err)
	}
	typ := line.Line{}
	s := cty.StringVal
	cfgs := []cty.Value{
		resourcetest.Object(typ, map[string]cty.Value{"path": s(p), "line": s("PermitRootLogin no"), "regexp": s(`^#?PermitRootLogin\b`)}),
		resourcetest.Object(typ, map[string]cty.Value{"path": s(p), "line": s("PasswordAuthentication no"), "regexp": s(`^#?PasswordAuthentication\b`)}),
	}
	type planned struct{ before, after *resources.State }
	var plans []planned
	for _, cfg := range cfgs {
		before, after, act := desired(t, host, cfg)
		if act != plan.Update {
			t.Fatalf("plan: %s", act)
		}
		plans = append(plans, planned{before, after})
	}
	var undos []resources.Undo
	for _, pl := range plans {
		u, err := typ.Apply(ctx, host, pl.before, pl.after)
		if err != nil {
			t.Fatal(err)
		}
		undos = append(undos, u)
	}
	want := "Include /etc/ssh/sshd_config.d/*.conf\nPermitRootLogin no\nPasswordAuthentication no\nUsePAM yes\n"
	if got := readFile(t, p); got != want {
		t.Fatalf("after both edits: %q", got)
	}
	for _, cfg := range cfgs {
		if _, _, act := desired(t, host, cfg); act != plan.NoOp {
			t.Errorf("verification: %s", act)
		}
	}
	for i := len(plans) - 1; i >= 0; i-- {
		if err := typ.Revert(ctx, host, plans[i].before, plans[i].after, undos[i]); err != nil {
			t.Fatal(err)
		}
	}
	if got := readFile(t, p); got != orig {
		t.Errorf("after revert: %q, want %q", got, orig)
	}
}

// TestApplyRefusesConcurrentChange: Apply reads the file and writes only
// if it has not changed in between; here the change happens before
// Apply's read, so the edit is simply made on the new content.
func TestApplyEditsCurrentContent(t *testing.T) {
	ctx := context.Background()
	host := newHost(t)
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte("a\n"), 0o644)
	typ := line.Line{}
	cfg := resourcetest.Object(typ, map[string]cty.Value{"path": cty.StringVal(p), "line": cty.StringVal("b")})
	before, after, _ := desired(t, host, cfg)
	os.WriteFile(p, []byte("a\nz\n"), 0o644)
	if _, err := typ.Apply(ctx, host, before, after); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, p); got != "a\nz\nb\n" {
		t.Errorf("got %q", got)
	}
}

// TestPlanErrors: a missing file without create, a file over 1 MiB, a
// directory.
func TestPlanErrors(t *testing.T) {
	host := newHost(t)
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	os.WriteFile(big, bytes.Repeat([]byte("x\n"), line.MaxSize/2+1), 0o644)
	typ := line.Line{}
	for name, c := range map[string]struct {
		path, want string
	}{
		"missing":   {filepath.Join(dir, "nope"), "does not exist; set create = true"},
		"too large": {big, "line edits files up to 1048576 bytes"},
		"directory": {dir, "is not a regular file"},
	} {
		cfg := resourcetest.Object(typ, map[string]cty.Value{"path": cty.StringVal(c.path), "line": cty.StringVal("b")})
		d, _ := typ.Desired(cfg, nil)
		err := func() error {
			res, err := probeOne(host, cfg)
			if err != nil {
				return err
			}
			cur, err := typ.Read(cfg, res)
			if err != nil {
				return err
			}
			_, err = typ.Resolve(cfg, cur, d)
			return err
		}()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", name, err, c.want)
		}
	}
}

func probeOne(host *resources.Host, cfg cty.Value) (resources.ProbeOutput, error) {
	res, err := probe.Run(context.Background(), host.T, false, []probe.Fragment{{ID: "r", Script: line.Line{}.Probe(cfg, nil)}})
	if err != nil {
		return resources.ProbeOutput{}, err
	}
	if msg, ok := res.Failed["r"]; ok {
		return resources.ProbeOutput{}, errors.New(msg)
	}
	return res.Outputs["r"], nil
}

func TestKey(t *testing.T) {
	s := cty.StringVal
	key := func(attrs map[string]cty.Value) string {
		k, err := line.Line{}.Key(resourcetest.Object(line.Line{}, attrs))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	a := key(map[string]cty.Value{"path": s("/etc/ssh/sshd_config"), "line": s("PermitRootLogin no"), "regexp": s("^#?PermitRootLogin")})
	b := key(map[string]cty.Value{"path": s("/etc/ssh//sshd_config"), "line": s("PermitRootLogin yes"), "regexp": s("^#?PermitRootLogin")})
	c := key(map[string]cty.Value{"path": s("/etc/ssh/sshd_config"), "line": s("PasswordAuthentication no"), "regexp": s("^#?PasswordAuthentication")})
	d := key(map[string]cty.Value{"path": s("/etc/ssh/sshd_config"), "line": s("UseDNS no")})
	e := key(map[string]cty.Value{"path": s("/etc/ssh/sshd_config"), "line": s("UseDNS no"), "state": s("absent")})
	if a != b {
		t.Errorf("the same regexp on one file must conflict: %q %q", a, b)
	}
	if a == c || a == d || c == d {
		t.Errorf("different edits must not conflict: %q %q %q", a, c, d)
	}
	if d != e {
		t.Errorf("present and absent of one line must conflict: %q %q", d, e)
	}
	secret := key(map[string]cty.Value{"path": s("/etc/app.conf"), "line": s("password=hunter2").Mark(resources.Sensitive)})
	if strings.Contains(secret, "hunter2") || !strings.Contains(secret, "sensitive") {
		t.Errorf("a sensitive line shows in the key: %q", secret)
	}
	for _, bad := range []map[string]cty.Value{{"path": s("etc/x"), "line": s("a")}, {"path": s("/etc/x")}} {
		if _, err := (line.Line{}).Key(resourcetest.Object(line.Line{}, bad)); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

// TestSensitiveLine: a secret line makes the content sensitive, so the
// plan never shows the file.
func TestSensitiveLine(t *testing.T) {
	host := newHost(t)
	p := filepath.Join(t.TempDir(), "app.conf")
	os.WriteFile(p, []byte("user=app\n"), 0o600)
	cfg := resourcetest.Object(line.Line{}, map[string]cty.Value{"path": cty.StringVal(p), "line": cty.StringVal("password=hunter2").Mark(resources.Sensitive)})
	before, after, act := desired(t, host, cfg)
	if act != plan.Update || !after.Content.Sensitive || !before.Content.Sensitive {
		t.Errorf("action %s, sensitive content %v/%v", act, before.Content.Sensitive, after.Content.Sensitive)
	}
	b, _ := after.MarshalJSON()
	if strings.Contains(string(b), "hunter2") {
		t.Errorf("the secret is in the saved state: %s", b)
	}
}

// TestApplyErrors: a line change that fails on the host says what, on
// which file, and why, in an operator's words: a created file's parent
// that is not a directory, a missing backup on revert.
func TestApplyErrors(t *testing.T) {
	ctx := context.Background()
	host := newHost(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notadir"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	typ := line.Line{}
	p := filepath.Join(dir, "notadir/app.conf")
	cfg := resourcetest.Object(typ, map[string]cty.Value{"path": cty.StringVal(p), "line": cty.StringVal("b"), "create": cty.True})
	before, after, _ := desired(t, host, cfg)
	_, err := typ.Apply(ctx, host, before, after)
	var ce *resources.ChangeError
	if !errors.As(err, &ce) || ce.Error() != "create "+p+": parent "+dir+"/notadir is not a directory" {
		t.Errorf("create: %v (%T)", err, err)
	}

	p = filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg = resourcetest.Object(typ, map[string]cty.Value{"path": cty.StringVal(p), "line": cty.StringVal("b")})
	before, after, _ = desired(t, host, cfg)
	undo, err := typ.Apply(ctx, host, before, after)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(undo["backup"]); err != nil {
		t.Fatal(err)
	}
	err = typ.Revert(ctx, host, before, after, undo)
	if !errors.As(err, &ce) || ce.Error() != "restore "+p+": its backup "+undo["backup"]+" is missing" {
		t.Errorf("revert: %v (%T)", err, err)
	}
}
