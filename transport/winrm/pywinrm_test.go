//go:build linux

package winrm

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tendhq/tend/integration/lab"
	"github.com/tendhq/tend/transport"
	"github.com/tendhq/tend/transport/winrm/wsmantest"
)

// pywinrmScript drives the server with pywinrm's Protocol, an independent
// WS-Management client: a command with stdin (Send, then Send with End),
// one that outlives several Receive long polls (pywinrm retries on the
// w:TimedOut fault's code), one terminated while it runs, and the shell's
// Delete. It prints what it read as JSON. The password comes from the
// environment, never from argv.
const pywinrmScript = `
import base64, hashlib, json, os, sys
import xmltodict
try:
    hashlib.new('md4')
except ValueError:
    # Debian 12's OpenSSL 3 keeps MD4, which NTLM needs, in its legacy
    # provider; python3-cryptography loads it (requests_ntlm imports it
    # itself only over HTTPS, for channel binding).
    from cryptography.hazmat.bindings.openssl.binding import Binding
    Binding()
from winrm.protocol import Protocol

endpoint, transport, ca, enc = sys.argv[1:5]
kw = dict(endpoint=endpoint, transport=transport,
          username=os.environ['WINRM_USER'], password=os.environ.get('WINRM_PASSWORD'),
          operation_timeout_sec=1, read_timeout_sec=3)
if transport == 'kerberos' and len(sys.argv) > 5:
    # The service principal's host name (HTTP/<name>), not the URL's.
    kw['kerberos_hostname_override'] = sys.argv[5]
if ca:
    kw['ca_trust_path'] = ca
    kw['server_cert_validation'] = 'validate'
if enc:
    kw['message_encryption'] = enc
gss_always = transport == 'kerberos' and enc == 'always'
if gss_always:
    kw['message_encryption'] = 'never'
p = Protocol(**kw)
if gss_always:
    # pywinrm 0.3.0 encrypts Kerberos messages with pykerberos's
    # authGSSWinRMEncryptMessage, which Debian's python3-kerberos lacks.
    # The same two calls (wrap_winrm, unwrap_winrm) are made here with
    # python3-gssapi (MIT's gss_wrap_iov, as later pywinrm does through
    # pyspnego); pywinrm's Encryption class frames the messages.
    import gssapi, requests
    from gssapi.raw import IOV, IOVBufferType, wrap_iov, unwrap_iov
    from winrm.encryption import Encryption

    class GSSAuth(requests.auth.AuthBase):
        def __init__(self, hostname):
            self.ctx = gssapi.SecurityContext(
                name=gssapi.Name('HTTP@' + hostname, gssapi.NameType.hostbased_service),
                mech=gssapi.MechType.kerberos, usage='initiate',
                flags=gssapi.RequirementFlag.mutual_authentication | gssapi.RequirementFlag.integrity |
                      gssapi.RequirementFlag.confidentiality | gssapi.RequirementFlag.out_of_sequence_detection)
        def __call__(self, r):
            if not self.ctx.complete:
                r.headers['Authorization'] = 'Negotiate ' + base64.b64encode(self.ctx.step()).decode()
                r.register_hook('response', self.finish)
            return r
        def finish(self, resp, **kw):
            for v in resp.headers.get('WWW-Authenticate', '').split(','):
                scheme, _, tok = v.strip().partition(' ')
                if scheme == 'Negotiate' and tok and resp.status_code == 200:
                    self.ctx.step(base64.b64decode(tok))
            return resp
        def wrap_winrm(self, host, message):
            iov = IOV(IOVBufferType.header, message, IOVBufferType.padding, std_layout=False)
            wrap_iov(self.ctx, iov, confidential=True)
            return iov[1].value + (iov[2].value or b''), iov[0].value
        def unwrap_winrm(self, host, message, header):
            iov = IOV((IOVBufferType.header, False, header), message, IOVBufferType.data, std_layout=False)
            unwrap_iov(self.ctx, iov)
            return iov[1].value

    t = p.transport
    def build_session():
        session = requests.Session()
        session.auth = GSSAuth(sys.argv[5])
        session.headers.update(t.default_headers)
        t.session = session
        t.auth_method = 'kerberos'
        t.setup_encryption()
        if not t.session.auth.ctx.complete:
            raise Exception('the server did not complete the Kerberos context (no AP-REP)')
    t.build_session = build_session
shell = p.open_shell(codepage=65001)

def send(command_id, data, end):
    req = {'env:Envelope': p._get_soap_header(
        resource_uri='http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd',
        action='http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Send',
        shell_id=shell)}
    stream = req['env:Envelope'].setdefault('env:Body', {}).setdefault('rsp:Send', {}).setdefault('rsp:Stream', {})
    stream['@Name'] = 'stdin'
    stream['@CommandId'] = command_id
    if end:
        stream['@End'] = 'true'
    stream['#text'] = base64.b64encode(data).decode('ascii')
    p.send_message(xmltodict.unparse(req))

out = {}
cid = p.run_command(shell, 'tend-echo', ['first', 'second'], console_mode_stdin=False)
send(cid, 'hello wörld '.encode('utf-8'), False)
send(cid, b'and more\n', True)
so, se, rc = p.get_command_output(shell, cid)
p.cleanup_command(shell, cid)
out['echo'] = [so.decode('utf-8'), se.decode('utf-8'), rc]

cid = p.run_command(shell, 'tend-sleep')
so, se, rc = p.get_command_output(shell, cid)
p.cleanup_command(shell, cid)
out['sleep'] = [so.decode('utf-8'), se.decode('utf-8'), rc]

cid = p.run_command(shell, 'tend-wait')
p.cleanup_command(shell, cid)
out['waited'] = cid

p.close_shell(shell)
print(json.dumps(out))
`

