package winrm

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/tendhq/tend/transport/winrm/wsmantest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// golden compares got with testdata/golden/name, or rewrites it with
// -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s changed (-golden +now; go test -update accepts it):\n%s", name, diff)
	}
}

func TestGoldenScripts(t *testing.T) {
	golden(t, "bootstrap.ps1", bootstrapScript+"\n")

	cl := CommandLine("powershell.exe")
	golden(t, "commandline.txt", cl+"\n")
	if len(cl) >= maxCommandLine {
		t.Errorf("the command line is %d characters, cmd.exe takes %d", len(cl), maxCommandLine)
	}
	f := strings.Fields(cl)
	script, err := wsmantest.DecodeEncodedCommand(f[len(f)-1])
	if err != nil || script != bootstrapScript {
		t.Errorf("-EncodedCommand does not decode to the bootstrap (%v)", err)
	}
	if strings.Contains(bootstrapScript, testPassword) || strings.Contains(bootstrapScript, "s3cret") {
		t.Error("the bootstrap carries a password")
	}
}

func TestQuote(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "''"},
		{"plain", "'plain'"},
		{"it's", "'it''s'"},
		{"$env:PATH $(x) `n", "'$env:PATH $(x) `n'"},
		{"‘curly’ ‚low‛", "'‘‘curly’’ ‚‚low‛‛'"},
		{`C:\a "b"`, `'C:\a "b"'`},
		{"line\nbreak", "'line\nbreak'"},
	} {
		if got := Quote(c.in); got != c.want {
			t.Errorf("Quote(%q) = %q, want %q", c.in, got, c.want)
		}
		if back, ok := unquotePS(Quote(c.in)); !ok || back != c.in {
			t.Errorf("round trip of %q: %q, %v", c.in, back, ok)
		}
	}
}

// FuzzQuote checks that PowerShell's tokenizer rules (unquotePS) read any
// quoted string back unchanged and to its end.
func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", "'", "''", "‘’", "a'b’c", "$x", "`", "\x00", "é✓"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return // scripts must be UTF-8; Run refuses others
		}
		q := Quote(s)
		back, ok := unquotePS(q)
		if !ok || back != s {
			t.Fatalf("Quote(%q) = %q reads back as %q (complete %v)", s, q, back, ok)
		}
	})
}

func TestDecodeCLIXML(t *testing.T) {
	// The fixtures of ansible/ansible, test/units/plugins/shell/
	// test_powershell.py (CLIXML written by powershell.exe on Windows),
	// and variations on them.
	const objs = `<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">`
	progress := `<Obj S="progress" RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject</T><T>System.Object</T></TN><MS>` +
		`<I64 N="SourceId">1</I64><PR N="Record"><AV>Preparing modules for first use.</AV><AI>0</AI><Nil />` +
		`<PI>-1</PI><PC>-1</PC><T>Completed</T><SR>-1</SR><SD> </SD></PR></MS></Obj>`
	notFound := `<S S="Error">fake : The term 'fake' is not recognized as the name of a cmdlet. Check _x000D__x000A_</S>` +
		`<S S="Error">the spelling of the name, or if a path was included._x000D__x000A_</S>` +
		`<S S="Error">At line:1 char:1_x000D__x000A_</S>` +
		`<S S="Error">+ fake cmdlet_x000D__x000A_</S><S S="Error">+ ~~~~_x000D__x000A_</S>` +
		`<S S="Error">    + CategoryInfo          : ObjectNotFound: (fake:String) [], CommandNotFoundException_x000D__x000A_</S>` +
		`<S S="Error">    + FullyQualifiedErrorId : CommandNotFoundException_x000D__x000A_</S><S S="Error"> _x000D__x000A_</S>`
	for name, c := range map[string]struct{ in, want string }{
		"empty":         {"#< CLIXML\r\n" + objs + "</Objs>", ""},
		"progress only": {"#< CLIXML\r\n" + objs + progress + "</Objs>", ""},
		"error": {"#< CLIXML\r\n" + objs + notFound + "</Objs>",
			"fake : The term 'fake' is not recognized as the name of a cmdlet. Check \nthe spelling of the name, or if a path was included.\nAt line:1 char:1\n+ fake cmdlet\n+ ~~~~\n" +
				"    + CategoryInfo          : ObjectNotFound: (fake:String) [], CommandNotFoundException\n    + FullyQualifiedErrorId : CommandNotFoundException\n \n"},
		"progress then error": {"#< CLIXML\r\n" + objs + progress + `<S S="Error">boom_x000D__x000A_</S></Objs>`, "boom\n"},
		"warning and verbose": {"#< CLIXML\r\n" + objs + `<S S="warning">careful</S><S S="verbose">details</S></Objs>`, "WARNING: careful\nVERBOSE: details\n"},
		"text around":         {"native program says hi\r\n#< CLIXML\r\n" + objs + `<S S="Error">boom_x000D__x000A_</S></Objs>after`, "native program says hi\r\nboom\nafter"},
		"two blocks":          {"#< CLIXML\r\n" + objs + `<S S="Error">one_x000D__x000A_</S></Objs>` + objs + `<S S="Error">two_x000D__x000A_</S></Objs>`, "one\ntwo\n"},
		"escapes":             {"#< CLIXML\r\n" + objs + `<S S="Error">tab_x0009_ emoji _xD83D__xDE00_ underscore_x005F_x</S></Objs>`, "tab\t emoji 😀 underscore_x"},
		"no CLIXML":           {"plain error\n", "plain error\n"},
		"broken CLIXML":       {"#< CLIXML\r\n<Objs><S>unterminated", "#< CLIXML\r\n<Objs><S>unterminated"},
	} {
		if got := string(DecodeCLIXML([]byte(c.in))); got != c.want {
			t.Errorf("%s: got %q, want %q", name, got, c.want)
		}
	}
}

