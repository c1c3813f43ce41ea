package engine_test

import (
	"context"
	"io"
	"io/fs"

	"github.com/tendhq/tend/transport"
	"github.com/tendhq/tend/transport/local"
)

// localSh runs scripts with the local transport (probe scripts of the
// fake types print their state).
type localSh struct{}

func (localSh) Run(ctx context.Context, c transport.Command) (*transport.Result, error) {
	return local.New().Run(ctx, c)
}
func (localSh) Upload(context.Context, string, io.Reader, fs.FileMode) error { return nil }
func (localSh) Download(context.Context, string, io.Writer) error            { return nil }
func (localSh) Close() error                                                 { return nil }
