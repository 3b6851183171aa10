#!/usr/bin/env bash
# End-to-end tests of the vox maintenance background worker
# (extension/src/maintenance.cpp), which exists only when vox is in
# shared_preload_libraries, so it needs a cluster of its own: a fresh one in
# $VOX_WORKER_TEST_DIR (default .run/worker-pg) on the first free port from
# $VOX_WORKER_TEST_PORT (default 56432), with vox preloaded, vox.database =
# 'vox_worker', a 1 s interval and a 2 s retention. A hot standby of it ($VOX_WORKER_TEST_DIR-standby, next free
# port) checks the recovery case. Both are stopped and removed on exit
# (VOX_WORKER_TEST_KEEP=1 keeps them, stopped, for a post-mortem).
#
# Prints TAP: one `ok N - ...` / `not ok N - ...` line per check, `# ...`
# diagnostics after a failure, then `# pass P` and `# fail F`. Exit status 0
# only if F = 0. Nothing waits on a fixed guess of how long the worker takes:
# every wait is a bounded poll for the expected state, and the only fixed
# sleeps are lower bounds: the observation windows of the checks that
# something does NOT happen, and how long a lock is held (where a slow
# machine can only make a check easier to pass).
#
# Usage: bash test/worker/run.sh

# The checks run through `check DESCRIPTION FUNCTION` and cleanup through a
# trap, which shellcheck takes for unreachable code.
# shellcheck disable=SC2317
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=scripts/cluster.sh
source "$ROOT/scripts/cluster.sh"
# shellcheck source=scripts/tap.sh
source "$ROOT/scripts/tap.sh"

DIR=${VOX_WORKER_TEST_DIR:-}
if [[ -z $DIR ]]; then
  RUN_DIR=$(vox_run_dir "$ROOT")
  DIR=$RUN_DIR/worker-pg
fi
SDIR=$DIR-standby
PORT=""
SPORT=""
DB=vox_worker
ORG=00000000-0000-4000-8000-00000000000a
WORKER="vox maintenance worker"

GOT=""    # last output of q/poll
LOCKER="" # pid of a background psql holding a lock, while there is one
ERR_FILE=$(mktemp) # psql's stderr: warnings stay out of the values read

# ------------------------------------------------------------ helpers ----

