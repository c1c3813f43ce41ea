package wsmantest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	ntlmssp "github.com/Azure/go-ntlmssp"
	"github.com/google/go-cmp/cmp"
)

func TestNTLMv2Vector(t *testing.T) {
	// MS-NLMP 4.2.4: user "User", domain "Domain", password "Password",
	// server challenge 0123456789abcdef, client challenge aa*8, time 0,
	// AV pairs MsvAvNbDomainName "Domain" and MsvAvNbComputerName
	// "Server"; NTProofStr 68cd0ab851e51c96aabc927bebef6a1c.
	av, _ := hex.DecodeString("02000c0044006f006d00610069006e0001000c0053006500720076006500720000000000")
	blob := append([]byte{1, 1, 0, 0, 0, 0, 0, 0}, make([]byte, 8)...)
	blob = append(blob, bytes.Repeat([]byte{0xaa}, 8)...)
	blob = append(blob, 0, 0, 0, 0)
	blob = append(blob, av...)
	blob = append(blob, 0, 0, 0, 0)
	proof, _ := hex.DecodeString("68cd0ab851e51c96aabc927bebef6a1c")
	st := &ntlmChallenge{}
	copy(st.serverChallenge[:], []byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef})
	u := ntlmUser{User: "User", Domain: "Domain"}
	if err := verifyNTLMv2(st, u, "Password", append(proof, blob...)); err != nil {
		t.Errorf("MS-NLMP test vector: %v", err)
	}
	if err := verifyNTLMv2(st, u, "password", append(proof, blob...)); err == nil {
		t.Error("wrong password accepted")
	}
}

// envelope builds a request the way pywinrm does.
func request(action, shellID, body string, opTimeout string) string {
	sel := ""
	if shellID != "" {
		sel = `<w:SelectorSet><w:Selector Name="ShellId">` + shellID + `</w:Selector></w:SelectorSet>`
	}
	if opTimeout == "" {
		opTimeout = "PT20S"
	}
	return `<?xml version="1.0" encoding="utf-8"?><env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"><env:Header>` +
		`<a:To>http://windows-host:5985/wsman</a:To><a:MessageID>` + newUUID() + `</a:MessageID><w:OperationTimeout>` + opTimeout + `</w:OperationTimeout>` +
		`<w:ResourceURI mustUnderstand="true">` + ResourceCmd + `</w:ResourceURI><a:Action mustUnderstand="true">` + action + `</a:Action>` + sel +
		`</env:Header><env:Body>` + body + `</env:Body></env:Envelope>`
}

type client struct {
	t    *testing.T
	url  string
	http *http.Client
	user string
	pass string
}

