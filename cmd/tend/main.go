// Command tend is agentless configuration management: declare desired
// state in HCL, plan it against hosts over SSH and WinRM, apply it with
// rollback. See the README.
package main

import (
	"os"

	"github.com/tendhq/tend/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:])) }
