package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tendhq/tend/inventory"
	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/transport"
	"github.com/tendhq/tend/transport/local"
)

// connector opens each host's transport as its inventory entry says,
// remote ones no faster than --connect-rate.
// TEND_LOCK_DIR, when set, is where the local host's run lock is kept
// (default /run/lock, as on any host).
func (c *common) connector() plan.Connector {
	return func(ctx context.Context, h *inventory.Host) (transport.Transport, error) {
		if err := h.SecretErr(); err != nil {
			return nil, err
		}
		if h.Transport == "ssh" || h.Transport == "winrm" {
			if err := c.connectRate.rate.Wait(ctx); err != nil {
				return nil, err
			}
		}
		switch h.Transport {
		case "local", "":
			t := local.New()
			if d := os.Getenv("TEND_LOCK_DIR"); d != "" {
				t.LockPath = filepath.Join(d, transport.LockFileName)
			}
			return t, nil
		case "ssh":
			return dialSSH(ctx, h, c)
		case "winrm":
			return dialWinRM(ctx, h, c)
		default:
			return nil, fmt.Errorf("transport %q is not supported yet", h.Transport)
		}
	}
}