func (c *client) post(body string) (int, string) {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.url, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func newClient(t *testing.T, s *Server, ntlm bool) *client {
	c := &client{t: t, url: s.URL, http: &http.Client{}, user: "ops", pass: "pw"}
	if ntlm {
		c.http.Transport = ntlmssp.Negotiator{RoundTripper: &http.Transport{}}
	}
	return c
}

var shellIDRE = regexp.MustCompile(`<w:Selector Name="ShellId">([^<]+)<`)

func createShell(t *testing.T, c *client) string {
	t.Helper()
	status, body := c.post(request(ActionCreate, "", `<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>`, ""))
	m := shellIDRE.FindStringSubmatch(body)
	if status != 200 || m == nil {
		t.Fatalf("create: %d %s", status, body)
	}
	return m[1]
}

func TestAuthentication(t *testing.T) {
	s := StartT(t, Options{Users: map[string]string{"ops": "pw"}, AllowUnencrypted: true})
	for _, ntlm := range []bool{false, true} {
		c := newClient(t, s, ntlm)
		createShell(t, c)
		c.user = `TEND\OPS` // domain and case do not matter
		createShell(t, c)
		c.pass = "wrong"
		if ntlm {
			c.http = &http.Client{Transport: ntlmssp.Negotiator{RoundTripper: &http.Transport{}}}
		}
		if status, _ := c.post(request(ActionCreate, "", "<rsp:Shell/>", "")); status != 401 {
			t.Errorf("ntlm %v, wrong password: status %d", ntlm, status)
		}
	}
	// No credentials at all: 401 with the schemes offered.
	resp, err := http.Post(s.URL, "application/soap+xml;charset=UTF-8", strings.NewReader("<x/>"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Values("WWW-Authenticate"); resp.StatusCode != 401 || !cmp.Equal(got, []string{"Negotiate", `Basic realm="WSMAN"`}) {
		t.Errorf("anonymous: %d %q", resp.StatusCode, got)
	}
}

// TestRefusesUnencrypted: configured as Windows is by default
// (AllowUnencrypted false), the server refuses a SOAP body in clear text
// over HTTP with HTTP 400, whatever the authentication, and answers the
// empty POST that authenticates a connection for encryption.
func TestRefusesUnencrypted(t *testing.T) {
	s := StartT(t, Options{Users: map[string]string{"ops": "pw"}})
	for _, ntlm := range []bool{false, true} {
		c := newClient(t, s, ntlm)
		status, body := c.post(request(ActionCreate, "", "<rsp:Shell/>", ""))
		if status != 400 || !strings.Contains(body, "not encrypted") {
			t.Errorf("ntlm %v, clear text: %d %s", ntlm, status, body)
		}
	}
	if st := s.Stats(); st.Refused != 2 || st.ShellsCreated != 0 {
		t.Errorf("stats %+v", st)
	}
	req, _ := http.NewRequest(http.MethodPost, s.URL, nil)
	req.SetBasicAuth("ops", "pw")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("empty authenticated POST: %d", resp.StatusCode)
	}
}

func TestNTLMBindsTheConnection(t *testing.T) {
	s := StartT(t, Options{Users: map[string]string{"ops": "pw"}, Auth: []string{AuthNegotiate}, AllowUnencrypted: true})
	c := newClient(t, s, true)
	createShell(t, c)
	before := s.Stats().Unauthorized
	for i := 0; i < 5; i++ {
		createShell(t, c)
	}
	// go-ntlmssp tries without credentials first: on the authenticated
	// connection that succeeds, with no new handshake.
	if after := s.Stats().Unauthorized; after != before {
		t.Errorf("%d more 401s: the connection's authentication was not kept", after-before)
	}
}

// normalize returns the shape of a SOAP message: every element path with
// its attribute names, namespace URIs in place of prefixes, ignoring text,
// order and repetition, and p:ActivityId, an optional tracing header that
// newer Windows versions add (the recording from 192.168.56.15 has it,
// the one from 192.168.56.11 does not).
func normalize(t *testing.T, doc string) []string {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(doc))
	var stack []string
	set := map[string]bool{}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%v in %s", err, doc)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			stack = append(stack, e.Name.Space+" "+e.Name.Local)
			if e.Name.Local == "ActivityId" {
				d.Skip()
				stack = stack[:len(stack)-1]
				continue
			}
			var attrs []string
			for _, a := range e.Attr {
				if a.Name.Space == "xmlns" || a.Name.Local == "xmlns" {
					continue
				}
				attrs = append(attrs, a.Name.Local)
			}
			sort.Strings(attrs)
			set[strings.Join(stack, "/")+" ["+strings.Join(attrs, ",")+"]"] = true
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
	var out []string
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

var (
	actionRE    = regexp.MustCompile(`<a:Action>([^<]+)</a:Action>`)
	relatesRE   = regexp.MustCompile(`<a:RelatesTo>([^<]+)</a:RelatesTo>`)
	messageRE   = regexp.MustCompile(`<wsa:MessageID>([^<]+)</wsa:MessageID>`)
	commandIDRE = regexp.MustCompile(`<rsp:CommandId>([^<]+)</rsp:CommandId>`)
	streamRE    = regexp.MustCompile(`<rsp:Stream Name="stdout"[^>]*>([^<]*)</rsp:Stream>`)
)

// recordedExecutor plays the commands of the recordings as Windows ran
// them.
func recordedExecutor(ctx context.Context, p *Process) int {
	args := strings.Join(p.Arguments, " ")
	switch {
	case p.Command == "powershell.exe" && args == "-":
		in, _ := io.ReadAll(p.Stdin)
		for _, m := range regexp.MustCompile(`Write-Host "([^"]*)";`).FindAllSubmatch(in, -1) {
			fmt.Fprintf(p.Stdout, "%s\n", m[1])
		}
		return 0
	case p.Command == "powershell.exe" && strings.HasPrefix(args, "Write-Host hi; Start-Sleep 30"):
		io.WriteString(p.Stdout, "hi\n")
		select {
		case <-time.After(2500 * time.Millisecond): // 30s on Windows, with PT10S polls
		case <-ctx.Done():
			return 1
		}
		io.WriteString(p.Stdout, "hi again\n")
		return 0
	case p.Command == "cmd.exe" && args == "/c echo out && echo err>&2 && exit 1":
		io.WriteString(p.Stdout, "out \r\n")
		io.WriteString(p.Stderr, "err \r\n")
		return 1
	case p.Command == "cmd.exe" && args == "/c echo hi":
		io.WriteString(p.Stdout, "hi\r\n")
		return 0
	}
	fmt.Fprintf(p.Stderr, "unexpected command %q %q", p.Command, p.Arguments)
	return 9009
}

// TestRecordedTraffic replays requests pypsrp sent to a real Windows host
// (testdata/recorded) against the server, and checks each answer has the
// structure of Windows' own: the same status, Action, element and
// attribute names and namespaces, RelatesTo echoing the request, and the
// same decoded output.
func TestRecordedTraffic(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "recorded", "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recordings: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			ex, err := ReadRecording(file)
			if err != nil {
				t.Fatal(err)
			}
			s := StartT(t, Options{Users: map[string]string{"ops": "pw"}, Executor: recordedExecutor, AllowUnencrypted: true})
			c := newClient(t, s, false)
			ids := map[string]string{} // recorded id -> ours
			var recordedOut, ourOut bytes.Buffer
			for i, e := range ex {
				req := e.Request
				for old, ours := range ids {
					req = strings.ReplaceAll(req, old, ours)
				}
				// The recording polled with PT10S against a 30s sleep;
				// the replay keeps the ratio at a tenth of the time.
				req = strings.ReplaceAll(req, "<wsman:OperationTimeout>PT10S<", "<wsman:OperationTimeout>PT1S<")
				if strings.Contains(e.Response, "CommandState/Done") {
					waitDone(t, s)
				}
				status, resp := c.post(req)
				if status != e.Status {
					t.Fatalf("exchange %d (%s): status %d, Windows %d: %s", i, actionOf(e.Request), status, e.Status, resp)
				}
				if diff := cmp.Diff(normalize(t, e.Response), normalize(t, resp)); diff != "" {
					t.Errorf("exchange %d (%s): structure differs from Windows' (-windows +ours):\n%s", i, actionOf(e.Request), diff)
				}
				if w, o := actionRE.FindStringSubmatch(e.Response), actionRE.FindStringSubmatch(resp); w == nil || o == nil || w[1] != o[1] {
					t.Errorf("exchange %d: Action %v, Windows %v", i, o, w)
				}
				if m, r := messageRE.FindStringSubmatch(req), relatesRE.FindStringSubmatch(resp); m == nil || r == nil || m[1] != r[1] {
					t.Errorf("exchange %d: RelatesTo %v does not echo MessageID %v", i, r, m)
				}
				if m := shellIDRE.FindStringSubmatch(e.Response); m != nil {
					ids[m[1]] = shellIDRE.FindStringSubmatch(resp)[1]
				}
				if m := commandIDRE.FindStringSubmatch(e.Response); m != nil {
					ids[m[1]] = commandIDRE.FindStringSubmatch(resp)[1]
				}
				for _, m := range streamRE.FindAllStringSubmatch(e.Response, -1) {
					b, _ := base64.StdEncoding.DecodeString(m[1])
					recordedOut.Write(b)
				}
				for _, m := range streamRE.FindAllStringSubmatch(resp, -1) {
					b, _ := base64.StdEncoding.DecodeString(m[1])
					ourOut.Write(b)
				}
			}
			if recordedOut.String() != ourOut.String() {
				t.Errorf("stdout %q, Windows %q", ourOut.String(), recordedOut.String())
			}
		})
	}
}

