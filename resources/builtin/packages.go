package builtin

import "github.com/tendhq/tend/resources"

func packages() []resources.Type { return nil }
