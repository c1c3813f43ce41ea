package winrm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tendhq/tend/inventory"
	"github.com/tendhq/tend/transport"
	"github.com/tendhq/tend/transport/winrm/wsmantest"
)

// errorsSeen collects every error the security and bad-input tests get,
// to check at the end that no password leaked into one.
var errorsSeen struct {
	sync.Mutex
	msgs []string
}

func seen(err error) error {
	if err != nil {
		errorsSeen.Lock()
		errorsSeen.msgs = append(errorsSeen.msgs, err.Error())
		errorsSeen.Unlock()
	}
	return err
}

func dialErr(t *testing.T, h *inventory.Host, opts Options) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr, err := Dial(ctx, h, opts)
	if err == nil {
		tr.Close()
		return nil
	}
	return seen(err)
}

func TestPlainHTTPRefused(t *testing.T) {
	srv := startServer(t, shHandler, wsmantest.Options{})
	// Basic cannot encrypt: refused over HTTP without insecure_http.
	h := hostFor(t, srv, AuthBasic)
	h.WinRM.InsecureHTTP = false
	err := dialErr(t, h, Options{})
	if err == nil || !strings.Contains(err.Error(), "refusing basic") || !strings.Contains(err.Error(), "insecure_http") {
		t.Errorf("basic over plain HTTP: %v, want a refusal naming insecure_http", err)
	}
	if st := srv.Stats(); st.Requests != 0 {
		t.Errorf("the refused dial sent %d requests", st.Requests)
	}
	// NTLM (the default) encrypts every message, without a warning.
	for _, auth := range []string{AuthNTLM, ""} {
		var warn bytes.Buffer
		if err := dialErr(t, hostFor(t, srv, auth), Options{Stderr: &warn}); err != nil {
			t.Errorf("auth %q over plain HTTP: %v", auth, err)
		}
		if warn.Len() != 0 {
			t.Errorf("auth %q over plain HTTP, encrypted: warned %q", auth, warn.String())
		}
	}
	if st := srv.Stats(); st.Encrypted == 0 || st.Refused != 0 {
		t.Errorf("server stats %+v: want encrypted requests and none refused", st)
	}
	// insecure_http = true sends clear text, with a warning; a listener
	// configured as Windows is by default refuses it.
	for _, auth := range []string{AuthNTLM, AuthBasic} {
		h := hostFor(t, srv, auth)
		h.WinRM.InsecureHTTP = true
		var warn bytes.Buffer
		err := dialErr(t, h, Options{Stderr: &warn})
		if err == nil || !strings.Contains(err.Error(), "HTTP 400") || !strings.Contains(err.Error(), "not encrypted") {
			t.Errorf("%s with insecure_http against AllowUnencrypted = false: %v, want the server's refusal", auth, err)
		}
		if !strings.Contains(warn.String(), "warning") || !strings.Contains(warn.String(), "unencrypted") {
			t.Errorf("no warning for insecure_http: %q", warn.String())
		}
	}
	open := startServer(t, shHandler, wsmantest.Options{AllowUnencrypted: true})
	if err := dialErr(t, hostFor(t, open, AuthBasic), Options{}); err != nil {
		t.Errorf("basic with insecure_http against AllowUnencrypted = true: %v", err)
	}
	// Certificates need TLS.
	h = hostFor(t, srv, AuthCertificate)
	if err := dialErr(t, h, Options{ClientCertFile: "c", ClientKeyFile: "k"}); err == nil || !strings.Contains(err.Error(), "https") {
		t.Errorf("certificate auth over HTTP: %v", err)
	}
}

