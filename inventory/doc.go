// Package inventory holds the machines tend manages: hosts, the groups they
// belong to, the variables and connection settings each host ends up with,
// and the host-pattern language (`web:&prod:!web3`) that --target and a
// role's `hosts = "..."` use to pick among them.
//
// Sources (LoadContext) are tend's native HCL and what Ansible users
// already have, read with Ansible's semantics: INI and YAML inventories,
// dynamic inventory executables speaking Ansible's JSON protocol,
// inventory directories, group_vars/ and host_vars/, and host lists.
// Every source feeds one model shaped like Ansible's InventoryData
// (model.go), so sources of any format merge as Ansible merges them, and
// precedence is Ansible's: defaults, group "all", the host's other groups
// by depth, ansible_group_priority and name, group_vars files, the host,
// host_vars files. Ansible's connection variables (ansible_host,
// ansible_user, ...) become Host fields. With no inventory at all the
// target is Localhost.
//
// Patterns (Pattern, Inventory.Select) follow Ansible's rules, checked
// against Ansible itself by the differential test in
// integration/ansible, with one deliberate difference: a name that is
// neither a host nor a group is an error. Fact selectors (os:linux) use
// what the inventory says and an optional FactsCache.
//
// Everything here is static apart from running dynamic inventory
// scripts: no connections are made and no facts are gathered, so an
// Inventory can be built and checked by `tend validate`.
package inventory
