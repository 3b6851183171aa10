#!/usr/bin/env bash
# Hostile input: the libFuzzer targets over the shim's header parsing and
# signature verification, then the SQL-level fuzzer of vox.handle_event.
#
# Builds with clang (VOX_FUZZ=ON) into $VOX_FUZZ_BUILD_DIR (default
# .run/fuzz-build); runs each libFuzzer target for $VOX_FUZZ_SECONDS (default
# 20) from its seeds in test/fuzz/corpus/<target> (new inputs go to the build
# directory, never into the repository). Then starts a fresh cluster in
# $VOX_FUZZ_PG_DIR (default .run/fuzz-pg) on the first free port from
# $VOX_FUZZ_PORT_BASE (default 57400), creates vox with three tenants, sends
# $VOX_SQL_FUZZ_EVENTS (default 5000) payloads seeded by $VOX_SQL_FUZZ_SEED
# (default 1), replays what got parked, checks that no call is half-applied
# and that the server log shows no crash, and removes the cluster
# (VOX_FUZZ_KEEP=1 keeps it, stopped).
#
# Prints TAP: `ok N - ...` / `not ok N - ...`, `# ...` diagnostics (executions,
# outcomes by SQLSTATE, reproducer paths), then `# pass P` and `# fail F`.
# A crash, leak, sanitizer report or broken property of a target is a failure;
# its reproducer is printed: rerun it with `BUILD/test/fuzz/vox-fuzz-TARGET FILE`.
#
# Usage: bash test/fuzz/run.sh

# The checks run through `check DESCRIPTION FUNCTION` and cleanup through a
# trap, which shellcheck takes for unreachable code.
# shellcheck disable=SC2317
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=scripts/cluster.sh
source "$ROOT/scripts/cluster.sh"
# shellcheck source=scripts/tap.sh
source "$ROOT/scripts/tap.sh"

BUILD=${VOX_FUZZ_BUILD_DIR:-$ROOT/.run/fuzz-build}
FUZZ_SECONDS=${VOX_FUZZ_SECONDS:-20}
EVENTS=${VOX_SQL_FUZZ_EVENTS:-5000}
SEED=${VOX_SQL_FUZZ_SEED:-1}
DIR=${VOX_FUZZ_PG_DIR:-}
if [[ -z $DIR ]]; then
  RUN_DIR=$(vox_run_dir "$ROOT")
  DIR=$RUN_DIR/fuzz-pg
fi
PORT=""
DB=vox_fuzz
FUZZ_DIR=$ROOT/test/fuzz

# Every report aborts, and leaks count (libFuzzer checks them after each input).
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}


