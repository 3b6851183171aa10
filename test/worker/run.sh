#!/usr/bin/env bash
# End-to-end tests of the vox maintenance background worker
# (extension/src/maintenance.cpp): a launcher that holds no database, and a
# short-lived worker per round in vox.database. It exists only when vox is in
# shared_preload_libraries, so it needs a cluster of its own: a fresh one in
# $VOX_WORKER_TEST_DIR (default .run/worker-pg) on the first free port from
# $VOX_WORKER_TEST_PORT (default 56432), with vox preloaded, vox.database =
# 'vox_worker_test', a 1 s interval and a 2 s retention. A hot standby of it
# ($VOX_WORKER_TEST_DIR-standby, next free port) checks the recovery case;
# the last check restarts the primary without the preload. Both are stopped
# and removed on exit (VOX_WORKER_TEST_KEEP=1 keeps them, stopped, for a
# post-mortem).
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
BASE_PORT=${VOX_WORKER_TEST_PORT:-56432}
PORT=""
SPORT=""
DB=vox_worker_test
ORG=00000000-0000-4000-8000-00000000000a
LAUNCHER="vox maintenance worker" # backend_type of the launcher (no database)
ROUND="vox maintenance round"      # and of a round's worker (in $DB)
ORG_B=00000000-0000-4000-8000-00000000000b

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
# In $DB, or in $QDB if set (QDB=postgres q ...: while $DB is away).
psql_to() {
  local dir=$1 port=$2 arg args=()
  shift 2
  for arg in "$@"; do args+=(-c "$arg"); done
  env -u PGHOSTADDR -u PGSERVICE -u PGSERVICEFILE -u PGDATABASE -u PGOPTIONS \
    "$VOX_PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d "${QDB:-$DB}" "${args[@]}"
}
# q SQL...: on the primary's $DB; stdout only (also in GOT). On
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
# What the worker says by design, not a failed step: a round refusing
# vox.maintenance_role, the launcher waiting for vox.database, the notifier
# refused by it (the checks that cause them look for them).
EXPECTED_LOG='vox maintenance: no round: role |vox maintenance: database ".*" \(vox.database\) does not exist|database "'"$DB"'" is not currently accepting connections'
# bad_lines PATTERN: the lines of stdin that match PATTERN and are not expected.
bad_lines() { grep -E "$1" | grep -Ev "$EXPECTED_LOG" || true; }

launcher_pid() { # on the primary; empty if none
  q "SELECT string_agg(pid::text, ' ') FROM pg_stat_activity WHERE backend_type = '$LAUNCHER'"
}

# start_locker TABLE: a background session holds TABLE in ACCESS EXCLUSIVE
# mode until a row in vox_test.lock_release tells it to commit (30 s at
# most), so that the next round waits on it. stop_locker releases it.
start_locker() {
  q "DELETE FROM vox_test.lock_release" >/dev/null || return 1
  PGAPPNAME=vox_worker_test_locker psql_to "$DIR" "$PORT" "BEGIN" \
    "LOCK TABLE $1 IN ACCESS EXCLUSIVE MODE" \
    "DO \$\$ BEGIN
       FOR i IN 1..600 LOOP
         EXIT WHEN EXISTS (SELECT FROM vox_test.lock_release);
         PERFORM pg_sleep(0.05);
       END LOOP;
     END \$\$" \
    "COMMIT" >/dev/null 2>&1 &
  LOCKER=$!
}
stop_locker() {
  q "INSERT INTO vox_test.lock_release VALUES (true)" >/dev/null || true
  wait "$LOCKER" 2>/dev/null || true
  LOCKER=""
}

