package cli

import (
	"context"
	"fmt"

	"github.com/tendhq/tend/inventory"
	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/transport"
	"github.com/tendhq/tend/transport/local"
)

// connector opens each host's transport as its inventory entry says.
func (c *common) connector() plan.Connector {
	return func(ctx context.Context, h *inventory.Host) (transport.Transport, error) {
		switch h.Transport {
		case "local", "":
			return local.New(), nil
		case "ssh":
			return dialSSH(ctx, h, c)
		case "winrm":
			return dialWinRM(ctx, h, c)
		default:
			return nil, fmt.Errorf("transport %q is not supported yet", h.Transport)
		}
	}
}
