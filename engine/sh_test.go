package engine_test

import (
	"context"

	"github.com/tendhq/tend/transport"
	"github.com/tendhq/tend/transport/local"
)

// localSh runs scripts with the local transport (probe scripts of the
// fake types print their state).
type localSh struct{}

func (localSh) Run(ctx context.Context, c transport.Command) (*transport.Result, error) {
	return local.New().Run(ctx, c)
}
func (localSh) Close() error { return nil }