# wait_rounds SECONDS COUNT: polls until COUNT rounds started after now have
# been recorded.
wait_rounds() {
  local since
  since=$(q "SELECT clock_timestamp()") || return 1
  poll "$1" t "SELECT count(*) >= $2 FROM vox_test.seen_runs WHERE started_at > '$since'"
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
# polls can read whenever they come round, with the session's role (ran_as).
SEEN_TRIGGER="CREATE TRIGGER copy_run AFTER INSERT ON vox.maintenance_runs
    FOR EACH ROW EXECUTE FUNCTION vox_test.copy_run()"

# ------------------------------------------------------------- checks ----

# One launcher, connected to no database (so that $DB can be dropped), and
# rounds recorded in $DB by sessions of vox_maintenance.
check_running() {
  if ! poll 10 "1 -" "SELECT count(*) || ' ' || coalesce(string_agg(datname, ' '), '-') FROM pg_stat_activity
                       WHERE backend_type = '$LAUNCHER'"; then
    DIAG+=("launchers / their databases after 10 s: $GOT (want one, in no database)"
      "$(q "SELECT backend_type || ' in ' || coalesce(datname, '-') FROM pg_stat_activity" || true)")
    return 1
  fi
  if ! wait_rounds 10 2; then
    DIAG+=("fewer than 2 rounds recorded within 10 s")
    return 1
  fi
  q "SELECT string_agg(DISTINCT ran_as, ' ') FROM vox_test.seen_runs" >/dev/null || return 1
  if [[ $GOT != vox_maintenance ]]; then
    DIAG+=("rounds recorded by sessions of '$GOT', want vox_maintenance")
    return 1
  fi
}

# The round's own identity, as a DBA sees it: caught while it waits on a
# lock, it is in $DB as vox_maintenance.
check_round_role() {
  local ok=0
  start_locker vox.processed_webhook_events || return 1
  if ! poll 10 "Lock $DB vox_maintenance" "SELECT string_agg(coalesce(wait_event_type, '-') || ' ' || coalesce(datname, '-') || ' ' ||
                                                 coalesce(usename, '-'), ', ')
                                        FROM pg_stat_activity WHERE backend_type = '$ROUND'"; then
    DIAG+=("rounds within 10 s as wait event type, database, role: '$GOT', want 'Lock $DB vox_maintenance'")
    ok=1
  fi
  stop_locker
  return "$ok"
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

# Autovacuum sees the rounds' deletes while the launcher runs on: the
# statistics count at least what the recorded rounds removed (check_expiry's
# rows among them; nothing else deletes from these tables).
check_stats_reported() {
  local pid after
  pid=$(launcher_pid) || return 1
  if ! poll 10 "t t" "SELECT (SELECT n_tup_del >= (SELECT sum(removed_idempotency) FROM vox_test.seen_runs) AND n_tup_del > 0
                                FROM pg_stat_user_tables WHERE relid = 'vox.processed_webhook_events'::regclass)::char || ' ' ||
                             (SELECT n_tup_del >= (SELECT sum(removed_outbox) FROM vox_test.seen_runs) AND n_tup_del > 0
                                FROM pg_stat_user_tables WHERE relid = 'vox.outbox'::regclass)::char"; then
    DIAG+=("pg_stat_user_tables.n_tup_del of processed_webhook_events, outbox >= rows the rounds removed, and > 0: $GOT (want t t)"
      "$(q "SELECT relname || ' n_tup_del ' || n_tup_del FROM pg_stat_user_tables
             WHERE relid IN ('vox.processed_webhook_events'::regclass, 'vox.outbox'::regclass)" || true)"
      "$(q "SELECT 'rounds removed ' || sum(removed_idempotency) || ' ' || sum(removed_outbox) FROM vox_test.seen_runs" || true)")
    return 1
  fi
  after=$(launcher_pid) || return 1
  if [[ -z $pid || $after != "$pid" ]]; then
    DIAG+=("launcher pid '$pid' before, '$after' after: the statistics came with a restart")
    return 1
  fi
}

# Two orgs hold the same event id; only A's mark is expired (B's is dated an
# hour ahead, so it stays younger than the retention throughout). The round
# that removes A's mark must leave B's: its redelivery is still a duplicate.
check_expiry_per_org() {
  local a_event b_event
  a_event=$(q "SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-w2t', 'asst-demo'),
                                                              'ringing', 1763740800000)) ->> 'event_id'") || return 1
  b_event=$(q "SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-w2t', 'asst-b'),
                                                              'ringing', 1763740800000)) ->> 'event_id'") || return 1
  if [[ -z $a_event || $a_event != "$b_event" ]]; then
    DIAG+=("setup: event ids A '$a_event', B '$b_event' (want the same)")
    return 1
  fi
  q "UPDATE vox.processed_webhook_events SET received_at = now() + interval '1 hour' WHERE org_id = '$ORG_B'" \
    >/dev/null || return 1
  if ! poll 10 "0 1" "SELECT count(*) FILTER (WHERE org_id = '$ORG') || ' ' || count(*) FILTER (WHERE org_id = '$ORG_B')
                        FROM vox.processed_webhook_events WHERE event_id = '$a_event'"; then
    DIAG+=("after 10 s, marks of A / B for $a_event: $GOT (want 0 1)")
    return 1
  fi
  q "SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-w2t', 'asst-b'), 'ringing', 1763740800000))
       ->> 'status'" >/dev/null || return 1
  if [[ $GOT != duplicate ]]; then
    DIAG+=("B's redelivery after A's mark expired: $GOT (want duplicate)")
    return 1
  fi
  q "DELETE FROM vox.processed_webhook_events WHERE org_id = '$ORG_B'" >/dev/null
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

