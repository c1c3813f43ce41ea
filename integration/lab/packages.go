package lab

// DatabasePackages are the Debian 12 packages of the database servers the
// db_user and db_grant tests manage: PostgreSQL 15 and MariaDB 10.11
// (Options.Packages).
var DatabasePackages = []string{"postgresql-15", "mariadb-server"}

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
		[]string{"apt-get", "clean"},
		[]string{"sh", "-c", "rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d"},
	)
	return r
}
