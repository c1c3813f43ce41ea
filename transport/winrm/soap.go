package winrm

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/masterzen/winrm"
	"github.com/masterzen/winrm/soap"
)

// WS-Management names tend uses (the namespaces are in the struct tags).
const (
	actionCommand = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command"
	resourceCmd   = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
	anonymous     = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
	stateDone     = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done"

	// wsmanTimedOut is the WSManFault code of a Receive that found no
	// output within OperationTimeout (ERROR_WSMAN_OPERATION_TIMEDOUT).
	wsmanTimedOut = 2150858793
	// wsmanInvalidSelectors is the code of a request naming a shell or
	// command the server does not know (it expired, or was deleted).
	wsmanInvalidSelectors = 2150858843
)

// FaultError is a SOAP fault the server answered with.
type FaultError struct {
	// Op is the operation that failed: "create shell", "command",
	// "send", "receive", "signal", "delete shell".
	Op         string
	HTTPStatus int
	// Code and Subcode are the SOAP fault codes, e.g. "s:Receiver" and
	// "w:TimedOut".
	Code, Subcode string
	// Reason is the fault's text.
	Reason string
	// WSManCode is the WSManFault Code (Windows' error number), zero if
	// none.
	WSManCode uint32
	// Message is the WSManFault message, nested provider faults
	// flattened.
	Message string
	// Machine is the WSManFault Machine attribute.
	Machine string
}

func (e *FaultError) Error() string {
	var b strings.Builder
	b.WriteString("WS-Management fault")
	if e.Subcode != "" {
		b.WriteString(" " + e.Subcode)
	} else if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.WSManCode != 0 {
		fmt.Fprintf(&b, " (%d)", e.WSManCode)
	}
	text := e.Message
	if text == "" {
		text = e.Reason
	}
	if text != "" {
		b.WriteString(": " + text)
	}
	return b.String()
}

// TimedOut reports whether the fault is a Receive's OperationTimeout
// passing with no output: the long poll ended and the client polls again.
func (e *FaultError) TimedOut() bool {
	return e.WSManCode == wsmanTimedOut || strings.HasSuffix(e.Subcode, ":TimedOut")
}

// unknownResource reports whether the fault says the shell or command no
// longer exists.
func (e *FaultError) unknownResource() bool {
	return e.WSManCode == wsmanInvalidSelectors || strings.HasSuffix(e.Subcode, ":InvalidSelectors")
}

// response is an answer envelope as tend reads it.
type response struct {
	action    string
	relatesTo string
	fault     *FaultError
	body      responseBody
}

type responseEnvelope struct {
	XMLName xml.Name `xml:"http://www.w3.org/2003/05/soap-envelope Envelope"`
	Header  struct {
		Action    string `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing Action"`
		RelatesTo string `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing RelatesTo"`
	} `xml:"http://www.w3.org/2003/05/soap-envelope Header"`
	Body responseBody `xml:"http://www.w3.org/2003/05/soap-envelope Body"`
}

type responseBody struct {
	Fault           *soapFault       `xml:"http://www.w3.org/2003/05/soap-envelope Fault"`
	ResourceCreated *resourceCreated `xml:"http://schemas.xmlsoap.org/ws/2004/09/transfer ResourceCreated"`
	Shell           *struct {
		ShellID string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell ShellId"`
	} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Shell"`
	CommandResponse *struct {
		CommandID string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell CommandId"`
	} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell CommandResponse"`
	ReceiveResponse *receiveResponse `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell ReceiveResponse"`
}

type resourceCreated struct {
	ReferenceParameters struct {
		SelectorSet struct {
			Selectors []struct {
				Name  string `xml:"Name,attr"`
				Value string `xml:",chardata"`
			} `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd Selector"`
		} `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd SelectorSet"`
	} `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing ReferenceParameters"`
}

type receiveResponse struct {
	Streams []struct {
		Name      string `xml:"Name,attr"`
		CommandID string `xml:"CommandId,attr"`
		End       string `xml:"End,attr"`
		Data      string `xml:",chardata"`
	} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Stream"`
	CommandState *struct {
		CommandID string  `xml:"CommandId,attr"`
		State     string  `xml:"State,attr"`
		ExitCode  *string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell ExitCode"`
	} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell CommandState"`
}

