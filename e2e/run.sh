#!/bin/sh
# Runs the end-to-end suite (visits.mjs) inside a fresh network namespace whose only interface is
# loopback: the servers, coturn, Chromium and its WebRTC calls reach 127.0.0.1 and nothing else.
# PostgreSQL is reached through its Unix socket, which crosses network namespaces.
# Needs root (or unprivileged user namespaces), util-linux unshare, iproute2 ip, node, Debian's
# chromium and coturn, and `npm ci` run here.
#   TELEMED_BIN=path/to/telemed sh e2e/run.sh
set -eu
cd "$(dirname "$0")"
: "${TELEMED_BIN:=../target/debug/telemed}"
TELEMED_BIN=$(realpath "$TELEMED_BIN")
export TELEMED_BIN
exec unshare --net sh -c 'ip link set lo up && exec node visits.mjs "$@"' visits "$@"