func actionOf(req string) string {
	m := regexp.MustCompile(`Action[^>]*>([^<]+)<`).FindStringSubmatch(req)
	if m == nil {
		return "?"
	}
	return shortAction(m[1])
}

// waitDone waits until the last command has finished, as the recorded
// Windows host's had when its Receive answered Done.
func waitDone(t *testing.T, s *Server) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		cmds := s.Commands()
		if len(cmds) > 0 && cmds[len(cmds)-1].Done {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the command did not finish")
}

func TestProtocolErrors(t *testing.T) {
	var started = make(chan context.Context, 4)
	s := StartT(t, Options{
		Users:            map[string]string{"ops": "pw"},
		AllowUnencrypted: true,
		MaxEnvelopeSize:  64 << 10,
		Executor: func(ctx context.Context, p *Process) int {
			started <- ctx
			<-ctx.Done()
			return 1
		},
	})
	c := newClient(t, s, false)
	fault := func(subcode string) func(int, string) {
		return func(status int, body string) {
			t.Helper()
			if status != 500 || !strings.Contains(body, "<s:Value>"+subcode+"</s:Value>") || !strings.Contains(body, ActionFault) {
				t.Errorf("want a %s fault, got %d: %.300s", subcode, status, body)
			}
		}
	}
	fault("w:SchemaValidationError")(c.post("<not xml"))
	fault("a:ActionNotSupported")(c.post(request("http://example.com/Bogus", "", "", "")))
	fault("w:DestinationUnreachable")(c.post(strings.Replace(request(ActionCreate, "", "<rsp:Shell/>", ""), ResourceCmd, "http://schemas.microsoft.com/powershell/Microsoft.PowerShell", 1)))
	fault("w:InvalidSelectors")(c.post(request(ActionCommand, "NOSUCHSHELL", "<rsp:CommandLine><rsp:Command>x</rsp:Command></rsp:CommandLine>", "")))
	fault("w:EncodingLimit")(c.post(request(ActionCreate, "", strings.Repeat("<!-- padding -->", 5000), "")))

	resp, err := http.Get(s.URL)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != 405 {
			t.Errorf("GET: %d", resp.StatusCode)
		}
	}
	req, _ := http.NewRequest("POST", s.URL, strings.NewReader(request(ActionCreate, "", "<rsp:Shell/>", "")))
	req.Header.Set("Content-Type", "text/xml")
	req.SetBasicAuth("ops", "pw")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		if resp.StatusCode != 415 {
			t.Errorf("wrong content type: %d", resp.StatusCode)
		}
	}

	// Receive's long poll: w:TimedOut after the OperationTimeout.
	shell := createShell(t, c)
	_, body := c.post(request(ActionCommand, shell, "<rsp:CommandLine><rsp:Command>sleep</rsp:Command></rsp:CommandLine>", ""))
	cmdID := commandIDRE.FindStringSubmatch(body)[1]
	ctx := <-started
	start := time.Now()
	status, body := c.post(request(ActionReceive, shell, `<rsp:Receive><rsp:DesiredStream CommandId="`+cmdID+`">stdout stderr</rsp:DesiredStream></rsp:Receive>`, "PT1S"))
	fault("w:TimedOut")(status, body)
	if d := time.Since(start); d < time.Second || d > 3*time.Second {
		t.Errorf("the long poll lasted %s, want the OperationTimeout (1s)", d)
	}
	if !strings.Contains(body, `Code="2150858793"`) {
		t.Errorf("TimedOut without Windows' WSManFault code: %s", body)
	}

	// Signal terminate: the executor's context ends with the signal, the
	// command is gone.
	status, body = c.post(request(ActionSignal, shell, `<rsp:Signal CommandId="`+cmdID+`"><rsp:Code>http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/terminate</rsp:Code></rsp:Signal>`, ""))
	if status != 200 || !strings.Contains(body, "SignalResponse") {
		t.Fatalf("signal: %d %s", status, body)
	}
	var sig *SignalCause
	if !errors.As(context.Cause(ctx), &sig) || sig.Code != "terminate" {
		t.Errorf("executor's context cause %v", context.Cause(ctx))
	}
	fault("w:InvalidSelectors")(c.post(request(ActionReceive, shell, `<rsp:Receive><rsp:DesiredStream CommandId="`+cmdID+`">stdout stderr</rsp:DesiredStream></rsp:Receive>`, "PT1S")))

	// Delete cancels what runs in the shell.
	c.post(request(ActionCommand, shell, "<rsp:CommandLine><rsp:Command>sleep</rsp:Command></rsp:CommandLine>", ""))
	ctx = <-started
	if status, _ := c.post(request(ActionDelete, shell, "", "")); status != 200 {
		t.Errorf("delete: %d", status)
	}
	if !errors.Is(context.Cause(ctx), ErrShellDeleted) {
		t.Errorf("after Delete: cause %v", context.Cause(ctx))
	}
	if got := s.Signals(); len(got) != 1 || got[0].Code != "terminate" || got[0].CommandID != cmdID {
		t.Errorf("signals %+v", got)
	}
}

func TestSplitCommandLine(t *testing.T) {
	for in, want := range map[string][]string{
		`powershell.exe -NoProfile -EncodedCommand AAA=`: {"powershell.exe", "-NoProfile", "-EncodedCommand", "AAA="},
		`"C:\Program Files\x.exe" "a b" c`:               {`C:\Program Files\x.exe`, "a b", "c"},
		`a\\\"b "c\\" d`:                                 {`a\"b`, `c\`, "d"},
		`  spaced   out  `:                               {"spaced", "out"},
		`""`:                                             {""},
	} {
		if got := SplitCommandLine(in); !cmp.Equal(got, want) {
			t.Errorf("SplitCommandLine(%q) = %q, want %q", in, got, want)
		}
	}
}
