package winrm

import (
	"context"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/tendhq/tend/transport"
	"github.com/tendhq/tend/transport/winrm/wsmantest"
)

// fakeKerberosLogin replaces the KDC for one test: the "service ticket"
// is made with gokrb5's NewTicket from keys, as a KDC would issue it.
func fakeKerberosLogin(t *testing.T, serviceKeys *keytab.Keytab) {
	t.Helper()
	saved := kerberosLogin
	t.Cleanup(func() { kerberosLogin = saved })
	kerberosLogin = func(s *settings, opts Options) (*kerberosAuth, error) {
		cname := types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, "ops")
		now := time.Now().UTC()
		tkt, key, err := messages.NewTicket(cname, "TEND.TEST",
			types.NewPrincipalName(nametype.KRB_NT_SRV_INST, s.spn), "TEND.TEST",
			types.NewKrbFlags(), serviceKeys, etypeID.AES256_CTS_HMAC_SHA1_96, 1, now, now, now.Add(time.Hour), now.Add(time.Hour))
		if err != nil {
			return nil, err
		}
		return &kerberosAuth{
			spn: s.spn, who: "ops@TEND.TEST", source: "test", cname: cname, crealm: "TEND.TEST",
			ticket: func(string) (messages.Ticket, types.EncryptionKey, error) { return tkt, key, nil },
		}, nil
	}
}

func serviceKeytab(t *testing.T, spn, password string) *keytab.Keytab {
	t.Helper()
	kt := keytab.New()
	if err := kt.AddEntry(spn, "TEND.TEST", password, time.Now(), 1, etypeID.AES256_CTS_HMAC_SHA1_96); err != nil {
		t.Fatal(err)
	}
	return kt
}

// TestKerberosWithoutKDC checks the Negotiate exchange between tend's
// transport and the test server without a KDC (the ticket is made from
// the service's key, as a KDC would): SPNEGO framing, the server's checks
// with its keytab, the AP-REP tend verifies, concurrent requests each
// with its own authenticator; and a server without the ticket's key
// answers 401 with the SPN in tend's error. TestKerberos does the same
// against a real KDC (TEND_LAB=1).
func TestKerberosWithoutKDC(t *testing.T) {
	const spn = "HTTP/win1.tend.test"
	kt := serviceKeytab(t, spn, "service-key")
	fakeKerberosLogin(t, kt)
	srv := startServer(t, shHandler, wsmantest.Options{Auth: []string{wsmantest.AuthKerberos}, Keytab: kt})
	h := hostFor(t, srv, AuthKerberos)
	h.WinRM.User, h.WinRM.Password, h.WinRM.KerberosHostname = "", "", "win1.tend.test"
	tr := dialT(t, h, Options{})
	done := make(chan string, 6)
	for i := 0; i < 6; i++ {
		go func() {
			res, err := tr.Run(t.Context(), transport.Command{Script: "cat", Stdin: strings.NewReader("x\n")})
			if err != nil {
				done <- err.Error()
				return
			}
			done <- string(res.Stdout)
		}()
	}
	for i := 0; i < 6; i++ {
		if got := <-done; got != "x\n" {
			t.Errorf("run: %q", got)
		}
	}
	if !tr.conn.krb.proven.Load() {
		t.Error("no AP-REP verified")
	}
	// Over plain HTTP each connection is authenticated once, by an
	// empty POST, and every SOAP request on it is a Wrap token.
	st := srv.Stats()
	if st.Unauthorized != 0 || st.Kerberos == 0 || st.Encrypted < 6*3 || st.Refused != 0 {
		t.Errorf("server: %d unauthorized, %d authenticated by Kerberos, %d decrypted, %d refused", st.Unauthorized, st.Kerberos, st.Encrypted, st.Refused)
	}
	for _, r := range srv.Requests() {
		if r.User != "ops@TEND.TEST" {
			t.Errorf("request as %q", r.User)
		}
	}

	// The host's key is another: 401.
	other := startServer(t, shHandler, wsmantest.Options{Auth: []string{wsmantest.AuthKerberos}, Keytab: serviceKeytab(t, spn, "rotated-key")})
	h = hostFor(t, other, AuthKerberos)
	h.WinRM.User, h.WinRM.Password, h.WinRM.KerberosHostname = "", "", "win1.tend.test"
	err := dialErr(t, h, Options{})
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "cannot decrypt the ticket for "+spn) || !strings.Contains(err.Error(), "KRB_AP_ERR_MODIFIED") {
		t.Errorf("wrong service key: %v", err)
	}
}

// TestKerberosKDCSilent: a KDC that takes the request and never answers
// (UDP and TCP on loopback) is an error after gokrb5's per-exchange
// timeouts, not a hang; and a caller's deadline ends Dial sooner.
func TestKerberosKDCSilent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	pc, err := net.ListenPacket("udp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var conns sync.WaitGroup
	defer conns.Wait()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() { defer conns.Done(); io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	conf := filepath.Join(t.TempDir(), "krb5.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("[libdefaults]\n default_realm = TEND.TEST\n dns_lookup_kdc = false\n[realms]\n TEND.TEST = {\n  kdc = 127.0.0.1:%d\n }\n", port)), 0o600)

	srv := startServer(t, shHandler, wsmantest.Options{Auth: []string{wsmantest.AuthKerberos}})
	h := hostFor(t, srv, AuthKerberos)
	h.WinRM.User, h.WinRM.Password, h.WinRM.KerberosHostname = "ops@TEND.TEST", testPassword, "win1.tend.test"

	start := time.Now()
	err = dialErr(t, h, Options{KRB5Config: conf})
	t.Logf("silent KDC: %v after %v", err, time.Since(start).Round(time.Millisecond))
	if err == nil || !strings.Contains(err.Error(), "cannot reach a KDC of realm TEND.TEST") {
		t.Errorf("silent KDC: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start = time.Now()
	_, err = Dial(ctx, h, Options{KRB5Config: conf})
	t.Logf("silent KDC, 1s deadline: %v after %v", err, time.Since(start).Round(time.Millisecond))
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "waiting for the KDC") {
		t.Errorf("silent KDC with a deadline: %v", err)
	}
	if st := srv.Stats(); st.Requests != 0 {
		t.Errorf("%d requests reached the host without a ticket", st.Requests)
	}
	ln.Close()
	pc.Close()
}

// TestServerTokenMicrosoftOID: a Kerberos token under the OID Microsoft's
// SSPI uses (1.2.840.48018.1.2.2) is read like one under RFC 1964's.
func TestServerTokenMicrosoftOID(t *testing.T) {
	ke := messages.NewKRBError(types.NewPrincipalName(nametype.KRB_NT_SRV_INST, "HTTP/win1.tend.test"), "TEND.TEST", errorcode.KRB_AP_ERR_SKEW, "")
	b, err := ke.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	oid, _ := asn1.Marshal(oidMSKRB5)
	tok, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassApplication, Tag: 0, IsCompound: true, Bytes: append(append(oid, 0x03, 0x00), b...)})
	h := http.Header{}
	h.Add("WWW-Authenticate", "Negotiate "+base64.StdEncoding.EncodeToString(tok))
	got, ok := serverKRBError(h)
	if !ok || got.ErrorCode != errorcode.KRB_AP_ERR_SKEW {
		t.Fatalf("serverKRBError: %v %v", got, ok)
	}
	if msg := explainKRBError(got, "HTTP/win1.tend.test"); !strings.Contains(msg, "clocks") {
		t.Errorf("explanation: %s", msg)
	}
}
