#!/usr/bin/env bash
# Runs telemed-bench on SQLite and on PostgreSQL (a fresh database, dropped afterwards) and prints
# the machine facts docs/benchmarks.md records. Extra arguments go to telemed-bench.
#   bash scripts/bench.sh [--seconds 10] [--connections 32] [--patients 10000]
# Environment: TELEMED_BENCH_PG_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/test),
#              TELEMED_BENCH_SKIP_POSTGRES=1 to run on SQLite only.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_ADMIN_URL=${TELEMED_BENCH_PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/test}
DB=""
cleanup() {
  if [[ -n "$DB" ]]; then
    psql "$PG_ADMIN_URL" -q -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

echo "== build"
cargo build --release -p server -p bench

echo "== machine"
echo "date:    $(date)"
echo "commit:  $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates || echo ' (with uncommitted changes in crates/)')"
echo "cores:   $(nproc)"
echo "cpu:     $(lscpu | sed -n 's/^Model name: *//p' | head -n 1)"
echo "memory:  $(free -h | awk '/^Mem:/ {print $2}')"
echo "rustc:   $(rustc --version)"

echo
echo "== SQLite"
target/release/telemed-bench --telemed target/release/telemed "$@"

if [[ "${TELEMED_BENCH_SKIP_POSTGRES:-}" != 1 ]]; then
  DB="bench_$(date +%Y%m%d%H%M%S)_$$"
  psql "$PG_ADMIN_URL" -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE $DB"
  echo
  echo "== PostgreSQL ($(psql "$PG_ADMIN_URL" -Atc 'SHOW server_version'), database $DB)"
  target/release/telemed-bench --telemed target/release/telemed \
    --database-url "${PG_ADMIN_URL%/*}/$DB" "$@"
fi
