package builtin

import (
	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/resources/pkg"
)

// packages is the package family: software packages through the host's
// package manager.
func packages() []resources.Type { return []resources.Type{pkg.Package{}} }
