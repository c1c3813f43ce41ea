#!/bin/sh
# bench-deps.sh installs what the benchmark (integration/bench) runs on the
# controller besides the lab (integration/scripts/lab-deps.sh): ansible-core
# from Debian's packages (the comparison peer), the OpenSSH client (the
# xargs floor) and findutils (xargs). Idempotent: it does nothing when
# everything is there. Retries apt because mirrors flake. Run it as root.
set -eu

need=""
command -v ansible-playbook >/dev/null 2>&1 || need="$need ansible-core"
command -v ssh >/dev/null 2>&1 || need="$need openssh-client"
command -v xargs >/dev/null 2>&1 || need="$need findutils"

if [ -z "$need" ]; then
	echo "bench-deps: ansible-core, openssh-client and findutils already installed ($(ansible-playbook --version 2>/dev/null | head -n 1))"
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
			echo "bench-deps: giving up after $n attempts: $*" >&2
			return 1
		fi
		echo "bench-deps: attempt $n failed, retrying in $((n * 5))s: $*" >&2
		sleep $((n * 5))
		n=$((n + 1))
	done
}

retry $SUDO apt-get update -qq
# shellcheck disable=SC2086 # $need is a list of package names
retry $SUDO apt-get install -y -qq --no-install-recommends $need
echo "bench-deps: installed:$need"
