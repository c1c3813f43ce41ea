// Package winrm is tend's WinRM transport for Windows hosts: one HTTP(S)
// client and one remote shell (WS-Management's Windows Remote Shell) per
// host for a whole run, PowerShell scripts streamed over the shell's
// stdin.
//
// # Connecting
//
// Dial reads the inventory host's winrm block: https (port 5986, else
// 5985), auth, user and password (falling back to the host's), ca_file,
// server_name, cert_thumbprint, insecure, insecure_http, and for Kerberos
// keytab, kerberos_service and kerberos_hostname. Authentication is NTLM (the
// default, in the Negotiate HTTP scheme), Basic, Kerberos (SPNEGO in the
// Negotiate scheme; see kerberos.go for where credentials come from), or a
// TLS client certificate (Options.ClientCertFile and ClientKeyFile).
// Over plain HTTP, NTLM and Kerberos encrypt every message, as Windows
// requires there by default (AllowUnencrypted = false): each connection is
// authenticated once by an empty POST, and every SOAP envelope on it is
// sealed with that authentication's keys (NTLM session security, or
// Kerberos Wrap tokens) in MS-WSMV's multipart/encrypted framing (see
// sealed.go and package wsmancrypt); answers in clear text and messages
// that do not unseal are errors. insecure_http = true turns that off and
// sends everything in clear text (for listeners with AllowUnencrypted),
// with a warning on Options.Stderr; Basic, which cannot encrypt, needs it
// over HTTP. HTTPS verifies the server's certificate against the system
// roots or ca_file, for the host's address or server_name; cert_thumbprint
// instead pins the listener's certificate by its SHA-256, whoever signed
// it (a *PinError names both thumbprints); insecure = true skips
// verification and is printed as a warning every time a host is dialled.
// With NTLM, tend never falls back to Basic when a server does not offer
// Negotiate.
//
// Dial creates the shell at once (with Kerberos, after getting the service
// ticket from the KDC), so that wrong credentials, a missing or expired
// ticket, an unknown service principal, an unreachable KDC, an untrusted
// certificate or an unreachable endpoint fail there, with an *HTTPError
// (401 names the schemes the server offers) or a *FaultError. The shell
// is kept until Close; if the server forgets it (its idle timeout), the
// next command creates another, once.
//
// # Running scripts
//
// Each Run is one Command in the shell, at most Options.MaxCommands at a
// time. The command line is always the same short bootstrap,
//
//	powershell.exe -NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand ...
//
// started without cmd.exe (WINRS_SKIP_CMD_SHELL) with stdin as a pipe
// (WINRS_CONSOLEMODE_STDIN=FALSE). The script itself travels on stdin,
// because a command line is limited (cmd.exe: 8191 characters; an
// -EncodedCommand carries about 3,000 characters of script) while stdin is
// not: the bootstrap reads the script, framed in base64 lines with its
// length and SHA-256, then leaves the rest of stdin, the caller's bytes,
// to the script (see launch.go for the format, bootstrap.ps1 for the
// program). Only ASCII crosses the wire, so no code page or console
// translation can alter it, and both the script and the caller's stdin are
// checked against their SHA-256 on the host.
//
// The script runs with $ErrorActionPreference = 'Stop',
// $ProgressPreference = 'SilentlyContinue' and UTF-8 output (without a
// byte order mark). It reads its stdin with Read-TendStdin (bytes),
// Read-TendStdinText (UTF-8 text) or Copy-TendStdin STREAM; the stdin's
// hash is checked when the reader reaches its end, and a mismatch is a
// terminating error. Its exit status is 0 when it ends, N after exit N,
// and 1 after an uncaught error, whose message and position go to stderr.
// Names beginning with "tend" are reserved. Write exact bytes with
// [Console]::Out.Write; Write-Output ends each object with CRLF.
//
// Output comes back with Receive requests, which the server holds for up
// to Options.OperationTimeout (a long poll) and answers with the
// w:TimedOut fault when there is nothing to say: the transport polls
// again, so a command may run for any length of time, and the HTTP
// response timeout is always longer than the OperationTimeout. PowerShell
// writes its error streams as CLIXML when redirected; Run decodes them
// (DecodeCLIXML) so Result.Stderr holds readable text. The bootstrap
// prints a per-run marker first: when it is missing, PowerShell never ran
// the bootstrap and Run returns an error rather than an exit status.
//
// Cancelling a Run's context returns the context's error at once and, in
// the background, aborts the command's requests and sends the terminate
// Signal, which ends the process on Windows. A finished command is
// released with the same Signal. Close waits for those, deletes the
// shell and closes the connections.
//
// # Files
//
// File content travels on a script's stdin, streamed in Sends that fit the
// envelope size (so its size is unlimited and never held in memory); the
// file resource's script writes it to a temporary file next to the target
// and checks its SHA-256 before it replaces the target
// ([IO.File]::Replace). Paths are quoted for PowerShell by Quote.
//
// # Run lock
//
// The WinRM transport does not implement transport.Locker: a Windows host
// has no flock(1), and a lock that the host releases when the controller
// dies would need a process tied to the shell's life (a named mutex held
// by a command of the shell, released when WinRM deletes an idle shell).
// The run engine runs without a host lock on such hosts.
//
// # masterzen/winrm
//
// The SOAP messages are built with github.com/masterzen/winrm (its
// request builders and soap package). Its Client, Shell and Command types
// are not used: they hide the shell and command ids, take no context,
// build an HTTP transport per client, treat an HTTP 500 as an answer
// (its Post cannot report an error status, so an empty shell or command
// id comes back with a nil error), send a script through the command line
// (RunWithString hangs when a command reads stdin to EOF), never send the
// end of stdin (WriteClose marks the stream closed before writing, so
// nothing is sent) and lose the error of a failed Send. Its Parameters are
// built per host, never DefaultParameters, a shared pointer. Its XML
// builder does not escape values, so every id the server sends is checked
// before it goes back into a request.
package winrm