cleanup() {
  local d
  rm -f -- "$ERR_FILE"
  if [[ -n $LOCKER ]]; then kill "$LOCKER" 2>/dev/null || true; fi
  for d in "$SDIR" "$DIR"; do
    [[ -f $d/.vox-cluster ]] || continue
    vox_cluster_stop "$d" >/dev/null 2>&1 || vox_log "WARNING: could not stop $d"
    if [[ ${VOX_WORKER_TEST_KEEP:-} != 1 ]]; then rm -rf -- "$d"; fi
  done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# psql_to DIR PORT SQL...: each SQL a separate -c (so ALTER SYSTEM is not
# wrapped in a transaction block); unaligned, tuples only, stops at an error.
psql_to() {
  local dir=$1 port=$2 arg args=()
  shift 2
  for arg in "$@"; do args+=(-c "$arg"); done
  env -u PGHOSTADDR -u PGSERVICE -u PGSERVICEFILE -u PGDATABASE -u PGOPTIONS \
    "$VOX_PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d "$DB" "${args[@]}"
}
# q SQL...: on the primary's vox_worker; stdout only (also in GOT). On
# failure, the query and psql's error join the diagnostics.
q() {
  if GOT=$(psql_to "$DIR" "$PORT" "$@" 2>"$ERR_FILE"); then
    printf '%s\n' "$GOT"
    return 0
  fi
  DIAG+=("query failed: ${*}" "psql: $(cat "$ERR_FILE")")
  return 1
}
qs() { # the same on the standby
  if GOT=$(psql_to "$SDIR" "$SPORT" "$@" 2>"$ERR_FILE"); then
    printf '%s\n' "$GOT"
    return 0
  fi
  DIAG+=("query failed on the standby: ${*}" "psql: $(cat "$ERR_FILE")")
  return 1
}

# poll SECONDS WANT SQL: run SQL on the primary every 0.2 s until it prints
# WANT (GOT holds the last output). poll_on standby SECONDS WANT SQL: the
# same on the standby.
poll_on() {
  local where=$1 limit=$2 want=$3 sql=$4 deadline out
  deadline=$(($(now_ms) + limit * 1000))
  while :; do
    if [[ $where == standby ]]; then
      out=$(psql_to "$SDIR" "$SPORT" "$sql" 2>"$ERR_FILE") || out="psql: $(cat "$ERR_FILE")"
    else
      out=$(psql_to "$DIR" "$PORT" "$sql" 2>"$ERR_FILE") || out="psql: $(cat "$ERR_FILE")"
    fi
    GOT=$out
    [[ $out == "$want" ]] && return 0
    (($(now_ms) < deadline)) || return 1
    sleep 0.2
  done
}
poll() { poll_on primary "$@"; }

log_size() { stat -c %s "$1/server.log"; }
# log_since DIR OFFSET: the server log written after byte OFFSET.
log_since() { tail -c +$(($2 + 1)) "$1/server.log"; }
# Lines that must never appear: a crash or a restart of every backend, an
# assertion, or a round's step that failed ("vox maintenance: <error>");
# BAD_LOG adds any ERROR or FATAL (none is expected on the primary).
CRASH_LOG='terminated by signal|was terminated|PANIC|TRAP:|terminating any other active|all server processes terminated|reinitializing|vox maintenance: '
BAD_LOG="$CRASH_LOG|ERROR:|FATAL:"

worker_pid() { # on the primary; empty if none
  q "SELECT string_agg(pid::text, ' ') FROM pg_stat_activity
      WHERE backend_type = '$WORKER' AND datname = '$DB'"
}

bail() { # setup failed: one failing check, then the summary
  N=$((N + 1))
  echo "not ok $N - setup: $*"
  FAILED=$((FAILED + 1))
  if [[ -f $DIR/server.log ]]; then tail -n 20 "$DIR/server.log" | sed 's/^/#   /'; fi
  finish
}

# Seen worker rounds: vox.maintenance_runs forgets rows after the retention
# (2 s here), so a trigger copies each round into vox_test.seen_runs, which
# polls can read whenever they come round.
SEEN_TRIGGER="CREATE TRIGGER copy_run AFTER INSERT ON vox.maintenance_runs
    FOR EACH ROW EXECUTE FUNCTION vox_test.copy_run()"

# ------------------------------------------------------------- checks ----

check_running() {
  if poll 10 1 "SELECT count(*) FROM pg_stat_activity WHERE backend_type = '$WORKER' AND datname = '$DB'"; then
    return 0
  fi
  DIAG+=("workers in $DB after 10 s: $GOT")
  DIAG+=("$(q "SELECT backend_type || ' in ' || coalesce(datname, '-') FROM pg_stat_activity" || true)")
  return 1
}

check_expiry() {
  local a_event a_out b_out b_created
  # A: applied, its outbox row claimed and acknowledged (delivered).
  a_event=$(q "SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-w2a', 'asst-demo'),
                                                              'ringing', 1763740800000)) ->> 'event_id'") || return 1
  a_out=$(q "SELECT string_agg(id::text, ',') FROM vox.outbox WHERE vapi_call_id = 'call-w2a'") || return 1
  q "SELECT vox.ack_outbox(array_agg(id)) FROM vox.claim_outbox(100, '1 minute')" >/dev/null || return 1
  # B: applied, its outbox row left undelivered.
  q "SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-w2b', 'asst-demo'),
                                                    'ringing', 1763740800000))" >/dev/null || return 1
  b_out=$(q "SELECT id FROM vox.outbox WHERE vapi_call_id = 'call-w2b'") || return 1
  b_created=$(q "SELECT created_at FROM vox.outbox WHERE id = $b_out") || return 1
  if [[ -z $a_event || -z $a_out || -z $b_out ]]; then
    DIAG+=("setup: event A '$a_event', outbox A '$a_out', outbox B '$b_out'")
    return 1
  fi
  if ! poll 10 "0 0" "SELECT (SELECT count(*) FROM vox.processed_webhook_events WHERE event_id = '$a_event') || ' ' ||
                             (SELECT count(*) FROM vox.outbox WHERE id IN ($a_out))"; then
    DIAG+=("after 10 s, idempotency records / delivered outbox rows of A left: $GOT (want 0 0)")
    return 1
  fi
  # A round that started once B's row was older than the retention too must
  # have left it: it is not delivered.
  if ! poll 10 t "SELECT EXISTS (SELECT FROM vox_test.seen_runs WHERE ran_by = 'worker'
                                    AND started_at > '$b_created'::timestamptz + interval '2 s')"; then
    DIAG+=("no worker round started 2 s after B's outbox row within 10 s")
    return 1
  fi
  q "SELECT count(*) || ' ' || count(*) FILTER (WHERE delivered_at IS NULL) FROM vox.outbox WHERE id = $b_out" \
    >/dev/null || return 1
  if [[ $GOT != "1 1" ]]; then
    DIAG+=("undelivered outbox row B (id $b_out): rows / undelivered = $GOT, want 1 1")
    return 1
  fi
  q "SELECT sum(removed_idempotency) > 0 AND sum(removed_outbox) > 0 FROM vox_test.seen_runs
      WHERE ran_by = 'worker'" >/dev/null || return 1
  if [[ $GOT != t ]]; then
    DIAG+=("the worker's rounds in vox.maintenance_runs do not count the removals:"
      "$(q "SELECT started_at, removed_idempotency, removed_outbox FROM vox_test.seen_runs ORDER BY id" || true)")
    return 1
  fi
}