# Events no round can apply (their assistant is unknown): each round tries
# each of them once, in batches of a transaction id each, not one per event;
# after vox.parked_max_attempts they are dead (vox.stats) and sweeps pass over
# them, while registering the agent still applies one.
PARKED=5000
check_parked_bounded() {
  local ok=0
  parked_bounded || ok=1
  # Gone whatever happened, or every later round would replay them.
  q "DELETE FROM vox.parked_events WHERE vapi_assistant_id = 'asst-w6-none'" \
    "ALTER SYSTEM RESET vox.parked_max_attempts" "SELECT pg_reload_conf()" >/dev/null || ok=1
  return "$ok"
}
parked_bounded() {
  local before after rounds xids attempts
  q "SELECT count(vox.handle_event(vox_test.status_update(vox_test.call('call-w6-' || g, 'asst-w6-none'),
                                                         'ringing', 1763740800000)))
       FROM generate_series(1, $PARKED) g" \
    "SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-w6-late', 'asst-w6-late'),
                                                   'ringing', 1763740800000))" >/dev/null || return 1
  q "SELECT count(*) FROM vox.parked_events WHERE vapi_assistant_id IN ('asst-w6-none', 'asst-w6-late')" \
    >/dev/null || return 1
  if [[ $GOT != $((PARKED + 1)) ]]; then
    DIAG+=("$GOT parked events, want $((PARKED + 1))")
    return 1
  fi
  # From the end of a round that tried them all: transaction ids (one taken
  # by this probe), rounds so far, replays so far.
  if ! wait_rounds 30 1; then
    DIAG+=("no round over the parked events within 30 s")
    return 1
  fi
  local probe="SELECT txid_current() || ' ' || (SELECT max(id) FROM vox_test.seen_runs) || ' ' ||
                      (SELECT sum(attempts) FROM vox.parked_events)"
  before=$(q "$probe") || return 1
  if ! wait_rounds 30 2; then
    DIAG+=("fewer than 2 rounds over $PARKED parked events within 30 s")
    return 1
  fi
  after=$(q "$probe") || return 1
  local -a b a
  read -ra b <<<"$before"
  read -ra a <<<"$after"
  rounds=$(q "SELECT count(*) FROM vox_test.seen_runs WHERE id > ${b[1]} AND id <= ${a[1]}") || return 1
  xids=$((a[0] - b[0] - 1))
  attempts=$((a[2] - b[2]))
  DIAG+=("$xids transaction ids over $rounds rounds, $attempts replays ($PARKED + 1 events parked)")
  # Between the probes: the rounds counted (the first of them possibly begun
  # before), each over every event, and at most part of the next one.
  if ((attempts < (rounds - 1) * PARKED)); then
    DIAG+=("fewer replays than $((rounds - 1)) whole rounds over the parked events")
    return 1
  fi
  if ((xids >= 100 * rounds)); then
    DIAG+=("want fewer than 100 transaction ids per round")
    return 1
  fi
  q "ALTER SYSTEM SET vox.parked_max_attempts = 2" "SELECT pg_reload_conf()" >/dev/null || return 1
  if ! poll 30 "$((PARKED + 1)) 0" "SELECT (SELECT value FROM vox.stats WHERE section = 'parked' AND name = 'dead') || ' ' ||
                                           (SELECT value FROM vox.stats WHERE section = 'parked' AND name = 'waiting')"; then
    DIAG+=("vox.stats parked dead / waiting 30 s after vox.parked_max_attempts = 2: $GOT, want $((PARKED + 1)) 0")
    return 1
  fi
  before=$(q "SELECT sum(attempts) FROM vox.parked_events") || return 1
  wait_rounds 10 1 || { DIAG+=("no round within 10 s"); return 1; }
  after=$(q "SELECT sum(attempts) FROM vox.parked_events") || return 1
  if [[ $after != "$before" ]]; then
    DIAG+=("replays of dead events: $before before a round, $after after")
    return 1
  fi
  q "INSERT INTO vox.agents (org_id, vapi_assistant_id, name, role) VALUES ('$ORG', 'asst-w6-late', 'Late agent', 'w6')" \
    >/dev/null || return 1
  q "SELECT (SELECT count(*) FROM vox.parked_events WHERE vapi_call_id = 'call-w6-late') || ' ' ||
            coalesce((SELECT status FROM vox.call_logs WHERE org_id = '$ORG' AND vapi_call_id = 'call-w6-late'), '-')" \
    >/dev/null || return 1
  if [[ $GOT != "0 ringing" ]]; then
    DIAG+=("a dead event once its agent is registered: parked / call_logs status '$GOT', want '0 ringing'")
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

NOTIFIER="vox notifier" # backend_type of the worker that sends NOTIFY vox_outbox

