#!/usr/bin/env bash
# release.sh builds tend's controller as static binaries (CGO_ENABLED=0,
# -trimpath) for linux, darwin and windows on amd64 and arm64 into DIR
# (default dist/), with a SHA256SUMS file for them.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-dist}
mkdir -p "$out"
rm -f "$out/SHA256SUMS"
for os in linux darwin windows; do
	for arch in amd64 arm64; do
		bin=tend-$os-$arch
		[ "$os" = windows ] && bin=$bin.exe
		CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -trimpath -ldflags='-s -w' -o "$out/$bin" ./cmd/tend
	done
done
(cd "$out" && sha256sum tend-* >SHA256SUMS)
cat "$out/SHA256SUMS"
