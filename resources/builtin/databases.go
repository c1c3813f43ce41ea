package builtin

import (
	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/resources/db"
)

// databases is the database family: accounts and privileges on database
// servers the hosts run, over connections through the host's transport.
func databases() []resources.Type { return []resources.Type{db.User{}, db.Grant{}} }
