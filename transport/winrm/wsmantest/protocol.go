package wsmantest

import (
	"crypto/rand"
	"encoding/xml"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// XML namespaces of WS-Management and the Windows Remote Shell.
const (
	NSSOAP       = "http://www.w3.org/2003/05/soap-envelope"
	NSAddress    = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
	NSTransfer   = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
	NSWSMan      = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
	NSMSWSMan    = "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"
	NSShell      = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
	NSWSManFault = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"
)

// Action URIs and the cmd shell's resource URI.
const (
	ActionCreate   = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
	ActionDelete   = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
	ActionCommand  = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command"
	ActionSend     = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Send"
	ActionReceive  = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive"
	ActionSignal   = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Signal"
	ActionFault    = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
	ResourceCmd    = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
	anonymous      = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
	stateRunning   = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Running"
	stateDone      = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done"
	signalPrefix   = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/"
	contentTypeXML = "application/soap+xml;charset=UTF-8"
)

// envelope is a request as the server reads it.
type envelope struct {
	XMLName xml.Name `xml:"http://www.w3.org/2003/05/soap-envelope Envelope"`
	Header  header   `xml:"http://www.w3.org/2003/05/soap-envelope Header"`
	Body    body     `xml:"http://www.w3.org/2003/05/soap-envelope Body"`
}

type header struct {
	To               string      `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing To"`
	Action           string      `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing Action"`
	MessageID        string      `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing MessageID"`
	ReplyTo          *replyTo    `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing ReplyTo"`
	ResourceURI      string      `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd ResourceURI"`
	MaxEnvelopeSize  string      `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd MaxEnvelopeSize"`
	OperationTimeout string      `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd OperationTimeout"`
	SelectorSet      *nameValues `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd SelectorSet"`
	OptionSet        *optionSet  `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd OptionSet"`
}

type replyTo struct {
	Address string `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing Address"`
}

type nameValue struct {
	Name  string `xml:"Name,attr"`
	Value string `xml:",chardata"`
}

type nameValues struct {
	Selectors []nameValue `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd Selector"`
}

type optionSet struct {
	Options []nameValue `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd Option"`
}

func (h *header) selector(name string) string {
	if h.SelectorSet == nil {
		return ""
	}
	for _, s := range h.SelectorSet.Selectors {
		if s.Name == name {
			return strings.TrimSpace(s.Value)
		}
	}
	return ""
}

func (h *header) options() map[string]string {
	m := map[string]string{}
	if h.OptionSet != nil {
		for _, o := range h.OptionSet.Options {
			m[o.Name] = strings.TrimSpace(o.Value)
		}
	}
	return m
}

type body struct {
	Shell       *shellBody   `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Shell"`
	CommandLine *commandLine `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell CommandLine"`
	Send        *sendBody    `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Send"`
	Receive     *receiveBody `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Receive"`
	Signal      *signalBody  `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Signal"`
}

type shellBody struct {
	InputStreams     string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell InputStreams"`
	OutputStreams    string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell OutputStreams"`
	WorkingDirectory string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell WorkingDirectory"`
	IdleTimeOut      string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell IdleTimeOut"`
}

type commandLine struct {
	Command   string   `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Command"`
	Arguments []string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Arguments"`
}

type sendBody struct {
	Streams []stream `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Stream"`
}

type stream struct {
	Name      string `xml:"Name,attr"`
	CommandID string `xml:"CommandId,attr"`
	End       string `xml:"End,attr"`
	Data      string `xml:",chardata"`
}

type receiveBody struct {
	DesiredStream struct {
		CommandID string `xml:"CommandId,attr"`
		Streams   string `xml:",chardata"`
	} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell DesiredStream"`
}

type signalBody struct {
	CommandID string `xml:"CommandId,attr"`
	Code      string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Code"`
}

// parseBool reads xs:boolean as Windows does, case-insensitively (pypsrp
// sends End="True").
func parseBool(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1":
		return true
	}
	return false
}

var durationRE = regexp.MustCompile(`^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$`)

// parseDuration reads an xs:duration such as PT60S, PT60.000S or P0DT0H1M.
func parseDuration(s string) (time.Duration, error) {
	m := durationRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil || s == "P" || s == "PT" {
		return 0, fmt.Errorf("invalid xs:duration %q", s)
	}
	var d time.Duration
	units := []time.Duration{24 * time.Hour, time.Hour, time.Minute}
	for i, u := range units {
		if m[i+1] != "" {
			n, err := strconv.Atoi(m[i+1])
			if err != nil {
				return 0, err
			}
			d += time.Duration(n) * u
		}
	}
	if m[4] != "" {
		f, err := strconv.ParseFloat(m[4], 64)
		if err != nil {
			return 0, err
		}
		d += time.Duration(f * float64(time.Second))
	}
	return d, nil
}

// newUUID returns "uuid:" and a random (version 4) UUID in upper case, as
// Windows writes them.
func newUUID() string {
	return "uuid:" + newGUID()
}

func newGUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return strings.ToUpper(fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]))
}

func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// Namespace declarations of Windows' responses.
const (
	nsDecls      = ` xmlns:s="` + NSSOAP + `" xmlns:a="` + NSAddress + `" xmlns:x="` + NSTransfer + `" xmlns:w="` + NSWSMan + `" xmlns:rsp="` + NSShell + `" xmlns:p="` + NSMSWSMan + `"`
	faultNSDecls = ` xmlns:s="` + NSSOAP + `" xmlns:a="` + NSAddress + `" xmlns:x="` + NSTransfer + `" xmlns:e="http://schemas.xmlsoap.org/ws/2004/08/eventing" xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration" xmlns:w="` + NSWSMan + `" xmlns:p="` + NSMSWSMan + `"`
)

// response wraps body in a SOAP envelope answering the request whose
// MessageID is relatesTo.
func response(action, relatesTo, body string) string {
	return `<s:Envelope xml:lang="en-US"` + nsDecls + `><s:Header><a:Action>` + action +
		`</a:Action><a:MessageID>` + newUUID() + `</a:MessageID><a:To>` + anonymous +
		`</a:To><a:RelatesTo>` + esc(relatesTo) + `</a:RelatesTo></s:Header><s:Body>` + body + `</s:Body></s:Envelope>`
}
