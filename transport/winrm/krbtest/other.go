//go:build !linux

// The realm is MIT Kerberos' KDC, run on Linux: elsewhere the package
// is empty, and the tests that use it are built on Linux only.

package krbtest
