package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/integration/lab"
	"github.com/tendhq/tend/journal"
	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/resources/line"
	"github.com/tendhq/tend/resources/resourcetest"
	"github.com/tendhq/tend/transport"
)

// resolvePlan plans one line resource as the planner does: Desired,
// probe and Read, then Resolve (the desired content is computed from the
// current one), then Diff.
func resolvePlan(t *testing.T, tr transport.Transport, cfg cty.Value) (before, after *resources.State, act plan.Action) {
	t.Helper()
	typ := line.Line{}
	d, err := typ.Desired(cfg, nil)
	if err != nil {
		t.Fatalf("desired: %v", err)
	}
	before = resourcetest.Read(t, tr, typ, cfg, d)
	after, err = typ.Resolve(cfg, before, d)
	if err != nil {
		t.Fatalf("resolve: %v", err)
	}
	act, _ = plan.Diff(before, after)
	return before, after, act
}

// TestLineContract plays the idempotence contract for line on a lab host
// over SSH (resourcetest.Run with Resolve, which line needs): plan shows
// the action, apply, the re-read file resolves to itself, revert restores
// the probed pre-state (bytes, mode, owner), apply again, no-op.
func TestLineContract(t *testing.T) {
	lab.Required(t)
	l := lab.StartT(t, lab.Options{Hosts: 1, Name: "line"})
	tr := dial(t, l, 1)
	host := &resources.Host{Name: l.Host(1).Name, T: tr, RunID: "contract", BackupDir: "/var/lib/tend/backup/contract"}
	root := l.Host(1).Root
	if _, err := l.Exec(1, "mkdir -p /etc/app && printf 'a=1\\r\\nb=2' > /etc/app/win.conf && chmod 0604 /etc/app/win.conf && chown ops:adm /etc/app/win.conf && : > /etc/app/empty && ln -s win.conf /etc/app/link"); err != nil {
		t.Fatal(err)
	}
	s := cty.StringVal
	sshd := "/etc/ssh/sshd_config"
	steps := []struct {
		name   string
		setup  string
		config map[string]cty.Value
		want   plan.Action
	}{
		{"replace commented", "", map[string]cty.Value{"path": s(sshd), "line": s("PermitRootLogin prohibit-password"), "regexp": s(`^#?\s*PermitRootLogin\b`)}, plan.Update},
		{"replace no-op", "", map[string]cty.Value{"path": s(sshd), "line": s("PermitRootLogin prohibit-password"), "regexp": s(`^#?\s*PermitRootLogin\b`)}, plan.NoOp},
		{"replace active", "", map[string]cty.Value{"path": s(sshd), "line": s("X11Forwarding no"), "regexp": s(`^#?X11Forwarding\b`)}, plan.Update},
		{"insert after", "", map[string]cty.Value{"path": s(sshd), "line": s("MaxAuthTries 3"), "insert_after": s(`^#MaxAuthTries`)}, plan.Update},
		{"insert at the top", "", map[string]cty.Value{"path": s(sshd), "line": s("# Managed in part by tend"), "insert_before": s("BOF")}, plan.Update},
		{"absent by regexp", "", map[string]cty.Value{"path": s(sshd), "regexp": s(`^#\s*Authentication:`), "state": s("absent")}, plan.Update},
		{"hand edit", "echo 'X11Forwarding yes' >> " + sshd, map[string]cty.Value{"path": s(sshd), "line": s("X11Forwarding no"), "regexp": s(`^#?X11Forwarding\b`)}, plan.Update},
		{"crlf, no newline, mode and owner kept", "", map[string]cty.Value{"path": s("/etc/app/win.conf"), "line": s("c=3")}, plan.Update},
		{"through a symlink", "", map[string]cty.Value{"path": s("/etc/app/link"), "line": s("b=20"), "regexp": s("^b=")}, plan.Update},
		{"empty file", "", map[string]cty.Value{"path": s("/etc/app/empty"), "line": s("x")}, plan.Update},
		{"create", "", map[string]cty.Value{"path": s("/etc/app/new.conf"), "line": s("k=v"), "create": cty.True}, plan.Create},
	}
	ctx := context.Background()
	typ := line.Line{}
	for _, st := range steps {
		ok := t.Run(st.name, func(t *testing.T) {
			if st.setup != "" {
				if _, err := l.Exec(1, st.setup); err != nil {
					t.Fatal(err)
				}
			}
			cfg := resourcetest.Object(typ, st.config)
			before, after, act := resolvePlan(t, tr, cfg)
			if act != st.want {
				t.Fatalf("first plan: %s, want %s", act, st.want)
			}
			if act == plan.NoOp {
				return
			}
			undo, err := typ.Apply(ctx, host, before, after)
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			if _, _, act := resolvePlan(t, tr, cfg); act != plan.NoOp {
				t.Fatalf("after apply the state still differs: %s", act)
			}
			if err := typ.Revert(ctx, host, before, after, undo); err != nil {
				t.Fatalf("revert: %v", err)
			}
			reverted := resourcetest.Read(t, tr, typ, cfg, after)
			if plan.Fingerprint(reverted) != plan.Fingerprint(before) {
				t.Fatalf("revert did not restore the pre-state:\nbefore %v\nafter  %v", before.Attrs, reverted.Attrs)
			}
			before, after, _ = resolvePlan(t, tr, cfg)
			if _, err := typ.Apply(ctx, host, before, after); err != nil {
				t.Fatalf("apply after revert: %v", err)
			}
			if _, _, act := resolvePlan(t, tr, cfg); act != plan.NoOp {
				t.Fatalf("second plan is not a no-op: %s", act)
			}
		})
		if !ok {
			return
		}
	}
	if got := read(t, filepath.Join(root, "etc/app/win.conf")); got != "a=1\r\nb=20\r\nc=3\r\n" {
		t.Errorf("win.conf = %q", got)
	}
	fi, err := os.Stat(filepath.Join(root, "etc/app/win.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); fi.Mode().Perm() != 0o604 || st.Uid != lab.OpsUID || st.Gid != 4 {
		t.Errorf("win.conf mode %o owner %d:%d, want 0604 ops:adm", fi.Mode().Perm(), st.Uid, st.Gid)
	}
	if target, err := os.Readlink(filepath.Join(root, "etc/app/link")); err != nil || target != "win.conf" {
		t.Errorf("the symlink was replaced: %q %v", target, err)
	}
	if out, err := l.Exec(1, "sshd -t && echo valid"); err != nil || out != "valid\n" {
		t.Errorf("sshd -t: %q %v", out, err)
	}
}

const sshdLines = `
line "permit_root_login" {
  path   = "/etc/ssh/sshd_config"
  line   = "PermitRootLogin prohibit-password"
  regexp = "^#?PermitRootLogin\\b"
}
line "password_authentication" {
  path   = "/etc/ssh/sshd_config"
  line   = "PasswordAuthentication no"
  regexp = "^#?PasswordAuthentication\\b"
}
line "x11" {
  path   = "/etc/ssh/sshd_config"
  line   = "X11Forwarding no"
  regexp = "^#?X11Forwarding\\b"
}
`

// fileState is a file's bytes, mode and owner as the lab host has them.
func fileState(t *testing.T, p string) string {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fmt.Sprintf("mode %o owner %d:%d\n%s", fi.Mode().Perm(), st.Uid, st.Gid, read(t, p))
}

// TestSshdConfigLines: three line resources edit /etc/ssh/sshd_config in
// one run on two hosts: the plan shows a diff per resource, all edits are
// there after apply, sshd accepts the file, the second plan is a no-op; a
// hand edit is reported as drift, with a diff, for exactly that resource
// on that host; rollback restores the original bytes, mode and owner.
func TestSshdConfigLines(t *testing.T) {
	lab.Required(t)
	l := lab.StartT(t, lab.Options{Hosts: 2, Name: "sshd"})
	dir := t.TempDir()
	if err := l.WriteInventory(filepath.Join(dir, "inventory.hcl")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "main.hcl"), sshdLines)
	paths := map[int]string{}
	orig := map[int]string{}
	for _, i := range []int{1, 2} {
		paths[i] = filepath.Join(l.Host(i).Root, "etc/ssh/sshd_config")
		orig[i] = fileState(t, paths[i])
	}
	out, _, code := tend(t, "plan", "-C", dir, "-detailed-exitcode")
	for _, w := range []string{"~ line.permit_root_login will be updated", "-#PermitRootLogin prohibit-password", "+PermitRootLogin prohibit-password",
		"-#PasswordAuthentication yes", "+PasswordAuthentication no", "-X11Forwarding yes", "+X11Forwarding no",
		"Plan: 0 to add, 6 to change, 0 to remove on 2 of 2 hosts"} {
		if !strings.Contains(out, w) {
			t.Errorf("the plan lacks %q", w)
		}
	}
	if code != 2 {
		t.Errorf("plan: exit %d, want 2", code)
	}
	if _, _, code := tend(t, "apply", "-C", dir, "-y"); code != 0 {
		t.Fatalf("apply: exit %d", code)
	}
	for _, i := range []int{1, 2} {
		got := read(t, paths[i])
		for _, w := range []string{"\nPermitRootLogin prohibit-password\n", "\nPasswordAuthentication no\n", "\nX11Forwarding no\n"} {
			if strings.Count(got, w) != 1 {
				t.Errorf("host %d: %q is not in sshd_config exactly once", i, w)
			}
		}
		if strings.Contains(got, "X11Forwarding yes") || strings.Contains(got, "#PasswordAuthentication yes") {
			t.Errorf("host %d: the replaced lines are still there", i)
		}
		if want := strings.SplitN(orig[i], "\n", 2)[0]; strings.SplitN(fileState(t, paths[i]), "\n", 2)[0] != want {
			t.Errorf("host %d: mode or owner changed: %s", i, fileState(t, paths[i]))
		}
		if out, err := l.Exec(i, "sshd -t && echo valid"); err != nil || out != "valid\n" {
			t.Errorf("host %d: sshd -t: %q %v", i, out, err)
		}
	}
	if out, _, code := tend(t, "plan", "-C", dir, "-detailed-exitcode"); code != 0 || !strings.Contains(out, "No changes. 2 of 2 hosts") {
		t.Errorf("second plan: exit %d, want 0", code)
	}
	runs, _ := journal.List(dir)
	first := runs[len(runs)-1].ID

	// A hand edit on host 2.
	if _, err := l.Exec(2, "sed -i 's/^PasswordAuthentication no$/PasswordAuthentication yes/' /etc/ssh/sshd_config"); err != nil {
		t.Fatal(err)
	}
	changed, errs := planJSON(t, "-C", dir)
	if want := map[string][]string{l.Host(2).Name: {"line.password_authentication"}}; len(errs) > 0 || fmt.Sprint(changed) != fmt.Sprint(want) {
		t.Errorf("drift reported as %v (errors %v), want %v", changed, errs, want)
	}
	out, _, code = tend(t, "plan", "-C", dir, "-detailed-exitcode")
	if code != 2 || !strings.Contains(out, "-PasswordAuthentication yes") || !strings.Contains(out, "+PasswordAuthentication no") {
		t.Errorf("drift plan: exit %d, want 2 with the diff", code)
	}
	if _, _, code := tend(t, "apply", "-C", dir, "-y"); code != 0 {
		t.Fatalf("restoring apply: exit %d", code)
	}
	if _, _, code := tend(t, "plan", "-C", dir, "-detailed-exitcode"); code != 0 {
		t.Errorf("plan after restore: exit %d, want 0", code)
	}
	runs, _ = journal.List(dir)
	repair := runs[len(runs)-1].ID

	// Rollback, newest run first: the original bytes, mode and owner.
	if _, _, code := tend(t, "rollback", repair, "-C", dir, "-y"); code != 0 {
		t.Fatalf("rollback of the repair: exit %d", code)
	}
	if got := read(t, paths[2]); !strings.Contains(got, "\nPasswordAuthentication yes\n") {
		t.Errorf("rolling back the repair did not bring back the hand edit")
	}
	out, _, code = tend(t, "rollback", first, "-C", dir, "-y")
	if code != 0 || strings.Count(out, "reverted\n") != 6 {
		t.Fatalf("rollback: exit %d, want 6 changes reverted", code)
	}
	for _, i := range []int{1, 2} {
		if got := fileState(t, paths[i]); got != orig[i] {
			t.Errorf("host %d: sshd_config after rollback differs from the original", i)
		}
	}
}
