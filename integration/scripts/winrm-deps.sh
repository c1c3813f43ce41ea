#!/bin/sh
# winrm-deps.sh installs what the WinRM transport's interoperability test
# (transport/winrm, TEND_LAB=1) needs: pywinrm from Debian's packages
# (python3-winrm, with python3-requests-ntlm), the independent client that
# talks to tend's WS-Management test server. The test runs it with the
# system interpreter, /usr/bin/python3, so a pyenv or venv python on PATH
# does not matter. Idempotent: it does nothing when /usr/bin/python3 can
# already import winrm and requests_ntlm. Retries apt because mirrors flake.
set -eu

if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import winrm, requests_ntlm, cryptography' >/dev/null 2>&1; then
	echo "winrm-deps: python3-winrm already installed"
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
			echo "winrm-deps: giving up after $n attempts: $*" >&2
			return 1
		fi
		echo "winrm-deps: attempt $n failed, retrying in $((n * 5))s: $*" >&2
		sleep $((n * 5))
		n=$((n + 1))
	done
}

retry $SUDO apt-get update -qq
retry $SUDO apt-get install -y -qq --no-install-recommends python3 python3-winrm python3-requests-ntlm python3-cryptography
/usr/bin/python3 -c 'import winrm, requests_ntlm, cryptography'
echo "winrm-deps: installed python3-winrm"
