//go:build linux

package winrm

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/tendhq/tend/inventory"
	"github.com/tendhq/tend/transport"
	"github.com/tendhq/tend/transport/winrm/krbtest"
	"github.com/tendhq/tend/transport/winrm/wsmantest"
)

// krbFixture is a test realm (MIT's KDC on loopback) with user ops and the
// service principals of a WinRM host, and an HTTPS WS-Management server
// holding their keys.
type krbFixture struct {
	realm  *krbtest.Realm
	srv    *wsmantest.Server
	caFile string
	// ccache holds a ticket of ops@TEND.TEST, from kinit.
	ccache string
}

const krbHost = "win1.tend.test"

func startKerberos(t *testing.T) *krbFixture {
	t.Helper()
	realm := krbtest.Start(t)
	realm.AddUser("ops", testPassword)
	// The host's keys: its name in the directory, and localhost for the
	// default service principal (HTTP/<address>).
	ktFile := realm.AddService("HTTP/" + krbHost)
	kt, err := keytab.Load(ktFile)
	if err != nil {
		t.Fatal(err)
	}
	kt2, err := keytab.Load(realm.AddService("HTTP/localhost"))
	if err != nil {
		t.Fatal(err)
	}
	kt.Entries = append(kt.Entries, kt2.Entries...)
	// A principal the KDC knows but whose key the host does not hold.
	realm.AddService("HTTP/other." + realm.Domain)

	ca, err := wsmantest.NewCA("tend kerberos CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Server("127.0.0.1", "localhost", krbHost)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, ca.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, shHandler, wsmantest.Options{
		TLS:      &tls.Config{Certificates: []tls.Certificate{cert.TLS}},
		Auth:     []string{wsmantest.AuthKerberos},
		Keytab:   kt,
		Executor: pywinrmExecutor(t),
		Logf:     t.Logf,
	})
	ccache := filepath.Join(t.TempDir(), "krb5cc_ops")
	if err := realm.Kinit("ops@"+realm.Name, testPassword, ccache, 0); err != nil {
		t.Fatal(err)
	}
	return &krbFixture{realm: realm, srv: srv, caFile: caFile, ccache: ccache}
}

// host is an inventory host for the server with Kerberos and no
// credentials (the credential cache is used).
func (f *krbFixture) host(t *testing.T) *inventory.Host {
	h := hostFor(t, f.srv, AuthKerberos)
	h.WinRM.User, h.WinRM.Password = "", ""
	h.WinRM.CAFile = f.caFile
	h.WinRM.KerberosHostname = krbHost
	return h
}

func (f *krbFixture) opts() Options {
	return Options{KRB5Config: f.realm.KRB5Config, KRB5CCache: f.ccache}
}

