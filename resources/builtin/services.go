package builtin

import "github.com/tendhq/tend/resources"

func services() []resources.Type { return nil }