// tlsServer starts an HTTPS server whose certificate names names, signed
// by a fresh CA written to a file; it returns the server and the CA file.
func tlsServer(t *testing.T, opts wsmantest.Options, names ...string) (*wsmantest.Server, *wsmantest.CA, string) {
	t.Helper()
	ca, err := wsmantest.NewCA("tend test CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Server(names...)
	if err != nil {
		t.Fatal(err)
	}
	opts.TLS = &tls.Config{Certificates: []tls.Certificate{cert.TLS}, ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: ca.Pool()}
	srv := startServer(t, shHandler, opts)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, ca.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return srv, ca, caFile
}

func TestHTTPS(t *testing.T) {
	srv, _, caFile := tlsServer(t, wsmantest.Options{}, "127.0.0.1")

	h := hostFor(t, srv, AuthNTLM)
	err := dialErr(t, h, Options{})
	if err == nil || !strings.Contains(err.Error(), "not trusted") || !strings.Contains(err.Error(), "ca_file") {
		t.Fatalf("unknown CA: %v, want a refusal naming ca_file", err)
	}
	if st := srv.Stats(); st.Requests != 0 {
		t.Errorf("a request reached the server over an untrusted connection (%d)", st.Requests)
	}

	h.WinRM.CAFile = caFile
	tr := dialT(t, h, Options{})
	if out := mustOK(t, tr, "echo secure", nil); string(out) != "secure\n" {
		t.Errorf("over HTTPS: %q", out)
	}
	for _, auth := range []string{AuthBasic, AuthNTLM} {
		h := hostFor(t, srv, auth)
		h.WinRM.CAFile = caFile
		if err := dialErr(t, h, Options{}); err != nil {
			t.Errorf("%s over HTTPS: %v", auth, err)
		}
	}

	// insecure: no verification, and a warning every time.
	h = hostFor(t, srv, AuthNTLM)
	h.WinRM.Insecure = true
	var warn bytes.Buffer
	for i := 0; i < 2; i++ {
		if err := dialErr(t, h, Options{Stderr: &warn}); err != nil {
			t.Fatalf("insecure = true: %v", err)
		}
	}
	if n := strings.Count(warn.String(), "insecure = true"); n != 2 {
		t.Errorf("%d warnings for two dials with insecure = true: %q", n, warn.String())
	}
}

func TestHTTPSServerName(t *testing.T) {
	// The certificate names the host, not the address tend dials.
	srv, _, caFile := tlsServer(t, wsmantest.Options{}, "win1.corp.test")
	h := hostFor(t, srv, AuthNTLM)
	h.WinRM.CAFile = caFile
	if err := dialErr(t, h, Options{}); err == nil || !strings.Contains(err.Error(), "server_name") {
		t.Errorf("certificate for another name: %v", err)
	}
	h.WinRM.ServerName = "win1.corp.test"
	if err := dialErr(t, h, Options{}); err != nil {
		t.Errorf("with server_name: %v", err)
	}
}

func TestClientCertificate(t *testing.T) {
	srv, ca, caFile := tlsServer(t, wsmantest.Options{
		Auth:             []string{wsmantest.AuthCertificate},
		CertificateUsers: map[string]string{"ops-cert": "ops"},
	}, "127.0.0.1")
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good, err := ca.Client("ops-cert")
	if err != nil {
		t.Fatal(err)
	}
	h := hostFor(t, srv, AuthCertificate)
	h.WinRM.CAFile = caFile
	h.WinRM.Password = ""
	tr := dialT(t, h, Options{ClientCertFile: write("c.pem", good.CertPEM), ClientKeyFile: write("k.pem", good.KeyPEM)})
	if out := mustOK(t, tr, "echo cert", nil); string(out) != "cert\n" {
		t.Errorf("with a client certificate: %q", out)
	}
	other, _ := ca.Client("stranger")
	err = dialErr(t, h, Options{ClientCertFile: write("c2.pem", other.CertPEM), ClientKeyFile: write("k2.pem", other.KeyPEM)})
	var he *HTTPError
	if !errors.As(err, &he) || he.StatusCode != http.StatusUnauthorized {
		t.Errorf("certificate of an unknown user: %v, want HTTP 401", err)
	}
}

func TestNTLMNeverFallsBackToBasic(t *testing.T) {
	// A server (or an impostor) that offers only Basic: NTLM must not send
	// the password as Basic credentials, even though they would work.
	srv := startServer(t, shHandler, wsmantest.Options{Auth: []string{wsmantest.AuthBasic}})
	err := dialErr(t, hostFor(t, srv, AuthNTLM), Options{})
	if !errors.Is(err, errNoNTLM) {
		t.Errorf("NTLM against a Basic-only server: %v, want errNoNTLM", err)
	}
	if len(srv.Requests()) != 0 {
		t.Errorf("the server accepted %d requests: Basic credentials were sent", len(srv.Requests()))
	}
}

func TestBadInput(t *testing.T) {
	fast := Options{ConnectTimeout: 2 * time.Second, OperationTimeout: time.Second, ResponseTimeout: 2 * time.Second}

	t.Run("Unreachable", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().(*net.TCPAddr)
		ln.Close()
		h := &inventory.Host{Name: "win9", Address: "127.0.0.1", Port: addr.Port, WinRM: inventory.WinRMSettings{Auth: AuthNTLM, User: "ops", Password: testPassword, InsecureHTTP: true}}
		start := time.Now()
		err = dialErr(t, h, fast)
		if err == nil || !strings.Contains(err.Error(), "winrm win9") || !strings.Contains(err.Error(), "refused") {
			t.Errorf("unreachable: %v", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %s", d)
		}
	})
	t.Run("SilentServer", func(t *testing.T) {
		// Accepts connections, never answers.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go io.Copy(io.Discard, c)
			}
		}()
		h := &inventory.Host{Name: "win9", Address: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, WinRM: inventory.WinRMSettings{Auth: AuthBasic, User: "ops", Password: testPassword, InsecureHTTP: true}}
		start := time.Now()
		if err := dialErr(t, h, fast); err == nil {
			t.Error("a server that never answers: no error")
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("took %s", d)
		}
	})
	t.Run("WrongPassword", func(t *testing.T) {
		srv := startServer(t, shHandler, wsmantest.Options{})
		for _, auth := range []string{AuthBasic, AuthNTLM} {
			h := hostFor(t, srv, auth)
			h.WinRM.Password = testPassword + "-wrong"
			err := dialErr(t, h, fast)
			var he *HTTPError
			if !errors.As(err, &he) || he.StatusCode != 401 || !strings.Contains(err.Error(), "Negotiate") {
				t.Errorf("%s with a wrong password: %v, want HTTP 401 naming the offered schemes", auth, err)
			}
		}
	})

	intercepted := func(t *testing.T, action string, answer func(w http.ResponseWriter, msgID string)) error {
		srv := startServer(t, shHandler, wsmantest.Options{
			Intercept: func(w http.ResponseWriter, r *http.Request, a string, body []byte) bool {
				if a != action {
					return false
				}
				id := ""
				if m := messageIDRE.FindSubmatch(body); m != nil {
					id = string(m[1])
				}
				answer(w, id)
				return true
			},
		})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		tr, err := Dial(ctx, hostFor(t, srv, AuthNTLM), fast)
		if err != nil {
			return seen(err)
		}
		defer tr.Close()
		_, err = tr.Run(ctx, transport.Command{Script: "echo hi"})
		return seen(err)
	}
	// soap answers with body, RELATES replaced by the request's MessageID.
	soap := func(status int, body string) func(w http.ResponseWriter, msgID string) {
		return func(w http.ResponseWriter, msgID string) {
			w.Header().Set("Content-Type", "application/soap+xml;charset=UTF-8")
			w.WriteHeader(status)
			io.WriteString(w, strings.ReplaceAll(body, "RELATES", msgID))
		}
	}
	const head = `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"><s:Header><a:RelatesTo>RELATES</a:RelatesTo></s:Header>`
	for name, c := range map[string]struct {
		action string
		answer func(w http.ResponseWriter, msgID string)
		want   string
	}{
		"SOAPFaultOnCreate": {wsmantest.ActionCreate, soap(500, recordedFault), "w:SchemaValidationError (2150859113)"},
		"MalformedXML":      {wsmantest.ActionCommand, soap(200, `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><broken`), "malformed SOAP answer"},
		"HTMLError": {wsmantest.ActionReceive, func(w http.ResponseWriter, _ string) {
			http.Error(w, "<html>Service Unavailable</html>", http.StatusServiceUnavailable)
		}, "HTTP 503"},
		"EmptyShellID":     {wsmantest.ActionCreate, soap(200, head+`<s:Body/></s:Envelope>`), "no shell id"},
		"NoRelatesTo":      {wsmantest.ActionCreate, soap(200, `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>`), "no RelatesTo"},
		"BadExitCode":      {wsmantest.ActionReceive, soap(200, head+`<s:Body><rsp:ReceiveResponse><rsp:CommandState State="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done"/></rsp:ReceiveResponse></s:Body></s:Envelope>`), "no exit code"},
		"BadBase64":        {wsmantest.ActionReceive, soap(200, head+`<s:Body><rsp:ReceiveResponse><rsp:Stream Name="stdout">!!!</rsp:Stream></rsp:ReceiveResponse></s:Body></s:Envelope>`), "not base64"},
		"FaultWithHTTP200": {wsmantest.ActionSend, soap(200, recordedFault), "w:SchemaValidationError"},
		"FaultOnSend":      {wsmantest.ActionSend, soap(500, recordedFault), "sending stdin"},
		"ForeignRelatesTo": {wsmantest.ActionCommand, soap(200, `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"><s:Header><a:RelatesTo>uuid:00000000-0000-0000-0000-000000000000</a:RelatesTo></s:Header><s:Body><rsp:CommandResponse><rsp:CommandId>X</rsp:CommandId></rsp:CommandResponse></s:Body></s:Envelope>`),
			"not to this request"},
		"HostileCommandID": {wsmantest.ActionCommand, soap(200, head+`<s:Body><rsp:CommandResponse><rsp:CommandId>a"/&gt;&lt;x</rsp:CommandId></rsp:CommandResponse></s:Body></s:Envelope>`), "invalid command id"},
		"NotSOAP": {wsmantest.ActionReceive, func(w http.ResponseWriter, _ string) {
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "hello")
		}, "not a SOAP answer"},
		"StalledReceive": {wsmantest.ActionReceive, func(w http.ResponseWriter, _ string) { time.Sleep(4 * time.Second) }, "timeout"},
	} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			err := intercepted(t, c.action, c.answer)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%v, want an error containing %q", err, c.want)
			}
			if d := time.Since(start); d > 15*time.Second {
				t.Errorf("took %s", d)
			}
		})
	}

	t.Run("TooManyShells", func(t *testing.T) {
		srv := startServer(t, shHandler, wsmantest.Options{MaxShells: 1})
		dialT(t, hostFor(t, srv, AuthNTLM), fast)
		err := dialErr(t, hostFor(t, srv, AuthNTLM), fast)
		var f *FaultError
		if !errors.As(err, &f) || f.Subcode != "w:QuotaLimit" {
			t.Errorf("second shell over the quota: %v", err)
		}
	})
}

