package account

import (
	"context"

	"io"

	"github.com/tendhq/tend/transport"
)

// fakeTransport records the scripts run and their stdin; script i exits
// 1 when fail[i], printing out[i].
type fakeTransport struct {
	scripts, stdins []string
	fail            map[int]bool
	out             map[int]string
}

func (f *fakeTransport) Run(ctx context.Context, cmd transport.Command) (*transport.Result, error) {
	i := len(f.scripts)
	f.scripts = append(f.scripts, cmd.Script)
	in := []byte{}
	if cmd.Stdin != nil {
		in, _ = io.ReadAll(cmd.Stdin)
	}
	f.stdins = append(f.stdins, string(in))
	res := &transport.Result{Stdout: []byte(f.out[i])}
	if f.fail[i] {
		res.ExitStatus, res.Stderr = 1, []byte("failed on purpose")
	}
	return res, nil
}

func (f *fakeTransport) Close() error { return nil }
