package cli

import (
	"context"

	"github.com/tendhq/tend/inventory"
	"github.com/tendhq/tend/transport"
	"github.com/tendhq/tend/transport/winrm"
)

// dialWinRM opens a Windows host's WinRM shell; warnings (insecure TLS,
// plain HTTP) go to stderr on every run.
func dialWinRM(ctx context.Context, h *inventory.Host, c *common) (transport.Transport, error) {
	return winrm.Dial(ctx, h, winrm.Options{Stderr: c.io.Stderr})
}