check_replay() {
  local reason since
  reason=$(q "SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-w3', NULL),
                                                           'in-progress', 1763740801000)) ->> 'reason'") || return 1
  if [[ $reason != unknown_call ]]; then
    DIAG+=("an event naming only its call id: reason '$reason', want unknown_call")
    return 1
  fi
  # A round that runs while the call is unknown leaves it parked.
  since=$(q "SELECT clock_timestamp()") || return 1
  if ! poll 10 t "SELECT EXISTS (SELECT FROM vox_test.seen_runs WHERE started_at > '$since')"; then
    DIAG+=("no worker round within 10 s")
    return 1
  fi
  q "SELECT count(*) || ' ' || bool_and(attempts > 0) FROM vox.parked_events WHERE vapi_call_id = 'call-w3'" \
    >/dev/null || return 1
  if [[ $GOT != "1 true" && $GOT != "1 t" ]]; then
    DIAG+=("parked events of call-w3 / replay attempted by a round: $GOT, want 1 t")
    return 1
  fi
  # The call becomes known through a plain insert: no trigger replays.
  since=$(q "SELECT clock_timestamp()") || return 1
  q "INSERT INTO vox.call_tracking (org_id, vapi_call_id) VALUES ('$ORG', 'call-w3')" >/dev/null || return 1
  if ! poll 10 "0 in-progress" "SELECT (SELECT count(*) FROM vox.parked_events WHERE vapi_call_id = 'call-w3') || ' ' ||
                                       coalesce((SELECT status FROM vox.call_logs
                                                  WHERE org_id = '$ORG' AND vapi_call_id = 'call-w3'), 'no call_logs row')"; then
    DIAG+=("after 10 s, parked events of call-w3 and its call_logs status: $GOT, want 0 in-progress")
    return 1
  fi
  if ! poll 5 t "SELECT EXISTS (SELECT FROM vox_test.seen_runs
                                 WHERE ran_by = 'worker' AND replayed > 0 AND started_at > '$since')"; then
    DIAG+=("no worker round with replayed > 0 in vox.maintenance_runs:"
      "$(q "SELECT started_at, replayed, error FROM vox_test.seen_runs WHERE started_at > '$since'" || true)")
    return 1
  fi
}