// TestFramer checks the stdin stream against the format the bootstrap
// reads (decoded here by the test's stand-in for it).
func TestFramer(t *testing.T) {
	script := "Write-Output 'héllo'\n" + strings.Repeat("# padding\n", 20000)
	data := randomBytes(t, 300<<10)
	var stream bytes.Buffer
	if _, err := io.Copy(&stream, newFramer("n0nce", script, bytes.NewReader(data), 112128)); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSuffix(stream.String(), "\n"), "\n") {
		if len(line) > lineLen {
			t.Fatalf("a line of %d characters", len(line))
		}
		for _, c := range line {
			if c > 0x7e || c < 0x20 {
				t.Fatalf("non-ASCII in the stream: %q", line)
			}
		}
	}
	br := bufio.NewReader(&stream)
	head, _ := readLine(br)
	sum := sha256.Sum256([]byte(script))
	if want := "tend:n0nce:script:" + strconv.Itoa(len(script)) + ":" + hex.EncodeToString(sum[:]); head != want {
		t.Errorf("header %q, want %q", head, want)
	}
	for {
		line, err := readLine(br)
		if err != nil {
			t.Fatal("no stdin marker")
		}
		if line == "tend:n0nce:stdin" {
			break
		}
	}
	got, err := io.ReadAll(&stdinDecoder{r: br, nonce: "n0nce", sum: sha256.New()})
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("stdin: %d bytes, %v", len(got), err)
	}

	// A failing reader ends with a trailer that cannot match.
	stream.Reset()
	io.Copy(&stream, newFramer("n", "", io.MultiReader(strings.NewReader("abc"), errReader{}), 4096))
	br = bufio.NewReader(&stream)
	readLine(br)
	readLine(br)
	if _, err := io.ReadAll(&stdinDecoder{r: br, nonce: "n", sum: sha256.New()}); !errors.Is(err, errStdinDamaged) {
		t.Errorf("failing stdin: %v, want the damaged-stdin error", err)
	}
}

// TestRecordedWindowsResponses parses what Windows answered (recorded by
// pypsrp, testdata in wsmantest) with the transport's parser.
func TestRecordedWindowsResponses(t *testing.T) {
	load := func(name string) []wsmantest.Exchange {
		ex, err := wsmantest.ReadRecording(filepath.Join("wsmantest", "testdata", "recorded", name))
		if err != nil {
			t.Fatal(err)
		}
		return ex
	}
	// winrs_send: Create, Command, Send, Send, Receive, Signal, Delete.
	ex := load("winrs_send.yml")
	r, err := parseResponse([]byte(ex[0].Response))
	if err != nil {
		t.Fatal(err)
	}
	if id, err := r.shellID(); err != nil || id != "0D6FCA9D-2D40-44C3-B691-E665BE7AA687" {
		t.Errorf("shell id %q, %v", id, err)
	}
	if !strings.Contains(ex[0].Request, r.relatesTo) {
		t.Errorf("RelatesTo %q is not the request's MessageID", r.relatesTo)
	}
	r, _ = parseResponse([]byte(ex[1].Response))
	cmdID, err := r.commandID()
	if err != nil || cmdID != "B0973E54-434E-4D99-B4BE-ADE584CE3BFB" {
		t.Errorf("command id %q, %v", cmdID, err)
	}
	r, _ = parseResponse([]byte(ex[4].Response))
	o, err := r.receiveOutput(cmdID)
	if err != nil || string(o.stdout) != "output 1\noutput 2\n" || !o.done || o.exitCode != 0 {
		t.Errorf("receive: %+v, %v", o, err)
	}

	// winrs_stderr_rc: output on stderr and a non-zero exit code.
	ex = load("winrs_stderr_rc.yml")
	for _, e := range ex {
		r, err := parseResponse([]byte(e.Response))
		if err != nil {
			t.Fatal(err)
		}
		if r.body.ReceiveResponse == nil {
			continue
		}
		cs := r.body.ReceiveResponse.CommandState
		o, err := r.receiveOutput(cs.CommandID)
		if err != nil {
			t.Fatal(err)
		}
		if o.done && (o.exitCode == 0 || len(o.stderr) == 0) {
			t.Errorf("stderr_rc: exit %d, stderr %q", o.exitCode, o.stderr)
		}
	}

	// winrs_operation_timeout: two Receives answered w:TimedOut.
	ex = load("winrs_operation_timeout.yml")
	timeouts := 0
	for _, e := range ex {
		if e.Status != 500 {
			continue
		}
		f, err := parseFault([]byte(e.Response))
		if err != nil || f == nil {
			t.Fatalf("fault: %v", err)
		}
		if !f.TimedOut() || f.WSManCode != wsmanTimedOut || f.Machine != "192.168.56.11" {
			t.Errorf("fault %+v is not a timeout", f)
		}
		timeouts++
	}
	if timeouts != 2 {
		t.Errorf("%d timeouts in the recording, want 2", timeouts)
	}

	// winrs_bad_cmd_id: a Receive for an unknown command.
	ex = load("winrs_bad_cmd_id.yml")
	found := false
	for _, e := range ex {
		if e.Status == 500 {
			f, err := parseFault([]byte(e.Response))
			if err != nil || f == nil || !f.unknownResource() || !strings.Contains(f.Error(), "command identifier that does not exist") {
				t.Errorf("bad command id fault: %v, %v", f, err)
			}
			found = true
		}
	}
	if !found {
		t.Error("no fault in winrs_bad_cmd_id")
	}
}
