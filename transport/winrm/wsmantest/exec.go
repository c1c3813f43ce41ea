package wsmantest

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
	"unicode/utf16"
)

// ProcessExecutor returns an Executor that runs each command as a real
// process on this machine: the command line (Command, then Arguments,
// split with Windows' rules) goes through rewrite, which returns the argv
// to run or an error (reported on stderr with exit status 9009, cmd.exe's
// "not recognized"). Stdin, stdout and stderr are wired to the protocol's
// streams; a signal or a deleted shell kills the process group.
//
// With rewrite mapping powershell.exe to pwsh, tend's real PowerShell
// bootstrap runs end to end on a machine that has PowerShell 7.
func ProcessExecutor(rewrite func(argv []string) ([]string, error)) Executor {
	return func(ctx context.Context, p *Process) int {
		argv := SplitCommandLine(strings.Join(append([]string{p.Command}, p.Arguments...), " "))
		argv, err := rewrite(argv)
		if err != nil {
			fmt.Fprintf(p.Stderr, "%v\r\n", err)
			return 9009
		}
		if len(argv) == 0 {
			fmt.Fprintf(p.Stderr, "empty command line\r\n")
			return 9009
		}
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdin = p.Stdin
		cmd.Stdout = p.Stdout
		cmd.Stderr = p.Stderr
		ownProcessGroup(cmd)
		cmd.WaitDelay = 2 * time.Second
		if err := cmd.Start(); err != nil {
			fmt.Fprintf(p.Stderr, "%v\r\n", err)
			return 9009
		}
		stop := context.AfterFunc(ctx, func() { killGroup(cmd) })
		defer stop()
		err = cmd.Wait()
		var exitErr *exec.ExitError
		switch {
		case err == nil:
			return 0
		case errors.As(err, &exitErr):
			if code := exitErr.ExitCode(); code >= 0 {
				return code
			}
			return 1 // killed: Windows reports the terminated process's code
		default:
			return 1
		}
	}
}

// SplitCommandLine splits a Windows command line into arguments the way
// CommandLineToArgvW does: whitespace separates, double quotes group, 2n
// backslashes before a quote are n backslashes and a quote that toggles
// quoting, 2n+1 are n backslashes and a literal quote.
func SplitCommandLine(s string) []string {
	var args []string
	var cur strings.Builder
	inQuotes, have := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			n := 0
			for i < len(s) && s[i] == '\\' {
				n++
				i++
			}
			if i < len(s) && s[i] == '"' {
				cur.WriteString(strings.Repeat(`\`, n/2))
				if n%2 == 1 {
					cur.WriteByte('"')
				} else {
					inQuotes = !inQuotes
				}
				have = true
			} else {
				cur.WriteString(strings.Repeat(`\`, n))
				i--
				have = true
			}
		case c == '"':
			inQuotes = !inQuotes
			have = true
		case (c == ' ' || c == '\t') && !inQuotes:
			if have {
				args = append(args, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteByte(c)
			have = true
		}
	}
	if have {
		args = append(args, cur.String())
	}
	return args
}

// DecodeEncodedCommand returns the script a PowerShell -EncodedCommand
// argument carries (base64 of UTF-16LE).
func DecodeEncodedCommand(arg string) (string, error) {
	raw, err := base64.StdEncoding.DecodeString(arg)
	if err != nil {
		return "", err
	}
	if len(raw)%2 != 0 {
		return "", errors.New("odd number of bytes for UTF-16")
	}
	u := make([]uint16, len(raw)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(raw[2*i:])
	}
	return string(utf16.Decode(u)), nil
}