check_stats() {
  local counts before after stats
  # Counted under the canonical type, whatever the spelling or validity.
  counts="SELECT string_agg(coalesce(since_start, 0)::text, ' ' ORDER BY k.n)
            FROM (VALUES (1, 'status-update', 'processed'), (2, 'status-update', 'duplicate'),
                         (3, 'status-update', 'invalid'), (4, 'status-update', 'noted'),
                         (5, 'transcript', 'processed')) k (n, t, o)
            LEFT JOIN vox.event_counts() c ON c.event_type = k.t AND c.outcome = k.o"
  q "SELECT count(*) > 0 FROM vox.event_counts()" >/dev/null || return 1
  if [[ $GOT != t ]]; then
    DIAG+=("vox.event_counts() returned no rows although vox is preloaded")
    return 1
  fi
  before=$(q "$counts") || return 1
  # Sent and redelivered in one transaction: the idempotency record cannot
  # expire in between.
  q "BEGIN" \
    "SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-w4', 'asst-demo'), 'queued', 1763740800000), 'dlv-w4') ->> 'status'" \
    "SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-w4', 'asst-demo'), 'queued', 1763740800000), 'dlv-w4') ->> 'status'" \
    "COMMIT" >/dev/null || return 1
  if [[ $GOT != $'processed\nduplicate' ]]; then
    DIAG+=("sent then redelivered: '${GOT//$'\n'/ }', want 'processed duplicate'")
    return 1
  fi
  q "SELECT vox_test.attempt('{\"message\": {\"type\": \"status-update\"}}')" >/dev/null || return 1
  if [[ $GOT != 22* ]]; then
    DIAG+=("a malformed payload was not rejected as invalid (22xxx): $GOT")
    return 1
  fi
  # An unknown call type is noted (and the event processed); the final-only
  # transcript type counts as a transcript.
  q "SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-w5', 'asst-demo', '{\"type\": \"vapi.sipCall\"}'), 'queued', 1763740800000)) ->> 'status'" \
    "SELECT vox.handle_event(jsonb_set(vox_test.transcript(vox_test.call('call-w5', 'asst-demo'), 'user', 'Hi.', 1763740801000), '{message,type}', to_jsonb('transcript[transcriptType=' || chr(34) || 'final' || chr(34) || ']'))) ->> 'status'" \
    >/dev/null || return 1
  if [[ $GOT != $'processed\nprocessed' ]]; then
    DIAG+=("a noted status-update, a final-only transcript: '${GOT//$'\n'/ }', want 'processed processed'")
    return 1
  fi
  after=$(q "$counts") || return 1
  if [[ ! "$before|$after" =~ ^([0-9]+\ ){4}[0-9]+\|([0-9]+\ ){4}[0-9]+$ ]]; then
    DIAG+=("counters of status-update processed/duplicate/invalid/noted, transcript processed: before '$before', after '$after'")
    return 1
  fi
  local -a b a
  read -ra b <<<"$before"
  read -ra a <<<"$after"
  if ((a[0] - b[0] != 2 || a[1] - b[1] != 1 || a[2] - b[2] != 1 || a[3] - b[3] != 1 || a[4] - b[4] != 1)); then
    DIAG+=("since_start of status-update processed/duplicate/invalid/noted, transcript processed: before $before, after $after; want +2 +1 +1 +1 +1")
    return 1
  fi
  q "SELECT count(*) FROM vox.event_counts() WHERE last_hour > since_start" >/dev/null || return 1
  if [[ $GOT != 0 ]]; then
    DIAG+=("$GOT counters with last_hour > since_start")
    return 1
  fi
  stats=$(q "SELECT (SELECT count(*) FROM vox.stats WHERE section = 'events' AND value IS NULL) || ' | ' ||
                    (SELECT name || ' | ' || (oldest > now() - interval '10 s')
                       FROM vox.stats WHERE section = 'maintenance')") || return 1
  if [[ $stats != "0 | last run: worker | true" && $stats != "0 | last run: worker | t" ]]; then
    DIAG+=("vox.stats: events not counted / last maintenance run / finished in the last 10 s: '$stats'"
      "want '0 | last run: worker | t'")
    return 1
  fi
}

check_sighup() {
  local since last_id extra
  q "ALTER SYSTEM SET vox.maintenance_interval = '3600'" >/dev/null || return 1
  since=$(q "SELECT clock_timestamp()") || return 1
  q "SELECT pg_reload_conf()" >/dev/null || return 1
  # The reload wakes the worker for one round (two, if a round started just
  # before it saw the signal); after that it sleeps an hour.
  if ! poll 10 t "SELECT EXISTS (SELECT FROM vox_test.seen_runs WHERE started_at > '$since')"; then
    DIAG+=("no round within 10 s of the reload")
    return 1
  fi
  last_id=$(q "SELECT max(id) FROM vox_test.seen_runs") || return 1
  sleep 3
  extra=$(q "SELECT count(*) || ' ' || (count(*) <= 1) FROM vox_test.seen_runs WHERE id > $last_id") || return 1
  if [[ $extra != *" true" ]]; then
    extra=${extra% *}
    DIAG+=("$extra rounds in the 3 s after the reload to vox.maintenance_interval = 3600 (at most 1 expected)")
    q "ALTER SYSTEM RESET vox.maintenance_interval" "SELECT pg_reload_conf()" >/dev/null || true
    return 1
  fi
  # Back to the 1 s of postgresql.conf: the reload wakes it, and the next
  # round comes 1 s later, not an hour.
  q "ALTER SYSTEM RESET vox.maintenance_interval" >/dev/null || return 1
  since=$(q "SELECT clock_timestamp()") || return 1
  q "SELECT pg_reload_conf()" >/dev/null || return 1
  if ! poll 10 t "SELECT count(*) >= 2 FROM vox_test.seen_runs WHERE started_at > '$since'"; then
    DIAG+=("after the reload back to 1 s, rounds within 10 s: $GOT (want at least 2)")
    return 1
  fi
}

check_sigterm() {
  local old new offset since log ok=0
  old=$(worker_pid) || return 1
  if [[ -z $old || $old == *" "* ]]; then
    DIAG+=("worker pids before SIGTERM: '$old' (want exactly one)")
    return 1
  fi
  offset=$(log_size "$DIR")
  kill -TERM "$old"
  # A new worker: new pid (after bgw_restart_time, 5 s).
  if ! poll 12 t "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE backend_type = '$WORKER'
                                    AND datname = '$DB' AND pid <> $old)"; then
    DIAG+=("no new worker within 12 s of SIGTERM to $old")
    ok=1
  fi
  new=$(worker_pid) || return 1
  since=$(q "SELECT clock_timestamp()") || return 1
  if ((ok == 0)) && ! poll 5 t "SELECT EXISTS (SELECT FROM vox_test.seen_runs WHERE started_at > '$since')"; then
    DIAG+=("the new worker ($new) recorded no round within 5 s")
    ok=1
  fi
  log=$(log_since "$DIR" "$offset")
  if ! grep -q "vox maintenance worker stopping" <<<"$log"; then
    DIAG+=("the log does not say the worker stopped")
    ok=1
  fi
  if ! grep -q "vox maintenance worker started in database \"$DB\"" <<<"$log"; then
    DIAG+=("the log does not say a new worker started")
    ok=1
  fi
  if grep -Eq "$BAD_LOG" <<<"$log"; then
    DIAG+=("the log after SIGTERM shows:" "$(grep -E "$BAD_LOG" <<<"$log" | head -n 10)")
    ok=1
  fi
  if ((ok != 0)); then DIAG+=("server log since SIGTERM:" "$(printf '%s\n' "$log" | tail -n 20)"); fi
  return "$ok"
}