// TestKerberos authenticates tend's transport with Kerberos against a
// real KDC (MIT krb5kdc on loopback): tickets from kinit's credential
// cache, from a password and from a keytab, the default service principal
// HTTP/<address>, concurrent commands (each request a fresh AP-REQ, none
// refused as a replay), and the server's AP-REP checked (mutual
// authentication). Then each failure is a clear error, and none hangs: no
// ticket, an expired ticket, the wrong password, an unknown service
// principal, a server that cannot decrypt the ticket (401), the KDC down.
func TestKerberos(t *testing.T) {
	f := startKerberos(t)

	check := func(t *testing.T, tr *Transport) {
		t.Helper()
		if out := mustOK(t, tr, "echo kerberos", nil); string(out) != "kerberos\n" {
			t.Errorf("run: %q", out)
		}
		if !tr.conn.krb.proven.Load() {
			t.Error("no AP-REP was verified")
		}
	}
	users := func() map[string]bool {
		m := map[string]bool{}
		for _, r := range f.srv.Requests() {
			m[r.User] = true
		}
		return m
	}

	t.Run("CredentialCache", func(t *testing.T) {
		tr := dialT(t, f.host(t), f.opts())
		check(t, tr)
		// Concurrent commands: Sends and Receives in flight at once, each
		// with its own authenticator.
		before := f.srv.Stats()
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				res, err := tr.Run(context.Background(), transport.Command{Script: fmt.Sprintf("cat; echo %d", i), Stdin: strings.NewReader("in\n")})
				if err == nil && string(res.Stdout) != fmt.Sprintf("in\n%d\n", i) {
					err = fmt.Errorf("command %d: %q", i, res.Stdout)
				}
				errs <- err
			}(i)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		st := f.srv.Stats()
		if st.Unauthorized != before.Unauthorized {
			t.Errorf("%d requests refused during the concurrent commands", st.Unauthorized-before.Unauthorized)
		}
		if st.Kerberos-before.Kerberos < 8*3 {
			t.Errorf("%d requests authenticated by Kerberos for 8 commands", st.Kerberos-before.Kerberos)
		}
		if u := users(); !cmp.Equal(u, map[string]bool{"ops@TEND.TEST": true}) {
			t.Errorf("the server saw users %v", u)
		}
	})
	t.Run("Password", func(t *testing.T) {
		h := f.host(t)
		h.WinRM.User, h.WinRM.Password = "ops", testPassword // default realm
		check(t, dialT(t, h, Options{KRB5Config: f.realm.KRB5Config, KRB5CCache: "/nonexistent"}))
	})
	t.Run("Keytab", func(t *testing.T) {
		h := f.host(t)
		h.WinRM.User = "ops@" + f.realm.Name
		h.WinRM.Keytab = f.realm.Keytab("ops", true)
		check(t, dialT(t, h, Options{KRB5Config: f.realm.KRB5Config, KRB5CCache: "/nonexistent"}))
	})
	t.Run("DefaultServicePrincipal", func(t *testing.T) {
		h := f.host(t)
		h.Address, h.WinRM.KerberosHostname = "localhost", "" // HTTP/localhost
		check(t, dialT(t, h, f.opts()))
	})
	t.Run("Environment", func(t *testing.T) {
		t.Setenv("KRB5_CONFIG", "/nonexistent/krb5.conf:"+f.realm.KRB5Config)
		t.Setenv("KRB5CCNAME", "FILE:"+f.ccache)
		check(t, dialT(t, f.host(t), Options{}))
	})

	fails := func(t *testing.T, h *inventory.Host, opts Options, want ...string) {
		t.Helper()
		start := time.Now()
		err := dialErr(t, h, opts)
		t.Logf("failed in %v: %v", time.Since(start).Round(time.Millisecond), err)
		if err == nil {
			t.Fatal("Dial succeeded")
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not say %q", err, w)
			}
		}
		if strings.Contains(err.Error(), testPassword) {
			t.Errorf("error shows the password: %v", err)
		}
	}
	t.Run("NoTicket", func(t *testing.T) {
		opts := f.opts()
		opts.KRB5CCache = filepath.Join(t.TempDir(), "none")
		fails(t, f.host(t), opts, "no ticket", "kinit")
		opts.KRB5CCache = "KEYRING:persistent:0"
		fails(t, f.host(t), opts, "only FILE: caches")
	})
	t.Run("OtherUsersTicket", func(t *testing.T) {
		h := f.host(t)
		h.WinRM.User = "admin@" + f.realm.Name
		fails(t, h, f.opts(), "holds tickets of ops@TEND.TEST, not of admin@TEND.TEST")
	})
	t.Run("ExpiredTicket", func(t *testing.T) {
		ccache := filepath.Join(t.TempDir(), "krb5cc_short")
		if err := f.realm.Kinit("ops", testPassword, ccache, 2*time.Second); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Second)
		opts := f.opts()
		opts.KRB5CCache = ccache
		fails(t, f.host(t), opts, "expired", "kinit")
	})
	t.Run("WrongPassword", func(t *testing.T) {
		h := f.host(t)
		h.WinRM.User, h.WinRM.Password = "ops@"+f.realm.Name, "not-"+testPassword
		fails(t, h, f.opts(), "the KDC refused the password (or key) of ops@TEND.TEST")
		h.WinRM.User = "nobody"
		fails(t, h, f.opts(), "the KDC does not know the user nobody@TEND.TEST")
	})
	t.Run("UnknownServicePrincipal", func(t *testing.T) {
		h := f.host(t)
		h.WinRM.KerberosHostname = "nosuch." + f.realm.Domain
		fails(t, h, f.opts(), "does not know the service principal HTTP/nosuch.tend.test", "kerberos_hostname")
	})
	t.Run("ServerRejects", func(t *testing.T) {
		// The KDC issues the ticket, but for a principal whose key the
		// host does not hold: the server answers 401.
		h := f.host(t)
		h.WinRM.KerberosHostname = "other." + f.realm.Domain
		before := f.srv.Stats().Unauthorized
		fails(t, h, f.opts(), "401", "refused", "cannot decrypt the ticket for HTTP/other.tend.test", "KRB_AP_ERR_MODIFIED")
		if f.srv.Stats().Unauthorized == before {
			t.Error("the server did not refuse the ticket")
		}
		var he *HTTPError
		if err := dialErr(t, h, f.opts()); !errors.As(err, &he) || he.StatusCode != 401 {
			t.Errorf("not an *HTTPError 401: %v", err)
		}
	})
	t.Run("EncryptedHTTP", func(t *testing.T) {
		// Plain HTTP to a listener as Windows has it by default
		// (AllowUnencrypted false): every message is a Wrap token.
		plain := startServer(t, shHandler, wsmantest.Options{Auth: []string{wsmantest.AuthKerberos}, Keytab: f.srv.Keytab()})
		h := hostFor(t, plain, AuthKerberos)
		h.WinRM.User, h.WinRM.Password, h.WinRM.KerberosHostname = "", "", krbHost
		var warn strings.Builder
		opts := f.opts()
		opts.Stderr = &warn
		check(t, dialT(t, h, opts))
		if warn.Len() != 0 {
			t.Errorf("warned: %q", warn.String())
		}
		if st := plain.Stats(); st.Encrypted < 3 || st.Refused != 0 {
			t.Errorf("server: %d requests decrypted, %d refused", st.Encrypted, st.Refused)
		}
	})
	t.Run("InsecureHTTP", func(t *testing.T) {
		// Unencrypted over plain HTTP only when the inventory says so;
		// then it works against a listener that allows it, with a warning.
		plain := startServer(t, shHandler, wsmantest.Options{Auth: []string{wsmantest.AuthKerberos}, Keytab: f.srv.Keytab(), AllowUnencrypted: true})
		h := hostFor(t, plain, AuthKerberos)
		h.WinRM.InsecureHTTP = true
		h.WinRM.User, h.WinRM.Password, h.WinRM.KerberosHostname = "", "", krbHost
		var warn strings.Builder
		opts := f.opts()
		opts.Stderr = &warn
		check(t, dialT(t, h, opts))
		if !strings.Contains(warn.String(), "unencrypted") {
			t.Errorf("no warning: %q", warn.String())
		}
	})
	t.Run("MutualAuthentication", func(t *testing.T) {
		// A server that does not prove it holds the service key: no
		// AP-REP at all fails the Dial; an AP-REP replayed from an earlier
		// answer fails the request it comes with.
		var mu sync.Mutex
		first, strip := "", true
		srv := startServer(t, shHandler, wsmantest.Options{
			TLS:    f.srv.TLSConfig(),
			Auth:   []string{wsmantest.AuthKerberos},
			Keytab: f.srv.Keytab(),
			Intercept: func(w http.ResponseWriter, r *http.Request, action string, body []byte) bool {
				mu.Lock()
				defer mu.Unlock()
				switch {
				case strip:
					w.Header().Del("WWW-Authenticate")
				case first == "":
					first = w.Header().Get("WWW-Authenticate")
				default:
					w.Header().Set("WWW-Authenticate", first)
				}
				return false
			},
		})
		h := hostFor(t, srv, AuthKerberos)
		h.WinRM.User, h.WinRM.Password, h.WinRM.KerberosHostname, h.WinRM.CAFile = "", "", krbHost, f.caFile
		fails(t, h, f.opts(), "without proving its identity")
		mu.Lock()
		strip = false
		mu.Unlock()
		tr := dialT(t, h, f.opts())
		_, err := tr.Run(context.Background(), transport.Command{Script: "echo x"})
		if err == nil || !strings.Contains(err.Error(), "answers another authenticator") {
			t.Errorf("a replayed AP-REP: %v", err)
		}
	})
	t.Run("ServerRefusesReplay", func(t *testing.T) {
		// The test server checks AP-REQs as Windows does: one seen before
		// (captured from tend's request and sent again on a new
		// connection) is refused.
		var mu sync.Mutex
		var captured string
		var log strings.Builder
		srv := startServer(t, shHandler, wsmantest.Options{
			TLS:    f.srv.TLSConfig(),
			Auth:   []string{wsmantest.AuthKerberos},
			Keytab: f.srv.Keytab(),
			Logf: func(format string, args ...any) {
				mu.Lock()
				fmt.Fprintf(&log, format+"\n", args...)
				mu.Unlock()
			},
			Intercept: func(w http.ResponseWriter, r *http.Request, action string, body []byte) bool {
				mu.Lock()
				if captured == "" {
					captured = r.Header.Get("Authorization")
				}
				mu.Unlock()
				return false
			},
		})
		h := hostFor(t, srv, AuthKerberos)
		h.WinRM.User, h.WinRM.Password, h.WinRM.KerberosHostname, h.WinRM.CAFile = "", "", krbHost, f.caFile
		dialT(t, h, f.opts())
		mu.Lock()
		replay := captured
		mu.Unlock()
		if !strings.HasPrefix(replay, "Negotiate ") {
			t.Fatalf("captured %q", replay)
		}
		pem, _ := os.ReadFile(f.caFile)
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 30 * time.Second}
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("<x/>"))
		req.Header.Set("Authorization", replay)
		req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		mu.Lock()
		defer mu.Unlock()
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(log.String(), "KRB_AP_ERR_REPEAT") {
			t.Errorf("a replayed AP-REQ: HTTP %d, want 401 for a replay; server log:\n%s", resp.StatusCode, log.String())
		}
	})
	t.Run("KDCDown", func(t *testing.T) {
		f.realm.StopKDC()
		h := f.host(t)
		h.WinRM.User, h.WinRM.Password = "ops@"+f.realm.Name, testPassword
		fails(t, h, f.opts(), "cannot reach a KDC of realm TEND.TEST", f.realm.KRB5Config)
		// From the credential cache, the service ticket needs the KDC.
		fails(t, f.host(t), f.opts(), "cannot reach a KDC of realm TEND.TEST")
	})
}

