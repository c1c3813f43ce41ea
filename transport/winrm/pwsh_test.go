package winrm

import (
	"context"
	"errors"
	osexec "os/exec"
	"strings"
	"testing"

	"github.com/tendhq/tend/transport"
	"github.com/tendhq/tend/transport/winrm/wsmantest"
)

// TestRealPowerShell runs tend's real bootstrap and file scripts with
// PowerShell 7 (pwsh) behind the test server, in place of Windows'
// powershell.exe. pwsh is not packaged for Debian, so this runs only where
// someone installed it (a developer's machine); everywhere else the
// PowerShell is pinned by the golden files and the Go stand-in.
func TestRealPowerShell(t *testing.T) {
	pwsh, err := osexec.LookPath("pwsh")
	if err != nil {
		t.Skip("pwsh not installed: the PowerShell bootstrap is checked by golden files only")
	}
	srv := startServer(t, nil, wsmantest.Options{
		Executor: wsmantest.ProcessExecutor(func(argv []string) ([]string, error) {
			if len(argv) == 0 || argv[0] != "powershell.exe" {
				return nil, errors.New("not powershell.exe")
			}
			return append([]string{pwsh}, argv[1:]...), nil
		}),
	})
	tr := dialT(t, hostFor(t, srv, AuthNTLM), Options{})
	ctx := context.Background()

	for name, c := range map[string]struct {
		script, stdin string
		stdout, err   string
		status        int
	}{
		"output":      {script: "[Console]::Out.Write('hello')", stdout: "hello"},
		"exit":        {script: "[Console]::Out.Write('x'); exit 3", stdout: "x", status: 3},
		"throw":       {script: "throw 'boom'", err: "boom", status: 1},
		"stdin":       {script: "[Console]::Out.Write((Read-TendStdinText).ToUpper())", stdin: "héllo wörld", stdout: "HÉLLO WÖRLD"},
		"no stdin":    {script: "[Console]::Out.Write((Read-TendStdin).Length)", stdout: "0"},
		"write-error": {script: "Write-Error 'bad thing'", err: "bad thing", status: 1},
		"unicode":     {script: "[Console]::Out.Write('✓ é')", stdout: "✓ é"},
	} {
		t.Run(name, func(t *testing.T) {
			var stdin *strings.Reader
			cmd := transport.Command{Script: c.script}
			if c.stdin != "" {
				stdin = strings.NewReader(c.stdin)
				cmd.Stdin = stdin
			}
			res, err := tr.Run(ctx, cmd)
			if err != nil {
				t.Fatal(err)
			}
			if string(res.Stdout) != c.stdout || res.ExitStatus != c.status || !strings.Contains(string(res.Stderr), c.err) {
				t.Errorf("stdout %q, status %d, stderr %q", res.Stdout, res.ExitStatus, res.Stderr)
			}
		})
	}

}
