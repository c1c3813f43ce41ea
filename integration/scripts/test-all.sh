#!/usr/bin/env bash
# Runs every test tend has, the way CI does: installs what the tests need
# (debootstrap, OpenSSH, ...), then vet, formatting, unit tests,
# end-to-end tests against lab hosts (TEND_LAB=1, needs root), and a
# bounded fuzz run of the shell quoting function.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "$(id -u)" != 0 ]; then
  echo "test-all.sh: the end-to-end tests boot lab hosts and need root; run it with sudo" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
bash integration/scripts/lab-deps.sh
bash integration/scripts/ssh-deps.sh
bash integration/scripts/e2e-deps.sh
bash integration/scripts/ansible-deps.sh
bash integration/scripts/winrm-deps.sh
bash integration/scripts/pkg-deps.sh
bash integration/scripts/pwsh-parse-deps.sh

# The lab's base images (systemd; with PostgreSQL and MariaDB; sysvinit;
# OpenRC) are built in the background while vet and the unit tests run,
# unless cached in /var/cache/tend-lab. A test needing an image still
# being built waits for it (a lock per image). Only this process is ended
# on exit, by its pid.
work=$(mktemp -d)
go build -o "$work/tend-lab" ./integration/lab/cmd/tend-lab
"$work/tend-lab" -prepare >"$work/prepare.log" 2>&1 &
prepare_pid=$!
cleanup() {
  kill "$prepare_pid" 2>/dev/null || true
  wait "$prepare_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "== go vet"
go vet ./...

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "not gofmt'ed:" >&2
  echo "$unformatted" >&2
  exit 1
fi

echo "== cross builds (release binaries for linux, darwin, windows x amd64, arm64; Windows test binaries)"
bash scripts/cross-check.sh "$work/dist"

echo "== staticcheck"
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

echo "== unit tests"
TEND_LAB=1 go test -count=1 -timeout 20m $(go list ./... | grep -v /integration/)

# End-to-end tests against lab hosts, verbose enough that the log shows
# each test running and passing, and the lab hosts each one booted. With
# TEND_LAB=1 a missing prerequisite fails a test instead of skipping it,
# and any skip here fails the run.
echo "== end-to-end tests on lab hosts"
cat "$work/prepare.log"
log=$work/e2e.log
status=0
TEND_LAB=1 go test -count=1 -timeout 30m -v $(go list ./... | grep /integration/) >"$log" 2>&1 || status=$?
grep -E '^(=== RUN|[[:space:]]*--- (PASS|FAIL|SKIP)|PASS|FAIL|ok )|lab: [0-9]+ host\(s\) up in' "$log" || true
if [ "$status" -ne 0 ]; then
  echo "end-to-end tests failed; the full log follows" >&2
  cat "$log" >&2
  # The failures again, last, where a log's tail shows them.
  echo "== end-to-end failures" >&2
  grep -nE '^[[:space:]]*--- FAIL|^FAIL|^panic:|timed out' "$log" >&2 || true
  exit "$status"
fi
if grep -qE '^[[:space:]]*--- SKIP' "$log"; then
  echo "end-to-end tests were skipped; the full log follows" >&2
  cat "$log" >&2
  exit 1
fi

# Bounded by executions, not seconds: a time bound ends with Go's fuzzer
# reporting "context deadline exceeded" when a slow sh run straddles it.
echo "== fuzz shell quoting (5000 executions, about 30 s)"
go test -run '^$' -fuzz '^FuzzQuote$' -fuzztime 5000x ./shell/

echo "== all tests passed"
