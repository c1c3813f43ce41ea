// Package inventory holds the machines tend manages: hosts, the groups they
// belong to, the variables and connection settings each host ends up with,
// and the host-pattern language (`web:&prod:!web3`) that --target and a
// role's `hosts = "..."` use to pick among them.
//
// The native source is HCL (Load). Precedence, lowest to highest, is:
// the defaults block, then the host's groups ordered by depth and then by
// name (see Load), then the host block itself. With no inventory at all
// the target is Localhost.
//
// Everything here is static: no connections are made and no facts are
// known, so an Inventory can be built and checked by `tend validate`.
package inventory
