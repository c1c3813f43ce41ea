// Command gen writes docs/resources.md from the built-in resource types'
// schemas: `go run ./docs/gen > docs/resources.md`. A test fails when the
// committed file is out of date.
package main

import (
	"os"

	"github.com/tendhq/tend/resources"
)

func main() {
	os.Stdout.WriteString(resources.Markdown(resources.Builtins()))
}
