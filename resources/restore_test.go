package resources_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/resources/line"
	"github.com/tendhq/tend/transport"
	"github.com/tendhq/tend/transport/local"
)

// slowCopies puts a command (cp, ln) first in PATH that logs its last
// argument (the name it copies or links to) and waits before running the
// real one, so that restores started together are all between their copy
// and their rename at once. It returns a function reading the names
// logged.
func slowCopies(t *testing.T, cmd string) func() []string {
	t.Helper()
	dir := t.TempDir()
	log := filepath.Join(dir, cmd+".log")
	real, err := exec.LookPath(cmd)
	if err != nil {
		t.Fatal(err)
	}
	w := fmt.Sprintf("#!/bin/sh\neval \"_last=\\${$#}\"\nprintf '%%s\\n' \"$_last\" >> %s\nsleep 0.3\nexec %s \"$@\"\n", log, real)
	if err := os.WriteFile(filepath.Join(dir, cmd), []byte(w), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return func() []string {
		b, _ := os.ReadFile(log)
		return strings.Fields(string(b))
	}
}

// TestRestoresAtOnce: several restores of one file from its backup at
// the same time (runs of one tag, so the same temporary prefix: a run and
// its retry, or two runs reverting the same change) each copy the backup
// to a temporary name of their own, on a real sh, for every type whose
// revert restores a backup (and a symbolic link, put back through a
// temporary link); all succeed and the file is the backup.
func TestRestoresAtOnce(t *testing.T) {
	const n = 4
	root := t.TempDir()
	host := &resources.Host{Name: "local", T: local.New(), RunID: "run", BackupDir: filepath.Join(t.TempDir(), "backup")}
	backup := filepath.Join(t.TempDir(), "backup.1")
	if err := os.WriteFile(backup, []byte("old\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(root, "f")
	state := func(present bool) *resources.State {
		return &resources.State{Present: present, Attrs: map[string]cty.Value{"path": cty.StringVal(p), "mode": cty.StringVal("0640")}}
	}
	link := &resources.State{Present: true, Attrs: map[string]cty.Value{"path": cty.StringVal(p), "target": cty.StringVal(backup)}}
	reverts := map[string]struct {
		cmd    string
		revert func(ctx context.Context) error
	}{
		"file": {"cp", func(ctx context.Context) error {
			return resources.File{}.Revert(ctx, host, state(true), state(true), resources.Undo{"backup": backup})
		}},
		"line": {"cp", func(ctx context.Context) error {
			return line.Line{}.Revert(ctx, host, state(true), state(true), resources.Undo{"path": p, "backup": backup})
		}},
		"symlink": {"ln", func(ctx context.Context) error {
			return resources.Symlink{}.Revert(ctx, host, link, link, nil)
		}},
	}
	for name, r := range reverts {
		t.Run(name, func(t *testing.T) {
			copies := slowCopies(t, r.cmd)
			_ = os.Remove(p)
			if err := os.WriteFile(p, []byte("new\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range errs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = r.revert(context.Background())
				}()
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("restore %d: %v", i, err)
				}
			}
			names := copies()
			seen := map[string]bool{}
			for _, nm := range names {
				if seen[nm] {
					t.Errorf("two restores copied to the same temporary name %s", nm)
				}
				seen[nm] = true
				if filepath.Dir(nm) != root || !strings.HasPrefix(filepath.Base(nm), host.TempPrefix()) {
					t.Errorf("temporary name %s is not next to %s with the run's prefix %s", nm, p, host.TempPrefix())
				}
			}
			if len(names) != n {
				t.Errorf("%d copies logged, want %d: %v", len(names), n, names)
			}
			if b, err := os.ReadFile(p); err != nil || string(b) != "old\n" {
				t.Errorf("file after the restores: %q %v", b, err)
			}
			if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o640 {
				t.Errorf("file mode after the restores: %v %v", fi, err)
			}
			if target, err := os.Readlink(p); (name == "symlink") != (err == nil) || (err == nil && target != backup) {
				t.Errorf("%s after the restores: link to %q (%v)", p, target, err)
			}
			left, _ := filepath.Glob(filepath.Join(root, ".tend*"))
			if len(left) > 0 {
				t.Errorf("temporary files left: %v", left)
			}
		})
	}
}

// scriptLog is a transport that records the scripts it is given and runs
// none.
type scriptLog struct {
	transport.Transport
	mu      sync.Mutex
	scripts []string
}

func (s *scriptLog) Run(ctx context.Context, cmd transport.Command) (*transport.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scripts = append(s.scripts, cmd.Script)
	return &transport.Result{}, nil
}

// TestWindowsRestoreNames: two restores of one Windows file copy the
// backup to temporary names of their own, never a fixed one.
func TestWindowsRestoreNames(t *testing.T) {
	tr := &scriptLog{}
	host := &resources.Host{Name: "win", T: tr, RunID: "run"}
	st := &resources.State{Present: true, Attrs: map[string]cty.Value{"path": cty.StringVal(`C:\app\app.conf`)}}
	for range 2 {
		if err := (resources.File{}).WindowsRevert(context.Background(), host, st, st, resources.Undo{"backup": `C:\ProgramData\tend\backup\run\001-app.conf`}); err != nil {
			t.Fatal(err)
		}
	}
	dest := regexp.MustCompile(`(?m)^\s*Copy-Item .* -Destination (\S+)`)
	var names []string
	for _, s := range tr.scripts {
		m := dest.FindStringSubmatch(s)
		if m == nil {
			t.Fatalf("no Copy-Item in the restore script:\n%s", s)
		}
		if !strings.HasPrefix(m[1], "$") {
			t.Fatalf("the restore copies to a fixed name %s", m[1])
		}
		// The variable's value is the expression that set it.
		set := regexp.MustCompile(`(?m)^\` + m[1] + ` = (.*)$`).FindStringSubmatch(s)
		if set == nil {
			t.Fatalf("%s is not set in the restore script:\n%s", m[1], s)
		}
		names = append(names, set[1])
	}
	if len(names) != 2 {
		t.Fatalf("%d restore scripts", len(names))
	}
	for _, nm := range names {
		if !strings.Contains(nm, "NewGuid()") {
			t.Errorf("the restore's temporary name %s is the same in every run", nm)
		}
	}
}
