// Package resources holds the resource type interface and tend's built-in
// types. A type declares its schema, contributes a probe (a POSIX sh
// fragment plus a parser) that reads a host's current state, applies a
// change, and reverts a change from its journaled pre-state. Diffing is
// generic and lives in package plan.
package resources
