//go:build !linux

// The server is Debian's PostgreSQL, run on Linux: elsewhere the
// package is empty, and the tests that use it are built on Linux only.

package pgtest
