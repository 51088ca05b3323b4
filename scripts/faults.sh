#!/usr/bin/env bash
# Faults on purpose under a booking load (docs/reliability.md records the results):
#   bash scripts/faults.sh crash        # kill -9 of the server mid-rush, 10 times on SQLite and on PostgreSQL
#   bash scripts/faults.sh pg-restart   # a throwaway PostgreSQL stopped and started under load (3 times)
#   bash scripts/faults.sh disk-full    # SQLite on a 256 MiB tmpfs filled up under load (3 times; root)
#   bash scripts/faults.sh read-only    # the server started on a read-only SQLite mount, made writable under load (root)
#   bash scripts/faults.sh backup       # telemed backup under load (5 times), then a restore
#   bash scripts/faults.sh all
# Extra arguments go to telemed-bench (e.g. --fault-runs 20).
# Environment: TELEMED_FAULTS_PG_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/test), where
#   the crash scenario creates its PostgreSQL database (dropped afterwards); TELEMED_FAULTS_SKIP_POSTGRES=1
#   to crash on SQLite only; PG_BIN (default /usr/lib/postgresql/15/bin) for the throwaway server of
#   pg-restart. Nothing here stops or restarts any PostgreSQL but the one it started itself.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_ADMIN_URL=${TELEMED_FAULTS_PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/test}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
TARGET=${CARGO_TARGET_DIR:-target}
BENCH=("$TARGET/release/telemed-bench" --telemed "$TARGET/release/telemed")
# The load: 64 patients booking 14,000 slots of 50 clinicians, each waiting 20 ms between attempts.
LOAD=(--rush-patients 64 --rush-clinicians 50 --rush-slots 14000)

scenario=${1:-}
shift || true
[[ -n "$scenario" ]] || { sed -n '2,13p' "$0"; exit 2; }

CLEANUP=()
cleanup() {
  local i
  for ((i = ${#CLEANUP[@]} - 1; i >= 0; i--)); do
    eval "${CLEANUP[i]}" >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT

machine() {
  echo "== machine"
  echo "date:    $(date -u)"
  echo "commit:  $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates || echo ' (with uncommitted changes in crates/)')"
  echo "cores:   $(nproc), $(lscpu | sed -n 's/^Model name: *//p' | head -n 1)"
  echo "memory:  $(free -h | awk '/^Mem:/ {print $2}')"
  echo "load:    $(cut -d' ' -f1-3 /proc/loadavg)"
}

crash() {
  echo "== crash on SQLite"
  "${BENCH[@]}" "${LOAD[@]}" --fault crash "$@"
  if [[ "${TELEMED_FAULTS_SKIP_POSTGRES:-}" != 1 ]]; then
    local db="faults_$(date +%Y%m%d%H%M%S)_$$"
    psql "$PG_ADMIN_URL" -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE $db"
    CLEANUP+=("psql '$PG_ADMIN_URL' -q -c 'DROP DATABASE IF EXISTS $db WITH (FORCE)'")
    echo "== crash on PostgreSQL ($(psql "$PG_ADMIN_URL" -Atc 'SHOW server_version'), database $db)"
    "${BENCH[@]}" "${LOAD[@]}" --fault crash --database-url "${PG_ADMIN_URL%/*}/$db" "$@"
  fi
}

# A PostgreSQL of our own in a temporary directory, on a free port, run by the postgres user.
pg_restart() {
  local dir port ctl
  dir=$(mktemp -d /tmp/telemed-faults-pg.XXXXXX)
  chown postgres "$dir"
  CLEANUP+=("rm -rf '$dir'")
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  runuser -u postgres -- "$PG_BIN/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
  ctl="runuser -u postgres -- $PG_BIN/pg_ctl -D $dir/data -l $dir/postgres.log -o '-p $port -k $dir -c listen_addresses=127.0.0.1'"
  eval "$ctl -w start" >/dev/null
  CLEANUP+=("$ctl -m immediate -w stop")
  psql "postgres://postgres@127.0.0.1:$port/postgres" -q -c "CREATE DATABASE faults"
  echo "== pg-restart on a throwaway PostgreSQL ($("$PG_BIN/postgres" --version)) on port $port"
  "${BENCH[@]}" "${LOAD[@]}" --fault pg-restart --fault-runs 3 \
    --database-url "postgres://postgres@127.0.0.1:$port/faults" \
    --db-stop-command "$ctl -m fast -w stop >/dev/null" \
    --db-start-command "$ctl -w start >/dev/null" "$@"
}

# SQLite on a small tmpfs of its own, filled up under load.
disk_full() {
  local mnt
  mnt=$(mktemp -d /tmp/telemed-faults-disk.XXXXXX)
  CLEANUP+=("rmdir '$mnt'")
  mount -t tmpfs -o size=256m tmpfs "$mnt"
  CLEANUP+=("umount '$mnt'")
  echo "== disk-full on a 256 MiB tmpfs at $mnt"
  "${BENCH[@]}" "${LOAD[@]}" --fault disk-full --fault-runs 3 --fault-think-ms 100 \
    --database-url "sqlite://$mnt/telemed.db" "$@"
}

# SQLite in a directory bind-mounted on itself, remounted read-only while the server is stopped.
read_only() {
  local dir
  dir=$(mktemp -d /tmp/telemed-faults-ro.XXXXXX)
  CLEANUP+=("rm -rf '$dir'")
  mount --bind "$dir" "$dir"
  CLEANUP+=("umount '$dir'")
  echo "== read-only on a bind mount at $dir"
  "${BENCH[@]}" "${LOAD[@]}" --fault read-only --fault-think-ms 100 \
    --database-url "sqlite://$dir/telemed.db" \
    --db-stop-command "mount -o remount,bind,ro '$dir'" \
    --db-start-command "mount -o remount,bind,rw '$dir'" "$@"
}

backup() {
  echo "== backup under load on SQLite"
  "${BENCH[@]}" "${LOAD[@]}" --fault backup --fault-runs 5 --fault-think-ms 300 "$@"
}

echo "== build"
cargo build --release -p server -p bench
machine
case "$scenario" in
  crash) crash "$@" ;;
  pg-restart) pg_restart "$@" ;;
  disk-full) disk_full "$@" ;;
  read-only) read_only "$@" ;;
  backup) backup "$@" ;;
  all)
    crash "$@"
    pg_restart "$@"
    disk_full "$@"
    read_only "$@"
    backup "$@"
    ;;
  *) echo "unknown scenario $scenario"; exit 2 ;;
esac
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
