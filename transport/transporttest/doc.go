// Package transporttest is the conformance suite every transport.Transport
// must pass (local, ssh, winrm): run semantics (exit status, separate
// stdout and stderr, stdin streamed and closed, large scripts, hostile
// arguments through shell.Quote, cancellation, concurrency) and file
// transfer (mode, atomic replace, missing files as fs.ErrNotExist), and
// Close. Call Run from a transport's tests:
//
//	func TestConformance(t *testing.T) {
//		transporttest.Run(t, func(t *testing.T) transport.Transport {
//			return openMyTransport(t)
//		})
//	}
package transporttest
