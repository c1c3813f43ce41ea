package builtin

import (
	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/resources/account"
)

func accounts() []resources.Type { return []resources.Type{account.User{}, account.Group{}} }