# A SIGTERM that arrives while a round waits on a lock ends the worker at
# once, lock still held: it neither waits for the lock nor sleeps through
# vox.maintenance_interval (3600 s here, so that a worker that lost the
# signal is unmistakable; at shutdown, the postmaster would wait for it as
# long).
check_sigterm_in_lock_wait() {
  local old state ok=0 offset log
  q "ALTER SYSTEM SET vox.maintenance_interval = '3600'" "SELECT pg_reload_conf()" >/dev/null || return 1
  # The locker holds the lock until a row in vox_test.lock_release tells it
  # to commit (30 s at most); its own reload wakes the worker for a round
  # that must wait on it.
  PGAPPNAME=vox_worker_test_locker psql_to "$DIR" "$PORT" "BEGIN" \
    "LOCK TABLE vox.processed_webhook_events IN ACCESS EXCLUSIVE MODE" \
    "SELECT pg_reload_conf()" \
    "DO \$\$ BEGIN
       FOR i IN 1..600 LOOP
         EXIT WHEN EXISTS (SELECT FROM vox_test.lock_release);
         PERFORM pg_sleep(0.05);
       END LOOP;
     END \$\$" \
    "COMMIT" >/dev/null 2>&1 &
  LOCKER=$!
  if ! poll 10 Lock "SELECT string_agg(coalesce(wait_event_type, '-'), ' ') FROM pg_stat_activity
                      WHERE backend_type = '$WORKER' AND datname = '$DB'"; then
    DIAG+=("the worker is not waiting on the lock after 10 s (wait_event_type: $GOT)")
    ok=1
  fi
  old=$(worker_pid) || ok=1
  if ((ok == 0)) && [[ ! $old =~ ^[0-9]+$ ]]; then
    DIAG+=("worker pids: '$old' (want exactly one)")
    ok=1
  fi
  offset=$(log_size "$DIR")
  if ((ok == 0)); then
    kill -TERM "$old"
    if ! poll 5 0 "SELECT count(*) FROM pg_stat_activity WHERE pid = $old"; then
      state=$(q "SELECT coalesce(wait_event_type, '-') || '/' || coalesce(wait_event, '-') || ', ' || state
                   FROM pg_stat_activity WHERE pid = $old" || true)
      log=$(log_since "$DIR" "$offset")
      DIAG+=("worker $old still runs 5 s after SIGTERM, the lock still held (wait event, state: $state)"
        "server log since SIGTERM: ${log:-(nothing)}")
      ok=1
    fi
  fi
  q "INSERT INTO vox_test.lock_release VALUES (true)" >/dev/null || ok=1
  wait "$LOCKER" 2>/dev/null || true
  LOCKER=""
  # Back to 1 s (the reload also ends a worker that still holds the SIGTERM),
  # and a worker running again for the checks that follow.
  q "ALTER SYSTEM RESET vox.maintenance_interval" "SELECT pg_reload_conf()" >/dev/null || return 1
  if ! poll 12 t "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE backend_type = '$WORKER'
                                    AND datname = '$DB' AND pid <> ${old:-0})"; then
    DIAG+=("no new worker within 12 s")
    ok=1
  fi
  log=$(log_since "$DIR" "$offset")
  if grep -Eq "$BAD_LOG" <<<"$log"; then
    DIAG+=("the log shows:" "$(grep -E "$BAD_LOG" <<<"$log" | head -n 10)")
    ok=1
  fi
  return "$ok"
}

