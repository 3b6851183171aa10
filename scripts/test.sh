#!/usr/bin/env bash
# README command 2: `bash scripts/test.sh`
#
# Installs dependencies, builds and installs the extension, builds the shim,
# starts a temporary PostgreSQL 15 cluster (.run/test-pg, first free port from
# $VOX_TEST_PORT_BASE, default 55432; no shared_preload_libraries), runs every
# test suite against it, stops it, and prints per-suite counts followed by one
# final line `N passed, N failed` (summed over suites).
# Exit status is non-zero if any test failed or any suite could not run; a
# suite that could not run counts as one failure, never as "0 failed".
#
# Adding a suite = one more `suite_*` call in the main section below; each
# suite reports through record_suite NAME PASSED FAILED [NOTE].
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/cluster.sh
source "$ROOT/scripts/cluster.sh"

TOTAL_PASSED=0
TOTAL_FAILED=0
SUITE_LINES=()
TEST_DIR="" # cluster dir, set once the cluster exists (the EXIT trap uses it)
TEST_PORT=""
LOG_DIR=""

# record_suite NAME PASSED FAILED [NOTE]
# Each line also says how long the suite took (seconds since the previous
# suite ended), so the whole run's budget can be read off one summary.
SUITE_CLOCK=$SECONDS
record_suite() {
  local name=$1 passed=$2 failed=$3 note=${4:-}
  TOTAL_PASSED=$((TOTAL_PASSED + passed))
  TOTAL_FAILED=$((TOTAL_FAILED + failed))
  # Deliberately not in the "N passed, N failed" shape, so the final line is
  # the only one that reads as the closing summary.
  SUITE_LINES+=("$(printf 'suite %-24s passed=%-4d failed=%-3d %4ds%s' \
    "$name" "$passed" "$failed" "$((SECONDS - SUITE_CLOCK))" "${note:+ ($note)}")")
  SUITE_CLOCK=$SECONDS
}

# Stop the cluster, print the summary, exit. The cluster is stopped *before*
# printing so the final line really is the last line of output.
finish() {
  stop_cluster
  echo
  echo "==================== test summary ===================="
  local line
  for line in "${SUITE_LINES[@]}"; do echo "$line"; done
  echo "$TOTAL_PASSED passed, $TOTAL_FAILED failed"
  if ((TOTAL_FAILED > 0)); then exit 1; fi
  exit 0
}

stop_cluster() {
  if [[ -n $TEST_DIR ]]; then
    vox_cluster_stop "$TEST_DIR" || vox_log "WARNING: could not stop $TEST_DIR"
  fi
}
# Safety net for errors and interrupts; a no-op once finish() has stopped it.
trap stop_cluster EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Run a command with libpq's environment pointing at the test cluster.
# PGHOSTADDR/PGSERVICE/PGDATABASE from the caller would override or confuse
# that target, so they are cleared.
with_test_pg() {
  env -u PGHOSTADDR -u PGSERVICE -u PGSERVICEFILE -u PGDATABASE \
    PGHOST="$TEST_DIR" PGPORT="$TEST_PORT" PGUSER=postgres "$@"
}

# Print the first lines of every regression.diffs written since STAMP
# (pg_regress writes ./regression.diffs, pg_isolation_regress
# ./output_iso/regression.diffs; find them wherever --outputdir put them).
print_diffs() {
  local stamp=$1 f
  while IFS= read -r f; do
    echo "---------- $f (first 200 lines) ----------"
    head -n 200 "$f"
  done < <(find "$ROOT" -maxdepth 3 \( -name .git -o -name .run \) -prune -o \
    -name regression.diffs -newer "$stamp" -size +0 -print 2>/dev/null)
}

