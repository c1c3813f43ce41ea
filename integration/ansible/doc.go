// Package ansible holds the differential test of tend's inventory against
// Ansible itself: for a corpus of Ansible inventories (testdata/, one
// directory per case, with the -i sources and the host patterns to try),
// the hosts, groups and vars tend reads must equal what ansible-inventory
// prints, and the hosts every pattern selects must equal what
// `ansible all --list-hosts --limit PATTERN` lists.
//
// ansible-inventory prints Jinja templates as written; a variable holding
// one is compared with what Ansible renders it to (ansible_render.py runs
// Ansible's own VariableManager and Templar for the host, and the
// ansible command's debug module must agree on some of them). A variable
// Ansible cannot render must have no value in tend either.
//
// It needs ansible-core (integration/scripts/ansible-deps.sh installs
// Debian's) and runs with the project's end-to-end gate:
//
//	sudo integration/scripts/ansible-deps.sh
//	TEND_LAB=1 go test ./integration/ansible/
//
// With TEND_LAB=1 and ansible-inventory missing the test fails rather
// than skips.
//
// TestDifferentialVault does the same for an inventory written at test
// time with ansible-vault (whole files, inline values, two vault ids, a
// client script), and checks that a missing or wrong password, or a
// tampered file, fails in tend as it does in Ansible.
//
// Host selections are compared as sets: tend lists hosts in name order,
// Ansible in inventory order. Where tend deliberately differs from
// Ansible the test accepts exactly that difference and nothing else: a
// plain name that matches no host or group is an error in tend (Ansible
// warns "Could not match supplied host pattern" and selects nothing).
package ansible