type soapFault struct {
	Code struct {
		Value   string `xml:"http://www.w3.org/2003/05/soap-envelope Value"`
		Subcode struct {
			Value string `xml:"http://www.w3.org/2003/05/soap-envelope Value"`
		} `xml:"http://www.w3.org/2003/05/soap-envelope Subcode"`
	} `xml:"http://www.w3.org/2003/05/soap-envelope Code"`
	Reason struct {
		Text []string `xml:"http://www.w3.org/2003/05/soap-envelope Text"`
	} `xml:"http://www.w3.org/2003/05/soap-envelope Reason"`
	Detail struct {
		WSManFault *struct {
			Code    string `xml:"Code,attr"`
			Machine string `xml:"Machine,attr"`
			Message struct {
				Inner string `xml:",innerxml"`
			} `xml:"http://schemas.microsoft.com/wbem/wsman/1/wsmanfault Message"`
		} `xml:"http://schemas.microsoft.com/wbem/wsman/1/wsmanfault WSManFault"`
	} `xml:"http://www.w3.org/2003/05/soap-envelope Detail"`
}

// parseResponse reads a SOAP envelope; a fault in it is returned in
// response.fault.
func parseResponse(data []byte) (*response, error) {
	var env responseEnvelope
	if err := xml.Unmarshal(data, &env); err != nil {
		return nil, fmt.Errorf("malformed SOAP answer: %w (%s)", err, printable(data, 120))
	}
	r := &response{
		action:    strings.TrimSpace(env.Header.Action),
		relatesTo: strings.TrimSpace(env.Header.RelatesTo),
		body:      env.Body,
	}
	if env.Body.Fault != nil {
		r.fault = faultError(env.Body.Fault)
	}
	return r, nil
}

// parseFault reads the fault of an error response; nil when the body is
// a SOAP envelope without one.
func parseFault(data []byte) (*FaultError, error) {
	r, err := parseResponse(data)
	if err != nil {
		return nil, err
	}
	return r.fault, nil
}

func faultError(f *soapFault) *FaultError {
	e := &FaultError{
		Code:    strings.TrimSpace(f.Code.Value),
		Subcode: strings.TrimSpace(f.Code.Subcode.Value),
		Reason:  strings.TrimSpace(strings.Join(f.Reason.Text, " ")),
	}
	if w := f.Detail.WSManFault; w != nil {
		if n, err := strconv.ParseUint(strings.TrimSpace(w.Code), 10, 32); err == nil {
			e.WSManCode = uint32(n)
		}
		e.Machine = w.Machine
		e.Message = innerText(w.Message.Inner)
	}
	return e
}