# Count pg_regress / pg_isolation_regress results in a `make installcheck`
# log. PG15's pg_regress prints one line per test:
#   test foo                         ... ok           12 ms
#   test foo                         ... FAILED       12 ms
#   test foo                         ... failed (ignored) ...
# inside a parallel group the lines start with 5 spaces instead of "test "
# (after a "parallel group (N tests): ..." line), and each run ends with
# " All N tests passed. " or " N of M tests failed. " (a run without that
# line aborted). PGXS announces each run with "+++ regress install-check" /
# "+++ isolation install-check"; pg_regress's "creating database" line names
# the run too if a Makefile calls pg_regress directly.
# Prints: NAME PASSED FAILED IGNORED FINISHED(0/1), one line per run.
parse_pg_regress() {
  awk '
    function start(name) {
      s = name
      if (!(s in seen)) { seen[s] = 1; order[++n] = s }
    }
    BEGIN { s = "pg_regress" }
    /^\+\+\+ regress install-check/                    { start("regress"); next }
    /^\+\+\+ isolation install-check/                  { start("isolation"); next }
    /^=+ creating database "contrib_regression"/       { start("regress"); next }
    /^=+ creating database "isolation_regression"/     { start("isolation"); next }
    /^(test |     )[^ ]+ +\.\.\. / {
      if (!(s in seen)) start(s)
      if ($0 ~ /\.\.\. ok( |$)/)                 pass[s]++
      else if ($0 ~ /\.\.\. failed \(ignored\)/) ign[s]++
      else if ($0 ~ /\.\.\. FAILED/)             fail[s]++
      next
    }
    /^ (All [0-9]+ tests passed|[0-9]+ of [0-9]+ tests (failed|passed))/ { done[s] = 1 }
    END {
      for (i = 1; i <= n; i++) {
        s = order[i]
        printf "%s %d %d %d %d\n", s, pass[s], fail[s], ign[s], done[s]
      }
    }' "$1"
}

# Suite: `make installcheck` (pg_regress tests + isolation specs) against
# the test cluster. Each pg_regress run is recorded as its own suite.
suite_installcheck() {
  local log=$LOG_DIR/installcheck.log stamp=$LOG_DIR/installcheck.stamp
  local rc=0 name p f ig finished note ran=0 failed_lines=0
  if [[ -z $TEST_PORT ]]; then
    record_suite installcheck 0 1 "could not run: no test cluster"
    return
  fi
  touch "$stamp"
  : >"$log"
  # PGXS runs pg_regress and then pg_isolation_regress in one recipe, so a
  # failing regression test would skip the isolation specs (make -k does not
  # help within a recipe). Emptying one variable on the command line runs
  # each part on its own. pg_regress runs as the invoking user (root is fine
  # for a client); only the server runs unprivileged.
  local part
  for part in ISOLATION= REGRESS=; do
    with_test_pg make -C "$ROOT" PG_CONFIG="$VOX_PG_CONFIG" installcheck "$part" \
      2>&1 | tee -a "$log" || rc=$?
  done

  while read -r name p f ig finished; do
    ran=$((ran + p + f + ig))
    if ((finished == 0 && f == 0)); then
      record_suite "$name" "$p" 1 "run aborted before its summary"
      failed_lines=$((failed_lines + 1))
    else
      note=""
      ((p + f + ig > 0)) || note="no tests in this run"
      ((ig == 0)) || note="$ig failures ignored"
      record_suite "$name" "$p" "$f" "$note"
      failed_lines=$((failed_lines + f))
    fi
  done < <(parse_pg_regress "$log")

  if ((rc != 0 && failed_lines == 0)); then
    record_suite installcheck 0 1 "make installcheck exited $rc with no failing test line"
  elif ((rc == 0 && ran == 0)); then
    record_suite installcheck 0 1 "make installcheck ran no tests"
  fi
  if ((rc != 0)); then print_diffs "$stamp"; fi
}

