package cli

import (
	"context"

	"github.com/tendhq/tend/inventory"
	"github.com/tendhq/tend/transport"
	"github.com/tendhq/tend/transport/ssh"
)

func dialSSH(ctx context.Context, h *inventory.Host, c *common) (transport.Transport, error) {
	return ssh.Dial(ctx, h, ssh.Options{AcceptNewHostKeys: c.acceptNew, Stderr: c.io.Stderr})
}
