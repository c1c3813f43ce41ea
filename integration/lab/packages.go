package lab

import "slices"

// DatabasePackages are the Debian 12 packages of the database servers the
// db_user and db_grant tests manage: PostgreSQL 15 and MariaDB 10.11
// (Options.Packages). Lab hosts share the machine's loopback addresses,
// so in their image the servers listen on their Unix sockets only
// (PostgreSQL listen_addresses = ”, MariaDB skip-networking): two hosts
// would otherwise fight over 127.0.0.1:5432 and *:3306. A test that wants
// TCP binds the server to the host's own address (Host.Address).
var DatabasePackages = []string{"postgresql-15", "mariadb-server"}

// socketOnly is the configuration of DatabasePackages' servers in the
// image, applied after they are installed.
var socketOnly = [][]string{
	{"sh", "-c", "echo \"listen_addresses = ''\" > /etc/postgresql/15/main/conf.d/tend-lab.conf"},
	{"sh", "-c", "printf '[mysqld]\\nskip-networking\\n' > /etc/mysql/mariadb.conf.d/99-tend-lab.cnf"},
}

// withPackages is r with extra packages installed by apt in the new image,
// from the image's own sources; apt's lists are removed again. Services
// are not started in the chroot (policy-rc.d), and each package's
// postinst still runs: PostgreSQL's cluster and MariaDB's system tables
// are created in the image, so every host boots with them ready. A
// different package list is a different recipe, so it gets its own cached
// image.
func withPackages(r recipe, pkgs []string) recipe {
	if len(pkgs) == 0 {
		return r
	}
	cmds := r.Commands[:len(r.Commands):len(r.Commands)]
	install := append([]string{"apt-get", "install", "-y", "-q", "--no-install-recommends"}, pkgs...)
	r.Commands = append(cmds,
		[]string{"sh", "-c", "printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d"},
		[]string{"apt-get", "update", "-qq"},
		install,
	)
	if slices.Contains(pkgs, "postgresql-15") && slices.Contains(pkgs, "mariadb-server") {
		r.Commands = append(r.Commands, socketOnly...)
	}
	r.Commands = append(r.Commands,
		[]string{"apt-get", "clean"},
		[]string{"sh", "-c", "rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d"},
	)
	return r
}
