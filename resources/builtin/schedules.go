package builtin

import (
	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/resources/schedule"
)

func schedules() []resources.Type { return []resources.Type{schedule.Task{}} }
