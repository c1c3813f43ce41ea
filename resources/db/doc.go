// Package db holds the database resource types, db_user and db_grant:
// accounts and privileges on PostgreSQL, MySQL/MariaDB, MSSQL and Oracle
// servers that a host runs. They read current state over a database
// connection (resources.DirectReader) opened with the engine's pure-Go
// driver through the host's own transport (transport.Dialer: an SSH
// channel to the server's TCP port or Unix socket, or a relay running as
// become_user), never by the host's probe script. Password verifiers are
// computed and compared on the controller (verifier.go).
//
// PostgreSQL and MariaDB are exercised against real servers in lab hosts
// (integration/e2e); MSSQL and Oracle statements and verifiers are
// unit-tested against published examples only.
package db
