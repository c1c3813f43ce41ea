package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/integration/lab"
)

// largeFileSize is the size of TestLargeSourceFile's source.
const largeFileSize = 1 << 30

// TestLargeSourceFile applies a 1 GiB `source` file to a lab host with
// the real binary: the controller's peak RSS stays under 100 MB (the file
// is never held in memory), the run logs in to the host exactly once (the
// content goes over an sftp channel of that connection), the host's file
// has the source's SHA-256, and a byte changed in the middle of the
// host's file is reported by the next plan.
func TestLargeSourceFile(t *testing.T) {
	lab.Required(t)
	l := lab.StartT(t, lab.Options{Hosts: 1, Name: "large"})
	h := l.Host(1)
	bin := buildTend(t, t.TempDir())
	dir := t.TempDir()
	if err := l.WriteInventory(filepath.Join(dir, "inventory.hcl")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "main.hcl"), `file "big" {
  path   = "/srv/big.bin"
  source = "big.bin"
}
`)
	src := filepath.Join(dir, "big.bin")
	sum := sparseRandomFile(t, src, largeFileSize)
	t.Cleanup(func() { os.Remove(src) })

	// sshd logs each login and each session (exec or subsystem).
	write(t, filepath.Join(h.Root, "etc/ssh/sshd_config.d/verbose.conf"), "LogLevel VERBOSE\n")
	if _, err := l.Exec(h.Index, "systemctl reload ssh.service"); err != nil {
		t.Fatal(err)
	}
	waitSSH(t, h.Address)
	cursor := journalCursor(t, l, h.Index)

	out, code, rss := runTend(t, bin, dir, "apply", "-C", dir, "-y", "--no-color")
	if code != 0 || !strings.Contains(out, "Apply complete: 1 change") {
		t.Fatalf("tend apply: exit %d\n%s", code, out)
	}
	// The file is never held in memory, and what is in flight is bounded
	// (transport/ssh's SendFile).
	if rss >= 100<<20 {
		t.Errorf("tend apply's peak RSS was %d MB for a %d MiB file, want under 100 MB", rss>>20, largeFileSize>>20)
	}
	t.Logf("tend apply of %d MiB: peak RSS %d MB", largeFileSize>>20, rss>>20)
	log, err := l.Exec(h.Index, "journalctl -u ssh.service -o cat --no-pager --after-cursor='"+cursor+"'")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(log, "Accepted publickey for root"); n != 1 {
		t.Errorf("sshd logged %d logins during the apply, want 1", n)
	}
	if n := strings.Count(log, "Starting session: subsystem 'sftp'"); n != 1 {
		t.Errorf("sshd logged %d sftp sessions during the apply, want 1", n)
	}
	got, err := l.Exec(h.Index, "sha256sum /srv/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	if f := strings.Fields(got); len(f) == 0 || f[0] != sum {
		t.Fatalf("the host's file: %q, want sha256 %s", got, sum)
	}

	// The next plan finds nothing to change.
	out, code, _ = runTend(t, bin, dir, "plan", "-C", dir, "--detailed-exitcode", "--no-color")
	if code != 0 {
		t.Fatalf("tend plan after the apply: exit %d, want 0\n%s", code, out)
	}

	// One byte in the middle of the host's file, 32 MiB past the random
	// block at 512 MiB (a zero there: the source is sparse between its
	// random blocks, so the byte always differs), its modification time
	// put back.
	if _, err := l.Exec(h.Index, `m=$(stat -c %y /srv/big.bin) && printf X | dd of=/srv/big.bin bs=1 seek=570425345 conv=notrunc status=none && touch -m -d "$m" /srv/big.bin`); err != nil {
		t.Fatal(err)
	}
	out, code, _ = runTend(t, bin, dir, "plan", "-C", dir, "--detailed-exitcode", "--no-color")
	if code != 2 || !strings.Contains(out, "file.big will be updated") {
		t.Fatalf("tend plan after a byte changed on the host: exit %d, want 2 and file.big updated\n%s", code, out)
	}
	if !strings.Contains(out, "too large to show") {
		t.Errorf("the plan shows no summary of the large content change:\n%s", out)
	}
}

// runTend runs the tend binary with a private HOME and state directory
// and returns its combined output, exit status and peak RSS in bytes
// (its own: peakRSSCommand).
func runTend(t *testing.T, bin, dir string, args ...string) (string, int, int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd, peakRSS := peakRSSCommand(ctx, t, bin, args...)
	cmd.Env = append(cmd.Env, "HOME="+filepath.Join(dir, ".home"), "XDG_STATE_HOME="+filepath.Join(dir, ".state"), "NO_COLOR=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	_ = cmd.Run()
	if cmd.ProcessState == nil {
		t.Fatalf("tend %s did not run: %s", strings.Join(args, " "), out.String())
	}
	code := cmd.ProcessState.ExitCode()
	t.Logf("tend %s → exit %d in %s\n%s", strings.Join(args, " "), code, time.Since(start).Round(time.Millisecond), out.String())
	peak, floor := peakRSS()
	t.Logf("tend %s: peak RSS %d MB (the measuring parent's own: %d MB)", args[0], peak>>20, floor>>20)
	return out.String(), code, peak
}

// sparseRandomFile makes a sparse file of size bytes at p with a MiB of
// random bytes every 64 MiB (and at the end), and returns its SHA-256.
func sparseRandomFile(t *testing.T, p string, size int64) string {
	t.Helper()
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	block := make([]byte, 1<<20)
	for off := int64(0); off < size; off += 64 << 20 {
		rand.Read(block)
		n := min(int64(len(block)), size-off)
		if _, err := f.WriteAt(block[:n], off); err != nil {
			t.Fatal(err)
		}
	}
	rand.Read(block)
	if _, err := f.WriteAt(block, size-int64(len(block))); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	hash := sha256.New()
	if _, err := io.Copy(hash, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(hash.Sum(nil))
}

// journalCursor returns where host i's sshd log ends now.
func journalCursor(t *testing.T, l *lab.Lab, i int) string {
	t.Helper()
	out, err := l.Exec(i, "journalctl -u ssh.service -n0 --show-cursor")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out, "\n") {
		if cur, ok := strings.CutPrefix(line, "-- cursor: "); ok {
			return cur
		}
	}
	t.Fatalf("no journal cursor in %q", out)
	return ""
}
