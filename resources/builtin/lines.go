package builtin

import "github.com/tendhq/tend/resources"

func lines() []resources.Type { return nil }
