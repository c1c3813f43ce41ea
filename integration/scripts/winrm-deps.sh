#!/bin/sh
# winrm-deps.sh installs what the WinRM transport's interoperability tests
# (transport/winrm, TEND_LAB=1) need:
#   - pywinrm from Debian's packages (python3-winrm, with
#     python3-requests-ntlm and python3-requests-kerberos; python3-gssapi
#     for its Kerberos message encryption), the independent
#     client that talks to tend's WS-Management test server;
#   - MIT Kerberos (krb5-kdc for krb5kdc and kdb5_util, krb5-admin-server
#     for kadmin.local, krb5-user for kinit, klist and kdestroy): the
#     Kerberos tests create a throwaway realm in a temporary directory and
#     run its KDC on a loopback port. No system KDC is configured or
#     started (Debian's policy-rc.d or the missing init keeps the packaged
#     services down, and the tests use their own KRB5_CONFIG and
#     KRB5_KDC_PROFILE).
# The tests run pywinrm with the system interpreter, /usr/bin/python3, so a
# pyenv or venv python on PATH does not matter. Idempotent: it does nothing
# when everything is there. Retries apt because mirrors flake.
set -eu

have() {
	[ -x /usr/bin/python3 ] &&
		/usr/bin/python3 -c 'import winrm, requests_ntlm, requests_kerberos, kerberos, gssapi, cryptography' >/dev/null 2>&1 &&
		command -v krb5kdc >/dev/null 2>&1 &&
		command -v kdb5_util >/dev/null 2>&1 &&
		command -v kadmin.local >/dev/null 2>&1 &&
		command -v kinit >/dev/null 2>&1 &&
		command -v kdestroy >/dev/null 2>&1
}

PATH=$PATH:/usr/sbin:/sbin
export PATH

if have; then
	echo "winrm-deps: python3-winrm and MIT Kerberos already installed"
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
retry $SUDO apt-get install -y -qq --no-install-recommends \
	python3 python3-winrm python3-requests-ntlm python3-requests-kerberos python3-kerberos python3-gssapi python3-cryptography \
	krb5-kdc krb5-admin-server krb5-user
if ! have; then
	echo "winrm-deps: python3-winrm or MIT Kerberos still missing after installing" >&2
	exit 1
fi
echo "winrm-deps: installed python3-winrm and MIT Kerberos"
