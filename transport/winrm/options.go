package winrm

import (
	"errors"
	"io"
	"time"
)

const (
	defaultConnectTimeout   = 10 * time.Second
	defaultOperationTimeout = 20 * time.Second
	// defaultResponseMargin is how much longer than OperationTimeout the
	// HTTP client waits for a response: a Receive long poll legitimately
	// takes OperationTimeout before the server answers w:TimedOut.
	defaultResponseMargin = 10 * time.Second
	defaultMaxCommands    = 8
	// defaultEnvelopeSize is the MaxEnvelopeSize tend announces and the
	// size its requests stay under: 150 KiB, the smallest server limit in
	// use (MaxEnvelopeSizekb on Windows Server 2008 R2; 500 KiB later).
	defaultEnvelopeSize = 153600
	defaultLocale       = "en-US"
	defaultPowerShell   = "powershell.exe"
)

// Options tune a Dial. The zero value is the safe default: HTTPS
// certificates verified, messages encrypted over plain HTTP, Basic
// refused there.
type Options struct {
	// ConnectTimeout bounds the TCP connect and the TLS handshake. Zero
	// means 10s.
	ConnectTimeout time.Duration
	// OperationTimeout is the WS-Management OperationTimeout sent with
	// every request: how long the server may hold a Receive before it
	// answers w:TimedOut (the client then polls again, so a command may
	// run for any length of time). Zero means 20s.
	OperationTimeout time.Duration
	// ResponseTimeout is how long the HTTP client waits for response
	// headers. It must exceed OperationTimeout, or every long poll would
	// fail; zero means OperationTimeout + 10s.
	ResponseTimeout time.Duration
	// MaxCommands bounds the commands run at once on the host's shell
	// (Windows allows 25 processes per shell by default). Zero means 8.
	MaxCommands int
	// MaxEnvelopeSize is the largest SOAP envelope tend sends and asks
	// for, in bytes; stdin travels in Sends that fit it. Zero means 153600
	// (150 KiB).
	MaxEnvelopeSize int
	// Locale is the WS-Management locale; empty means en-US.
	Locale string
	// PowerShell is the program the bootstrap runs; empty means
	// powershell.exe (Windows PowerShell 5.1). "pwsh.exe" selects
	// PowerShell 7.
	PowerShell string
	// ClientCertFile and ClientKeyFile are PEM files for certificate
	// authentication (auth = "certificate"; HTTPS only).
	ClientCertFile, ClientKeyFile string
	// KRB5Config is the krb5.conf Kerberos authentication reads; empty
	// means the first existing file of $KRB5_CONFIG, else /etc/krb5.conf.
	KRB5Config string
	// KRB5CCache is the credential cache Kerberos authentication reads
	// when the host has neither a password nor a keytab; empty means
	// $KRB5CCNAME, else /tmp/krb5cc_<uid>. Only FILE: caches are read.
	KRB5CCache string
	// Stderr receives warnings (insecure TLS, plain HTTP). Nil discards
	// them.
	Stderr io.Writer
}

func (o Options) withDefaults() (Options, error) {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = defaultConnectTimeout
	}
	if o.OperationTimeout <= 0 {
		o.OperationTimeout = defaultOperationTimeout
	}
	if o.OperationTimeout < time.Second {
		return o, errors.New("OperationTimeout below one second")
	}
	if o.ResponseTimeout <= 0 {
		o.ResponseTimeout = o.OperationTimeout + defaultResponseMargin
	}
	if o.ResponseTimeout <= o.OperationTimeout {
		return o, errors.New("ResponseTimeout must exceed OperationTimeout: a Receive may legitimately take OperationTimeout to answer")
	}
	if o.MaxCommands <= 0 {
		o.MaxCommands = defaultMaxCommands
	}
	if o.MaxEnvelopeSize <= 0 {
		o.MaxEnvelopeSize = defaultEnvelopeSize
	}
	if o.MaxEnvelopeSize < 16<<10 {
		return o, errors.New("MaxEnvelopeSize below 16 KiB")
	}
	if o.Locale == "" {
		o.Locale = defaultLocale
	}
	if o.PowerShell == "" {
		o.PowerShell = defaultPowerShell
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	return o, nil
}
