#!/usr/bin/env bash
# Reliability tests of vox.handle_event: the DESIGN §2 invariants under
# reordering, redelivery and concurrency (Node's test runner, test/reliability):
#   convergence.test.mjs  every permutation of a world's calls (Vapi-shaped
#                         events of every handled type, legacy flat forms,
#                         parked events, an outbound registration), with random
#                         redeliveries, leaves the rows in-order delivery leaves
#                         in every vox table; each permutation in fresh orgs
#                         with the same Vapi call ids;
#   storm.test.mjs        50 connections released together by a barrier: the
#                         same event from all of them (one effect), and a mixed
#                         storm across many orgs with colliding call ids.
#
# Starts a fresh cluster in $VOX_RELIABILITY_DIR (default .run/reliability-pg)
# on the first free port from $VOX_RELIABILITY_PORT_BASE (default 57200),
# creates database vox_reliability with the installed vox, runs the suites,
# then stops and removes the cluster (VOX_RELIABILITY_KEEP=1 keeps it, stopped).
#
# Settings (environment):
#   VOX_SEED=N             the seed of the generated calls, permutations and
#                          storms (default: random); printed, and a failure
#                          reproduces with the same seed
#   VOX_PERMUTATIONS=N     permutations checked (default 1000, CI's); more
#                          for a longer hunt, e.g. VOX_PERMUTATIONS=20000
#   VOX_STORM_WORLDS=N     worlds (two orgs each) in the mixed storm (default 12)
#   VOX_RELIABILITY_JOBS=N connections running permutations side by side (default 2)
#
# Prints TAP and ends with `# pass N` and `# fail N`; exit status 0 only if
# nothing failed. Needs node and npm (the pinned `pg` is installed with npm ci).
#
# Usage: bash test/reliability/run.sh
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=scripts/cluster.sh
source "$ROOT/scripts/cluster.sh"

DIR=${VOX_RELIABILITY_DIR:-}
if [[ -z $DIR ]]; then
  RUN_DIR=$(vox_run_dir "$ROOT")
  DIR=$RUN_DIR/reliability-pg
fi
DB=vox_reliability
OUT=$(mktemp)

cleanup() {
  rm -f -- "$OUT"
  [[ -f $DIR/.vox-cluster ]] || return 0
  vox_cluster_stop "$DIR" >/dev/null 2>&1 || vox_log "WARNING: could not stop $DIR"
  if [[ ${VOX_RELIABILITY_KEEP:-} != 1 ]]; then rm -rf -- "$DIR"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A failure before the tests ran is one failed test.
fail_setup() {
  echo "not ok 1 - setup: $*"
  echo "# pass 0"
  echo "# fail 1"
  exit 1
}

echo "TAP version 13"
SEED=${VOX_SEED:-$((RANDOM * 32768 + RANDOM))}
echo "# seed $SEED (VOX_SEED=$SEED bash test/reliability/run.sh reproduces this run)"

(cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error) >"$OUT" 2>&1 || {
  tail -n 20 "$OUT" | sed 's/^/# /'
  fail_setup "npm ci failed"
}
PORT=$(vox_free_port "${VOX_RELIABILITY_PORT_BASE:-57200}") || fail_setup "no free port"
vox_cluster_fresh "$DIR" "$PORT" >"$OUT" 2>&1 || {
  sed 's/^/# /' "$OUT"
  fail_setup "could not start a cluster in $DIR on port $PORT"
}
psql_ok() { "$VOX_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$DIR" -p "$PORT" -U postgres "$@" >"$OUT" 2>&1; }
if ! { psql_ok -d postgres -c "CREATE DATABASE $DB" && psql_ok -d "$DB" -c 'CREATE EXTENSION vox'; }; then
  sed 's/^/# /' "$OUT"
  fail_setup "could not create database $DB with extension vox"
fi

# One file at a time: each recreates the test helpers (schema vox_rel), and
# the storms want the cores to themselves.
status=0
(cd "$HERE" && PGHOST=$DIR PGPORT=$PORT PGUSER=postgres PGDATABASE=$DB VOX_SEED=$SEED \
  timeout 170 node --test --test-reporter=tap --test-concurrency=1 convergence.test.mjs storm.test.mjs) \
  >"$OUT" 2>&1 || status=$?

# Node's summary, with our `# pass` / `# fail` last: a run that died or was
# cut short by the timeout counts as a failure even if no test said so.
grep -v -E '^(TAP version 13|# (pass|fail|tests|suites|cancelled|skipped|todo|duration_ms) [0-9.]+)$' "$OUT" || true
pass=$(sed -n -E 's/^# pass ([0-9]+)$/\1/p' "$OUT" | tail -n 1)
fail=$(sed -n -E 's/^# fail ([0-9]+)$/\1/p' "$OUT" | tail -n 1)
cancelled=$(sed -n -E 's/^# cancelled ([0-9]+)$/\1/p' "$OUT" | tail -n 1)
fail=$((${fail:-0} + ${cancelled:-0}))
if [[ -z $pass ]] || { ((status != 0)) && ((fail == 0)); }; then
  echo "not ok - node --test exited with status $status"
  fail=$((fail + 1))
fi
echo "# pass ${pass:-0}"
echo "# fail $fail"
((fail == 0))