# notifications_after SQL...: a session that LISTENs on vox_outbox runs each
# SQL, then waits 0.6 s; prints its pid ("own PID"), the notifier's pids then
# ("notifier PID..." or "notifier -"), and each notification as "PAYLOAD from
# PID" (psql leaves an empty payload out).
notifications_after() {
  local out
  out=$(psql_to "$DIR" "$PORT" "LISTEN vox_outbox" "$@" "SELECT pg_sleep(0.3)" "SELECT pg_sleep(0.3)" \
    "SELECT 'own ' || pg_backend_pid()" \
    "SELECT 'notifier ' || coalesce(string_agg(pid::text, ' '), '-') FROM pg_stat_activity
      WHERE backend_type = '$NOTIFIER'" 2>&1) || { DIAG+=("listening session failed: $out"); return 1; }
  sed -nE -e 's/^Asynchronous notification "vox_outbox" with payload "([^"]*)" received from server process with PID ([0-9]+)\.$/\1 from \2/p' \
    -e 's/^Asynchronous notification "vox_outbox" received from server process with PID ([0-9]+)\.$/ from \1/p' \
    -e '/^(own|notifier) /p' <<<"$out"
}

# Committers that NOTIFY commit one at a time (a cluster-wide lock held
# across the commit's flush), so with vox preloaded a committing backend
# leaves the NOTIFY to the notifier: the notification comes from another
# process, after the commit, once per org; nothing for a rollback; an empty
# payload when more orgs moved than the queue holds; and the notifier leaves
# when idle, so that it never holds vox.database for long.
check_notifier() {
  local out own notifier want
  out=$(notifications_after \
    "SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-wn1', 'asst-demo'), 'ringing', 1763740800000)) ->> 'status'" \
    "SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-wn1', 'asst-demo'), 'in-progress', 1763740801000)) ->> 'status'") ||
    return 1
  own=$(sed -nE 's/^own ([0-9]+)$/\1/p' <<<"$out")
  notifier=$(sed -nE 's/^notifier ([0-9]+)$/\1/p' <<<"$out")
  if [[ -z $notifier || $notifier == "$own" ]]; then
    DIAG+=("no single '$NOTIFIER' backend apart from the session ($own) right after its events:" "$out")
    return 1
  fi
  want="$ORG from $notifier
$ORG from $notifier"
  if [[ $(grep ' from ' <<<"$out") != "$want" ]]; then
    DIAG+=("two events of $ORG in two transactions: notifications" "$out" "want two from the notifier ($notifier)")
    return 1
  fi
  out=$(notifications_after "BEGIN" \
    "SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-wn2', 'asst-demo'), 'ringing', 1763740800000)) ->> 'status'" \
    "SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-wn2', 'asst-b'), 'ringing', 1763740800000)) ->> 'status'" \
    "ROLLBACK" "BEGIN" \
    "SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-wn3', 'asst-b'), 'ringing', 1763740800000)) ->> 'status'" \
    "SELECT vox.handle_event(vox_test.transcript(vox_test.call('call-wn3', 'asst-b'), 'user', 'Hi.', 1763740801000)) ->> 'status'" \
    "COMMIT") || return 1
  if [[ $(sed -nE 's/^(.*) from [0-9]+$/\1/p' <<<"$out") != "$ORG_B" ]]; then
    DIAG+=("a rolled-back transaction of both orgs, then one of two events of $ORG_B: notifications" "$out"
      "want only $ORG_B, once")
    return 1
  fi
  q "SELECT count(vox_test.tenant(('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, 'Notify ' || g,
                                  'asst-wn-' || g, 'pn-wn-' || g, '+1415556' || lpad(g::text, 4, '0')))
       FROM generate_series(1001, 1130) g" >/dev/null || return 1
  out=$(notifications_after "BEGIN" \
    "SELECT count(vox.handle_event(vox_test.status_update(vox_test.call('call-wn-' || g, 'asst-wn-' || g),
                                                          'ringing', 1763740800000)))
       FROM generate_series(1001, 1130) g" "COMMIT") || return 1
  if [[ $(sed -nE 's/^(.*) from [0-9]+$/[\1]/p' <<<"$out") != "[]" ]]; then
    DIAG+=("one transaction over 130 orgs (more than the queue's 128): notifications" "$out"
      "want one, with an empty payload (any org)")
    return 1
  fi
  if ! poll 10 0 "SELECT count(*) FROM pg_stat_activity WHERE backend_type = '$NOTIFIER'"; then
    DIAG+=("$GOT '$NOTIFIER' backends 10 s after the last event; want none (it leaves after 2 idle seconds)")
    return 1
  fi
}

# The notification follows the commit, never precedes it: a listener that
# reads the outbox when told must find the row. A committer held inside its
# commit (a synchronous standby that does not exist: the commit record is
# flushed, then the backend waits, before its rows become visible) has its
# org not announced until the wait ends; cancelled, it finishes its commit,
# and the notification arrives with the row visible. Only this session waits
# (synchronous_commit = on); every other one, the notifier's too, is local.
check_notifier_after_commit() {
  local listener=$DIR/listener.out committer=$DIR/committer.out listener_pid committer_pid pid rc=0
  q "ALTER SYSTEM SET synchronous_standby_names = 'vox_test_absent'" "ALTER SYSTEM SET synchronous_commit = 'local'" \
    "SELECT pg_reload_conf()" >/dev/null || return 1
  local sleeps=()
  for _ in $(seq 1 60); do sleeps+=("SELECT pg_sleep(0.1)"); done
  psql_to "$DIR" "$PORT" "LISTEN vox_outbox" "${sleeps[@]}" >"$listener" 2>&1 &
  listener_pid=$!
  psql_to "$DIR" "$PORT" "SET synchronous_commit = on" \
    "SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-wn5', 'asst-b'), 'ringing', 1763740800000)) ->> 'status'" \
    >"$committer" 2>&1 &
  committer_pid=$!
  if ! poll 10 1 "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'"; then
    DIAG+=("the committer did not wait for the absent standby within 10 s: $GOT backends in SyncRep")
    rc=1
  else
    sleep 1.5
    if grep -q "payload \"$ORG_B\"" "$listener"; then
      DIAG+=("$ORG_B was announced while its event's commit had not finished:" "$(cat "$listener")")
      rc=1
    fi
    if [[ $(q "SELECT count(*) FROM vox.outbox WHERE vapi_call_id = 'call-wn5'") != 0 ]]; then
      DIAG+=("the outbox row of an unfinished commit is visible: $GOT")
      rc=1
    fi
    pid=$(q "SELECT pid FROM pg_stat_activity WHERE wait_event = 'SyncRep'") &&
      q "SELECT pg_cancel_backend($pid)" >/dev/null || rc=1
    wait "$committer_pid" || true
    local deadline=$(($(now_ms) + 5000))
    until grep -q "payload \"$ORG_B\"" "$listener" || (($(now_ms) > deadline)); do sleep 0.1; done
    if ! grep -q "payload \"$ORG_B\"" "$listener"; then
      DIAG+=("no notification for $ORG_B within 5 s of its commit:" "listener: $(cat "$listener")" "committer: $(cat "$committer")")
      rc=1
    elif [[ $(q "SELECT count(*) FROM vox.outbox WHERE vapi_call_id = 'call-wn5'") != 1 ]]; then
      DIAG+=("notified, but the outbox row is not visible: $GOT rows")
      rc=1
    fi
  fi
  kill "$listener_pid" "$committer_pid" 2>/dev/null || true
  wait "$listener_pid" "$committer_pid" 2>/dev/null || true
  q "ALTER SYSTEM RESET synchronous_standby_names" "ALTER SYSTEM RESET synchronous_commit" "SELECT pg_reload_conf()" \
    >/dev/null || return 1
  return $rc
}

