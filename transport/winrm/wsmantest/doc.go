// Package wsmantest is a WS-Management server for tests: the subset of the
// protocol that WinRM's Windows Remote Shell speaks (MS-WSMV), on net/http,
// so that tend's WinRM transport and independent clients such as pywinrm
// can be tested on a machine without Windows.
//
// # What is real
//
// The wire protocol is: SOAP 1.2 envelopes with WS-Addressing headers (the
// request's MessageID echoed in RelatesTo, Windows' Action URIs), HTTP
// POSTs to /wsman with the content type application/soap+xml;charset=UTF-8,
// WS-Transfer Create and Delete of a
// http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd shell, and the
// shell's Command, Send (stdin, with End), Receive and Signal (terminate,
// ctrl_c, ctrl_break) operations. Receive is a long poll, as on Windows: it
// answers as soon as the command has output or has finished, and with the
// w:TimedOut fault (HTTP 500, WSManFault code 2150858793) when the
// request's OperationTimeout passes with nothing to say. Faults carry the
// subcodes and WSManFault codes Windows uses for the same conditions where
// recorded traffic shows them (TimedOut, InvalidSelectors for an unknown
// shell or command); see faults.go for the others, which are this server's
// choice. The testdata directory holds traffic recorded from real Windows
// hosts; the package tests replay its requests against this server and
// compare the structure of the answers.
//
// Authentication is real too: Basic, NTLMv2 inside the Negotiate (or NTLM)
// HTTP scheme, verified against the known passwords with the NTLMv2
// response (HMAC-MD5 over the server challenge and the client's blob) and
// bound to the TCP connection as HTTP.sys does, client certificates (the
// WS-Management https/mutual security profile) over TLS, and Kerberos in
// the Negotiate (or Kerberos) scheme (Options.Keytab, AuthKerberos): the
// AP-REQ, SPNEGO-wrapped or bare, is checked with the service's keytab by
// gokrb5 (ticket decrypted with the service key, authenticator, clock
// skew, replays), mutual authentication is answered with an AP-REP, a
// refused AP-REQ with a KRB-ERROR token, and the connection stays
// authenticated. The user is the ticket's client principal (ops@REALM);
// there is no PAC and no mapping to local accounts.
//
// # What is simulated
//
// Commands do not run on Windows. Behind the protocol an Executor, a Go
// function the test supplies, plays the process: it sees the command line,
// reads stdin and writes stdout and stderr, returns the exit code, and
// its context is cancelled by Signal or Delete. ProcessExecutor runs a real
// local process instead (for example pwsh, when installed, in place of
// powershell.exe). Channel binding checks, CredSSP, PSRP (the
// Microsoft.PowerShell resource) and WS-Enumeration are not implemented.
//
// # Message encryption
//
// Over plain HTTP the server behaves like Windows with its default
// AllowUnencrypted = false: a SOAP body in clear text is refused with
// HTTP 400 (Options.AllowUnencrypted accepts it), and every message must
// be sealed with the security context of the connection's NTLM or
// Kerberos authentication (MS-WSMV 2.2.9.1: multipart/encrypted, or
// multipart/x-multi-encrypted in 16 KiB parts), and is answered sealed
// the same way (in 16 KiB parts with Options.ChunkAnswers). NTLM seals
// and signs with the session keys (key exchange supported), Kerberos
// with RFC 4121 Wrap tokens in the initiator's subkey or the ticket's
// session key, or in a subkey of the server's sent in the AP-REP
// (Options.KerberosAcceptorSubkey, as Windows does). A message that
// does not unseal (altered, replayed, another key) is refused with HTTP
// 400 saying why, and the connection must authenticate again. An empty
// POST that authenticates answers 200, as clients that encrypt send one
// first. The sealing is package wsmancrypt's, shared with tend's client;
// pywinrm checks it independently (transport/winrm's TEND_LAB tests).
package wsmantest
