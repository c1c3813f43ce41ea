package engine_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tendhq/tend/engine"
	"github.com/tendhq/tend/inventory"
	"github.com/tendhq/tend/journal"
	"github.com/tendhq/tend/lang"
	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/resources/builtin"
	"github.com/tendhq/tend/transport"
	"github.com/tendhq/tend/transport/local"
)

// chainConfig: files a → b → c → d by depends_on, c's parent a regular
// file, and new files s1..s4 in one directory (a staged batch), declared
// before and after the chain.
const chainConfig = `
role "all" {
  hosts = "all"
  file "s1" {
    path    = "ROOT/new/s1"
    content = "s1"
  }
  file "s2" {
    path    = "ROOT/new/s2"
    content = "s2"
  }
  file "a" {
    path    = "ROOT/a"
    content = "a"
  }
  file "b" {
    path       = "ROOT/b"
    content    = "b"
    depends_on = [file.a]
  }
  file "c" {
    path       = "ROOT/notadir/c.conf"
    content    = "c"
    depends_on = [file.b]
  }
  file "d" {
    path       = "ROOT/d"
    content    = "d"
    depends_on = [file.c]
  }
  file "s3" {
    path    = "ROOT/new/s3"
    content = "s3"
  }
  file "s4" {
    path    = "ROOT/new/s4"
    content = "s4"
  }
}
`

// snapshot is every file under root: path → mode and content digest.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		fi, _ := d.Info()
		v := fi.Mode().String()
		if d.Type().IsRegular() {
			b, _ := os.ReadFile(p)
			v += fmt.Sprintf(" %x", sha256.Sum256(b))
		}
		out[strings.TrimPrefix(p, root)] = v
		return nil
	})
	return out
}

// applyChain plans chainConfig on the local host and applies it.
func applyChain(t *testing.T, onFailure string, noBatch bool) (map[string]journal.Status, map[string]string, string) {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "new"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "notadir"), []byte("a regular file"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(strings.ReplaceAll(chainConfig, "ROOT", root)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, diags := lang.Load(dir, builtin.Types())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	vars, diags := cfg.Values(lang.VarInputs{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	inv := inventory.Localhost()
	hosts, err := inv.SelectString("all")
	if err != nil || len(hosts) != 1 {
		t.Fatalf("localhost: %v %v", hosts, err)
	}
	p := &plan.Planner{Config: cfg, Vars: vars, Inventory: inv, Parallel: 1,
		Connect: func(context.Context, *inventory.Host) (transport.Transport, error) { return local.New(), nil }}
	pl, diags := p.Plan(context.Background(), hosts)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	pl.Hosts[0].Facts.BackupDir = t.TempDir()
	jdir := t.TempDir()
	e, _ := newEngine(t, jdir, onFailure)
	e.NoBatch = noBatch
	var out strings.Builder
	e.Subscribers = append(e.Subscribers, engine.SubscriberFunc(func(ev *engine.Event) error {
		for _, it := range append([]*engine.Event{ev}, ev.Items...) {
			if it.Kind == engine.ChangeFailed {
				fmt.Fprintf(&out, "%s: %s\n", it.Address, it.Error)
			}
		}
		return nil
	}))
	e.Apply(context.Background(), pl)
	r, err := journal.Read(jdir, "r1")
	if err != nil {
		t.Fatal(err)
	}
	st := map[string]journal.Status{}
	for _, en := range r.Hosts[0].Changes {
		st[en.Address] = en.Status
	}
	snap := snapshot(t, root)
	return st, snap, strings.ReplaceAll(out.String(), root, "ROOT")
}

// TestBatchKeepsOrder: with every failure policy, a run whose changes are
// batched makes exactly the changes, journals exactly the statuses and
// reports exactly the failure of the same run without batching; the
// failure is c's own cause, once.
func TestBatchKeepsOrder(t *testing.T) {
	for _, policy := range []string{engine.Stop, engine.Continue, engine.Rollback} {
		t.Run(policy, func(t *testing.T) {
			st, snap, out := applyChain(t, policy, false)
			st0, snap0, out0 := applyChain(t, policy, true)
			if d := cmp.Diff(st0, st); d != "" {
				t.Errorf("journal, batched against not batched (-not +batched):\n%s", d)
			}
			if d := cmp.Diff(snap0, snap); d != "" {
				t.Errorf("files, batched against not batched (-not +batched):\n%s", d)
			}
			want := "file.c: create ROOT/notadir/c.conf: parent ROOT/notadir is not a directory\n"
			if out != want || out0 != want {
				t.Errorf("failures reported:\nbatched:\n%s\nnot batched:\n%s\nwant:\n%s", out, out0, want)
			}
			if st["file.d"] != journal.Skipped {
				t.Errorf("file.d is %q, want skipped", st["file.d"])
			}
		})
	}
}