check_not_installed() {
  local pid offset log after since
  pid=$(worker_pid) || return 1
  offset=$(log_size "$DIR")
  q "SET client_min_messages = warning" "DROP EXTENSION vox CASCADE" >/dev/null || return 1
  sleep 3
  after=$(worker_pid) || return 1
  log=$(log_since "$DIR" "$offset")
  if [[ $after != "$pid" ]]; then
    DIAG+=("worker pid $pid before DROP EXTENSION, '$after' 3 s later" "server log since:" "$(tail -n 20 <<<"$log")")
    return 1
  fi
  if grep -Eq "vox maintenance|$BAD_LOG" <<<"$log"; then
    DIAG+=("the server log while vox is not installed:" "$(tail -n 20 <<<"$log")")
    return 1
  fi
  # Installed again (the round copier with it): rounds resume, and remove
  # expired rows through the new tables.
  since=$(q "SELECT clock_timestamp()") || return 1
  q "BEGIN" "CREATE EXTENSION vox" "$SEEN_TRIGGER" "COMMIT" \
    "SELECT vox_test.tenant('$ORG', 'Demo Clinic', 'asst-demo', 'pn-demo', '+14155550100')" >/dev/null || return 1
  q "SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-w7', 'asst-demo'), 'ringing', 1763740800000))" \
    "SELECT vox.ack_outbox(array_agg(id)) FROM vox.claim_outbox(100, '1 minute')" >/dev/null || return 1
  if ! poll 10 t "SELECT EXISTS (SELECT FROM vox.maintenance_runs WHERE ran_by = 'worker')"; then
    DIAG+=("no worker round in vox.maintenance_runs within 10 s of CREATE EXTENSION")
    return 1
  fi
  if ! poll 10 "0 0" "SELECT (SELECT count(*) FROM vox.processed_webhook_events) || ' ' ||
                             (SELECT count(*) FROM vox.outbox)"; then
    DIAG+=("after 10 s, idempotency records / delivered outbox rows left: $GOT (want 0 0)"
      "$(q "SELECT started_at, removed_idempotency, removed_outbox, error FROM vox_test.seen_runs
             WHERE started_at > '$since' ORDER BY id" || true)")
    return 1
  fi
  after=$(worker_pid) || return 1
  log=$(log_since "$DIR" "$offset")
  if [[ $after != "$pid" ]] || grep -Eq "$BAD_LOG" <<<"$log"; then
    DIAG+=("worker pid $pid before, '$after' after; server log since DROP EXTENSION:" "$(tail -n 20 <<<"$log")")
    return 1
  fi
  q "SELECT count(*) FROM vox_test.seen_runs WHERE started_at > '$since' AND error IS NOT NULL" >/dev/null || return 1
  if [[ $GOT != 0 ]]; then
    DIAG+=("failed rounds after CREATE EXTENSION:"
      "$(q "SELECT started_at, error FROM vox_test.seen_runs WHERE error IS NOT NULL" || true)")
    return 1
  fi
}

