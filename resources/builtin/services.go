package builtin

import (
	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/resources/service"
)

func services() []resources.Type { return []resources.Type{service.Service{}} }
