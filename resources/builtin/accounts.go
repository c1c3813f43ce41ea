package builtin

import "github.com/tendhq/tend/resources"

func accounts() []resources.Type { return nil }
