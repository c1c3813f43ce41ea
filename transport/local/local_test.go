//go:build unix

package local_test

import (
	"testing"

	"github.com/tendhq/tend/transport"
	"github.com/tendhq/tend/transport/local"
	"github.com/tendhq/tend/transport/transporttest"
)

// TestConformance runs the transport contract every transport keeps.
func TestConformance(t *testing.T) {
	transporttest.Run(t, func(t *testing.T) transport.Transport { return local.New() })
}
