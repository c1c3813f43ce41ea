package winrm

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/inventory"
	"github.com/tendhq/tend/transport/winrm/wsmantest"
)

// The tests run tend's transport against wsmantest's WS-Management server.
// No PowerShell runs here: fakePowerShell plays the bootstrap in Go (it
// checks the command line is exactly CommandLine's, unframes the script
// and the stdin as bootstrap.ps1 does, prints the marker) and hands the
// script to a scriptHandler. shHandler runs the script with /bin/sh, so
// the transport's protocol handling (streams, long polls, cancellation,
// concurrency) is exercised with real processes. bootstrap.ps1 itself is
// pinned by a golden file, and runs for real only when pwsh is installed
// (TestRealPowerShell).

const testPassword = "s3cret-Pässword'\"$x"

type scriptHandler func(ctx context.Context, script string, stdin io.Reader, stdout, stderr io.Writer) int

// fakePowerShell is an Executor that plays tend's bootstrap.
func fakePowerShell(run scriptHandler) wsmantest.Executor {
	want := CommandLine("powershell.exe")
	return func(ctx context.Context, p *wsmantest.Process) int {
		cmdline := strings.Join(append([]string{p.Command}, p.Arguments...), " ")
		if cmdline != want {
			fmt.Fprintf(p.Stderr, "'%.40s' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n", cmdline)
			return 9009
		}
		br := bufio.NewReaderSize(p.Stdin, 1<<16)
		truncated := func() int {
			io.WriteString(p.Stderr, truncatedMsg+"\r\n")
			return exitTruncated
		}
		head, err := readLine(br)
		if err != nil {
			return truncated()
		}
		f := strings.Split(head, ":")
		if len(f) != 5 || f[0] != "tend" || f[2] != "script" {
			return truncated()
		}
		nonce := f[1]
		var script []byte
		for {
			line, err := readLine(br)
			if err != nil {
				return truncated()
			}
			if line == "tend:"+nonce+":stdin" {
				break
			}
			b, err := base64.StdEncoding.DecodeString(line)
			if err != nil {
				return truncated()
			}
			script = append(script, b...)
		}
		sum := sha256.Sum256(script)
		if strconv.Itoa(len(script)) != f[3] || hex.EncodeToString(sum[:]) != f[4] {
			return truncated()
		}
		io.WriteString(p.Stdout, "tend:"+nonce+":run:")
		return run(ctx, string(script), &stdinDecoder{r: br, nonce: nonce, sum: sha256.New()}, p.Stdout, p.Stderr)
	}
}

func readLine(br *bufio.Reader) (string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// stdinDecoder is Read-TendStdin: it decodes the base64 lines and checks
// the trailer's length and hash.
type stdinDecoder struct {
	r     *bufio.Reader
	nonce string
	sum   hash.Hash
	n     int64
	buf   []byte
	err   error
}

var errStdinDamaged = errors.New("tend: stdin was damaged in transit (length or SHA-256 mismatch)")

func (d *stdinDecoder) Read(p []byte) (int, error) {
	for len(d.buf) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		line, err := readLine(d.r)
		if err != nil {
			d.err = errors.New("tend-bootstrap: script stream truncated")
			continue
		}
		if rest, ok := strings.CutPrefix(line, "tend:"+d.nonce+":eof:"); ok {
			f := strings.Split(rest, ":")
			if len(f) == 2 && f[0] == strconv.FormatInt(d.n, 10) && f[1] == hex.EncodeToString(d.sum.Sum(nil)) {
				d.err = io.EOF
			} else {
				d.err = errStdinDamaged
			}
			continue
		}
		b, err := base64.StdEncoding.DecodeString(line)
		if err != nil {
			d.err = err
			continue
		}
		d.sum.Write(b)
		d.n += int64(len(b))
		d.buf = b
	}
	n := copy(p, d.buf)
	d.buf = d.buf[n:]
	return n, nil
}

// shHandler runs the script with /bin/sh in its own process group, killed
// when the command is signalled.
func shHandler(ctx context.Context, script string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := exec.Command("/bin/sh", "-c", script)
	if len(script) > 64<<10 {
		// Linux limits one argument to 128 KiB.
		f, err := os.CreateTemp("", "tend-winrm-test-*.sh")
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 127
		}
		defer os.Remove(f.Name())
		f.WriteString(script)
		f.Close()
		cmd = exec.Command("/bin/sh", f.Name())
	}
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	ownProcessGroup(cmd)
	cmd.WaitDelay = time.Second
	// Not cmd.Stdin: Wait would wait for a stdin the script never reads.
	// A process ends when it exits, whatever is left of its stdin.
	in, err := cmd.StdinPipe()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 127
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(stderr, err)
		return 127
	}
	go func() {
		io.Copy(in, stdin)
		in.Close()
	}()
	stop := context.AfterFunc(ctx, func() { killGroup(cmd) })
	defer stop()
	cmd.Wait()
	if cmd.ProcessState == nil {
		return 1
	}
	if code := cmd.ProcessState.ExitCode(); code >= 0 {
		return code
	}
	return 1
}

// unquotePS parses a PowerShell single-quoted string literal the way
// PowerShell's tokenizer does: any of the four single-quote characters
// ends it unless the next character is one too, in which case that second
// one is the literal character.
func unquotePS(lit string) (string, bool) {
	r := []rune(lit)
	isQ := func(c rune) bool { return strings.ContainsRune(singleQuotes, c) }
	if len(r) < 2 || !isQ(r[0]) {
		return "", false
	}
	var b strings.Builder
	for i := 1; i < len(r); i++ {
		if isQ(r[i]) {
			if i+1 < len(r) && isQ(r[i+1]) {
				b.WriteRune(r[i+1])
				i++
				continue
			}
			return b.String(), i == len(r)-1
		}
		b.WriteRune(r[i])
	}
	return "", false
}

// startServer starts a WS-Management server for user "ops" with
// testPassword whose commands go to fakePowerShell(handler).
func startServer(t *testing.T, handler scriptHandler, opts wsmantest.Options) *wsmantest.Server {
	t.Helper()
	if opts.Users == nil {
		opts.Users = map[string]string{"ops": testPassword}
	}
	if opts.Executor == nil {
		opts.Executor = fakePowerShell(handler)
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	return wsmantest.StartT(t, opts)
}

// hostFor is an inventory host pointing at srv.
func hostFor(t *testing.T, srv *wsmantest.Server, auth string) *inventory.Host {
	t.Helper()
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(u.Host)
	n, _ := strconv.Atoi(port)
	return &inventory.Host{
		Name: "win1", Address: host, Port: n, Transport: "winrm",
		WinRM: inventory.WinRMSettings{
			HTTPS: u.Scheme == "https", InsecureHTTP: u.Scheme == "http" && auth == AuthBasic,
			Auth: auth, User: `TEND\ops`, Password: testPassword,
		},
	}
}

// dialT dials h and closes the transport when the test ends.
func dialT(t *testing.T, h *inventory.Host, opts Options) *Transport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr, err := Dial(ctx, h, opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}