# A suite run by a script that prints TAP ending with "# pass N" and
# "# fail N" and exits non-zero on failure. Its whole output goes to
# LOG_DIR/NAME.log and is shown when something failed.
# Usage: suite_tap NAME COMMAND [ARG...]
suite_tap() {
  local name=$1 log=$LOG_DIR/$1.log rc=0 pass fail what
  shift
  what=$*
  what=${what//$ROOT\//}
  "$@" >"$log" 2>&1 </dev/null || rc=$?
  pass=$(sed -nE 's/^# pass ([0-9]+)$/\1/p' "$log" | tail -n 1)
  fail=$(sed -nE 's/^# fail ([0-9]+)$/\1/p' "$log" | tail -n 1)
  if [[ -z $pass || -z $fail ]]; then
    tail -n 40 "$log"
    record_suite "$name" 0 1 "$what printed no summary (exit $rc)"
    return
  fi
  if ((fail > 0 || rc != 0)); then cat "$log"; fi
  if ((fail == 0 && rc != 0)); then
    record_suite "$name" "$pass" 1 "$what exited $rc"
    return
  fi
  record_suite "$name" "$pass" "$fail"
}

# Suite: the shim's GoogleTest units, through ctest (one ctest test per
# GoogleTest case). ctest ends with "N% tests passed, F tests failed out of T".
suite_shim_units() {
  local log=$LOG_DIR/ctest.log total failed
  (cd "$ROOT/build" && ctest --output-on-failure --timeout 60) >"$log" 2>&1 || true
  if ! read -r failed total < <(sed -nE 's/.*tests passed, ([0-9]+) tests? failed out of ([0-9]+).*/\1 \2/p' "$log"); then
    tail -n 40 "$log"
    record_suite shim-units 0 1 "ctest printed no summary"
    return
  fi
  ((failed == 0)) || grep -E "Failed|\*\*\*" "$log" | head -n 40
  ((total > 0)) || { record_suite shim-units 0 1 "ctest ran no tests"; return; }
  record_suite shim-units $((total - failed)) "$failed"
}

# Suite: real binaries against the test cluster over loopback, through
# Node's test runner: shim/test/e2e (vox-shim) and relay/test/e2e (vox-relay,
# with vox-shim sending it webhooks). A suite stops and restarts the cluster
# to check outages, through the commands it is given. One node process per
# file, in name order (zz-logs.test.mjs last: it reads the logs of the whole
# run, named by VOX_E2E_RUN_ID); each ends its TAP output with "# pass N" and
# "# fail N".
# Usage: suite_node_e2e NAME DIR [VAR=VALUE...] (the variables, the binaries
# under test among them, are passed to every test file, and so to every
# process it starts).
suite_node_e2e() {
  local name=$1 dir=$2 log=$LOG_DIR/$1.log run_id file rc pass fail cancelled
  local total_pass=0 total_fail=0
  shift 2
  if [[ -z $TEST_PORT ]]; then
    record_suite "$name" 0 1 "could not run: no test cluster"
    return
  fi
  if ! (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) >"$LOG_DIR/$name-npm.log" 2>&1; then
    tail -n 20 "$LOG_DIR/$name-npm.log"
    record_suite "$name" 0 1 "npm ci failed"
    return
  fi
  mkdir -p "$LOG_DIR/$name-logs"
  run_id=$(date +%s%N)
  : >"$log"
  for file in "$dir"/*.test.mjs; do
    rc=0
    (cd "$dir" && with_test_pg env VOX_E2E_LOG_DIR="$LOG_DIR/$name-logs" \
      VOX_E2E_RUN_ID="$run_id" \
      VOX_E2E_PG_STOP="source '$ROOT/scripts/cluster.sh' && vox_cluster_stop '$TEST_DIR'" \
      VOX_E2E_PG_STOP_IMMEDIATE="source '$ROOT/scripts/cluster.sh' && vox_as_server \"\$VOX_PG_BIN/pg_ctl\" -D '$TEST_DIR/data' -m immediate -w -s stop" \
      VOX_E2E_PG_START="source '$ROOT/scripts/cluster.sh' && vox_cluster_start '$TEST_DIR' '$TEST_PORT'" \
      "$@" timeout 300 node --test --test-reporter=tap "$file") >"$log.part" 2>&1 || rc=$?
    cat "$log.part" >>"$log"
    pass=$(sed -nE 's/^# pass ([0-9]+)$/\1/p' "$log.part" | tail -n 1)
    fail=$(sed -nE 's/^# fail ([0-9]+)$/\1/p' "$log.part" | tail -n 1)
    cancelled=$(sed -nE 's/^# cancelled ([0-9]+)$/\1/p' "$log.part" | tail -n 1)
    # A cancelled test (a hook failed, or it never finished) failed too, and
    # so did a file whose node exited non-zero with no failing test.
    fail=$((${fail:-0} + ${cancelled:-0}))
    if [[ -z $pass ]]; then
      tail -n 40 "$log.part"
      pass=0 fail=1
      vox_log "$(basename "$file"): node --test printed no summary"
    elif ((fail == 0 && rc != 0)); then
      tail -n 40 "$log.part"
      fail=1
      vox_log "$(basename "$file"): node exited $rc"
    elif ((fail > 0)); then
      grep -E "^ *not ok|error:|expected|actual" "$log.part" | head -n 40
    fi
    total_pass=$((total_pass + pass))
    total_fail=$((total_fail + fail))
  done
  rm -f "$log.part"
  record_suite "$name" "$total_pass" "$total_fail"
}

# Suite: an end-to-end suite against sanitized binaries. Every process
# writes any ASan or UBSan report to a file of its own, so a report counts as
# a failure (suite NAME-reports) even when the test that provoked it passed.
# VOX_E2E_SANITIZED=1 tells the tests that resident memory is ASan's.
# Usage: suite_node_e2e_sanitized NAME DIR VOX_..._BIN=BINARY... (each binary
# must exist).
suite_node_e2e_sanitized() {
  local name=$1 dir=$2 reports=$LOG_DIR/$1-reports count arg
  shift 2
  for arg in "$@"; do
    if [[ ! -x ${arg#*=} ]]; then
      record_suite "$name" 0 1 "no sanitized binary at ${arg#*=}"
      return
    fi
  done
  rm -rf -- "$reports"
  mkdir -p "$reports"
  suite_node_e2e "$name" "$dir" "$@" VOX_E2E_SANITIZED=1 \
    ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:log_path=$reports/asan" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan"
  count=$(find "$reports" -type f | wc -l)
  if ((count > 0)); then
    head -n 40 "$reports"/*
    record_suite "$name-reports" 0 "$count" "sanitizer reports in $reports"
  else
    record_suite "$name-reports" 1 0
  fi
}

# ---------------------------------------------------------------- main ----
cd "$ROOT"
if ! bash "$ROOT/scripts/deps.sh"; then
  record_suite deps 0 1 "could not install dependencies"
  finish
fi

if ! RUN_DIR=$(vox_run_dir "$ROOT") || ! mkdir -p "$RUN_DIR/test-logs"; then
  record_suite setup 0 1 "no usable directory for the test cluster"
  finish
fi
LOG_DIR=$RUN_DIR/test-logs

if ! vox_build_install "$ROOT"; then
  record_suite build 0 1 "could not build/install the extension"
  finish
fi

# Citus, when citus.so is missing, builds beside the suites before its own:
# about 4 minutes of compiling that would otherwise hold the run up while
# they wait on servers. The citus suite waits for it (and builds it itself
# if this failed).
bash "$ROOT/scripts/citus.sh" build >"$LOG_DIR/citus-build.log" 2>&1 &
CITUS_BUILD=$!

# A fresh cluster every run: tests must not depend on leftovers.
if port=$(vox_free_port "${VOX_TEST_PORT_BASE:-55432}") &&
  vox_cluster_fresh "$RUN_DIR/test-pg" "$port" ""; then
  TEST_DIR=$RUN_DIR/test-pg
  TEST_PORT=$port
  vox_log "test cluster: $TEST_DIR (socket dir), 127.0.0.1:$TEST_PORT"
else
  TEST_DIR=$RUN_DIR/test-pg # so the trap stops a half-started server
  vox_log "ERROR: could not start the test cluster"
fi

suite_installcheck
# The extension's incremental build recompiles what includes a changed header.
suite_tap build bash "$ROOT/test/build/run.sh"
# README and docs/ name nothing outside the repository (a clone has only it).
suite_tap docs bash "$ROOT/test/docs/run.sh"
# The maintenance background worker needs vox in shared_preload_libraries,
# which the test cluster lacks: test/worker/run.sh makes a cluster of its own.
suite_tap worker bash "$ROOT/test/worker/run.sh"
# Escalation routes tried by roles that are not superusers (the maintenance
# worker in a database they own, vox's trigger functions, settings read
# without the preload), on a cluster of its own.
suite_tap privileges bash "$ROOT/test/privileges/run.sh"
# pg_dump and pg_restore of a populated vox database: every row comes back,
# and vox works on the copy (cluster of its own).
suite_tap backup bash "$ROOT/test/backup/run.sh"
# Convergence under permutations and redeliveries, and storms of concurrent
# deliveries (DESIGN §2), on a cluster of its own.
suite_tap reliability bash "$ROOT/test/reliability/run.sh"
# The benchmark's PL/pgSQL twin of vox.handle_event still leaves the same rows
# (bench/plpgsql), so the benchmark compares equal work.
suite_tap plpgsql-twin env VOX_BENCH_CHECK_DIR="$RUN_DIR/plpgsql-check-pg" bash "$ROOT/bench/plpgsql/check.sh"
# Mutated and random JSON against vox.handle_event (never a crash, only
# class-22 errors or clean outcomes), and libFuzzer on the shim's header
# parsing and signature verification.
suite_tap fuzz env VOX_FUZZ_BUILD_DIR="$RUN_DIR/fuzz-build" VOX_FUZZ_PG_DIR="$RUN_DIR/fuzz-pg" \
  bash "$ROOT/test/fuzz/run.sh"

if vox_build_shim "$ROOT"; then
  suite_shim_units
  # README command 1 in a scratch directory on ports of its own: quiet, its
  # build output in the log, its printed curl answered, vox-relay and the
  # printed dashboard link serving the page and that call, taken ports
  # refused before anything starts, and `up.sh stop`.
  suite_tap up bash "$ROOT/test/up/run.sh"
  suite_node_e2e shim-e2e "$ROOT/shim/test/e2e" VOX_SHIM_BIN="$ROOT/build/vox-shim"
  # vox on Citus: a coordinator and two workers (Citus built first when
  # citus.so is missing), vox.distribute() on a populated install, the same
  # events on the cluster and on a single node compared row by row, the
  # queues, the live feed, vox-shim's end-to-end suite against the
  # coordinator with workers crashed and a shard moved under load,
  # vox-relay's live-feed tests against it, and the 1,000-permutation
  # convergence across two workers.
  wait "$CITUS_BUILD" || true
  suite_tap citus env VOX_SHIM_BIN="$ROOT/build/vox-shim" VOX_RELAY_BIN="$ROOT/build/vox-relay" \
    bash "$ROOT/test/citus/run.sh"
  # The live feed: vox-relay's streams fed by vox-shim's webhooks and by SQL.
  suite_node_e2e relay-e2e "$ROOT/relay/test/e2e" VOX_RELAY_BIN="$ROOT/build/vox-relay" \
    VOX_SHIM_BIN="$ROOT/build/vox-shim"
  # The recording archiver: s3rver behind a proxy that verifies every SigV4
  # signature, an HTTPS origin serving WAV files, crashes, two relays, refused
  # downloads (in a network namespace of their own), 200 MiB in bounded
  # memory, retention, playback, and no secret in any log.
  suite_node_e2e relay-archive "$ROOT/relay/test/archive" VOX_RELAY_BIN="$ROOT/build/vox-relay" \
    VOX_SHIM_BIN="$ROOT/build/vox-shim"
  # The dashboard in headless Chromium, served by vox-relay, following signed
  # webhooks through vox-shim and a restart of the relay; its screenshot and
  # the servers' logs in LOG_DIR/browser.
  suite_tap browser with_test_pg env VOX_SHIM_BIN="$ROOT/build/vox-shim" VOX_RELAY_BIN="$ROOT/build/vox-relay" \
    VOX_BROWSER_OUT_DIR="$LOG_DIR/browser" bash "$ROOT/test/browser/run.sh"
  # The binaries and their units under AddressSanitizer and UBSan, then the
  # shim's end-to-end suite again against them. The relay's feed suite ran
  # sanitized until the archive suite took its place in the 30-minute budget:
  # VOX_SANITIZED_RELAY=1 runs it again.
  suite_tap sanitize env VOX_SANITIZE_BUILD_DIR="$RUN_DIR/asan-build" bash "$ROOT/test/sanitize/run.sh"
  suite_node_e2e_sanitized shim-e2e-sanitized "$ROOT/shim/test/e2e" VOX_SHIM_BIN="$RUN_DIR/asan-build/vox-shim"
  if [[ ${VOX_SANITIZED_RELAY:-0} == 1 ]]; then
    suite_node_e2e_sanitized relay-e2e-sanitized "$ROOT/relay/test/e2e" \
      VOX_RELAY_BIN="$RUN_DIR/asan-build/vox-relay" VOX_SHIM_BIN="$RUN_DIR/asan-build/vox-shim"
  fi
  # The benchmark in its smoke size: every mode (the live feed's too) and the
  # vox/PL/pgSQL equality check still run (no timing is asserted;
  # docs/performance.md has figures).
  suite_tap bench-smoke env VOX_BENCH_DIR="$RUN_DIR/bench-pg" VOX_SHIM_BIN="$ROOT/build/vox-shim" \
    VOX_RELAY_BIN="$ROOT/build/vox-relay" bash "$ROOT/bench/run.sh" --smoke
else
  record_suite shim-build 0 1 "could not build vox-shim"
fi

finish
