package wsmantest

import (
	"fmt"
	"strconv"
)

// Fault is a SOAP fault the server answers with (HTTP 500, as Windows).
type Fault struct {
	// Code is the SOAP code: "s:Sender" or "s:Receiver".
	Code string
	// Subcode is the WS-Management subcode, e.g. "w:TimedOut".
	Subcode string
	// Reason is the human text.
	Reason string
	// Detail, when set, is a FaultDetail URI.
	Detail string
	// WSManCode is the WSManFault Code attribute (Windows' error number);
	// zero leaves the WSManFault element out.
	WSManCode uint32
	// Message is the WSManFault message; empty means Reason.
	Message string
}

func (f *Fault) Error() string { return fmt.Sprintf("%s %s: %s", f.Code, f.Subcode, f.Reason) }

// The faults Windows answers with, as recorded (testdata/recorded): the
// texts and codes of TimedOut and InvalidSelectors are Windows' own. The
// others are this server's choice of the nearest WS-Management subcode.
var (
	// FaultTimedOut answers a Receive that found no output within its
	// OperationTimeout.
	FaultTimedOut = Fault{
		Code: "s:Receiver", Subcode: "w:TimedOut", WSManCode: 2150858793,
		Reason: "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.  ",
	}
)

func faultUnknownShell(id string) *Fault {
	return &Fault{
		Code: "s:Sender", Subcode: "w:InvalidSelectors", WSManCode: 2150858843,
		Detail: "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/UnexpectedSelectors",
		Reason: "The WS-Management service cannot process the request because the request contained invalid selectors for the resource. ",
		Message: "The request for the Windows Remote Shell with ShellId " + id + " failed because the shell was not found on the server. " +
			"Possible causes are: the specified ShellId is incorrect or the shell no longer exists on the server. " +
			"Provide the correct ShellId or create a new shell and retry the operation. ",
	}
}

func faultUnknownCommand() *Fault {
	return &Fault{
		Code: "s:Sender", Subcode: "w:InvalidSelectors", WSManCode: 2150858843,
		Detail: "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/UnexpectedSelectors",
		Reason: "The WS-Management service cannot process the request because the request contained invalid selectors for the resource. ",
		Message: "The Windows Remote Shell received a request to perform an operation on a command identifier that does not exist. " +
			"Either the command has completed execution or the client specified an invalid command identifier. ",
	}
}

func faultSchema(why string) *Fault {
	return &Fault{
		Code: "s:Sender", Subcode: "w:SchemaValidationError", WSManCode: 2150859113,
		Reason:  "The SOAP XML in the message does not match the corresponding XML schema definition. Change the XML and retry. ",
		Message: why,
	}
}

func faultAction(action string) *Fault {
	return &Fault{
		Code: "s:Sender", Subcode: "a:ActionNotSupported",
		Reason: "The action is not supported by the service: " + action,
	}
}

func faultResource(uri string) *Fault {
	return &Fault{
		Code: "s:Sender", Subcode: "w:DestinationUnreachable",
		Reason: "The WS-Management service cannot process the request. The resource URI is not supported: " + uri,
	}
}

func faultEnvelopeSize(n, max int) *Fault {
	return &Fault{
		Code: "s:Sender", Subcode: "w:EncodingLimit",
		Reason: "The WS-Management service cannot process the request because the envelope size (" + strconv.Itoa(n) +
			" bytes) exceeds the maximum envelope size (" + strconv.Itoa(max) + " bytes).",
	}
}

// faultClosedPipe answers a Send for a command whose process no longer
// reads its stdin (Win32 error 232, ERROR_NO_DATA).
func faultClosedPipe() *Fault {
	return &Fault{
		Code: "s:Receiver", Subcode: "w:InternalError", WSManCode: 232,
		Reason: "The pipe is being closed. ",
	}
}

func faultTooManyShells(max int) *Fault {
	return &Fault{
		Code: "s:Receiver", Subcode: "w:QuotaLimit", WSManCode: 2150859174,
		Reason: "The WS-Management service cannot process the request. This user is allowed a maximum number of " + strconv.Itoa(max) + " shells, which has been exceeded. ",
	}
}

// xml renders the fault as Windows does, answering the request whose
// MessageID is relatesTo (left out when unknown).
func (f *Fault) xml(relatesTo, machine string) string {
	rel := ""
	if relatesTo != "" {
		rel = `<a:RelatesTo>` + esc(relatesTo) + `</a:RelatesTo>`
	}
	detail := ""
	if f.Detail != "" {
		detail += `<w:FaultDetail>` + esc(f.Detail) + `</w:FaultDetail>`
	}
	if f.WSManCode != 0 {
		msg := f.Message
		if msg == "" {
			msg = f.Reason
		}
		detail += `<f:WSManFault xmlns:f="` + NSWSManFault + `" Code="` + strconv.FormatUint(uint64(f.WSManCode), 10) +
			`" Machine="` + esc(machine) + `"><f:Message>` + esc(msg) + `</f:Message></f:WSManFault>`
	}
	if detail != "" {
		detail = `<s:Detail>` + detail + `</s:Detail>`
	}
	return `<s:Envelope xml:lang="en-US"` + faultNSDecls + `><s:Header><a:Action>` + ActionFault +
		`</a:Action><a:MessageID>` + newUUID() + `</a:MessageID><a:To>` + anonymous + `</a:To>` + rel +
		`</s:Header><s:Body><s:Fault><s:Code><s:Value>` + esc(f.Code) + `</s:Value><s:Subcode><s:Value>` + esc(f.Subcode) +
		`</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">` + esc(f.Reason) + `</s:Text></s:Reason>` +
		detail + `</s:Fault></s:Body></s:Envelope>`
}
