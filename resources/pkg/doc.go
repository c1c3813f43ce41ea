// Package pkg holds the package resource type: software packages
// installed, pinned, kept at the latest version or removed through the
// host's package manager.
//
// One type sits in front of several providers (apt, dnf, yum, zypper,
// pacman, apk). The type does not see the host's facts, so its probe
// detects the package manager itself (the first of apt-get, dnf, yum,
// zypper, apk and pacman on the host, as the facts do) unless the
// configuration names one. Each provider knows three things: the sh that
// reads the installed version and, only when the plan needs them, the
// versions the package index offers; how to parse those answers; and the
// commands of a transaction.
//
// A plan never refreshes a package index (dnf and zypper queries run
// from their caches): it is read-only and fast. Changes on a host are
// applied as a batch (resources.Batcher) in one package manager
// transaction where the manager allows it, and every transaction records
// the installed packages before and after, so each change is checked
// against what really happened and a rollback also undoes what the
// package manager did besides (dependencies installed, dependents
// removed).
//
// apt is tested on lab hosts (integration/e2e), dnf, zypper and pacman
// against the real binaries in installroots on the controller, and apk,
// which cannot run on Debian, against recorded output.
package pkg
