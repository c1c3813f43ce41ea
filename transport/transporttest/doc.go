// Package transporttest is the conformance suite that every
// transport.Transport to a POSIX host must pass (local, ssh; the scripts
// it runs are sh): exit status, separate stdout and stderr, stdin streamed
// and closed at EOF, large scripts, hostile arguments through shell.Quote,
// cancellation that kills the script's children, concurrency, file
// transfer (mode, atomic replace, missing files as fs.ErrNotExist) and an
// idempotent Close. Call Run from a transport's tests:
//
//	func TestConformance(t *testing.T) {
//		transporttest.Run(t, func(t *testing.T) transport.Transport {
//			return openMyTransport(t)
//		})
//	}
package transporttest
