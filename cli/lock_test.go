package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// lockConfig writes content to root/x, then runs a command that marks
// its start and takes a while.
func lockConfig(root, content string) string {
	return fmt.Sprintf(`
role "all" {
  hosts = "all"
  file "x" {
    path    = "%[1]s/x"
    content = %[2]q
  }
  exec "hold" {
    command    = "touch %[1]s/.holding-%[2]s && sleep 1.5"
    creates    = "%[1]s/.never"
    depends_on = [file.x]
  }
}
`, root, content)
}

// TestConcurrentApplies: two applies from two configuration directories
// change one host at once. The second fails before changing anything,
// naming the first's run and user, and the host holds the first's
// configuration; with --lock-timeout it waits for the first and then
// applies its own whole.
func TestConcurrentApplies(t *testing.T) {
	root := t.TempDir()
	dirA, dirB := t.TempDir(), t.TempDir()
	writeFiles(t, dirA, map[string]string{"main.hcl": lockConfig(root, "A")})
	writeFiles(t, dirB, map[string]string{"main.hcl": lockConfig(root, "B")})
	run := func(dir string, extra ...string) chan string {
		ch := make(chan string, 1)
		go func() {
			var out bytes.Buffer
			code := Run(context.Background(), append([]string{"apply", "-C", dir, "-y"}, extra...), IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out})
			ch <- fmt.Sprintf("exit %d\n%s", code, out.String())
		}()
		return ch
	}
	waitFor := func(p string) {
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if _, err := os.Stat(p); err == nil {
				return
			}
		}
		t.Fatalf("%s never appeared", p)
	}
	a := run(dirA)
	waitFor(filepath.Join(root, ".holding-A"))
	outB := <-run(dirB)
	outA := <-a
	idA := lastRun(t, dirA).ID
	if !strings.HasPrefix(outA, "exit 0") {
		t.Fatalf("first apply:\n%s", outA)
	}
	if !strings.HasPrefix(outB, "exit 1") || !strings.Contains(outB, "locked by run "+idA) || !strings.Contains(outB, "user "+currentUser()) {
		t.Errorf("second apply: want exit 1 naming run %s and its user:\n%s", idA, outB)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "x")); string(b) != "A" {
		t.Errorf("x holds %q, want the first run's A", b)
	}
	if _, err := os.Stat(filepath.Join(root, ".holding-B")); err == nil {
		t.Error("the second run made a change on a locked host")
	}

	// Waiting: B starts while A holds the host, and applies after it.
	os.Remove(filepath.Join(root, ".holding-A"))
	writeFiles(t, root, map[string]string{"x": "old"})
	a = run(dirA)
	waitFor(filepath.Join(root, ".holding-A"))
	outB = <-run(dirB, "--lock-timeout", "20s")
	outA = <-a
	if !strings.HasPrefix(outA, "exit 0") || !strings.HasPrefix(outB, "exit 0") {
		t.Fatalf("with --lock-timeout both apply:\nfirst:\n%s\nsecond:\n%s", outA, outB)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "x")); string(b) != "B" {
		t.Errorf("x holds %q, want the second run's B", b)
	}
}