cleanup() {
  [[ -n $PORT && -f $DIR/.vox-cluster ]] || return 0
  vox_cluster_stop "$DIR" >/dev/null 2>&1 || vox_log "WARNING: could not stop $DIR"
  if [[ ${VOX_FUZZ_KEEP:-} != 1 ]]; then rm -rf -- "$DIR"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------- build ----

build() {
  local log=$BUILD/build.log
  mkdir -p "$BUILD"
  if cmake -S "$ROOT" -B "$BUILD" -DVOX_FUZZ=ON "$(vox_httplib_option "$ROOT")" -DCMAKE_CXX_COMPILER="${VOX_FUZZ_CXX:-clang++}" >"$log" 2>&1 &&
    cmake --build "$BUILD" -j"$(nproc 2>/dev/null || echo 2)" \
      --target vox-fuzz-headers vox-fuzz-verify vox-sql-fuzz >>"$log" 2>&1; then
    return 0
  fi
  mapfile -t DIAG < <(grep -E 'error|Error' "$log" | head -n 20)
  DIAG+=("full log: $log")
  return 1
}

# ---------------------------------------------------- libFuzzer targets ----

# fuzz_target NAME: run it for FUZZ_SECONDS; any artifact is a failure.
fuzz_target() {
  local name=$1 work=$BUILD/fuzz-runs/$1 log rc=0 artifact found=0 dict=()
  log=$work/fuzz.log
  rm -rf -- "$work"
  mkdir -p "$work/corpus" "$work/artifacts"
  if [[ -f $FUZZ_DIR/$name.dict ]]; then dict=(-dict="$FUZZ_DIR/$name.dict"); fi
  # The first directory takes new inputs; the committed seeds are only read.
  "$BUILD/test/fuzz/vox-fuzz-$name" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/" "${dict[@]}" \
    "$work/corpus" "$FUZZ_DIR/corpus/$name" >"$log" 2>&1 || rc=$?
  DIAG+=("$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1 executions/p' "$log")" \
    "$(find "$work/corpus" -type f | wc -l) new inputs kept in $work/corpus")
  for artifact in "$work"/artifacts/*; do
    [[ -e $artifact ]] || continue
    DIAG+=("reproducer: $artifact")
    found=1
  done
  if ((rc != 0 || found)); then
    mapfile -t -O "${#DIAG[@]}" DIAG < <(grep -aE 'ERROR:|SUMMARY:|runtime error|property violated' "$log" | head -n 10)
    DIAG+=("log: $log")
    return 1
  fi
}
fuzz_headers() { fuzz_target headers; }
fuzz_verify() { fuzz_target verify; }

# ---------------------------------------------------------- SQL fuzzer ----

psql_q() { # psql_q SQL...: unaligned, tuples only, stops at an error
  local arg args=()
  for arg in "$@"; do args+=(-c "$arg"); done
  env -u PGHOSTADDR -u PGSERVICE -u PGSERVICEFILE -u PGOPTIONS \
    "$VOX_PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$DIR" -p "$PORT" -U postgres -d "$DB" "${args[@]}"
}

LOG_START="" # server log offset once the cluster is ready

# The port range lies among the ephemeral ports, so a free port can be taken
# before the server binds it: the next one is tried, three times at most.
start_cluster() {
  local out="" base=${VOX_FUZZ_PORT_BASE:-57400} attempt
  for attempt in 1 2 3; do
    PORT=$(vox_free_port "$base") || break
    out=$(vox_cluster_fresh "$DIR" "$PORT" "" 2>&1) && break
    DIAG+=("port $PORT: the server did not start (attempt $attempt)")
    base=$((PORT + 1))
  done
  vox_cluster_running "$DIR" &&
    out=$("$VOX_PG_BIN/psql" -X -q -h "$DIR" -p "$PORT" -U postgres -d postgres -c "CREATE DATABASE $DB" 2>&1) &&
    # The fixture creates the extension and the tenant builder; three tenants,
    # the third with its agent switched off (its new calls are parked).
    out=$(psql_q "\\i $ROOT/test/fixtures/vapi.sql" \
      "SELECT vox_test.tenant('00000000-0000-4000-8000-00000000000a', 'Clinic A', 'asst-a', 'pn-a', '+14155550100'),
              vox_test.tenant('00000000-0000-4000-8000-00000000000b', 'Clinic B', 'asst-b', 'pn-b', '+14155550101'),
              vox_test.tenant('00000000-0000-4000-8000-00000000000c', 'Clinic C', 'asst-c', 'pn-c', '+442079460000', 'GB')" \
      "UPDATE vox.agents SET active = false WHERE vapi_assistant_id = 'asst-c'" 2>&1) && {
    LOG_START=$(stat -c %s "$DIR/server.log")
    return 0
  }
  DIAG+=("$out")
  return 1
}

sql_fuzz() {
  local out rc=0 failures=$BUILD/sql-fuzz-failures
  rm -rf -- "$failures"
  mkdir -p "$failures"
  out=$(env -u PGHOSTADDR -u PGSERVICE -u PGSERVICEFILE -u PGOPTIONS PGHOST="$DIR" PGPORT="$PORT" PGUSER=postgres \
    PGDATABASE="$DB" timeout 1800 "$BUILD/test/fuzz/vox-sql-fuzz" "$EVENTS" "$SEED" "$failures") || rc=$?
  mapfile -t DIAG <<<"$out"
  DIAG=("${DIAG[@]#\# }")
  ((rc == 0))
}

# The parked fuzz payloads become resolvable (the unknown assistant and
# number the fuzzer names get an org, the inactive agent is switched on) and
# go through replay: the inserts' own and vox.replay_parked().
replay_parked() {
  local out
  if out=$(psql_q "SELECT 'parked before: ' || count(*) FROM vox.parked_events" \
    "INSERT INTO vox.agents (org_id, vapi_assistant_id, name, role)
                   VALUES ('00000000-0000-4000-8000-00000000000b', 'fuzz-unknown-assistant', 'Late agent', 'outbound')" \
    "INSERT INTO vox.phone_numbers (org_id, vapi_phone_number_id, number)
     VALUES ('00000000-0000-4000-8000-00000000000a', 'fuzz-unknown-number', '+14155550199')" \
    "UPDATE vox.agents SET active = true WHERE vapi_assistant_id = 'asst-c'" \
    "SELECT 'vox.replay_parked() applied ' || vox.replay_parked()" \
    "SELECT 'parked after: ' || count(*) FROM vox.parked_events" 2>&1); then
    mapfile -t -O "${#DIAG[@]}" DIAG <<<"$out"
    return 0
  fi
  DIAG+=("$out")
  return 1
}

# expect_none DESCRIPTION SQL: SQL counts violations; it must find none.
expect_none() {
  local out
  if ! out=$(psql_q "$2" 2>&1); then
    DIAG+=("$out")
    return 1
  fi
  [[ $out == 0 ]] && return 0
  DIAG+=("$1: $out")
  return 1
}

# Exactly one tracking, log and calls row per (org, call): the constraints
# give "at most one"; a row missing from one table would be a half-applied event.
one_row_each() {
  expect_none "calls missing a tracking, log or calls row" \
    "SELECT count(*) FROM vox.call_tracking t
       FULL JOIN vox.call_logs l USING (org_id, vapi_call_id)
       FULL JOIN vox.calls c USING (org_id, vapi_call_id)
      WHERE t.org_id IS NULL OR l.org_id IS NULL OR c.org_id IS NULL"
}

# An idempotency mark commits with its effects: a processed status update or
# report has its call, a processed report has its report applied.
marks_have_effects() {
  expect_none "processed events without their call rows" \
    "SELECT count(*) FROM vox.processed_webhook_events e
      WHERE e.event_type IN ('status-update', 'end-of-call-report') AND e.vapi_call_id IS NOT NULL
        AND NOT EXISTS (SELECT FROM vox.call_tracking t WHERE (t.org_id, t.vapi_call_id) = (e.org_id, e.vapi_call_id))" &&
    expect_none "end-of-call-reports processed but not applied" \
      "SELECT count(*) FROM vox.processed_webhook_events e
        WHERE e.event_type = 'end-of-call-report'
          AND NOT EXISTS (SELECT FROM vox.call_logs l WHERE (l.org_id, l.vapi_call_id) = (e.org_id, e.vapi_call_id)
                                                       AND l.report_received)"
}

counts() {
  local out
  out=$(psql_q "SELECT format('rows: %s tracking, %s logs, %s calls, %s transcripts, %s processed, %s parked, %s outbox, %s recordings',
                              tracking, logs, calls, transcripts, processed, parked, outbox, recordings)
                  FROM vox_test.counts" 2>&1) || {
    DIAG+=("$out")
    return 1
  }
  DIAG+=("$out")
  [[ $(psql_q "SELECT count(*) FROM vox.calls") -gt 0 ]] || {
    DIAG+=("no call was stored: the valid payloads did not get through")
    return 1
  }
}

# A crash restarts every backend; the log says so whatever the client saw.
clean_log() {
  local bad
  bad=$(tail -c +$((LOG_START + 1)) "$DIR/server.log" |
    grep -E 'terminated by signal|server process .* was terminated|PANIC|TRAP:|terminating any other active|all server processes terminated|reinitializing' |
    head -n 10) || true
  [[ -z $bad ]] && return 0
  mapfile -t -O "${#DIAG[@]}" DIAG <<<"$bad"
  DIAG+=("server log: $DIR/server.log")
  return 1
}

# ---------------------------------------------------------------- main ----

check "build the fuzz targets with clang (VOX_FUZZ=ON) in $BUILD" build
if ((FAILED > 0)); then finish; fi

check "libFuzzer headers target, ${FUZZ_SECONDS}s: no crash, leak, sanitizer report or broken property" fuzz_headers
check "libFuzzer verify target, ${FUZZ_SECONDS}s: no crash, leak, sanitizer report or broken property" fuzz_verify

check "cluster with vox and three tenants in $DIR" start_cluster
if [[ -z $LOG_START ]]; then finish; fi
check "SQL fuzzer, $EVENTS events (seed $SEED): only success or class 22" sql_fuzz
check "vox.replay_parked() over the parked fuzz events" replay_parked
check "one tracking, log and calls row per (org, call)" one_row_each
check "idempotency marks only with their effects" marks_have_effects
check "valid payloads stored calls" counts
check "server log: no backend crash" clean_log
finish
