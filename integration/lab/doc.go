// Package lab boots real Debian hosts on this machine for end-to-end tests:
// each host runs systemd, sshd, cron and apt in its own PID, mount, UTS,
// IPC and cgroup namespaces, on an overlay of one cached base image, with
// sshd listening on its own loopback address 127.0.10.N.
//
// # Gate
//
// End-to-end tests run only with TEND_LAB=1; this is the project's one gate
// for them. Start such a test with Required(t), or with StartT, which calls
// it:
//
//	func TestApplyOnDebian(t *testing.T) {
//		l := lab.StartT(t, lab.Options{Hosts: 3})
//		if err := l.WriteInventory(filepath.Join(dir, "inventory.hcl")); err != nil { ... }
//		...
//	}
//
// Without TEND_LAB=1 the test is skipped. With TEND_LAB=1 it fails (it is
// not skipped) when the machine cannot run a lab: not root, or a tool
// missing. integration/scripts/lab-deps.sh installs the tools (debootstrap,
// the OpenSSH client, util-linux, iproute2). Run the lab's own tests with:
//
//	sudo integration/scripts/lab-deps.sh
//	TEND_LAB=1 go test ./integration/lab/
//
// # Base image
//
// The first Start builds the base with debootstrap (minbase bookworm plus
// openssh-server, sudo, cron, systemd, dbus, iproute2, procps; about a
// minute) into /var/cache/tend-lab/base-bookworm-HASH, where HASH covers the
// whole recipe: changing it builds a new image. The build goes to a
// temporary directory renamed into place when complete, under a flock, and
// debootstrap is retried three times, each run in PID and mount namespaces
// that die with the test process; downloaded packages are kept in
// /var/cache/tend-lab/debs. Images of older recipes are not removed:
// delete /var/cache/tend-lab to reclaim the space. The image has root (key login only), an
// unprivileged OpsUser in group sudo whose sudo always asks for
// OpsSudoPassword, and units masked that would fail in a namespace or touch
// the machine's kernel state (sysctl, modules, binfmt, /dev).
//
// # Hosts
//
// Each host gets an overlay (its Root, visible from the test), a hostname
// (Options.Name + N), a machine ID, an ed25519 SSH host key, and the lab's
// client key in root's and ops's authorized_keys; KnownHostsFile and
// ClientKeyFile let the OpenSSH client or tend's SSH transport log in with
// strict host key checking (SSHArgs and SSHCommand build such ssh command
// lines), WriteInventory writes a tend inventory of the lab, and Exec runs
// a command inside a host through nsenter, whatever state its sshd is in. Hosts boot in parallel as DESIGN.md describes
// (unshare, pivot_root, exec systemd), with additions confined to the host:
// /proc/sys and /sys read-only, its own cgroup2 tree, private devpts and
// /dev/shm, and /dev/console written to a per-host log (Host.ConsoleLog).
// Hosts share the machine's network namespace and kernel: tests must target
// only the hosts' addresses, and a host must not change kernel-wide
// settings.
//
// # Teardown
//
// Close kills each host's namespace init (which kills every process in it),
// unmounts the overlays and removes the cgroups, temporary directory and
// state file; StartT registers it with t.Cleanup. While a lab runs, SIGINT
// and SIGTERM close it before the process dies of the signal. If the test
// process dies anyway (SIGKILL, a test timeout), its hosts die with it
// (parent-death signals), and the next Start (or CleanStale) removes what
// remains, using the state file /run/tend-lab/ID.json. Labs of live
// processes are never touched, and a process is killed only if it is the
// recorded, marked namespace init of a lab host; concurrent labs (go test
// runs packages in parallel) get distinct addresses.
package lab