// recordedFault is a fault Windows sent (jborean93/pypsrp,
// tests/tests_psrp/test_exceptions.py: WinRM firewall exception on a
// Public network).
const recordedFault = `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xml:lang="en-US"><s:Header><a:Action>http://schemas.dmtf.org/wbem/wsman/1/wsman/fault</a:Action><a:MessageID>uuid:EE71C444-1658-4B3F-916D-54CE43B68BC9</a:MessageID><a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To></s:Header><s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>w:SchemaValidationError</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="">The SOAP XML in the message does not match the corresponding XML schema definition. Change the XML and retry. </s:Text></s:Reason><s:Detail><f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="2150859113" Machine="localhost"><f:Message><f:ProviderFault provider="Config provider" path="%systemroot%\system32\WsmSvc.dll"><f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="2150859113" Machine="Dell-Optiplex.MyLab.local"><f:Message>WinRM firewall exception will not work since one of the network connection types on this machine is set to Public. Change the network connection type to either Domain or Private and try again. </f:Message></f:WSManFault></f:ProviderFault></f:Message></f:WSManFault></s:Detail></s:Fault></s:Body></s:Envelope>`

// TestZPasswordsInNoError runs last (by name) over every error the other
// tests in this file collected.
func TestZPasswordsInNoError(t *testing.T) {
	errorsSeen.Lock()
	defer errorsSeen.Unlock()
	if len(errorsSeen.msgs) < 10 {
		t.Skipf("only %d errors collected (run the whole file)", len(errorsSeen.msgs))
	}
	for _, m := range errorsSeen.msgs {
		for _, pw := range []string{testPassword, testPassword + "-wrong", "s3cret"} {
			if strings.Contains(m, pw) {
				t.Errorf("an error contains the password: %q", m)
			}
		}
	}
}

