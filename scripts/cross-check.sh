#!/usr/bin/env bash
# cross-check.sh is CI's check that tend builds everywhere it is released:
#   - the release build (scripts/release.sh: static controller binaries
#     for linux, darwin and windows on amd64 and arm64, with SHA256SUMS)
#     into DIR (default: a temporary directory, removed);
#   - for windows/amd64, every test binary of every package outside
#     integration/ compiled and linked (go test -exec /bin/true: nothing
#     runs; Windows tests are not run here);
#   - for windows/arm64, darwin/amd64 and darwin/arm64, the same packages
#     and their tests type-checked and vetted (go vet).
# Its work is fixed: six controller links, one test link per package, and
# three type-checks. Every step uses the release build's flags
# (CGO_ENABLED=0, -trimpath), so packages compiled for one step are
# reused by the next from Go's build cache.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-}
if [ -z "$dir" ]; then
	dir=$(mktemp -d)
	trap 'rm -rf "$dir"' EXIT
fi
export CGO_ENABLED=0
pkgs=$(go list ./... | grep -v /integration/)

# step LABEL COMMAND... runs COMMAND and says how long it took.
step() {
	local label=$1 start=$SECONDS
	shift
	"$@"
	echo "cross-check: $label: $((SECONDS - start))s"
}

step "release build, 6 platforms" bash scripts/release.sh "$dir"
# -exec /bin/true runs nothing: a link that fails fails the step, and
# each package reports "ok" once its test binary is linked.
wintests() {
	GOOS=windows GOARCH=amd64 go test -trimpath -count=1 -exec /bin/true $pkgs | { grep -vE '^(ok|\?) ' || true; }
}
step "windows/amd64 test binaries" wintests
for target in windows/arm64 darwin/amd64 darwin/arm64; do
	step "$target vet" env GOOS=${target%/*} GOARCH=${target#*/} go vet -trimpath $pkgs
done
