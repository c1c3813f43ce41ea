#!/bin/sh
# pkg-deps.sh installs what the package resource's tests need on the
# controller: dpkg-dev (dpkg-deb, dpkg-scanpackages) to build the local apt
# repository, and the real dnf, rpm (with rpmbuild), createrepo_c, zypper
# and pacman the dnf/zypper/pacman providers are tested against in
# installroots (rpm is also the reference for version_compare's rpm
# ordering, lang/version_test.go). Idempotent: it does nothing when every tool is present.
# Retries apt because mirrors flake. Run it as root.
set -eu

need=""
command -v dpkg-deb >/dev/null 2>&1 || need="$need dpkg"
command -v dpkg-scanpackages >/dev/null 2>&1 || need="$need dpkg-dev"
command -v rpmbuild >/dev/null 2>&1 || need="$need rpm"
command -v createrepo_c >/dev/null 2>&1 || need="$need createrepo-c"
command -v dnf >/dev/null 2>&1 || need="$need dnf"
command -v zypper >/dev/null 2>&1 || need="$need zypper"
command -v pacman >/dev/null 2>&1 || need="$need pacman-package-manager"
# repo-add (pacman) needs bsdtar to read package archives.
command -v bsdtar >/dev/null 2>&1 || need="$need libarchive-tools"

if [ -z "$need" ]; then
	echo "pkg-deps: dpkg-dev, rpm, createrepo-c, dnf, zypper and pacman already installed"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "pkg-deps: must run as root to install:$need" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
retry() {
	n=1
	while :; do
		if "$@"; then
			return 0
		fi
		if [ "$n" -ge 4 ]; then
			echo "pkg-deps: giving up after $n attempts: $*" >&2
			return 1
		fi
		echo "pkg-deps: attempt $n failed, retrying in $((n * 5))s: $*" >&2
		sleep $((n * 5))
		n=$((n + 1))
	done
}

retry apt-get update -qq
# shellcheck disable=SC2086 # $need is a list of package names
retry apt-get install -y -qq --no-install-recommends $need
echo "pkg-deps: installed:$need"
