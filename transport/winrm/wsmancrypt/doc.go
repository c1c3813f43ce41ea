// Package wsmancrypt is WinRM's message encryption over plain HTTP
// (MS-WSMV 2.2.9.1): the multipart/encrypted and
// multipart/x-multi-encrypted framing of a SOAP envelope sealed with the
// security context of the connection's NTLM or Kerberos authentication,
// and the two ways of sealing: NTLM session security (MS-NLMP 3.4: RC4
// sealing and HMAC-MD5 signatures keyed per direction, with sequence
// numbers) and Kerberos GSS-API Wrap tokens with confidentiality
// (RFC 4121 4.2.6.2, AES etypes). The WinRM client and the WS-Management
// test server share it; interoperability is checked against pywinrm.
package wsmancrypt
