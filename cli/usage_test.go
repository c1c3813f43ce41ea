package cli

import (
	"io"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// TestFlagUsageHasNoBackquotes checks every flag's description: pflag
// takes a `quoted` word in it as the flag's value name, so `--out tend
// apply FILE` would show in --help.
func TestFlagUsageHasNoBackquotes(t *testing.T) {
	root := newRoot(IO{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard, ui: &jsonUI{w: io.Discard}})
	var walk func(c *cobra.Command)
	n := 0
	walk = func(c *cobra.Command) {
		check := func(f *pflag.Flag) {
			n++
			if strings.Contains(f.Usage, "`") {
				t.Errorf("%s --%s: a backquote in %q becomes the value name in --help", c.CommandPath(), f.Name, f.Usage)
			}
		}
		c.Flags().VisitAll(check)
		c.PersistentFlags().VisitAll(check)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	if n < 20 {
		t.Fatalf("only %d flags checked", n)
	}
}
