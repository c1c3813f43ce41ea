package builtin

import (
	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/resources/registry"
)

func windows() []resources.Type { return []resources.Type{registry.Value{}} }
