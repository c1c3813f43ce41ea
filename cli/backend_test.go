//go:build linux

package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/backend"
	"github.com/tendhq/tend/backend/pgtest"
	"github.com/tendhq/tend/journal"
)

// pgBackend starts a PostgreSQL server and migrates its schema with
// tend backend migrate; it returns the server and its URL.
func pgBackend(t *testing.T) (*pgtest.Server, string) {
	t.Helper()
	srv := pgtest.Start(t)
	url := srv.URL()
	out, errOut, code := tend(t, "backend", "migrate", "--backend", url)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("from schema version 0 to %d", backend.SchemaVersion)) {
		t.Fatalf("backend migrate: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = tend(t, "backend", "migrate", "--backend", url)
	if code != 0 || !strings.Contains(out, "nothing to do") {
		t.Fatalf("backend migrate again: exit %d\n%s%s", code, out, errOut)
	}
	out, _, code = tend(t, "backend", "migrate", "--backend", url, "--json")
	migrated := 0
	for _, m := range jsonLines(t, uiSchema(t), []string{"backend", "migrate", "--json"}, out, code) {
		if m["type"] == "schema_migrated" && m["from"] == m["to"] {
			migrated++
		}
	}
	if code != 0 || migrated != 1 {
		t.Fatalf("backend migrate --json: exit %d\n%s", code, out)
	}
	return srv, url
}

func readBytes(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(b)
}

// TestBackendRollbackFromAnotherDirectory: a run applied from one
// configuration directory with the backend is listed, shown and rolled
// back from another one (another machine's copy of the configuration),
// which has no journal files of its own.
func TestBackendRollbackFromAnotherDirectory(t *testing.T) {
	_, url := pgBackend(t)
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"a": "original a\n"})
	cfg := map[string]string{"main.hcl": fmt.Sprintf(`
file "a" {
  path    = "%[1]s/a"
  content = "changed a\n"
}
file "b" {
  path    = "%[1]s/b"
  content = "new b\n"
}
`, root)}
	first, second := t.TempDir(), t.TempDir()
	writeFiles(t, first, cfg)
	writeFiles(t, second, cfg)
	// The second directory names the backend in its configuration.
	writeFiles(t, second, map[string]string{"backend.hcl": fmt.Sprintf("backend \"postgres\" {\n  url = %q\n}\n", url)})
	if out, errOut, code := tend(t, "apply", "-C", first, "-y", "--backend", url); code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	if got := readBytes(t, filepath.Join(root, "a")) + readBytes(t, filepath.Join(root, "b")); got != "changed a\nnew b\n" {
		t.Fatalf("after apply: %q", got)
	}
	if _, err := os.Stat(journal.Dir(first)); !os.IsNotExist(err) {
		t.Errorf("the run was journaled in files too: %v", err)
	}
	out, errOut, code := tend(t, "runs", "-C", second)
	if code != 0 || strings.Count(out, " apply ") != 1 || !strings.Contains(out, "success") {
		t.Fatalf("runs from the second directory: exit %d\n%s%s", code, out, errOut)
	}
	id := strings.Fields(strings.Split(out, "\n")[1])[0]
	if out, errOut, code := tend(t, "runs", "-C", second, "--backend", "files"); code != 0 || !strings.Contains(out, "No runs journaled") {
		t.Errorf("--backend files must win over the backend block: exit %d\n%s%s", code, out, errOut)
	}
	t.Setenv("TEND_BACKEND", "files")
	if out, errOut, code := tend(t, "runs", "-C", second); code != 0 || !strings.Contains(out, "No runs journaled") {
		t.Errorf("TEND_BACKEND=files must win over the backend block: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := tend(t, "runs", "-C", second, "--backend", url); code != 0 || !strings.Contains(out, id) {
		t.Errorf("--backend must win over TEND_BACKEND: exit %d\n%s%s", code, out, errOut)
	}
	os.Unsetenv("TEND_BACKEND")
	if out, errOut, code := tend(t, "validate", "-C", second); code != 0 {
		t.Errorf("validate with a backend block: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := tend(t, "show", id, "-C", second); code != 0 || !strings.Contains(out, "file.b") {
		t.Errorf("show from the second directory: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = tend(t, "rollback", id, "-C", second, "-y")
	if code != 0 {
		t.Fatalf("rollback from the second directory: exit %d\n%s%s", code, out, errOut)
	}
	if got := readBytes(t, filepath.Join(root, "a")); got != "original a\n" {
		t.Errorf("a after the rollback: %q", got)
	}
	if _, err := os.Stat(filepath.Join(root, "b")); !os.IsNotExist(err) {
		t.Errorf("b after the rollback: %v", err)
	}
	pg, err := backend.Connect(context.Background(), url, true)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	runs, err := pg.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[1].Command != "rollback" || runs[1].RevertsRun != id || runs[1].Outcome != "success" {
		t.Fatalf("runs after the rollback: %v", runs)
	}
	for _, e := range runs[0].Hosts[0].Changes {
		if e.Status != journal.Reverted {
			t.Errorf("%s of the applied run is %s after the rollback, want reverted", e.Address, e.Status)
		}
	}
	if _, err := os.Stat(journal.Dir(second)); !os.IsNotExist(err) {
		t.Errorf("the rollback was journaled in files: %v", err)
	}
	if _, errOut, code := tend(t, "runs", "--backend", "mysql://x"); code != 1 || !strings.Contains(errOut, "--backend") {
		t.Errorf("a bad --backend: exit %d\n%s", code, errOut)
	}
}

// gatedConfig is a configuration whose exec waits for the file go
// under root, after touching started, between two files.
func gatedConfig(root, name string) map[string]string {
	return map[string]string{"main.hcl": fmt.Sprintf(`
file "first" {
  path    = "%[1]s/%[2]s-first"
  content = "first\n"
}
exec "gate" {
  command    = "touch %[1]s/%[2]s-started; while [ ! -e %[1]s/go ]; do sleep 0.05; done; touch %[1]s/%[2]s-done"
  creates    = "%[1]s/%[2]s-done"
  depends_on = [file.first]
}
file "second" {
  path       = "%[1]s/%[2]s-second"
  content    = "second\n"
  depends_on = [exec.gate]
}
file "third" {
  path       = "%[1]s/%[2]s-third"
  content    = "third\n"
  depends_on = [file.second]
}
`, root, name)}
}

func waitFile(t *testing.T, path string, done <-chan struct{}) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		select {
		case <-done:
			t.Fatalf("the run ended before %s appeared", path)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear", path)
		}
	}
}

type result struct {
	out, errOut string
	code        int
}

// TestBackendOverlappingRuns: while one run holds localhost, a second
// operator's run on it fails before connecting, naming the host and
// the holder, and changes nothing; tend locks lists the holder.
func TestBackendOverlappingRuns(t *testing.T) {
	_, url := pgBackend(t)
	t.Setenv("TEND_BACKEND", url)
	root := t.TempDir()
	first, second := t.TempDir(), t.TempDir()
	writeFiles(t, first, gatedConfig(root, "one"))
	writeFiles(t, second, map[string]string{"main.hcl": fmt.Sprintf("file \"x\" {\n  path    = \"%s/two\"\n  content = \"two\\n\"\n}\n", root)})
	done := make(chan struct{})
	var r1 result
	go func() {
		defer close(done)
		r1.out, r1.errOut, r1.code = tend(t, "apply", "-C", first, "-y")
	}()
	defer func() {
		writeFiles(t, root, map[string]string{"go": ""})
		<-done
	}()
	waitFile(t, filepath.Join(root, "one-started"), done)
	out, errOut, code := tend(t, "locks")
	if code != 0 || !strings.Contains(out, "localhost") || !strings.Contains(out, currentUser()) {
		t.Fatalf("locks while the first run holds localhost: exit %d\n%s%s", code, out, errOut)
	}
	holder := strings.Fields(strings.Split(out, "\n")[1])[1]
	// The same with --json: a host_lease message, valid by the schema.
	out, _, code = tend(t, "locks", "--json")
	leases := 0
	for _, m := range jsonLines(t, uiSchema(t), []string{"locks", "--json"}, out, code) {
		if m["type"] == "host_lease" && m["host"] == "localhost" && m["run_id"] == holder {
			leases++
		}
	}
	if code != 0 || leases != 1 {
		t.Errorf("locks --json: exit %d, %d host_lease messages for localhost held by %s\n%s", code, leases, holder, out)
	}
	out, errOut, code = tend(t, "apply", "-C", second, "-y")
	if code != 1 || !strings.Contains(errOut, "localhost held by run "+holder) || !strings.Contains(errOut, "nothing was changed") {
		t.Errorf("second run: exit %d, want 1 naming localhost and run %s\n%s%s", code, holder, out, errOut)
	}
	if strings.Contains(out, "Applying") {
		t.Errorf("the second run started applying:\n%s", out)
	}
	start := time.Now()
	_, errOut, code = tend(t, "apply", "-C", second, "-y", "--lock-timeout", "1s")
	if code != 1 || !strings.Contains(errOut, "after waiting 1s") || time.Since(start) < time.Second {
		t.Errorf("second run with --lock-timeout 1s: exit %d\n%s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(root, "two")); !os.IsNotExist(err) {
		t.Errorf("the second run changed its file: %v", err)
	}
	writeFiles(t, root, map[string]string{"go": ""})
	<-done
	if r1.code != 0 {
		t.Fatalf("first run: exit %d\n%s%s", r1.code, r1.out, r1.errOut)
	}
	if out, _, _ := tend(t, "locks"); !strings.Contains(out, "No host is held") {
		t.Errorf("locks after the first run ended:\n%s", out)
	}
	if out, errOut, code := tend(t, "apply", "-C", second, "-y"); code != 0 || readBytes(t, filepath.Join(root, "two")) != "two\n" {
		t.Errorf("second run once the first ended: exit %d\n%s%s", code, out, errOut)
	}
}

// TestBackendKilledMidRun: the backend dies while a change runs; the
// change's outcome cannot be journaled, so the host makes no further
// change, and the run fails saying why; once the backend is back,
// tend resume finishes the run.
func TestBackendKilledMidRun(t *testing.T) {
	srv, url := pgBackend(t)
	t.Setenv("TEND_BACKEND", url)
	// The dead run's lease (this test's own process holds it) expires
	// quickly.
	ttl, every := backend.LeaseTTL, backend.HeartbeatEvery
	backend.LeaseTTL, backend.HeartbeatEvery = 2*time.Second, 200*time.Millisecond
	defer func() { backend.LeaseTTL, backend.HeartbeatEvery = ttl, every }()
	root, dir := t.TempDir(), t.TempDir()
	writeFiles(t, dir, gatedConfig(root, "k"))
	done := make(chan struct{})
	var r result
	go func() {
		defer close(done)
		r.out, r.errOut, r.code = tend(t, "apply", "-C", dir, "-y")
	}()
	defer func() {
		writeFiles(t, root, map[string]string{"go": ""})
		<-done
	}()
	waitFile(t, filepath.Join(root, "k-started"), done)
	srv.Kill()
	writeFiles(t, root, map[string]string{"go": ""})
	<-done
	if r.code == 0 {
		t.Fatalf("the run succeeded without its backend:\n%s%s", r.out, r.errOut)
	}
	t.Logf("the run without its backend: exit %d\n%s%s", r.code, r.out, r.errOut)
	if !strings.Contains(r.out+r.errOut, "journal") {
		t.Errorf("the failure does not say the journal could not be written:\n%s%s", r.out, r.errOut)
	}
	for _, f := range []string{"k-second", "k-third"} {
		if _, err := os.Stat(filepath.Join(root, f)); !os.IsNotExist(err) {
			t.Errorf("%s was made after the backend died: %v", f, err)
		}
	}
	srv.Start()
	time.Sleep(backend.LeaseTTL + 500*time.Millisecond)
	out, errOut, code := tend(t, "runs")
	if code != 0 || !strings.Contains(out, "interrupted") {
		t.Fatalf("runs after the backend came back: exit %d\n%s%s", code, out, errOut)
	}
	id := strings.Fields(strings.Split(out, "\n")[1])[0]
	out, errOut, code = tend(t, "resume", id, "-y")
	if code != 0 {
		t.Fatalf("resume: exit %d\n%s%s", code, out, errOut)
	}
	for f, want := range map[string]string{"k-first": "first\n", "k-second": "second\n", "k-third": "third\n", "k-done": ""} {
		if got := readBytes(t, filepath.Join(root, f)); got != want {
			t.Errorf("%s after the resume: %q, want %q", f, got, want)
		}
	}
	out, _, _ = tend(t, "runs")
	if !strings.Contains(out, "success") || strings.Count(out, "\n") != 2 {
		t.Errorf("runs after the resume (one run, finished):\n%s", out)
	}
}