check_recovery() {
  local out since offset log
  SPORT=$(vox_free_port $((PORT + 1))) || { DIAG+=("no free port for the standby"); return 1; }
  mkdir -p "$SDIR"
  if ((EUID == 0)); then chown "$(vox_server_user):" "$SDIR"; fi
  chmod 0755 "$SDIR"
  vox_as_server touch "$SDIR/.vox-cluster"
  if ! out=$(vox_as_server "$VOX_PG_BIN/pg_basebackup" -h "$DIR" -p "$PORT" -U postgres -D "$SDIR/data" \
    -R -X stream -c fast 2>&1); then
    DIAG+=("pg_basebackup failed:" "$out")
    return 1
  fi
  if ! out=$(vox_cluster_start "$SDIR" "$SPORT" vox 2>&1); then
    DIAG+=("the standby did not start:" "$out")
    return 1
  fi
  qs "SELECT pg_is_in_recovery()" >/dev/null || return 1
  if [[ $GOT != t ]]; then
    DIAG+=("the standby is not in recovery: $GOT")
    return 1
  fi
  # In recovery: no worker, nothing logged by it (one that started now would
  # show within this window).
  sleep 2
  qs "SELECT count(*) FROM pg_stat_activity WHERE backend_type = '$WORKER'" >/dev/null || return 1
  if [[ $GOT != 0 ]]; then
    DIAG+=("$GOT maintenance workers on the standby while in recovery")
    return 1
  fi
  if grep -Eq "vox maintenance|$BAD_LOG" "$SDIR/server.log"; then
    DIAG+=("the standby's log in recovery:" "$(grep -E "vox maintenance|$BAD_LOG" "$SDIR/server.log" | head -n 10)")
    return 1
  fi
  # Promoted (the primary stopped first, so every round after this comes from
  # the standby's own worker): the worker starts and works.
  vox_cluster_stop "$DIR" || { DIAG+=("could not stop the primary"); return 1; }
  offset=$(log_size "$SDIR")
  since=$(qs "SELECT clock_timestamp()") || return 1
  if ! out=$(vox_as_server "$VOX_PG_BIN/pg_ctl" -D "$SDIR/data" -w -t 30 promote 2>&1); then
    DIAG+=("pg_ctl promote failed:" "$out")
    return 1
  fi
  if ! poll_on standby 10 t "SELECT EXISTS (SELECT FROM vox_test.seen_runs
                                             WHERE ran_by = 'worker' AND started_at > '$since' AND error IS NULL)"; then
    DIAG+=("no worker round on the promoted standby within 10 s: $GOT" "its log:" "$(log_since "$SDIR" "$offset" | tail -n 20)")
    return 1
  fi
  # (Its WAL receiver's FATALs about the stopped primary are expected.)
  log=$(log_since "$SDIR" "$offset")
  if grep -Eq "$CRASH_LOG" <<<"$log"; then
    DIAG+=("the promoted standby's log:" "$(grep -E "$CRASH_LOG" <<<"$log" | head -n 10)")
    return 1
  fi
}

