package builtin

import "github.com/tendhq/tend/resources"

func schedules() []resources.Type { return nil }
