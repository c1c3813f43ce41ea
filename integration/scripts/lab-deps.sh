#!/usr/bin/env bash
# lab-deps.sh installs what the end-to-end lab (integration/lab) needs on a
# Debian machine: debootstrap to build the base image, the OpenSSH client the
# tests drive the hosts with, and the util-linux/iproute2 tools the lab boots
# hosts with. It is idempotent: packages already installed are left alone and
# nothing is downloaded when everything is present. Run it as root.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

# Each package is checked by the command the lab actually runs, so a machine
# where the tool exists by other means is not touched.
declare -A need=(
	[debootstrap]=debootstrap
	[ssh]=openssh-client
	[ssh-keygen]=openssh-client
	[ip]=iproute2
	[unshare]=util-linux
	[nsenter]=util-linux
	[findmnt]=util-linux
	[flock]=util-linux
	[mount]=mount
	[setsid]=util-linux
	[pivot_root]=util-linux
	[sysctl]=procps
	[gpgv]=gpgv
)

missing=()
for cmd in "${!need[@]}"; do
	if ! command -v "$cmd" >/dev/null 2>&1; then
		missing+=("${need[$cmd]}")
	fi
done
# debootstrap verifies the Release file against Debian's archive keys.
if [ ! -e /usr/share/keyrings/debian-archive-keyring.gpg ]; then
	missing+=(debian-archive-keyring)
fi

if [ ${#missing[@]} -eq 0 ]; then
	echo "lab-deps: everything is installed"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "lab-deps: must run as root to install: ${missing[*]}" >&2
	exit 1
fi

# retry runs "$@" up to 3 times, sleeping 5 s then 15 s between tries, so a
# transient mirror or network failure does not fail the whole run.
retry() {
	local try=1 delay=5
	while true; do
		if "$@"; then
			return 0
		fi
		if [ "$try" -ge 3 ]; then
			echo "lab-deps: '$*' failed $try times, giving up" >&2
			return 1
		fi
		echo "lab-deps: '$*' failed (try $try), retrying in ${delay}s" >&2
		sleep "$delay"
		try=$((try + 1))
		delay=$((delay * 3))
	done
}

# Deduplicate (several commands come from one package).
mapfile -t pkgs < <(printf '%s\n' "${missing[@]}" | sort -u)
echo "lab-deps: installing ${pkgs[*]}"
retry apt-get update -q
retry apt-get install -y -q --no-install-recommends "${pkgs[@]}"