# A notifier that cannot connect (vox.database stopped taking connections
# while a session stays in it) is started once, not again and again: until
# the launcher looks the database up again, committers notify themselves.
check_notifier_cannot_connect() {
  local offset out own since fatal
  poll 10 0 "SELECT count(*) FROM pg_stat_activity WHERE backend_type = '$NOTIFIER'" || {
    DIAG+=("a '$NOTIFIER' still runs after 10 s")
    return 1
  }
  # The launcher looks vox.database up at the reload, then sleeps an hour.
  q "ALTER SYSTEM SET vox.maintenance_interval = '3600'" >/dev/null || return 1
  since=$(q "SELECT clock_timestamp()") || return 1
  q "SELECT pg_reload_conf()" >/dev/null || return 1
  poll 10 t "SELECT EXISTS (SELECT FROM vox_test.seen_runs WHERE started_at > '$since')" || {
    DIAG+=("no round within 10 s of the reload")
    return 1
  }
  sleep 1
  offset=$(log_size "$DIR")
  # From another database: a session cannot refuse connections to its own.
  local from_postgres="\\! env -u PGHOSTADDR -u PGSERVICE -u PGDATABASE -u PGOPTIONS $VOX_PG_BIN/psql -X -q -h $DIR -p $PORT -U postgres -d postgres -c"
  out=$(notifications_after "$from_postgres 'ALTER DATABASE $DB WITH ALLOW_CONNECTIONS false'" \
    "SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-wn4', 'asst-demo'), 'ringing', 1763740800000)) ->> 'status'" \
    "SELECT pg_sleep(1.5)" \
    "SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-wn4', 'asst-demo'), 'in-progress', 1763740801000)) ->> 'status'" \
    "$from_postgres 'ALTER DATABASE $DB WITH ALLOW_CONNECTIONS true'")
  local rc=$?
  QDB=postgres q "ALTER DATABASE $DB WITH ALLOW_CONNECTIONS true" "ALTER SYSTEM RESET vox.maintenance_interval" \
    "SELECT pg_reload_conf()" >/dev/null || return 1
  ((rc == 0)) || return 1
  own=$(sed -nE 's/^own ([0-9]+)$/\1/p' <<<"$out")
  fatal=$(log_since "$DIR" "$offset" | grep -c 'is not currently accepting connections' || true)
  if [[ $fatal != 1 ]]; then
    DIAG+=("notifiers that failed to connect: $fatal (want 1)" "$(log_since "$DIR" "$offset" | tail -n 10)")
    return 1
  fi
  if [[ $(grep ' from ' <<<"$out") != "$ORG from $own" ]]; then
    DIAG+=("the event after the failed start: notifications" "$out" "want one, from the session itself ($own)")
    return 1
  fi
  # The launcher's next look at the database brings the notifier back.
  sleep 2
  out=$(notifications_after \
    "SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-wn4', 'asst-demo'), 'ended', 1763740802000)) ->> 'status'") ||
    return 1
  own=$(sed -nE 's/^own ([0-9]+)$/\1/p' <<<"$out")
  if [[ $(grep -c ' from ' <<<"$out") != 1 || -n $(grep " from $own\$" <<<"$out") ]]; then
    DIAG+=("once the database takes connections again: notifications" "$out" "want one, from a notifier")
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
  local old new offset log ok=0
  old=$(launcher_pid) || return 1
  if [[ ! $old =~ ^[0-9]+$ ]]; then
    DIAG+=("launcher pids before SIGTERM: '$old' (want exactly one)")
    return 1
  fi
  offset=$(log_size "$DIR")
  kill -TERM "$old"
  # A new launcher: new pid (after bgw_restart_time, 5 s).
  if ! poll 12 t "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE backend_type = '$LAUNCHER' AND pid <> $old)"; then
    DIAG+=("no new launcher within 12 s of SIGTERM to $old")
    ok=1
  fi
  new=$(launcher_pid) || return 1
  if ((ok == 0)) && ! wait_rounds 5 1; then
    DIAG+=("the new launcher ($new) started no recorded round within 5 s")
    ok=1
  fi
  log=$(log_since "$DIR" "$offset")
  if ! grep -q "vox maintenance worker stopping" <<<"$log"; then
    DIAG+=("the log does not say the launcher stopped")
    ok=1
  fi
  if ! grep -q "vox maintenance worker started for database \"$DB\"" <<<"$log"; then
    DIAG+=("the log does not say a new launcher started")
    ok=1
  fi
  if [[ -n $(bad_lines "$BAD_LOG" <<<"$log") ]]; then
    DIAG+=("the log after SIGTERM shows:" "$(bad_lines "$BAD_LOG" <<<"$log" | head -n 10)")
    ok=1
  fi
  if ((ok != 0)); then DIAG+=("server log since SIGTERM:" "$(printf '%s\n' "$log" | tail -n 20)"); fi
  return "$ok"
}

