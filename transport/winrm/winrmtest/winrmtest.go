// Package winrmtest stands in for a Windows host behind wsmantest's
// WS-Management server, for tests of tend above the transport (CLI,
// end-to-end): PowerShell plays tend's bootstrap in Go, exactly as the
// host would see it (the command line must be tend's, the script and its
// stdin are unframed and their lengths and SHA-256 checked), and hands
// each script to a Handler; Host records every script and answers it
// from fixtures. No PowerShell runs: what the scripts would do on Windows
// is what the fixtures say.
package winrmtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/tendhq/tend/transport/winrm"
	"github.com/tendhq/tend/transport/winrm/wsmantest"
)

// Handler plays one script: stdin is the caller's stdin, decoded and
// checked. It returns the exit status.
type Handler func(ctx context.Context, script string, stdin io.Reader, stdout, stderr io.Writer) int

// PowerShell is an Executor playing tend's PowerShell bootstrap
// (transport/winrm's bootstrap.ps1) in front of h.
func PowerShell(h Handler) wsmantest.Executor {
	want := winrm.CommandLine("powershell.exe")
	return func(ctx context.Context, p *wsmantest.Process) int {
		cmdline := strings.Join(append([]string{p.Command}, p.Arguments...), " ")
		if cmdline != want {
			fmt.Fprintf(p.Stderr, "'%.40s' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n", cmdline)
			return 9009
		}
		br := bufio.NewReaderSize(p.Stdin, 1<<16)
		truncated := func() int {
			io.WriteString(p.Stderr, "tend-bootstrap: script stream truncated\r\n")
			return 125
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
		return h(ctx, string(script), &stdinDecoder{r: br, nonce: nonce, sum: sha256.New()}, p.Stdout, p.Stderr)
	}
}

func readLine(br *bufio.Reader) (string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// stdinDecoder is the bootstrap's Read-TendStdin.
type stdinDecoder struct {
	r     *bufio.Reader
	nonce string
	sum   interface {
		io.Writer
		Sum([]byte) []byte
	}
	n   int64
	buf []byte
	err error
}

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
				d.err = errors.New("tend: stdin was damaged in transit")
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

// Script is one script a Host received, with its stdin.
type Script struct {
	Text  string
	Stdin []byte
}

// Answer is what a Host's fixture says a script prints and exits with.
type Answer struct {
	Stdout, Stderr string
	Status         int
}

// Host is a simulated Windows host: a wsmantest server whose PowerShell
// records every script and answers it with Respond.
type Host struct {
	*wsmantest.Server
	// Respond answers a script; nil answers exit status 0, no output.
	Respond func(s Script) Answer

	mu      sync.Mutex
	scripts []Script
}

// Start serves a simulated Windows host over plain HTTP on 127.0.0.1 for
// user and password (Basic and NTLM offered), stopped with the test. As
// on Windows by default, messages must be encrypted (AllowUnencrypted
// false).
func Start(t testing.TB, user, password string, respond func(Script) Answer) *Host {
	h := &Host{Respond: respond}
	h.Server = wsmantest.StartT(t, wsmantest.Options{
		Users:    map[string]string{user: password},
		Executor: PowerShell(h.handle),
	})
	return h
}

func (h *Host) handle(ctx context.Context, script string, stdin io.Reader, stdout, stderr io.Writer) int {
	in, err := io.ReadAll(stdin)
	if err != nil {
		fmt.Fprintf(stderr, "%v\r\n", err)
		return 1
	}
	s := Script{Text: script, Stdin: in}
	h.mu.Lock()
	h.scripts = append(h.scripts, s)
	h.mu.Unlock()
	if h.Respond == nil {
		return 0
	}
	a := h.Respond(s)
	io.WriteString(stdout, a.Stdout)
	io.WriteString(stderr, a.Stderr)
	return a.Status
}

// Scripts returns the scripts received so far, in order.
func (h *Host) Scripts() []Script {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Script(nil), h.scripts...)
}

// Port is the server's TCP port.
func (h *Host) Port() string {
	_, port, _ := strings.Cut(h.Addr, ":")
	return port
}

// IsProbe reports whether a script is a probe script (facts and probes).
func IsProbe(s string) bool { return strings.HasPrefix(s, "# tend:probe\n") }

// Normalize makes a received script comparable with a golden file:
// values a run makes up (run ids, backup names) are replaced.
func Normalize(s string, runIDs ...string) string {
	for _, id := range runIDs {
		if id != "" {
			s = strings.ReplaceAll(s, id, "RUN-ID")
		}
	}
	return string(bytes.ReplaceAll([]byte(s), []byte("\r\n"), []byte("\n")))
}

// StartTLS is Start over HTTPS with a certificate for 127.0.0.1 signed by
// a throwaway CA, whose PEM it returns for the inventory's ca_file.
func StartTLS(t testing.TB, user, password string, respond func(Script) Answer) (*Host, []byte) {
	ca, err := wsmantest.NewCA("tend test CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Server("127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	h := &Host{Respond: respond}
	h.Server = wsmantest.StartT(t, wsmantest.Options{
		Users:    map[string]string{user: password},
		Executor: PowerShell(h.handle),
		TLS:      &tls.Config{Certificates: []tls.Certificate{cert.TLS}, MinVersion: tls.VersionTLS12},
	})
	return h, ca.CertPEM
}

// StartKerberos is StartTLS with Kerberos as the only authentication:
// tickets for the service principals whose keys kt holds are accepted
// (as a domain member's HTTP/ principals), for any user of the realm.
// The certificate names 127.0.0.1, localhost and names.
func StartKerberos(t testing.TB, kt *keytab.Keytab, respond func(Script) Answer, names ...string) (*Host, []byte) {
	ca, err := wsmantest.NewCA("tend test CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Server(append([]string{"127.0.0.1", "localhost"}, names...)...)
	if err != nil {
		t.Fatal(err)
	}
	h := &Host{Respond: respond}
	h.Server = wsmantest.StartT(t, wsmantest.Options{
		Auth:     []string{wsmantest.AuthKerberos},
		Keytab:   kt,
		Executor: PowerShell(h.handle),
		TLS:      &tls.Config{Certificates: []tls.Certificate{cert.TLS}, MinVersion: tls.VersionTLS12},
	})
	return h, ca.CertPEM
}

// StartKerberosHTTP is StartKerberos over plain HTTP, where every message
// must be encrypted with the Kerberos context, as on a Windows host with
// its default listener.
func StartKerberosHTTP(t testing.TB, kt *keytab.Keytab, respond func(Script) Answer) *Host {
	h := &Host{Respond: respond}
	h.Server = wsmantest.StartT(t, wsmantest.Options{
		Auth:     []string{wsmantest.AuthKerberos},
		Keytab:   kt,
		Executor: PowerShell(h.handle),
	})
	return h
}

// Fixture is a simulated Windows host's state, as JSON test data: the
// facts section's values, and per resource (found by a line of its probe
// fragment) the values its probe reports before and after tend changed it.
type Fixture struct {
	Facts     map[string]string `json:"facts"`
	Resources []struct {
		Match  string            `json:"match"`
		Before map[string]string `json:"before"`
		After  map[string]string `json:"after"`
	} `json:"resources"`
}

var sectionRE = regexp.MustCompile(`(?ms)^tendSection '([^']+)' \{\n(.*?)^\}\n`)

// Responder answers probe scripts from f as a Windows host would (the
// JSON document of probe.WindowsScript): "before" values until a change
// script (any other script) has run, "after" from then on. Change
// scripts succeed with no output.
func (f *Fixture) Responder() func(Script) Answer {
	var mu sync.Mutex
	changed := false
	return func(s Script) Answer {
		mu.Lock()
		defer mu.Unlock()
		if !IsProbe(s.Text) {
			changed = true
			return Answer{}
		}
		sections := map[string]any{}
		for _, m := range sectionRE.FindAllStringSubmatch(s.Text, -1) {
			id, body := m[1], m[2]
			if id == "facts" {
				sections[id] = map[string]any{"values": f.Facts, "error": nil}
				continue
			}
			var values map[string]string
			for _, r := range f.Resources {
				if strings.Contains(body, r.Match+"\n") {
					values = r.Before
					if changed {
						values = r.After
					}
				}
			}
			if values == nil {
				return Answer{Stderr: "fixture: no resource matches section " + id + ":\n" + body, Status: 1}
			}
			sections[id] = map[string]any{"values": values, "error": nil}
		}
		b, _ := json.Marshal(map[string]any{"sections": sections})
		return Answer{Stdout: string(b)}
	}
}
