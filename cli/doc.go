// Package cli is tend's command line: cobra commands wiring configuration,
// inventory, transports, planning and applying together. cmd/tend only
// calls Main; tests call it in-process.
package cli
