package cli

import (
	"context"

	"github.com/tendhq/tend/inventory"
	"github.com/tendhq/tend/transport"
	"github.com/tendhq/tend/transport/ssh"
)

// dialSSH connects to h; hosts behind the same jump host share one
// connection to it for the whole command.
func dialSSH(ctx context.Context, h *inventory.Host, c *common) (transport.Transport, error) {
	c.jumpsOnce.Do(func() { c.jumps = ssh.NewJumpHosts() })
	return ssh.Dial(ctx, h, ssh.Options{AcceptNewHostKeys: c.acceptNew, Stderr: c.io.Stderr, Jumps: c.jumps})
}

// connectRateFlag is --connect-rate: a transport.ConnectRate, nil for no
// limit.
type connectRateFlag struct{ rate *transport.ConnectRate }

func (f *connectRateFlag) String() string { return f.rate.String() }
func (f *connectRateFlag) Type() string   { return "rate" }
func (f *connectRateFlag) Set(s string) error {
	r, err := transport.ParseConnectRate(s)
	if err != nil {
		return err
	}
	f.rate = r
	return nil
}