// innerText returns the text of an XML fragment, whitespace collapsed.
func innerText(fragment string) string {
	d := xml.NewDecoder(strings.NewReader(fragment))
	var b strings.Builder
	for {
		tok, err := d.Token()
		if err != nil {
			break
		}
		if cd, ok := tok.(xml.CharData); ok {
			b.Write(cd)
			b.WriteByte(' ')
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// idRE is what a shell or command id may look like. masterzen/winrm's XML
// builder writes values into requests without escaping them, so an id the
// server sent is checked before it goes back into one.
var idRE = regexp.MustCompile(`^[A-Za-z0-9{}._-]{1,128}$`)

func checkID(kind, id string) (string, error) {
	id = strings.TrimSpace(id)
	if id == "" {
		// masterzen/winrm returns an empty id with a nil error when the
		// answer has none (an error page, a fault it did not see).
		return "", fmt.Errorf("the server's answer has no %s id", kind)
	}
	if !idRE.MatchString(id) {
		return "", fmt.Errorf("the server sent an invalid %s id %q", kind, printable([]byte(id), 60))
	}
	return id, nil
}

// shellID reads the ShellId of a Create answer.
func (r *response) shellID() (string, error) {
	if rc := r.body.ResourceCreated; rc != nil {
		for _, s := range rc.ReferenceParameters.SelectorSet.Selectors {
			if s.Name == "ShellId" {
				return checkID("shell", s.Value)
			}
		}
	}
	if r.body.Shell != nil {
		return checkID("shell", r.body.Shell.ShellID)
	}
	return checkID("shell", "")
}

// commandID reads the CommandId of a Command answer.
func (r *response) commandID() (string, error) {
	if r.body.CommandResponse == nil {
		return checkID("command", "")
	}
	return checkID("command", r.body.CommandResponse.CommandID)
}

// output is what one Receive answer carried for a command.
type output struct {
	stdout, stderr []byte
	done           bool
	exitCode       int
}

// receiveOutput decodes a Receive answer for commandID. Unlike
// masterzen/winrm's parser, bad base64 and a Done state without an exit
// code are errors rather than silently dropped output.
func (r *response) receiveOutput(commandID string) (*output, error) {
	rr := r.body.ReceiveResponse
	if rr == nil {
		return nil, errors.New("the answer to Receive has no ReceiveResponse")
	}
	out := &output{}
	for _, s := range rr.Streams {
		if s.CommandID != "" && !strings.EqualFold(s.CommandID, commandID) {
			continue
		}
		data := strings.TrimSpace(s.Data)
		if data == "" {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(data)
		if err != nil {
			return nil, fmt.Errorf("%s stream is not base64: %w", s.Name, err)
		}
		switch s.Name {
		case "stdout":
			out.stdout = append(out.stdout, b...)
		case "stderr":
			out.stderr = append(out.stderr, b...)
		}
	}
	if cs := rr.CommandState; cs != nil && strings.EqualFold(strings.TrimSpace(cs.State), stateDone) {
		out.done = true
		if cs.ExitCode == nil {
			return nil, errors.New("the command is done but the server sent no exit code")
		}
		n, err := strconv.ParseInt(strings.TrimSpace(*cs.ExitCode), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("exit code %q: %w", *cs.ExitCode, err)
		}
		if n > 1<<31-1 && n <= 1<<32-1 {
			n = int64(int32(uint32(n))) // an NTSTATUS written unsigned
		}
		out.exitCode = int(n)
	}
	return out, nil
}

// newParameters returns the request parameters of a host. Each host has
// its own: masterzen/winrm's DefaultParameters is one shared pointer that
// must never be mutated.
func newParameters(opts Options) *winrm.Parameters {
	return winrm.NewParameters(duration(opts.OperationTimeout), opts.Locale, opts.MaxEnvelopeSize)
}

// duration writes d as an xs:duration in whole seconds (PT20S).
func duration(d time.Duration) string {
	return "PT" + strconv.Itoa(int((d+time.Second-1)/time.Second)) + "S"
}

// commandRequest builds the Command request. It is not masterzen/winrm's
// NewExecuteCommandRequest, which hard-codes WINRS_CONSOLEMODE_STDIN=TRUE:
// stdin here is a pipe (the bootstrap streams data through it), and
// WINRS_SKIP_CMD_SHELL=TRUE starts PowerShell directly instead of through
// cmd.exe, so a Signal reaches it and cmd.exe's 8191-character command
// line limit does not apply.
func commandRequest(url, shellID, commandLine string, p *winrm.Parameters) *soap.SoapMessage {
	msg := soap.NewMessage()
	msg.Header().
		To(url).
		ReplyTo(anonymous).
		MaxEnvelopeSize(p.EnvelopeSize).
		Id(newMessageID()).
		Locale(p.Locale).
		Timeout(p.Timeout).
		Action(actionCommand).
		ResourceURI(resourceCmd).
		ShellId(shellID).
		AddOption(soap.NewHeaderOption("WINRS_CONSOLEMODE_STDIN", "FALSE")).
		AddOption(soap.NewHeaderOption("WINRS_SKIP_CMD_SHELL", "TRUE")).
		Build()
	body := msg.CreateBodyElement("CommandLine", soap.DOM_NS_WIN_SHELL)
	msg.CreateElement(body, "Command", soap.DOM_NS_WIN_SHELL).SetContent(escapeXML(commandLine))
	return msg
}

func escapeXML(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// newMessageID returns a WS-Addressing MessageID: "uuid:" and a random
// UUID.
func newMessageID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("uuid:%X-%X-%X-%X-%X", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