# The primary's log over the whole run (it is stopped by now): no crash, no
# failed step, and a clean exit of the worker at shutdown.
check_whole_log() {
  local bad
  bad=$(grep -E "$BAD_LOG" "$DIR/server.log" || true)
  if [[ -n $bad ]]; then
    DIAG+=("the primary's log shows:" "$(head -n 20 <<<"$bad")")
    return 1
  fi
}

# -------------------------------------------------------------- setup ----
# First without the preload, to create the database the worker connects to
# (a worker started before it exists would fail and be restarted 5 s later);
# then restarted with vox preloaded and the worker's settings.
PORT=$(vox_free_port "${VOX_WORKER_TEST_PORT:-56432}") || bail "no free port from ${VOX_WORKER_TEST_PORT:-56432}"
if [[ -e $SDIR ]]; then # a standby kept by an earlier run
  [[ -f $SDIR/.vox-cluster ]] || bail "refusing to wipe $SDIR: not created by scripts/cluster.sh"
  vox_cluster_stop "$SDIR" >/dev/null 2>&1 || bail "could not stop the old standby in $SDIR"
  rm -rf -- "$SDIR"
fi
vox_log "worker test cluster: $DIR, port $PORT"
out=$(vox_cluster_fresh "$DIR" "$PORT" "" 2>&1) || bail "could not create the cluster: $out"
out=$(env -u PGHOSTADDR -u PGSERVICE -u PGSERVICEFILE -u PGDATABASE -u PGOPTIONS "$VOX_PG_BIN/psql" -X -q \
  -v ON_ERROR_STOP=1 -h "$DIR" -p "$PORT" -U postgres -d postgres -c "CREATE DATABASE $DB" 2>&1) ||
  bail "could not create database $DB: $out"
out=$(psql_to "$DIR" "$PORT" "\\i $ROOT/test/fixtures/vapi.sql" \
  "SELECT vox_test.tenant('$ORG', 'Demo Clinic', 'asst-demo', 'pn-demo', '+14155550100')" \
  "CREATE TABLE vox_test.seen_runs AS SELECT * FROM vox.maintenance_runs WITH NO DATA" \
  "CREATE FUNCTION vox_test.copy_run() RETURNS trigger LANGUAGE plpgsql AS
     \$\$ BEGIN INSERT INTO vox_test.seen_runs SELECT NEW.*; RETURN NULL; END \$\$" \
  "$SEEN_TRIGGER" \
  "CREATE TABLE vox_test.lock_release (done boolean)" 2>&1) || bail "could not install vox in $DB: $out"
vox_as_server tee -a "$DIR/data/postgresql.conf" >/dev/null <<EOF || bail "could not write postgresql.conf"
# vox maintenance worker test (test/worker/run.sh)
vox.database = '$DB'
vox.maintenance_interval = 1
vox.retention = 2
EOF
out=$(vox_cluster_start "$DIR" "$PORT" vox 2>&1) || bail "could not restart with vox preloaded: $out"

# -------------------------------------------------------------- tests ----
check "the worker is running in $DB (pg_stat_activity)" check_running
check "expired idempotency records and delivered outbox rows disappear without any call; an undelivered row stays" check_expiry
check "a parked event whose call becomes known is applied by a round (maintenance_runs.replayed > 0)" check_replay
check "vox.event_counts() counts processed, duplicate and invalid events; vox.stats shows the last run" check_stats
check "SIGHUP reloads vox.maintenance_interval (3600 s: rounds stop; back to 1 s: they resume)" check_sighup
check "SIGTERM: the worker logs it stops, the postmaster starts a new one, nothing crashes" check_sigterm
check "SIGTERM while a round waits on a lock: the worker exits at once" check_sigterm_in_lock_wait
check "without vox installed the worker idles quietly; CREATE EXTENSION resumes its rounds" check_not_installed
check "in recovery no worker runs; after promotion it starts and records rounds" check_recovery
check "the primary's server log shows no crash and no failed round over the whole run" check_whole_log
finish
