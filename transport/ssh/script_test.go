package ssh

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tendhq/tend/transport"
)

// runLocally runs a launch the way sshd would (login shell -c command,
// the prelude then stdin on standard input) with a local shell, so the
// bootstrap is tested without a server.
func runLocally(t *testing.T, loginShell string, l *launch, stdin []byte) (stdout, stderr []byte, err error) {
	t.Helper()
	cmd := exec.Command(loginShell, "-c", l.command)
	cmd.Stdin = bytes.NewReader(append(append([]byte(nil), l.prelude...), stdin...))
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.Bytes(), e.Bytes(), err
}

func loginShells(t *testing.T) []string {
	var found []string
	for _, s := range []string{"/bin/sh", "bash", "zsh", "fish", "csh", "tcsh"} {
		if p, err := exec.LookPath(s); err == nil {
			found = append(found, p)
		}
	}
	return found
}

func TestBootstrapLocally(t *testing.T) {
	var big strings.Builder
	for big.Len() < 300<<10 {
		big.WriteString("x=$((x+1)) # 'quoted' \"text\" $(not run) \\ backslash\n")
	}
	big.WriteString("echo \"$x\"\n")
	scripts := map[string]struct {
		script string
		stdin  []byte
	}{
		"simple":            {"echo hi", nil},
		"stdin after":       {"cat", []byte("\x00binary\xff\n\nrest")},
		"no newline at end": {"printf x", nil},
		"trailing newlines": {"echo a\n\n\n", nil},
		"empty script":      {"", []byte("ignored")},
		"stdin lines":       {"read a; read b; echo \"$b$a\"", []byte("1\n2\n")},
		"large":             {big.String() + "cat", []byte("after")},
		"exit status":       {"exit 7", nil},
		"header lookalike":  {"cat", []byte("tend:0000:script\n5\n")},
		"locale kept":       {"echo \"${LC_ALL-unset}\"", nil},
	}
	for _, sh := range loginShells(t) {
		for name, c := range scripts {
			t.Run(sh+"/"+name, func(t *testing.T) {
				l, err := newLaunch(c.script, nil)
				if err != nil {
					t.Fatal(err)
				}
				// The reference runs the script from a file: as one
				// argument, the large one is over Linux's 128 KiB limit.
				file := filepath.Join(t.TempDir(), "script")
				if err := os.WriteFile(file, []byte(c.script), 0o600); err != nil {
					t.Fatal(err)
				}
				ref := exec.Command("/bin/sh", file)
				ref.Stdin = bytes.NewReader(c.stdin)
				want, wantErr := ref.Output()

				out, _, err := runLocally(t, sh, l, c.stdin)
				var mw markerWriter
				mw.marker = []byte(l.marker)
				var got bytes.Buffer
				mw.w = &got
				mw.Write(out)
				if !mw.found || mw.pid.Load() <= 0 {
					t.Fatalf("no marker/pid in %q", out)
				}
				if !bytes.Equal(got.Bytes(), want) {
					t.Errorf("stdout %.80q, want %.80q", got.Bytes(), want)
				}
				if exitCode(err) != exitCode(wantErr) {
					t.Errorf("exit %v, want %v", err, wantErr)
				}
			})
		}
	}
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func TestBootstrapTruncated(t *testing.T) {
	l, err := newLaunch("echo this script is cut short", nil)
	if err != nil {
		t.Fatal(err)
	}
	l.prelude = l.prelude[:len(l.prelude)-5]
	_, stderr, err := runLocally(t, "/bin/sh", l, nil)
	if exitCode(err) != exitTruncated || !strings.Contains(string(stderr), truncatedMsg) {
		t.Errorf("exit %v, stderr %q", err, stderr)
	}
}

func TestBootstrapQuotingSafe(t *testing.T) {
	// The bootstrap is wrapped in single quotes for every login shell:
	// it must hold no quote, backslash or newline of its own.
	b := bootstrap(transport.NewNonce())
	if strings.ContainsAny(b, "'\\\n") {
		t.Errorf("bootstrap contains a quote, backslash or newline: %s", b)
	}
}

func TestLaunchBecome(t *testing.T) {
	const pw = "s3cret 'pw' $(x)"
	l, err := newLaunch("id", &become{user: "root", password: pw})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(l.command, pw) || strings.Contains(l.command, "s3cret") {
		t.Errorf("password in the command line: %s", l.command)
	}
	if !strings.HasPrefix(l.command, "sudo -S -p '' -u root -- /bin/sh -c '") {
		t.Errorf("command %s", l.command)
	}
	if !bytes.HasPrefix(l.prelude, []byte(pw+"\n\n\ntend:")) {
		t.Errorf("prelude starts %.60q", l.prelude)
	}

	l, err = newLaunch("id", &become{user: "www data"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(l.command, "sudo -n -u 'www data' -- /bin/sh -c '") || bytes.Contains(l.prelude, []byte("\n\n\n")) {
		t.Errorf("no password: command %s, prelude %.40q", l.command, l.prelude)
	}

	if _, err := newLaunch("id", &become{password: "two\nlines"}); err == nil {
		t.Error("a password with a newline was accepted")
	}
	if _, err := newLaunch("echo \x00", nil); err == nil {
		t.Error("a script with NUL was accepted")
	}
}

func TestBootstrapSkipsUnreadPassword(t *testing.T) {
	// When sudo does not ask (NOPASSWD), the password line and padding
	// reach the bootstrap, which must skip them. Simulate with no sudo.
	l, err := newLaunch("cat", &become{password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	l.command = strings.TrimPrefix(l.command, "sudo -S -p '' -u root -- ")
	out, _, err := runLocally(t, "/bin/sh", l, []byte("data"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(out, []byte(":data")) || bytes.Contains(out, []byte("pw")) {
		t.Errorf("stdout %q", out)
	}
}

func TestMarkerWriterSplitWrites(t *testing.T) {
	l, _ := newLaunch("", nil)
	stream := []byte("motd noise\n" + l.marker + "4242.4240:" + "script output")
	for split := 0; split <= len(stream); split++ {
		var got bytes.Buffer
		m := &markerWriter{w: &got, marker: []byte(l.marker)}
		m.Write(stream[:split])
		m.Write(stream[split:])
		if !m.found || got.String() != "script output" || m.pid.Load() != 4242 || m.pgid.Load() != 4240 || string(m.noise) != "motd noise\n" {
			t.Fatalf("split at %d: found %v, out %q, pid %d, pgid %d, noise %q", split, m.found, got.String(), m.pid.Load(), m.pgid.Load(), m.noise)
		}
	}
}

func TestKillScriptLocally(t *testing.T) {
	// A process group started with the nonce in its command line dies;
	// one without the nonce is left alone.
	nonce := transport.NewNonce()
	victim := exec.Command("/bin/sh", "-c", "sleep 41 & sleep 42 & wait; : "+nonce)
	setpgid(victim)
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- victim.Wait() }()
	out, err := exec.Command("/bin/sh", "-c", killScript(nonce, victim.Process.Pid, 0)).CombinedOutput()
	if err != nil {
		t.Fatalf("kill script: %v %s", err, out)
	}
	if err := <-done; err == nil {
		t.Error("victim exited cleanly, want killed")
	}

	bystander := exec.Command("sleep", "43")
	setpgid(bystander)
	if err := bystander.Start(); err != nil {
		t.Fatal(err)
	}
	defer bystander.Process.Kill()
	exec.Command("/bin/sh", "-c", killScript(nonce, bystander.Process.Pid, 0)).Run()
	if err := bystander.Process.Signal(nil0); err != nil {
		t.Errorf("bystander without the nonce was killed: %v", err)
	}
}
