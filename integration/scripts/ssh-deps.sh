#!/bin/sh
# ssh-deps.sh installs what the SSH transport's tests need: OpenSSH's server
# (the tests start their own sshd on loopback, never the system service) and
# client tools (ssh-keygen, ssh-keyscan). Idempotent: it does nothing when
# everything is already there. Retries apt because mirrors flake.
set -eu

need=""
[ -x /usr/sbin/sshd ] || need="$need openssh-server"
command -v ssh-keygen >/dev/null 2>&1 || need="$need openssh-client"
command -v sudo >/dev/null 2>&1 || need="$need sudo"

if [ -z "$need" ]; then
	echo "ssh-deps: openssh-server, openssh-client and sudo already installed"
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
			echo "ssh-deps: giving up after $n attempts: $*" >&2
			return 1
		fi
		echo "ssh-deps: attempt $n failed, retrying in $((n * 5))s: $*" >&2
		sleep $((n * 5))
		n=$((n + 1))
	done
}

# policy-rc.d keeps the package from starting the system sshd: tests run
# their own on loopback and must not find port 22 taken or opened.
policy=/usr/sbin/policy-rc.d
made_policy=""
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
	$SUDO chmod 0755 "$policy"
	made_policy=1
fi
cleanup() {
	if [ -n "$made_policy" ]; then
		$SUDO rm -f "$policy"
	fi
}
trap cleanup EXIT

retry $SUDO apt-get update -qq
# shellcheck disable=SC2086 # $need is a list of package names
retry $SUDO apt-get install -y -qq --no-install-recommends $need
echo "ssh-deps: installed:$need"