# A SIGTERM that arrives while a round waits on a lock ends the round at
# once, lock still held; the launcher carries on, and its next rounds work
# once the lock is gone.
check_sigterm_in_lock_wait() {
  local launcher old after state ok=0 offset log
  launcher=$(launcher_pid) || return 1
  start_locker vox.processed_webhook_events || return 1
  if ! poll 10 Lock "SELECT string_agg(coalesce(wait_event_type, '-'), ' ') FROM pg_stat_activity
                      WHERE backend_type = '$ROUND'"; then
    DIAG+=("no round waiting on the lock after 10 s (wait_event_type: $GOT)")
    ok=1
  fi
  old=$(q "SELECT string_agg(pid::text, ' ') FROM pg_stat_activity WHERE backend_type = '$ROUND'") || ok=1
  if ((ok == 0)) && [[ ! $old =~ ^[0-9]+$ ]]; then
    DIAG+=("round pids: '$old' (want exactly one)")
    ok=1
  fi
  offset=$(log_size "$DIR")
  if ((ok == 0)); then
    kill -TERM "$old"
    if ! poll 5 0 "SELECT count(*) FROM pg_stat_activity WHERE pid = $old"; then
      state=$(q "SELECT coalesce(wait_event_type, '-') || '/' || coalesce(wait_event, '-') || ', ' || state
                   FROM pg_stat_activity WHERE pid = $old" || true)
      log=$(log_since "$DIR" "$offset")
      DIAG+=("round $old still runs 5 s after SIGTERM, the lock still held (wait event, state: $state)"
        "server log since SIGTERM: ${log:-(nothing)}")
      ok=1
    fi
  fi
  stop_locker
  if ! wait_rounds 10 1; then
    DIAG+=("no round recorded within 10 s of the lock's release")
    ok=1
  fi
  after=$(launcher_pid) || return 1
  if [[ $after != "$launcher" ]]; then
    DIAG+=("launcher pid '$launcher' before, '$after' after")
    ok=1
  fi
  log=$(log_since "$DIR" "$offset")
  if [[ -n $(bad_lines "$BAD_LOG" <<<"$log") ]]; then
    DIAG+=("the log shows:" "$(bad_lines "$BAD_LOG" <<<"$log" | head -n 10)")
    ok=1
  fi
  return "$ok"
}

# pg_cancel_backend() on the launcher, idle between rounds (an hour apart
# until the cancel is in), cancels nothing: same pid, rounds go on.
check_cancel() {
  local pid after
  q "ALTER SYSTEM SET vox.maintenance_interval = '3600'" "SELECT pg_reload_conf()" >/dev/null || return 1
  if ! poll 10 0 "SELECT count(*) FROM pg_stat_activity WHERE backend_type = '$ROUND'"; then
    DIAG+=("a round still runs 10 s after the reload to an hour's interval")
    return 1
  fi
  pid=$(launcher_pid) || return 1
  q "SELECT pg_cancel_backend($pid)" >/dev/null || return 1
  if [[ $GOT != t ]]; then
    DIAG+=("pg_cancel_backend($pid) returned '$GOT'")
    return 1
  fi
  sleep 1
  q "ALTER SYSTEM RESET vox.maintenance_interval" "SELECT pg_reload_conf()" >/dev/null || return 1
  if ! wait_rounds 10 2; then
    DIAG+=("fewer than 2 rounds within 10 s of the cancel")
    return 1
  fi
  after=$(launcher_pid) || return 1
  if [[ $after != "$pid" ]]; then
    DIAG+=("launcher pid $pid before pg_cancel_backend, '$after' after")
    return 1
  fi
}

# refused_round AWAY BACK WHY: after the statement AWAY, rounds refuse to
# run as vox_maintenance: no round is recorded in 3 s, and the log says WHY in
# one LOG line a round; after BACK, rounds resume.
refused_round() {
  local away=$1 back=$2 why=$3 offset since rounds log ok=0
  offset=$(log_size "$DIR")
  q "$away" >/dev/null || return 1
  since=$(q "SELECT clock_timestamp()") || ok=1
  sleep 3
  rounds=$(q "SELECT count(*) FROM vox_test.seen_runs WHERE started_at > '${since:-infinity}'") || ok=1
  log=$(log_since "$DIR" "$offset")
  q "$back" >/dev/null || return 1
  if [[ $rounds != 0 ]]; then
    DIAG+=("$rounds rounds recorded in 3 s after $away")
    ok=1
  fi
  if ! grep -q "LOG:  vox maintenance: no round: role \"vox_maintenance\" (vox.maintenance_role) $why\$" <<<"$log"; then
    DIAG+=("after $away, no LOG line 'vox maintenance: no round: role \"vox_maintenance\" (vox.maintenance_role) $why'"
      "log:" "$(tail -n 10 <<<"$log")")
    ok=1
  fi
  if [[ -n $(bad_lines "$BAD_LOG" <<<"$log") ]]; then
    DIAG+=("after $away, the log shows:" "$(bad_lines "$BAD_LOG" <<<"$log" | head -n 5)")
    ok=1
  fi
  if ! wait_rounds 10 1; then
    DIAG+=("no round within 10 s of $back")
    ok=1
  fi
  return "$ok"
}

# vox.maintenance_role naming a role that is gone, or a superuser (the setting
# needs a restart: the role itself changes instead).
check_role_refused() {
  local ok=0
  refused_round "ALTER ROLE vox_maintenance RENAME TO vox_maintenance_away" "ALTER ROLE vox_maintenance_away RENAME TO vox_maintenance" \
    "does not exist" || ok=1
  refused_round "ALTER ROLE vox_maintenance SUPERUSER" "ALTER ROLE vox_maintenance NOSUPERUSER" \
    "is a superuser or bypasses row-level security" || ok=1
  return "$ok"
}

# $DB is vox.database, and neither the launcher nor (between rounds) any
# round holds it: it can be used as a template, dropped, and a copy renamed
# into its place, all without FORCE; the launcher waits quietly while it is
# gone and its rounds resume in the new $DB.
check_database_moves() {
  local pid after offset log ok=0 stmt
  pid=$(launcher_pid) || return 1
  offset=$(log_size "$DIR")
  for stmt in "CREATE DATABASE ${DB}_copy TEMPLATE $DB" "DROP DATABASE $DB"; do
    if ! QDB=postgres q "$stmt" >/dev/null; then
      DIAG+=("$stmt failed while the launcher runs")
      ok=1
      break
    fi
  done
  if ((ok == 0)); then
    sleep 2
    QDB=postgres q "ALTER DATABASE ${DB}_copy RENAME TO $DB" >/dev/null || ok=1
  fi
  if ((ok == 0)) && ! wait_rounds 10 1; then
    DIAG+=("no round recorded in the renamed copy within 10 s")
    ok=1
  fi
  log=$(log_since "$DIR" "$offset")
  if ((ok == 0)) && ! grep -q "vox maintenance: database \"$DB\" (vox.database) does not exist" <<<"$log"; then
    DIAG+=("the launcher did not say $DB was gone")
    ok=1
  fi
  if [[ -n $(bad_lines "$BAD_LOG" <<<"$log") ]]; then
    DIAG+=("the log shows:" "$(bad_lines "$BAD_LOG" <<<"$log" | head -n 10)")
    ok=1
  fi
  after=$(QDB=postgres launcher_pid) || return 1
  if [[ $after != "$pid" ]]; then
    DIAG+=("launcher pid $pid before, '$after' after")
    ok=1
  fi
  return "$ok"
}

check_not_installed() {
  local pid offset log after since dropper
  pid=$(launcher_pid) || return 1
  offset=$(log_size "$DIR")
  # Dropped in the middle of a round (expired rows removed, parked events
  # next, behind a lock): the round ends with neither an error nor a record.
  start_locker vox.parked_events || return 1
  if ! poll 10 Lock "SELECT string_agg(coalesce(wait_event_type, '-'), ' ') FROM pg_stat_activity
                      WHERE backend_type = '$ROUND'"; then
    DIAG+=("no round waiting on the lock after 10 s (wait_event_type: $GOT)")
    stop_locker
    return 1
  fi
  psql_to "$DIR" "$PORT" "SET client_min_messages = warning" "DROP EXTENSION vox CASCADE" >/dev/null 2>&1 &
  dropper=$!
  if ! poll 10 1 "SELECT count(*) FROM pg_stat_activity WHERE query = 'DROP EXTENSION vox CASCADE' AND wait_event_type = 'Lock'"; then
    DIAG+=("DROP EXTENSION is not waiting on a lock after 10 s: $GOT")
  fi
  stop_locker
  if ! wait "$dropper"; then
    DIAG+=("DROP EXTENSION failed:" "$(log_since "$DIR" "$offset" | tail -n 10)")
    return 1
  fi
  sleep 3
  after=$(launcher_pid) || return 1
  log=$(log_since "$DIR" "$offset")
  if [[ $after != "$pid" ]]; then
    DIAG+=("launcher pid $pid before DROP EXTENSION, '$after' 3 s later" "server log since:" "$(tail -n 20 <<<"$log")")
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
  after=$(launcher_pid) || return 1
  log=$(log_since "$DIR" "$offset")
  if [[ $after != "$pid" ]] || grep -Eq "$BAD_LOG" <<<"$log"; then
    DIAG+=("launcher pid $pid before, '$after' after; server log since DROP EXTENSION:" "$(tail -n 20 <<<"$log")")
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
  # In recovery: no launcher nor round, nothing logged by them (one that
  # started now would show within this window).
  sleep 2
  qs "SELECT count(*) FROM pg_stat_activity WHERE backend_type IN ('$LAUNCHER', '$ROUND')" >/dev/null || return 1
  if [[ $GOT != 0 ]]; then
    DIAG+=("$GOT maintenance launchers or rounds on the standby while in recovery")
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
  bad=$(bad_lines "$BAD_LOG" <"$DIR/server.log")
  if [[ -n $bad ]]; then
    DIAG+=("the primary's log shows:" "$(head -n 20 <<<"$bad")")
    return 1
  fi
}

# The primary again, without the preload but with vox.database and
# vox.maintenance_role still in postgresql.conf: a session that loads vox gets
# no warning about them, and sees their values.
check_no_preload() {
  local out err
  if ! out=$(vox_cluster_start "$DIR" "$PORT" "" 2>&1); then
    DIAG+=("the primary did not start without the preload:" "$out")
    return 1
  fi
  q "SELECT count(*) >= 0 FROM vox.event_counts()" "SHOW vox.database" "SHOW vox.maintenance_role" >/dev/null || return 1
  err=$(cat "$ERR_FILE")
  if [[ $GOT != $'t\n'"$DB"$'\nvox_maintenance' || -n $err ]]; then
    DIAG+=("vox loaded, SHOW vox.database, SHOW vox.maintenance_role: '${GOT//$'\n'/ }', want 't $DB vox_maintenance'"
      "psql's stderr: ${err:-(nothing)}")
    return 1
  fi
}

# -------------------------------------------------------------- setup ----
# First without the preload, to create the database the worker connects to
# (a worker started before it exists would fail and be restarted 5 s later);
# then restarted with vox preloaded and the worker's settings.
PORT=$(vox_free_port "$BASE_PORT") || bail "no free port from $BASE_PORT"
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
  "SELECT vox_test.tenant('$ORG_B', 'Clinic B', 'asst-b', 'pn-b', '+14155550200')" \
  "CREATE TABLE vox_test.seen_runs AS SELECT * FROM vox.maintenance_runs WITH NO DATA" \
  "ALTER TABLE vox_test.seen_runs ADD COLUMN ran_as name DEFAULT session_user" \
  "CREATE FUNCTION vox_test.copy_run() RETURNS trigger LANGUAGE plpgsql AS
     \$\$ BEGIN INSERT INTO vox_test.seen_runs SELECT NEW.*; RETURN NULL; END \$\$" \
  "$SEEN_TRIGGER" \
  "CREATE TABLE vox_test.lock_release (done boolean)" 2>&1) || bail "could not install vox in $DB: $out"
vox_as_server tee -a "$DIR/data/postgresql.conf" >/dev/null <<EOF || bail "could not write postgresql.conf"
# vox maintenance worker test (test/worker/run.sh)
vox.database = '$DB'
vox.maintenance_role = 'vox_maintenance'
vox.maintenance_interval = 1
vox.retention = 2
EOF
out=$(vox_cluster_start "$DIR" "$PORT" vox 2>&1) || bail "could not restart with vox preloaded: $out"

# -------------------------------------------------------------- tests ----
check "one launcher runs in no database; rounds run in $DB as vox_maintenance" check_running
check "a round waiting on a lock shows in pg_stat_activity in $DB as vox_maintenance" check_round_role
check "expired idempotency records and delivered outbox rows disappear without any call; an undelivered row stays" check_expiry
check "the rounds' deletes show in pg_stat_user_tables.n_tup_del while the launcher runs on" check_stats_reported
check "retention is per org: one org's expired mark goes, another org's fresh mark with the same event id stays" check_expiry_per_org
check "a parked event whose call becomes known is applied by a round (maintenance_runs.replayed > 0)" check_replay
check "vox.event_counts() counts processed, duplicate and invalid events; vox.stats shows the last run" check_stats
check "$PARKED unresolvable parked events: each round takes < 100 transaction ids; after vox.parked_max_attempts they are dead in vox.stats, sweeps pass over them, and their agent's registration still applies one" check_parked_bounded
check "the notifier, not the committing backend, sends NOTIFY vox_outbox: once per org and commit, nothing on rollback, one empty payload past 128 orgs; it leaves when idle" check_notifier
check "NOTIFY follows the commit: a commit held before its rows are visible is announced only once it ends, with the row visible" check_notifier_after_commit
check "a notifier that cannot connect is started once; committers then notify themselves until the launcher looks the database up again" check_notifier_cannot_connect
check "SIGHUP reloads vox.maintenance_interval (3600 s: rounds stop; back to 1 s: they resume)" check_sighup
check "SIGTERM: the launcher logs it stops, the postmaster starts a new one, nothing crashes" check_sigterm
check "SIGTERM while a round waits on a lock: the round exits at once, the launcher carries on" check_sigterm_in_lock_wait
check "pg_cancel_backend() on the launcher: same pid, rounds go on" check_cancel
check "vox_maintenance renamed away or made superuser: rounds refuse with one LOG line each and record nothing; then resume" check_role_refused
check "$DB copied as a template, dropped, and a copy renamed in its place, without FORCE, while the launcher runs; rounds resume" check_database_moves
check "without vox installed the launcher and rounds idle quietly; CREATE EXTENSION resumes the rounds" check_not_installed
check "in recovery no launcher runs; after promotion it starts and records rounds" check_recovery
check "the primary's server log shows no crash and no failed round over the whole run" check_whole_log
check "without the preload, vox.database and vox.maintenance_role in postgresql.conf draw no warning" check_no_preload
finish
