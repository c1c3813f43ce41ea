// Package builtin lists tend's built-in resource types: the explicit list
// the configuration language, the CLI and the documentation use. Each
// family lives in its own package; each has its own function here.
package builtin

import "github.com/tendhq/tend/resources"

// Types returns every built-in resource type, in documentation order.
func Types() []resources.Type {
	var out []resources.Type
	out = append(out, resources.Core()...)
	out = append(out, packages()...)
	out = append(out, services()...)
	out = append(out, schedules()...)
	out = append(out, accounts()...)
	out = append(out, lines()...)
	out = append(out, windows()...)
	out = append(out, databases()...)
	return out
}