// pywinrmExecutor plays the commands the script runs, and tend's
// bootstrap for tend's own transport.
func pywinrmExecutor(t *testing.T) wsmantest.Executor {
	tend := fakePowerShell(shHandler)
	return func(ctx context.Context, p *wsmantest.Process) int {
		switch p.Command {
		case "tend-echo":
			in, _ := io.ReadAll(p.Stdin)
			io.WriteString(p.Stdout, strings.ToUpper(string(in)))
			io.WriteString(p.Stderr, "args: "+strings.Join(p.Arguments, " ")+"\r\n")
			return 7
		case "tend-sleep":
			io.WriteString(p.Stdout, "going to sleep\r\n")
			select {
			case <-time.After(2500 * time.Millisecond): // two and a half long polls
			case <-ctx.Done():
				return 1
			}
			io.WriteString(p.Stdout, "woke up\r\n")
			return 0
		case "tend-wait":
			<-ctx.Done()
			return 130
		}
		return tend(ctx, p)
	}
}

// TestPywinrm runs pywinrm (Debian's python3-winrm) against the test
// server with Basic over HTTP (loopback), NTLM over HTTPS and NTLM over
// HTTP (message_encryption='never', as a server with AllowUnencrypted);
// then tend's transport against the same servers: stdin, stdout, stderr,
// exit codes, a command outliving Receive long polls, a cancelled
// command.
func TestPywinrm(t *testing.T) {
	lab.Required(t)
	const python = "/usr/bin/python3"
	if err := osexec.Command(python, "-c", "import winrm, requests_ntlm, cryptography").Run(); err != nil {
		t.Fatalf("TEND_LAB=1 but pywinrm is missing (%v): run integration/scripts/winrm-deps.sh", err)
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "client.py")
	if err := os.WriteFile(script, []byte(pywinrmScript), 0o600); err != nil {
		t.Fatal(err)
	}

	ca, err := wsmantest.NewCA("tend pywinrm CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Server("127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, ca.CertPEM, 0o600)

	for _, c := range []struct {
		name, transport, encryption string
		auth                        []string
		tls, allowUnencrypted       bool
	}{
		{"BasicHTTP", "basic", "", []string{wsmantest.AuthBasic}, false, true},
		{"NTLMHTTPS", "ntlm", "", []string{wsmantest.AuthNegotiate}, true, false},
		{"NTLMHTTP", "ntlm", "never", []string{wsmantest.AuthNegotiate}, false, true},
		// A listener as Windows has it by default: HTTP, AllowUnencrypted
		// false; pywinrm and tend encrypt every message.
		{"NTLMHTTPEncrypted", "ntlm", "always", []string{wsmantest.AuthNegotiate}, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			opts := wsmantest.Options{
				Users:            map[string]string{"ops": testPassword},
				Auth:             c.auth,
				Executor:         pywinrmExecutor(t),
				Logf:             t.Logf,
				AllowUnencrypted: c.allowUnencrypted,
			}
			if c.tls {
				opts.TLS = &tls.Config{Certificates: []tls.Certificate{cert.TLS}}
			}
			srv := wsmantest.StartT(t, opts)
			ca := ""
			if c.tls {
				ca = caFile
			}

			// pywinrm.
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := osexec.CommandContext(ctx, python, script, srv.URL, c.transport, ca, c.encryption)
			cmd.Env = append(os.Environ(), "WINRM_USER=ops", "WINRM_PASSWORD="+testPassword)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("pywinrm: %v\n%s", err, stderr.String())
			}
			var got struct {
				Echo   []any  `json:"echo"`
				Sleep  []any  `json:"sleep"`
				Waited string `json:"waited"`
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("pywinrm printed %q: %v", out, err)
			}
			if want := []any{"HELLO WÖRLD AND MORE\n", "args: first second\r\n", float64(7)}; !cmp.Equal(got.Echo, want) {
				t.Errorf("echo: %q, want %q", got.Echo, want)
			}
			if want := []any{"going to sleep\r\nwoke up\r\n", "", float64(0)}; !cmp.Equal(got.Sleep, want) {
				t.Errorf("sleep: %q, want %q", got.Sleep, want)
			}
			st := srv.Stats()
			if c.encryption == "always" && (st.Encrypted < 8 || st.Refused != 0) {
				t.Errorf("pywinrm: %d requests decrypted, %d refused: want every request encrypted", st.Encrypted, st.Refused)
			}
			if st.ReceiveTimeouts < 2 {
				t.Errorf("%d Receives timed out during the sleep, want at least 2", st.ReceiveTimeouts)
			}
			var waited *wsmantest.CommandRecord
			for _, r := range srv.Commands() {
				if r.ID == got.Waited {
					r := r
					waited = &r
				}
			}
			if waited == nil || len(waited.Signals) == 0 || waited.Signals[0] != "terminate" {
				t.Errorf("the running command was not terminated: %+v", waited)
			}
			if srv.OpenShells() != 0 || st.ShellsCreated != 1 {
				t.Errorf("shells: %d created, %d still open", st.ShellsCreated, srv.OpenShells())
			}
			if strings.Contains(stderr.String(), testPassword) {
				t.Error("pywinrm's stderr shows the password")
			}

			// tend's transport, against the same server.
			h := hostFor(t, srv, map[string]string{"basic": AuthBasic, "ntlm": AuthNTLM}[c.transport])
			h.WinRM.CAFile = ca
			tr := dialT(t, h, Options{OperationTimeout: time.Second, ResponseTimeout: 3 * time.Second})
			res := run(t, tr, "tr a-z A-Z; echo to-stderr >&2; exit 5", strings.NewReader("from tend\n"))
			if string(res.Stdout) != "FROM TEND\n" || string(res.Stderr) != "to-stderr\n" || res.ExitStatus != 5 {
				t.Errorf("tend: %q %q %d", res.Stdout, res.Stderr, res.ExitStatus)
			}
			before := srv.Stats().ReceiveTimeouts
			if out := mustOK(t, tr, "sleep 2.5; echo late", nil); string(out) != "late\n" {
				t.Errorf("tend, long command: %q", out)
			}
			if srv.Stats().ReceiveTimeouts-before < 2 {
				t.Error("tend's long command did not outlive two long polls")
			}
			cctx, ccancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer ccancel()
			if _, err := tr.Run(cctx, transport.Command{Script: "sleep 30"}); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("tend, cancelled command: %v", err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				cmds := srv.Commands()
				last := cmds[len(cmds)-1]
				if len(last.Signals) > 0 && last.Signals[0] == "terminate" && last.Done {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the cancelled command: %+v", last)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// TestPywinrmTampered runs pywinrm with message_encryption='always' over
// NTLM through a relay that flips one byte of a sealed message: of an
// answer, which pywinrm refuses, and of a request, which the server
// refuses with HTTP 400 (pywinrm reports it) without running anything.
func TestPywinrmTampered(t *testing.T) {
	lab.Required(t)
	const python = "/usr/bin/python3"
	if err := osexec.Command(python, "-c", "import winrm, requests_ntlm, cryptography").Run(); err != nil {
		t.Fatalf("TEND_LAB=1 but pywinrm is missing (%v): run integration/scripts/winrm-deps.sh", err)
	}
	script := filepath.Join(t.TempDir(), "client.py")
	if err := os.WriteFile(script, []byte(pywinrmScript), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, toServer := range []bool{false, true} {
		name := map[bool]string{false: "Answer", true: "Request"}[toServer]
		t.Run(name, func(t *testing.T) {
			srv := wsmantest.StartT(t, wsmantest.Options{
				Users:    map[string]string{"ops": testPassword},
				Auth:     []string{wsmantest.AuthNegotiate},
				Executor: pywinrmExecutor(t),
				Logf:     t.Logf,
			})
			p := startProxy(t, srv.Addr)
			flipped := false
			p.mutate = func(dir bool, b []byte) {
				const marker = "Content-Type: application/octet-stream\r\n"
				i := bytes.Index(b, []byte(marker))
				if dir != toServer || flipped || i < 0 || i+len(marker)+60 >= len(b) {
					return
				}
				b[i+len(marker)+60] ^= 0x20 // in the sealed envelope
				flipped = true
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			url := "http://" + p.ln.Addr().String() + "/wsman"
			cmd := osexec.CommandContext(ctx, python, script, url, "ntlm", "", "always")
			cmd.Env = append(os.Environ(), "WINRM_USER=ops", "WINRM_PASSWORD="+testPassword)
			out, err := cmd.CombinedOutput()
			p.mu.Lock()
			altered := flipped
			p.mu.Unlock()
			if err == nil || !altered {
				t.Fatalf("pywinrm with a tampered %s: flipped %v, no error:\n%s", name, altered, out)
			}
			t.Logf("pywinrm: %s", lastLine(string(out)))
			st := srv.Stats()
			if toServer {
				if st.Refused != 1 || !strings.Contains(string(out), "400") {
					t.Errorf("server refused %d requests; pywinrm: %s", st.Refused, lastLine(string(out)))
				}
			} else if !strings.Contains(strings.ToLower(string(out)), "signature") {
				t.Errorf("pywinrm did not refuse the answer for its signature: %s", lastLine(string(out)))
			}
			if st.Commands != 0 {
				t.Errorf("%d commands ran", st.Commands)
			}
		})
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
