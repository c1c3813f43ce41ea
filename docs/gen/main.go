// Command gen writes docs/resources.md from the built-in resource types'
// schemas: `go run ./docs/gen > docs/resources.md`. A test fails when the
// committed file is out of date.
package main

import (
	"os"

	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/resources/builtin"
)

func main() {
	os.Stdout.WriteString(resources.Markdown(builtin.Types()))
}
