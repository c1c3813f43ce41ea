package ssh

import "github.com/tendhq/tend/inventory"

// LoginUser returns the user Dial would log in to h as: the inventory's,
// else the ssh config's User for the host, else the local user. It
// connects to nothing.
func LoginUser(h *inventory.Host, opts Options) (string, error) {
	s, err := resolve(h, &opts)
	if err != nil {
		return "", err
	}
	return s.target.user, nil
}
