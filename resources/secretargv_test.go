package resources_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/resources/resourcetest"
	"github.com/tendhq/tend/transport/local"
)

// cmdlineWatch samples /proc/*/cmdline of every process, and the names
// of the files in dirs, every millisecond until stopped, and returns
// what contained canary.
func cmdlineWatch(t *testing.T, canary string, dirs ...string) (stop func() []string) {
	t.Helper()
	if _, err := os.Stat("/proc/self/cmdline"); err != nil {
		t.Skip("no /proc")
	}
	done := make(chan struct{})
	var mu sync.Mutex
	var hits []string
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			paths, _ := filepath.Glob("/proc/[0-9]*/cmdline")
			for _, p := range paths {
				b, err := os.ReadFile(p)
				if err == nil && bytes.Contains(b, []byte(canary)) {
					mu.Lock()
					i := bytes.Index(b, []byte(canary))
					hits = append(hits, p+": ..."+strings.ReplaceAll(string(b[max(0, i-80):i+len(canary)]), "\x00", " "))
					mu.Unlock()
				}
			}
			for _, d := range dirs {
				ents, _ := os.ReadDir(d)
				for _, e := range ents {
					b, err := os.ReadFile(filepath.Join(d, e.Name()))
					if err == nil && bytes.Contains(b, []byte(canary)) {
						mu.Lock()
						hits = append(hits, "file "+filepath.Join(d, e.Name()))
						mu.Unlock()
					}
				}
			}
			time.Sleep(time.Millisecond)
		}
	}()
	return func() []string {
		close(done)
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return hits
	}
}

// TestSecretNotOnCommandLine: an exec whose unless and command carry a
// secret, probed and applied through the local transport, never puts it
// in any process's command line (which every user can read) or in a
// temporary file, whether the script is small or large.
func TestSecretNotOnCommandLine(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	const canary = "canary-7f3e9d1b"
	secret := func(s string) cty.Value { return cty.StringVal(s).Mark(resources.Sensitive) }
	// Each step sleeps, so a sampler missing a millisecond still sees it.
	unless := secret("sleep 0.3; test " + canary + " = no")
	big := "# " + strings.Repeat("x", 100<<10) + "\n"
	for name, command := range map[string]cty.Value{
		"small": secret("sleep 0.3; : " + canary),
		"large": secret(big + "sleep 0.3; : " + canary),
	} {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "ran")
			cmd, _ := command.Unmark()
			command := secret(cmd.AsString() + "; touch " + out)
			cfg := resourcetest.Object(resources.Exec{}, map[string]cty.Value{"command": command, "unless": unless})
			host := &resources.Host{Name: "local", T: local.New(), RunID: "test", BackupDir: t.TempDir()}
			stop := cmdlineWatch(t, canary, tmp)
			st, err := probeOne(host.T, resources.Exec{}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if st.Present {
				t.Fatal("unless passed; it must fail so the command runs")
			}
			want, err := resources.Exec{}.Desired(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = resources.Exec{}.Apply(context.Background(), host, st, want)
			hits := stop()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(out); err != nil {
				t.Fatalf("the command did not run: %v", err)
			}
			if len(hits) > 0 {
				t.Errorf("the secret was seen %d times, first: %s", len(hits), hits[0])
				for _, h := range hits[1:] {
					if strings.HasPrefix(h, "file ") {
						t.Errorf("and in %s", h)
						break
					}
				}
			}
		})
	}
}

// TestUnlessStillWorks: unless keeps sh -c's meaning: its exit status
// decides, a syntax error counts as failing, and its exit ends only it.
func TestUnlessStillWorks(t *testing.T) {
	for unless, done := range map[string]bool{
		"true":                           true,
		"false":                          false,
		"exit 0; false":                  true,
		"test \"$#\" = 0":                true,
		"if then":                        false,
		"x=1; [ \"$x\" = 1 ]":            true,
		"echo out; echo err >&2; exit 3": false,
	} {
		cfg := resourcetest.Object(resources.Exec{}, map[string]cty.Value{"command": cty.StringVal("true"), "unless": cty.StringVal(unless)})
		st, err := probeOne(local.New(), resources.Exec{}, cfg)
		if err != nil {
			t.Fatalf("%q: %v", unless, err)
		}
		if st.Present != done {
			t.Errorf("unless %q: done = %v, want %v", unless, st.Present, done)
		}
	}
}