// TestCertThumbprint pins the listener's self-signed certificate by its
// SHA-256: the right thumbprint connects without any CA (and with the
// certificate naming another host), a wrong one is refused naming both
// thumbprints before any request is sent, and a thumbprint with
// insecure = true is refused as contradictory.
func TestCertThumbprint(t *testing.T) {
	srv, _, _ := tlsServer(t, wsmantest.Options{}, "someone-else.corp.test")
	leaf := srv.TLSConfig().Certificates[0].Certificate[0]
	sum := sha256.Sum256(leaf)
	right := hex.EncodeToString(sum[:])

	h := hostFor(t, srv, AuthNTLM)
	h.WinRM.CertThumbprint = strings.ToUpper(right)
	var warn bytes.Buffer
	tr := dialT(t, h, Options{Stderr: &warn})
	if out := mustOK(t, tr, "echo pinned", nil); string(out) != "pinned\n" {
		t.Errorf("pinned: %q", out)
	}
	if warn.Len() != 0 {
		t.Errorf("warned: %q", warn.String())
	}
	tr.Close() // its last requests (a command's release) end here

	before := srv.Stats().Requests
	wrong := strings.Repeat("ab", 32)
	h.WinRM.CertThumbprint = wrong
	err := dialErr(t, h, Options{})
	var pe *PinError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), right) || !strings.Contains(err.Error(), wrong) {
		t.Errorf("wrong thumbprint: %v, want a refusal naming %s and %s", err, right, wrong)
	}
	if n := srv.Stats().Requests - before; n != 0 {
		t.Errorf("%d requests reached a listener whose certificate is not the pinned one", n)
	}

	h.WinRM.CertThumbprint = right
	h.WinRM.Insecure = true
	if err := dialErr(t, h, Options{}); err == nil || !strings.Contains(err.Error(), "contradict") {
		t.Errorf("cert_thumbprint with insecure: %v", err)
	}
	h.WinRM.Insecure = false
	h.WinRM.CertThumbprint = right[:40]
	if err := dialErr(t, h, Options{}); err == nil || !strings.Contains(err.Error(), "SHA-1") {
		t.Errorf("a SHA-1 thumbprint: %v", err)
	}
}
