package builtin

import (
	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/resources/line"
)

func lines() []resources.Type { return []resources.Type{line.Line{}} }
