#!/usr/bin/env bash
# The fuzzing soak: every target of crates/server/tests/it/fuzz, one after another on one
# thread, in a release build. Prints the machine facts docs/reliability.md records, then one
# line per target (inputs, seconds, crashes) and the load average after each.
#   bash scripts/fuzz-soak.sh [ITERATIONS]        (default 10000000 per target)
# Environment: TELEMED_FUZZ_SEED to start the generator elsewhere; TELEMED_FUZZ_TARGETS to run
#              only some (space-separated full test names, e.g.
#              "fuzz::ics::fuzz_icalendar_output_round_trip").
set -euo pipefail
cd "$(dirname "$0")/.."

ITERATIONS=${1:-10000000}
TARGETS=${TELEMED_FUZZ_TARGETS:-"
  fuzz::api::fuzz_api_json_bodies_into_domain_commands
  fuzz::api::fuzz_api_query_strings
  fuzz::signaling::fuzz_signaling_messages
  fuzz::signaling::fuzz_relay_messages_between_servers
  fuzz::web::fuzz_web_form_bodies_into_use_case_inputs
  fuzz::web::fuzz_web_multipart_bodies
  fuzz::web::fuzz_web_page_query_strings
  fuzz::ics::fuzz_icalendar_output_round_trip
  fuzz::inputs::fuzz_return_addresses
  fuzz::inputs::fuzz_cookie_headers
  fuzz::inputs::fuzz_authorization_headers
  fuzz::inputs::fuzz_sign_in_codes
"}

echo "== build"
cargo test --release -p server --test it --no-run

echo "== machine"
echo "date:    $(date -u)"
echo "commit:  $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates || echo ' (with uncommitted changes in crates/)')"
echo "cores:   $(nproc)"
echo "cpu:     $(lscpu | sed -n 's/^Model name: *//p' | head -n 1)"
echo "memory:  $(free -h | awk '/^Mem:/ {print $2}')"
echo "rustc:   $(rustc --version)"
echo "load:    $(cat /proc/loadavg)"

failed=0
for target in $TARGETS; do
  echo
  echo "== $target"
  if ! TELEMED_FUZZ_ITERATIONS=$ITERATIONS cargo test --release -q -p server --test it "$target" \
    -- --exact --test-threads 1 --nocapture >"${TMPDIR:-/tmp}/fuzz-soak-target.log" 2>&1; then
    failed=$((failed + 1))
  fi
  grep -E '^fuzz |panicked|fuzz target' "${TMPDIR:-/tmp}/fuzz-soak-target.log" || true
  echo "load:    $(cat /proc/loadavg)   at $(date -u +%H:%M:%S)"
done
echo
echo "targets that crashed: $failed"
[[ $failed -eq 0 ]]
