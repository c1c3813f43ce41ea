#!/usr/bin/env bash
# e2e-deps.sh installs what the end-to-end tests use besides the lab:
# python3-junitparser, an independent JUnit XML parser that reads tend
# drift's reports, tmux, the terminal in which the live progress display
# is read, and prometheus for promtool, which checks the metrics files
# tend writes, postgresql, whose server binaries the backend tests
# start on a private socket (/usr/lib/postgresql/*/bin; the cluster the
# package may create is not used), and chromium, the headless browser in
# which the HTML reports are opened. Idempotent; retries downloads. Run it
# as root.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
if /usr/bin/python3 -c 'import junitparser' 2>/dev/null && command -v tmux >/dev/null && command -v promtool >/dev/null &&
  compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null && command -v chromium >/dev/null; then
  echo "e2e-deps: python3-junitparser, tmux, promtool, postgresql and chromium already installed"
  exit 0
fi
for attempt in 1 2 3; do
  if apt-get -q update && apt-get -q -y install --no-install-recommends python3-junitparser tmux prometheus postgresql chromium; then
    exit 0
  fi
  echo "e2e-deps: attempt $attempt failed; retrying" >&2
  sleep $((attempt * 5))
done
echo "e2e-deps: could not install python3-junitparser, tmux, prometheus, postgresql and chromium" >&2
exit 1
