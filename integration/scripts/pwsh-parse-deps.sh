#!/bin/sh
# pwsh-parse-deps.sh installs what the PowerShell syntax check
# (integration/pwshsyntax) needs: Node.js and npm from Debian's packages,
# and, with npm ci from the committed package-lock.json, tree-sitter's
# PowerShell grammar (tree-sitter-powershell, its WebAssembly build) and
# the WebAssembly tree-sitter runtime (web-tree-sitter), into a cache
# directory: $TEND_PWSH_SYNTAX_DIR, default /var/cache/tend-pwsh-syntax.
# Install scripts are not run (--ignore-scripts): nothing native is built.
# Idempotent: it does nothing when the cache holds the locked versions.
set -eu

here=$(cd "$(dirname "$0")/../pwshsyntax" && pwd)
dir=${TEND_PWSH_SYNTAX_DIR:-/var/cache/tend-pwsh-syntax}

retry() {
	n=1
	while :; do
		if "$@"; then
			return 0
		fi
		if [ "$n" -ge 4 ]; then
			echo "pwsh-parse-deps: giving up after $n attempts: $*" >&2
			return 1
		fi
		echo "pwsh-parse-deps: attempt $n failed, retrying in $((n * 5))s: $*" >&2
		sleep $((n * 5))
		n=$((n + 1))
	done
}

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	SUDO=""
	if [ "$(id -u)" -ne 0 ]; then
		SUDO="sudo"
	fi
	export DEBIAN_FRONTEND=noninteractive
	retry $SUDO apt-get update -qq
	retry $SUDO apt-get install -y -qq --no-install-recommends nodejs npm
fi

if [ -d "$dir/node_modules" ] && cmp -s "$here/package-lock.json" "$dir/package-lock.json"; then
	echo "pwsh-parse-deps: tree-sitter-powershell already in $dir"
	exit 0
fi
mkdir -p "$dir"
cp "$here/package.json" "$here/package-lock.json" "$dir/"
cd "$dir"
retry npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
echo "pwsh-parse-deps: tree-sitter-powershell installed in $dir"
