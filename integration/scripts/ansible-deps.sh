#!/bin/sh
# ansible-deps.sh installs what the Ansible differential test
# (integration/ansible) compares tend against: ansible-core from Debian's
# packages, which provides ansible and ansible-inventory. Idempotent: it
# does nothing when both commands are already there. Retries apt because
# mirrors flake.
set -eu

if command -v ansible-inventory >/dev/null 2>&1 && command -v ansible >/dev/null 2>&1; then
	echo "ansible-deps: ansible-core already installed ($(ansible --version 2>/dev/null | head -n 1))"
	exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
retry() {
	n=1
	while :; do
		if "$@"; then
			return 0
		fi
		if [ "$n" -ge 4 ]; then
			echo "ansible-deps: giving up after $n attempts: $*" >&2
			return 1
		fi
		echo "ansible-deps: attempt $n failed, retrying in $((n * 5))s: $*" >&2
		sleep $((n * 5))
		n=$((n + 1))
	done
}

retry $SUDO apt-get update -qq
retry $SUDO apt-get install -y -qq --no-install-recommends ansible-core
echo "ansible-deps: installed ansible-core ($(ansible --version | head -n 1))"
