package lab

import (
	"fmt"
	"strings"
)

// Init systems a lab host can boot (Options.Init).
const (
	// InitSystemd boots systemd, the default.
	InitSystemd = "systemd"
	// InitSysVinit boots System V init (/sbin/init of sysvinit-core):
	// /etc/inittab, /etc/init.d scripts started from /etc/rc2.d, and
	// update-rc.d; no systemd at all on the host.
	InitSysVinit = "sysvinit"
	// InitOpenRC boots System V init whose rc wrappers run OpenRC
	// (Debian's openrc package): rc-service, rc-update, runlevels in
	// /etc/runlevels.
	InitOpenRC = "openrc"
)

// baseRecipe is the base image recipe of an init system.
func baseRecipe(init string) recipe {
	switch init {
	case InitSysVinit:
		return sysvinitBookworm()
	case InitOpenRC:
		return openrcBookworm()
	}
	return bookworm()
}

// sysvinitBookworm is the recipe of the System V init Debian 12 base, as
// DESIGN.md verified it: sysvinit-core with orphan-sysvinit-scripts (init
// scripts for packages that ship only systemd units), getty lines
// commented out of /etc/inittab (no consoles), and hwclock.sh removed (it
// would write the machine's hardware clock at shutdown). The rcS scripts
// that touch kernel state (procps's sysctl, brightness) fail harmlessly:
// /proc/sys and /sys are read-only in a lab host.
func sysvinitBookworm() recipe {
	sd := bookworm()
	files := map[string]baseFile{}
	for name, f := range sd.Files {
		if !strings.HasPrefix(name, "etc/systemd/") {
			files[name] = f
		}
	}
	return recipe{
		Version:  1,
		Suite:    "bookworm",
		Variant:  "minbase",
		Packages: []string{"openssh-server", "sudo", "cron", "sysvinit-core", "orphan-sysvinit-scripts", "iproute2", "procps"},
		Files:    files,
		Commands: append([][]string{
			{"sed", "-i", `s/^\([1-6]:[0-9]*:respawn:\)/#\1/`, "/etc/inittab"},
			{"rm", "-f", "/etc/init.d/hwclock.sh"},
			{"update-rc.d", "hwclock.sh", "remove"},
		}, sd.Commands...),
	}
}

// openrcBookworm is sysvinitBookworm with OpenRC in place of sysv-rc.
// debootstrap cannot swap the two (openrc conflicts with sysv-rc, which
// sysvinit-core pulls in), so apt installs openrc in the new image, from
// the image's own sources (the mirror the image was built from); apt's
// lists are removed again. Hosts boot more slowly than systemd ones (the
// rcS scripts run one after another): give them a longer BootTimeout.
func openrcBookworm() recipe {
	r := sysvinitBookworm()
	r.Commands = append(r.Commands[:len(r.Commands):len(r.Commands)],
		[]string{"apt-get", "update", "-qq"},
		[]string{"apt-get", "install", "-y", "-q", "--no-install-recommends", "openrc"},
		// The boot script mounts cgroup2 on /sys/fs/cgroup: OpenRC's
		// default "hybrid" mode would try cgroup v1 mounts it cannot make.
		[]string{"sed", "-i", `s/^#rc_cgroup_mode="hybrid"/rc_cgroup_mode="unified"/`, "/etc/rc.conf"},
		[]string{"apt-get", "clean"},
		[]string{"sh", "-c", "rm -rf /var/lib/apt/lists/*"},
	)
	return r
}

// bootScriptFor is the boot script of an init system: bootScript, whose
// last step execs systemd, or for System V init (and OpenRC, which it
// runs) the same script execing /sbin/init with container=lxc.
func bootScriptFor(init string) string {
	if init != InitSysVinit && init != InitOpenRC {
		return bootScript
	}
	i := strings.LastIndex(bootScript, "exec /usr/bin/env -i ")
	if i < 0 {
		panic("lab: bootScript no longer ends by exec'ing init through env -i")
	}
	return bootScript[:i] + `exec /usr/bin/env -i container=lxc TEND_LAB_ID="$TEND_LAB_ID" TEND_LAB_HOST="$TEND_LAB_HOST" \
	PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	/sbin/init
`
}

// checkInit validates Options.Init.
func checkInit(init string) error {
	switch init {
	case "", InitSystemd, InitSysVinit, InitOpenRC:
		return nil
	}
	return fmt.Errorf("lab: Init = %q, want %q, %q or %q", init, InitSystemd, InitSysVinit, InitOpenRC)
}