// TestSecretFileMode: a file whose content comes from a secret is
// written 0600 when no mode is declared, over an existing 0644 file too;
// a declared mode that lets others read it is kept and warned about.
func TestSecretFileMode(t *testing.T) {
	dir := t.TempDir()
	host := &resources.Host{Name: "local", T: local.New(), RunID: "test", BackupDir: filepath.Join(t.TempDir(), "backup"), BackupKey: "k"}
	apply := func(cfg cty.Value) *resources.State {
		t.Helper()
		cur, err := probeOne(host.T, resources.File{}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		want, err := resources.File{}.Desired(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := (resources.File{}).Apply(context.Background(), host, cur, want); err != nil {
			t.Fatal(err)
		}
		return want
	}
	mode := func(p string) os.FileMode {
		t.Helper()
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode().Perm()
	}
	secret := cty.StringVal("pw=hunter2\n").Mark(resources.Sensitive)

	fresh := filepath.Join(dir, "fresh")
	want := apply(resourcetest.Object(resources.File{}, map[string]cty.Value{"path": cty.StringVal(fresh), "content": secret}))
	if m := mode(fresh); m != 0o600 {
		t.Errorf("new file with secret content: mode %o, want 600", m)
	}
	if b, _ := os.ReadFile(fresh); string(b) != "pw=hunter2\n" {
		t.Errorf("content %q", b)
	}
	if n := (resources.File{}).Notes(nil, want); len(n) != 0 {
		t.Errorf("default mode: notes %q", n)
	}

	old := filepath.Join(dir, "old")
	if err := os.WriteFile(old, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(old, 0o644); err != nil {
		t.Fatal(err)
	}
	apply(resourcetest.Object(resources.File{}, map[string]cty.Value{"path": cty.StringVal(old), "content": secret}))
	if m := mode(old); m != 0o600 {
		t.Errorf("existing 0644 file given secret content: mode %o, want 600", m)
	}

	tmpl := filepath.Join(dir, "tmpl")
	vars := cty.ObjectVal(map[string]cty.Value{"pw": secret})
	cfg := resourcetest.Object(resources.File{}, map[string]cty.Value{"path": cty.StringVal(tmpl), "template": cty.StringVal("t.tmpl"), "vars": vars})
	st, err := resources.File{}.Desired(cfg, templateEnv{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Str("mode") != "0600" {
		t.Errorf("template with a secret var: mode %q, want 0600", st.Str("mode"))
	}

	declared := filepath.Join(dir, "declared")
	want = apply(resourcetest.Object(resources.File{}, map[string]cty.Value{"path": cty.StringVal(declared), "content": secret, "mode": cty.StringVal("0644")}))
	if m := mode(declared); m != 0o644 {
		t.Errorf("declared 0644: mode %o", m)
	}
	notes := (resources.File{}).Notes(nil, want)
	if len(notes) != 1 || !strings.Contains(notes[0], "comes from a secret") || !strings.Contains(notes[0], "0644 lets others read it") {
		t.Errorf("declared 0644: notes %q", notes)
	}
	want, _ = resources.File{}.Desired(resourcetest.Object(resources.File{}, map[string]cty.Value{"path": cty.StringVal(declared), "content": secret, "mode": cty.StringVal("0640")}), nil)
	if notes := (resources.File{}).Notes(nil, want); len(notes) != 1 || !strings.Contains(notes[0], "0640 lets its group read it") {
		t.Errorf("declared 0640: notes %q", notes)
	}

	plain, _ := resources.File{}.Desired(resourcetest.Object(resources.File{}, map[string]cty.Value{"path": cty.StringVal(declared), "content": cty.StringVal("x")}), nil)
	if plain.Str("mode") != "" || len((resources.File{}).Notes(nil, plain)) != 0 {
		t.Errorf("plain content: mode %q, notes %q", plain.Str("mode"), (resources.File{}).Notes(nil, plain))
	}
}

// templateEnv renders every template as its vars' pw.
type templateEnv struct{}

func (templateEnv) ReadFile(string) ([]byte, error) { return nil, os.ErrNotExist }
func (templateEnv) RenderTemplate(_ string, vars cty.Value) (string, error) {
	v, _ := vars.GetAttr("pw").Unmark()
	return v.AsString(), nil
}
