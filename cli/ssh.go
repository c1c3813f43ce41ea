package cli

import (
	"context"
	"errors"

	"github.com/tendhq/tend/inventory"
	"github.com/tendhq/tend/transport"
)

func dialSSH(ctx context.Context, h *inventory.Host, c *common) (transport.Transport, error) {
	return nil, errors.New("the ssh transport is not available yet")
}