// TestPywinrmKerberos runs pywinrm (python3-winrm with
// python3-requests-kerberos, MIT's GSS-API underneath) with
// transport='kerberos' against the test server over HTTPS: it sends a bare
// Kerberos GSS-API token, not SPNEGO, and requires the server's AP-REP
// (mutual authentication), so the server side is checked by a client that
// is not tend's.
func TestPywinrmKerberos(t *testing.T) {
	f := startKerberos(t)
	const python = "/usr/bin/python3"
	if err := osexec.Command(python, "-c", "import winrm, requests_kerberos, kerberos, gssapi").Run(); err != nil {
		t.Fatalf("TEND_LAB=1 but pywinrm or requests-kerberos is missing (%v): run integration/scripts/winrm-deps.sh", err)
	}
	script := filepath.Join(t.TempDir(), "client.py")
	if err := os.WriteFile(script, []byte(pywinrmScript), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := osexec.CommandContext(ctx, python, script, f.srv.URL, "kerberos", f.caFile, "", krbHost)
	cmd.Env = append(os.Environ(), "WINRM_USER=ops@"+f.realm.Name, "KRB5CCNAME=FILE:"+f.ccache, "KRB5_CONFIG="+f.realm.KRB5Config)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pywinrm: %v\n%s\nKDC log:\n%s", err, stderr.String(), f.realm.KDCLog())
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
	st := f.srv.Stats()
	if st.Kerberos == 0 || st.ShellsCreated != 1 || f.srv.OpenShells() != 0 {
		t.Errorf("server: %+v, %d shells open", st, f.srv.OpenShells())
	}
	for _, r := range f.srv.Requests() {
		if r.User != "ops@TEND.TEST" {
			t.Errorf("a request as %q", r.User)
		}
	}

	// Over plain HTTP to a listener as Windows has it by default
	// (AllowUnencrypted false), with message_encryption='always':
	// pywinrm's Wrap tokens (MIT's gss_wrap_iov) are unsealed by the
	// server, and the server's by pywinrm; in pywinrm's subkey, and in the
	// server's own subkey sent in the AP-REP, as Windows does.
	for _, subkey := range []bool{false, true} {
		plain := startServer(t, shHandler, wsmantest.Options{
			Auth:                   []string{wsmantest.AuthKerberos},
			Keytab:                 f.srv.Keytab(),
			Executor:               pywinrmExecutor(t),
			Logf:                   t.Logf,
			KerberosAcceptorSubkey: subkey,
		})
		cmd = osexec.CommandContext(ctx, python, script, plain.URL, "kerberos", "", "always", krbHost)
		cmd.Env = append(os.Environ(), "WINRM_USER=ops@"+f.realm.Name, "KRB5CCNAME=FILE:"+f.ccache, "KRB5_CONFIG="+f.realm.KRB5Config)
		stderr.Reset()
		cmd.Stderr = &stderr
		out, err = cmd.Output()
		if err != nil {
			t.Fatalf("pywinrm, encrypted over HTTP (acceptor subkey %v): %v\n%s", subkey, err, stderr.String())
		}
		got.Echo, got.Sleep = nil, nil
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("pywinrm printed %q: %v", out, err)
		}
		if want := []any{"HELLO WÖRLD AND MORE\n", "args: first second\r\n", float64(7)}; !cmp.Equal(got.Echo, want) {
			t.Errorf("encrypted (acceptor subkey %v): echo: %q, want %q", subkey, got.Echo, want)
		}
		if st := plain.Stats(); st.Encrypted < 8 || st.Refused != 0 || st.ShellsCreated != 1 {
			t.Errorf("encrypted (acceptor subkey %v): server %+v: want every request decrypted", subkey, st)
		}
	}

	// A wrong service principal: the KDC refuses pywinrm the ticket, and
	// no request is authenticated.
	before := f.srv.Stats().Kerberos
	cmd = osexec.CommandContext(ctx, python, script, f.srv.URL, "kerberos", f.caFile, "", "nosuch."+f.realm.Domain)
	cmd.Env = append(os.Environ(), "WINRM_USER=ops@"+f.realm.Name, "KRB5CCNAME=FILE:"+f.ccache, "KRB5_CONFIG="+f.realm.KRB5Config)
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("pywinrm with an unknown service principal succeeded: %s", out)
	}
	if n := f.srv.Stats().Kerberos - before; n != 0 {
		t.Errorf("%d requests authenticated with an unknown service principal", n)
	}
}
