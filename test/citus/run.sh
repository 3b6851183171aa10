#!/usr/bin/env bash
# vox on a real Citus cluster: a coordinator and two workers on this machine
# (scripts/citus.sh), vox.distribute() on a populated install, and the same
# events on the cluster and on a single node (a database of the coordinator
# without Citus), compared row by row. Also: ALTER EXTENSION vox UPDATE on a
# cluster, where a signed event runs (its org's worker, as one local
# transaction), clinics with colliding call ids on different workers,
# parking and replay, audit, the queues' claims and retention, org deletion,
# calls that name no org (which Citus would crash on), the live feed read on
# each clinic's worker (and after its shards moved), vox-shim's end-to-end
# tests against the coordinator (workers crashed and a shard moved under
# load among them), vox-relay's live-feed tests against it, and
# test/reliability's 1,000-permutation convergence with each world's two
# clinics on different workers.
#
# Builds Citus first when citus.so is missing (scripts/citus.sh build). The
# cluster lives in $VOX_CITUS_TEST_DIR (default .run/citus-test) on three
# consecutive free ports from $VOX_CITUS_PORT_BASE (default 59711), and is
# removed on exit unless SUITE_KEEP=1. Prints TAP ending with `# pass N` and
# `# fail N`. VOX_SEED and VOX_PERMUTATIONS (default 1000) are the
# convergence run's; vox-shim is $VOX_SHIM_BIN (default build/vox-shim),
# vox-relay $VOX_RELAY_BIN (default build/vox-relay).
#
# Usage: bash test/citus/run.sh
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=scripts/citus.sh
source "$ROOT/scripts/citus.sh"
# shellcheck source=scripts/tap.sh
source "$ROOT/scripts/tap.sh"

DIR=${VOX_CITUS_TEST_DIR:-$(vox_run_dir "$ROOT")/citus-test}
ERR=$(mktemp)
A=00000000-0000-4000-8000-00000000000a
B=00000000-0000-4000-8000-00000000000b

cleanup() {
  rm -f -- "$ERR"
  citus_stop "$DIR" >/dev/null 2>&1 || true
  if [[ ${SUITE_KEEP:-} != 1 && -f $DIR/coordinator/.vox-cluster ]]; then rm -rf -- "$DIR"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bail() {
  result FAIL "setup: $*" "$(tail -n 20 "$ERR" 2>/dev/null)"
  finish
}

# The first of three consecutive free ports from BASE.
free_ports() {
  local port
  for ((port = $1; port < $1 + 100; port++)); do
    if ! vox_port_in_use "$port" && ! vox_port_in_use $((port + 1)) && ! vox_port_in_use $((port + 2)); then
      echo "$port"
      return 0
    fi
  done
  return 1
}

# on NODE DB SQL...: unaligned, tuples only, stops at the first error; psql's
# stderr (NOTICEs among it) in $ERR. NODE: coordinator, worker1 or worker2.
on() {
  local node=$1 db=$2 port
  shift 2
  case $node in
    coordinator) port=$BASE ;;
    worker1) port=$((BASE + 1)) ;;
    worker2) port=$((BASE + 2)) ;;
    *) return 2 ;;
  esac
  local args=() sql
  for sql in "$@"; do args+=(-c "$sql"); done
  "$VOX_PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$DIR/$node" -p "$port" -U postgres -d "$db" "${args[@]}" 2>"$ERR"
}
# Runs FILE in DB on the coordinator.
run_file() { "$VOX_PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$DIR/coordinator" -p "$BASE" -U postgres -d "$1" -f "$2" >/dev/null 2>"$ERR"; }
# The fixtures' builders, without their fresh extension.
fixtures() {
  sed -e '/EXTENSION/d' "$ROOT/test/fixtures/vapi.sql" >"$DIR/fixtures.sql"
  run_file "$1" "$DIR/fixtures.sql" && run_file "$1" "$HERE/helpers.sql"
}

echo "TAP version 13"
SEED=${VOX_SEED:-$((RANDOM * 32768 + RANDOM))}
PERMUTATIONS=${VOX_PERMUTATIONS:-1000}
export VOX_PERMUTATIONS=$PERMUTATIONS
echo "# seed $SEED (VOX_SEED=$SEED bash test/citus/run.sh reproduces the permutations)"
citus_build >"$ERR" 2>&1 || bail "could not build Citus"
BASE=$(free_ports "${VOX_CITUS_PORT_BASE:-59711}") || bail "no three free ports"
citus_start "$DIR" "$BASE" >"$ERR" 2>&1 || bail "could not start the cluster"

# The single node: a database of the coordinator where Citus is not created.
on coordinator postgres "CREATE DATABASE single" >/dev/null || bail "no database single"
on coordinator single "CREATE EXTENSION vox" >/dev/null || bail "no vox in database single"
fixtures single || bail "fixtures on the single node"
fixtures vox || bail "fixtures on the cluster"

check_nodes() {
  local workers versions
  workers=$(on coordinator vox "SELECT count(*) FROM citus_get_active_worker_nodes()") || return 1
  versions=$(for node in coordinator worker1 worker2; do
    on "$node" vox "SELECT extversion FROM pg_extension WHERE extname = 'vox'"
  done | sort | uniq -c | tr -s ' ')
  DIAG+=("workers: $workers" "vox versions: $versions")
  [[ $workers == 2 && $versions == " 3 0.7.0" ]]
}
check "a coordinator and two workers, vox 0.7.0 on each" check_nodes

# Every row of every vox table, stable across servers (rows.sql).
rows_of() { "$VOX_PG_BIN/psql" -X -q -At -h "$DIR/coordinator" -p "$BASE" -U postgres -d "$1" -f "$HERE/rows.sql" 2>"$ERR"; }

check_distribute() {
  local before after again
  run_file vox "$HERE/populate.sql" || { DIAG+=("populate: $(cat "$ERR")"); return 1; }
  before=$(rows_of vox) || return 1
  on coordinator vox "SELECT vox.distribute()" >/dev/null || { DIAG+=("distribute: $(cat "$ERR")"); return 1; }
  after=$(rows_of vox) || return 1
  again=$(on coordinator vox "SELECT vox.distribute()") || return 1
  DIAG+=("rows before: $(wc -l <<<"$before"), after: $(wc -l <<<"$after")" "second call: $again")
  if [[ $before != "$after" ]]; then DIAG+=("$(diff <(echo "$before") <(echo "$after") | head -n 20)"); fi
  [[ $before == "$after" && $(wc -l <<<"$before") -gt 20 && $again == "{}" ]]
}
check "vox.distribute() on a populated install keeps every row, and a second call has nothing left to do" check_distribute

# An install of vox 0.6.0 on a cluster (database upgrade): ALTER EXTENSION
# vox UPDATE on the coordinator updates every node, and vox.distribute()
# follows with the rows kept; events apply as before.
check_update() {
  local node i versions rows status
  for i in 0 1 2; do
    node=$(case $i in 0) echo coordinator ;; 1) echo worker1 ;; 2) echo worker2 ;; esac)
    on "$node" postgres "CREATE DATABASE upgrade" >/dev/null || return 1
    on "$node" upgrade "CREATE EXTENSION citus" >/dev/null || return 1
  done
  on coordinator upgrade "SELECT citus_set_coordinator_host('127.0.0.1', $BASE)" \
    "SELECT citus_add_node('127.0.0.1', $((BASE + 1)))" "SELECT citus_add_node('127.0.0.1', $((BASE + 2)))" \
    "CREATE EXTENSION vox VERSION '0.6.0'" \
    "INSERT INTO vox.organizations (id, name) VALUES ('$A', 'Clinic A')" \
    "INSERT INTO vox.agents (org_id, vapi_assistant_id, name, role) VALUES ('$A', 'asst-a', 'Front desk', 'inbound')" \
    "SELECT vox.handle_event('{\"message\": {\"type\": \"status-update\", \"status\": \"ringing\",
                              \"call\": {\"id\": \"up-1\", \"assistantId\": \"asst-a\"}}}')" \
    "ALTER EXTENSION vox UPDATE" "SELECT vox.distribute()" >/dev/null || { DIAG+=("$(cat "$ERR")"); return 1; }
  versions=$(for node in coordinator worker1 worker2; do
    on "$node" upgrade "SELECT extversion FROM pg_extension WHERE extname = 'vox'"
  done | sort | uniq -c | tr -s ' ')
  status=$(on coordinator upgrade "SELECT vox.handle_event('{\"message\": {\"type\": \"status-update\", \"status\": \"in-progress\",
                                     \"call\": {\"id\": \"up-1\", \"assistantId\": \"asst-a\"}}}') ->> 'status'") || return 1
  rows=$(on coordinator upgrade "SELECT string_agg(vapi_call_id || ' ' || status, ',') FROM vox.call_logs") || return 1
  DIAG+=("vox versions after the update: $versions" "second event: $status; calls: $rows")
  [[ $versions == " 3 0.7.0" && $status == processed && $rows == "up-1 in-progress" ]]
}
check "ALTER EXTENSION vox UPDATE on the coordinator updates every node; vox.distribute() follows with the rows kept" check_update

# Port of the worker holding ORG's shard of the tenant tables.
worker_port_of() {
  local port
  port=$(on coordinator vox "SELECT n.nodeport FROM pg_dist_placement p JOIN pg_dist_node n ON n.groupid = p.groupid
                              WHERE p.shardid = get_shard_id_for_distribution_column('vox.call_logs', '$1'::uuid)") &&
    [[ -n $port ]] && echo "$port"
}
check_layout() {
  local tables port_a port_b
  tables=$(on coordinator vox "SELECT string_agg(logicalrelid::regclass::text || ':' || partmethod::text, ' ' ORDER BY 1)
                                FROM pg_dist_partition WHERE logicalrelid::regclass::text LIKE 'vox.%'") || return 1
  port_a=$(worker_port_of "$A") && port_b=$(worker_port_of "$B") || return 1
  DIAG+=("$tables" "clinic A on :$port_a, clinic B on :$port_b")
  [[ $tables == *"vox.call_logs:h"* && $tables == *"vox.organizations:n"* && $tables == *"vox.parked_events:n"* &&
    $port_a != "$port_b" && $port_a -gt $BASE && $port_b -gt $BASE ]]
}
check "tenant tables are hash-distributed and routing tables replicated; the two clinics are on different workers" check_layout

# A signed event: the coordinator sends exactly the call to the org's worker,
# which applies it on its own shards without a connection to another node.
check_delegation() {
  local port_a node log_offset coordinator_said worker_log settings
  port_a=$(worker_port_of "$A") || return 1
  node=worker$((port_a - BASE))
  # The worker logs each statement it sends to another node and each it runs
  # on a shard of its own.
  settings=(citus.log_remote_commands citus.log_local_commands log_min_messages)
  on "$node" vox "ALTER SYSTEM SET citus.log_remote_commands = on" "ALTER SYSTEM SET citus.log_local_commands = on" \
    "ALTER SYSTEM SET log_min_messages = notice" "SELECT pg_reload_conf()" >/dev/null || return 1
  sleep 0.5
  log_offset=$(stat -c %s "$DIR/$node/server.log")
  on coordinator vox "SET citus.log_remote_commands = on" "SET client_min_messages = notice" \
    "SELECT vox.handle_event('$A', vox_test.status_update(vox_test.call('where-1', 'asst-a'), 'ringing', 1763740800000), 'w1')" \
    >/dev/null || return 1
  coordinator_said=$(grep -A1 "NOTICE:  issuing" "$ERR" || true)
  sleep 0.5
  worker_log=$(tail -c +$((log_offset + 1)) "$DIR/$node/server.log")
  on "$node" vox "ALTER SYSTEM RESET ${settings[0]}" "ALTER SYSTEM RESET ${settings[1]}" "ALTER SYSTEM RESET ${settings[2]}" \
    "SELECT pg_reload_conf()" >/dev/null || return 1
  DIAG+=("coordinator sent: $(cut -c1-120 <<<"$coordinator_said")"
    "worker's commands to other nodes: $(grep -c "issuing" <<<"$worker_log" || true)"
    "worker's commands on its own shards: $(grep -c "executing the command locally" <<<"$worker_log" || true)")
  [[ $(grep -c "NOTICE:  issuing" <<<"$coordinator_said") == 1 ]] &&
    grep -q "issuing SELECT vox.handle_event(" <<<"$coordinator_said" && grep -q "127.0.0.1:$port_a " <<<"$coordinator_said" &&
    ! grep -q "issuing" <<<"$worker_log" &&
    grep -q "executing the command locally: INSERT INTO vox.call_logs_" <<<"$worker_log"
}
check "a signed event runs on its clinic's worker, as one local transaction" check_delegation

check_same_rows() {
  local single cluster
  run_file single "$HERE/populate.sql" || { DIAG+=("populate single: $(cat "$ERR")"); return 1; }
  run_file single "$HERE/events.sql" || { DIAG+=("events single: $(cat "$ERR")"); return 1; }
  on coordinator single "SELECT vox.handle_event('$A', vox_test.status_update(vox_test.call('where-1', 'asst-a'), 'ringing', 1763740800000), 'w1')" >/dev/null || return 1
  run_file vox "$HERE/events.sql" || { DIAG+=("events cluster: $(cat "$ERR")"); return 1; }
  single=$(rows_of single) || return 1
  cluster=$(rows_of vox) || return 1
  DIAG+=("rows: single node $(wc -l <<<"$single"), cluster $(wc -l <<<"$cluster")")
  if [[ $single != "$cluster" ]]; then DIAG+=("$(diff <(echo "$single") <(echo "$cluster") | head -n 30)"); fi
  [[ $single == "$cluster" && $(wc -l <<<"$single") -gt 40 ]]
}
check "the same events leave the same rows on one node and on the cluster" check_same_rows

# The call id both clinics use: each clinic's row on its own worker's shard,
# and the unsigned event naming only that id parked as ambiguous.
check_colliding_ids() {
  local org port node shard rows parked
  for org in "$A" "$B"; do
    port=$(worker_port_of "$org") || return 1
    node=worker$((port - BASE))
    shard=$(on coordinator vox "SELECT get_shard_id_for_distribution_column('vox.call_logs', '$org'::uuid)") || return 1
    rows=$(on "$node" vox "SELECT string_agg(org_id || ' ' || status, ',') FROM vox.call_logs_$shard WHERE vapi_call_id = 'shared'") || return 1
    DIAG+=("worker :$port, shard $shard: $rows")
    [[ $rows == "$org "* && $rows != *,* ]] || return 1
  done
  parked=$(on coordinator vox "SELECT reason FROM vox.parked_events WHERE vapi_call_id = 'shared'") || return 1
  DIAG+=("parked: $parked")
  [[ $parked == ambiguous_call ]]
}
check "clinics with one call id on different workers keep their own rows" check_colliding_ids

check_replay_and_audit() {
  local parked audit
  parked=$(on coordinator vox "SELECT count(*) FROM vox.parked_events WHERE vapi_call_id IN ('call-4', 'before-3')") || return 1
  audit=$(on coordinator vox "SELECT string_agg(table_name || ' ' || operation || ' ' || n, ', ' ORDER BY table_name, operation)
                               FROM (SELECT table_name, operation, count(*) AS n FROM vox.audit_log GROUP BY 1, 2) a") || return 1
  DIAG+=("still parked: $parked" "audit: $audit")
  [[ $parked == 0 && $audit == "agents INSERT 4, agents UPDATE 1, organizations INSERT 2, phone_numbers INSERT 2, webhook_secrets DELETE 1, webhook_secrets INSERT 1" ]]
}
check "an agent added on the coordinator replays its parked events; each change is audited once" check_replay_and_audit

# The live feed through the coordinator: each clinic's cursor is taken and
# read on its worker (the cursor names that worker's feed origin) and
# delivers the clinic's new events once, in order, with the call as it is
# now; a transcript is read there too. In a transaction block, where Citus
# delegates nothing, a read is refused rather than misread; a call naming
# no org is answered.
check_feed() {
  local org assistant port node origin cursor events lines refused
  for org in "$A" "$B"; do
    assistant=asst-a
    [[ $org == "$B" ]] && assistant=asst-b
    port=$(worker_port_of "$org") || return 1
    node=worker$((port - BASE))
    origin=$(on "$node" vox "SELECT id FROM vox.feed_origin") || return 1
    cursor=$(on coordinator vox "SELECT cursor FROM vox.feed_start('$org', 0)") || { DIAG+=("$(cat "$ERR")"); return 1; }
    on coordinator vox "SELECT vox.handle_event('$org', vox_test.status_update(vox_test.call('feed-$assistant', '$assistant'), 'ringing', 1763740900000), 'f1-$assistant')" \
      "SELECT vox.handle_event('$org', vox_test.transcript(vox_test.call('feed-$assistant', '$assistant'), 'user', 'Hello $assistant', 1763740901000), 'f2-$assistant')" \
      >/dev/null || { DIAG+=("$(cat "$ERR")"); return 1; }
    events=$(on coordinator vox "SELECT string_agg(topic || ' ' || (data #>> '{call,status}') || ' ' || COALESCE(data #>> '{utterance,text}', '-'), ', ')
                                  FROM vox.feed_read('$org', '$cursor', 100)") || { DIAG+=("$(cat "$ERR")"); return 1; }
    # The call alone: Citus delegates nothing else.
    lines=$(on coordinator vox "SELECT vox.feed_transcript('$org', 'feed-$assistant', 10)") || { DIAG+=("$(cat "$ERR")"); return 1; }
    DIAG+=("clinic on :$port, cursor ${cursor:0:24}…: $events; transcript: $lines")
    [[ $cursor == "1/$origin/"* && $events == "status-update ringing -, transcript ringing Hello $assistant" &&
      $lines == *"\"text\": \"Hello $assistant\""* ]] || return 1
  done
  refused=$(on coordinator vox "BEGIN" "SELECT count(*) FROM vox.feed_read('$A', '$cursor', 1)" 2>&1 || grep -o "read on the Citus node that holds it" "$ERR")
  DIAG+=("in a transaction block: $refused")
  [[ $refused == "read on the Citus node that holds it" ]] || return 1
  [[ $(on coordinator vox "SELECT count(*) FROM vox.feed_read(NULL, '$cursor', 1)") == 0 ]]
}
check "the live feed through the coordinator reads each clinic's cursor on its worker" check_feed

# Clinic A's shards moved to the other worker just after A's newest events
# were written on a worker 500 transaction ids ahead of it. A's old cursor
# is reset (it names the old worker's feed origin); a cursor taken after the
# move gets none of A's rows again, though they keep the old worker's
# transaction ids, which the new one has not reached; and an event written
# after the move is delivered once.
check_feed_moved() {
  local from to behind burn=() old_cursor cursor reset again after
  from=$(worker_port_of "$A") || return 1
  to=$((from == BASE + 1 ? BASE + 2 : BASE + 1))
  old_cursor=$(on coordinator vox "SELECT cursor FROM vox.feed_start('$A', 0)") || return 1
  behind=$(($(on worker$((from - BASE)) vox "SELECT txid_current()") - $(on worker$((to - BASE)) vox "SELECT txid_current()")))
  while ((behind + ${#burn[@]} < 500)); do burn+=("SELECT txid_current()"); done
  ((${#burn[@]} == 0)) || on worker$((from - BASE)) vox "${burn[@]}" >/dev/null || return 1
  on coordinator vox "SELECT vox.handle_event('$A', vox_test.status_update(vox_test.call('moved', 'asst-a'), 'ringing', 1763741000000), 'm1')" \
    "SELECT vox.handle_event('$A', vox_test.status_update(vox_test.call('moved', 'asst-a'), 'in-progress', 1763741001000), 'm2')" \
    >/dev/null || return 1
  on coordinator vox "SELECT citus_move_shard_placement(get_shard_id_for_distribution_column('vox.call_logs', '$A'::uuid),
                                                        '127.0.0.1', $from, '127.0.0.1', $to)" >/dev/null ||
    { DIAG+=("move: $(cat "$ERR")"); return 1; }
  reset=$(on coordinator vox "SELECT topic || ' ' || (data ->> 'reason') FROM vox.feed_read('$A', '$old_cursor', 10)") || return 1
  cursor=$(on coordinator vox "SELECT cursor FROM vox.feed_start('$A', 0)") || return 1
  again=$(on coordinator vox "SELECT count(*) FROM vox.feed_read('$A', '$cursor', 100)") || return 1
  on coordinator vox "SELECT vox.handle_event('$A', vox_test.status_update(vox_test.call('moved', 'asst-a'), 'ended', 1763741002000), 'm3')" \
    >/dev/null || return 1
  after=$(on coordinator vox "SELECT string_agg(topic || ' ' || (data #>> '{call,status}'), ', ') FROM vox.feed_read('$A', '$cursor', 100)") || return 1
  DIAG+=("moved :$from -> :$((to)) after $((behind + ${#burn[@]})) transaction ids" "old cursor: $reset"
    "new cursor: $again rows again; after an event: $after")
  [[ $(worker_port_of "$A") == "$to" && $reset == "reset cursor_invalid" && $again == 0 && $after == "status-update ended" ]]
}
check "a clinic's shards moved: its cursors reset, its moved rows are not delivered again, its new ones are" check_feed_moved

# The queues, retention and vox.stats, called on the coordinator, span both
# workers: recording uploads are claimed and completed (each adding an
# outbox row), vox.stats counts the pending outbox rows of both, a
# claim leases each clinic's outbox rows once (a claim at the same time
# passes them over), acknowledgements find them by
# id, and vox.cleanup() removes on every worker what is past retention (1 s
# here: everything written before it). A job's failure and completion, named
# by its id, write its org's shards alone (the completion adds the outbox
# row): one worker, committed in one phase.
check_queues() {
  local pending stats claimed concurrent again acked uploads cleaned left job outcome call writes
  job="(SELECT max(id) FROM vox.recording_upload_queue
         WHERE org_id IN (SELECT org_id FROM vox.recording_upload_queue GROUP BY org_id HAVING count(*) > 1))"
  for outcome in "pending 1:vox.fail_recording_upload($job, 'storage refused')" \
                 "done 2:vox.complete_recording_upload($job, 'recordings/failed-once.wav', 10, 'audio/wav', repeat('0', 64))"; do
    writes=$(on coordinator vox "SET citus.log_remote_commands = on" "SET client_min_messages = log" "SELECT ${outcome#*:}") ||
      { DIAG+=("$(cat "$ERR")"); return 1; }
    writes+=" $(grep -cE "issuing (UPDATE|INSERT|PREPARE TRANSACTION)" "$ERR")"
    call=${outcome#*:}
    DIAG+=("${call%%(*}: $writes writes or two-phase commits on the workers")
    [[ $writes == "${outcome%%:*}" ]] || { DIAG+=("$(grep -E "issuing" "$ERR" | cut -c1-160)"); return 1; }
  done
  uploads=$(on coordinator vox "SELECT count(*) || ' of ' || count(DISTINCT org_id) || ' clinics: '
                                        || count(vox.complete_recording_upload(id, 'recordings/' || id || '.wav', 10,
                                                                               'audio/wav', repeat('0', 64)))
                                 FROM vox.claim_recording_uploads(100, '1 minute')") || { DIAG+=("$(cat "$ERR")"); return 1; }
  pending=$(on coordinator vox "SELECT count(*) FROM vox.outbox WHERE delivered_at IS NULL AND dead_at IS NULL") || return 1
  stats=$(on coordinator vox "SELECT string_agg(section || ' ' || name || ': ' || COALESCE(value, 0), ', ' ORDER BY section, name)
                               FROM vox.stats WHERE section IN ('outbox', 'recording uploads')") ||
    { DIAG+=("vox.stats: $(cat "$ERR")"); return 1; }
  # Two claims at once: the second picks the rows the first holds, waits
  # for it, and passes them over (no SKIP LOCKED across shards).
  "$VOX_PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$DIR/coordinator" -p "$BASE" -U postgres -d vox \
    -c "BEGIN" -c "SELECT count(*) || ' rows of ' || count(DISTINCT org_id) || ' clinics' FROM vox.claim_outbox(1000, '1 minute')" \
    -c "SELECT pg_sleep(1.5)" -c "COMMIT" >"$DIR/first-claim" 2>&1 &
  local first=$!
  sleep 0.5
  concurrent=$(on coordinator vox "SELECT count(*) FROM vox.claim_outbox(1000, '1 minute')") || { DIAG+=("$(cat "$ERR")"); return 1; }
  wait "$first" || { DIAG+=("first claim: $(cat "$DIR/first-claim")"); return 1; }
  claimed=$(grep rows "$DIR/first-claim")
  again=$(on coordinator vox "SELECT count(*) FROM vox.claim_outbox(1000, '1 minute')") || return 1
  acked=$(on coordinator vox "SELECT vox.ack_outbox(array_agg(id)) FROM vox.outbox") || { DIAG+=("$(cat "$ERR")"); return 1; }
  sleep 1.1
  cleaned=$(on coordinator vox "SET vox.retention = 1" "SELECT vox.cleanup()") || { DIAG+=("$(cat "$ERR")"); return 1; }
  left=$(on coordinator vox "SELECT (SELECT count(*) FROM vox.processed_webhook_events) || ' marks, '
                                    || (SELECT count(*) FROM vox.outbox) || ' outbox rows'") || return 1
  DIAG+=("vox.stats: $stats" "pending: $pending; claimed: $claimed; by a claim at the same time: $concurrent; claimed again: $again; acknowledged: $acked"
    "recordings claimed and completed: $uploads" "cleanup: $cleaned; left: $left")
  [[ $stats == "outbox dead: 0, outbox pending: $pending, recording uploads dead: 0, recording uploads pending: 0" &&
    $claimed == "$pending rows of 2 clinics" && $concurrent == 0 && $again == 0 && $acked == "$pending" && $uploads == *" of 2 clinics: "* && ${uploads%% *} == "${uploads##* }" &&
    $left == "0 marks, 0 outbox rows" ]]
}
check "claims, acknowledgements, retention and vox.stats on the coordinator reach both workers' rows" check_queues

# The maintenance worker runs on the coordinator only (vox.database is set
# there): rounded down to a second apart, its rounds (retention, the parked
# events' sweep) finish there without error.
check_maintenance() {
  local clean failed=0 error i
  on coordinator vox "ALTER SYSTEM SET vox.maintenance_interval = 1" "SELECT pg_reload_conf()" >/dev/null || return 1
  for ((i = 0; i < 30; i++)); do
    read -r clean failed < <(on coordinator vox "SELECT count(*) FILTER (WHERE error IS NULL), count(*) FILTER (WHERE error IS NOT NULL)
                                                  FROM vox.maintenance_runs" | tr '|' ' ') || return 1
    ((clean >= 2 || failed > 0)) && break
    sleep 0.5
  done
  error=$(on coordinator vox "SELECT max(error) FROM vox.maintenance_runs") || return 1
  on coordinator vox "ALTER SYSTEM RESET vox.maintenance_interval" "SELECT pg_reload_conf()" >/dev/null || return 1
  DIAG+=("maintenance rounds: $clean clean, $failed failed ${error:+($error)}")
  ((clean >= 2 && failed == 0))
}
check "the maintenance worker's rounds run on the coordinator without error" check_maintenance

check_org_delete() {
  local left attempt
  # A maintenance round still running (the last check's) can deadlock with
  # the cascade across shards; Citus cancels one of the two, as it would a
  # DBA's delete: tried again, as a DBA would.
  for attempt in 1 2 3; do
    on coordinator vox "DELETE FROM vox.organizations WHERE id = '$B'" >/dev/null && break
    grep -q "distributed deadlock" "$ERR" && ((attempt < 3)) || { DIAG+=("$(cat "$ERR")"); return 1; }
    DIAG+=("attempt $attempt: $(head -n 1 "$ERR")")
    sleep 1
  done
  left=$(on coordinator vox "SELECT string_agg(t || ':' || n, ' ' ORDER BY t) FROM (
      SELECT 'logs_a' AS t, count(*) FILTER (WHERE org_id = '$A') AS n FROM vox.call_logs UNION ALL
      SELECT 'logs_b', count(*) FILTER (WHERE org_id = '$B') FROM vox.call_logs UNION ALL
      SELECT 'marks_b', count(*) FILTER (WHERE org_id = '$B') FROM vox.processed_webhook_events UNION ALL
      SELECT 'outbox_b', count(*) FILTER (WHERE org_id = '$B') FROM vox.outbox UNION ALL
      SELECT 'agents_b', count(*) FILTER (WHERE org_id = '$B') FROM vox.agents UNION ALL
      SELECT 'feed_b', count(*) FILTER (WHERE org_id = '$B') FROM vox.feed_credentials) c") || return 1
  DIAG+=("$left")
  [[ $left == "agents_b:0 feed_b:0 logs_a:8 logs_b:0 marks_b:0 outbox_b:0" ]]
}
check "deleting a clinic on the coordinator removes its rows on its worker and no other clinic's" check_org_delete

# Citus delegates by the org and crashes on a NULL one; vox hands it an org
# Citus does not delegate by. Six executions: custom plans, then a generic
# one; then the call as a SELECT list and as a FROM item, both of which
# Citus delegates.
check_no_org() {
  local i out executions=()
  for i in 1 2 3 4 5 6; do
    executions+=("EXECUTE unsigned(NULL, vox_test.status_update(vox_test.call('nobody-$i', 'asst-a'), 'ringing', 1763740800000), 'n$i')")
  done
  out=$(on coordinator vox "PREPARE unsigned(uuid, jsonb, text) AS SELECT vox.handle_event(\$1, \$2, \$3)" \
    "${executions[@]}" \
    "SELECT vox.handle_event(NULL, vox_test.status_update(vox_test.call('nobody-7', 'asst-a'), 'ringing', 1763740800000), 'n7')" \
    "SELECT * FROM vox.handle_event(NULL, vox_test.status_update(vox_test.call('nobody-8', 'asst-a'), 'ringing', 1763740800000), 'n8')" |
    grep -c '"status": "processed"') || { DIAG+=("$(cat "$ERR")"); return 1; }
  DIAG+=("processed: $out")
  ((out == 8)) || return 1
  on coordinator vox "SELECT vox.register_outbound_call(NULL, 'nobody-9')" >/dev/null && return 1
  DIAG+=("register without an org: $(head -n 1 "$ERR")")
  grep -q "ERROR" "$ERR" && ! grep -q "server closed the connection" "$ERR"
}
check "calls naming no org are answered, not crashed on" check_no_org

# DESIGN's convergence, on the cluster: test/reliability's permutations
# through the coordinator, signed and unsigned, each world's two clinics on
# different workers.
check_convergence() {
  local out status=0
  (cd "$ROOT/test/reliability" && { [[ -d node_modules ]] || npm ci --no-audit --no-fund --loglevel=error; } &&
    PGHOST="$DIR/coordinator" PGPORT=$BASE PGUSER=postgres PGDATABASE=vox VOX_SEED=$SEED VOX_SPLIT_ORGS=1 \
      timeout 600 node --test --test-reporter=tap convergence.test.mjs) >"$ERR" 2>&1 || status=$?
  out=$(grep -E "^# (pass|fail) |permutations on|^# +(permutation|order)|not ok" "$ERR" | head -n 12)
  DIAG+=("$out")
  ((status == 0)) && grep -q "^# pass 3$" "$ERR" && grep -q "^# fail 0$" "$ERR"
}
# A Node end-to-end suite pointed at the coordinator, each file in a fresh
# distributed database: DIR's files, with VAR=VALUE... passed to each. Its
# outage is the coordinator stopped; its crash, the nodes CRASHED (a glob:
# worker* or *) stopped in immediate mode. FILES: the files' names without
# .test.mjs, or * for all.
# Usage: e2e_suite DIR CRASHED FILES [VAR=VALUE...]
e2e_suite() {
  local dir=$1 crashed=$2 only=" $3 " file status pass fail run_id logs nodes files=()
  shift 3
  [[ $only == " * " ]] || files=(VOX_E2E_FILES="$only")
  (cd "$dir" && { [[ -d node_modules ]] || npm ci --no-audit --no-fund --loglevel=error; }) >"$ERR" 2>&1 ||
    { DIAG+=("npm ci: $(tail -n 5 "$ERR")"); return 1; }
  run_id=$(date +%s%N)
  logs=$DIR/e2e-logs
  mkdir -p "$logs"
  nodes="source '$ROOT/scripts/citus.sh' && for n in coordinator:$BASE worker1:$((BASE + 1)) worker2:$((BASE + 2)); do"
  for file in "$dir"/*.test.mjs; do
    [[ $only == " * " || $only == *" $(basename "$file" .test.mjs) "* ]] || continue
    status=0
    (cd "$dir" && env PGHOST="$DIR/coordinator" PGPORT=$BASE PGUSER=postgres "$@" "${files[@]}" \
      VOX_E2E_LOG_DIR="$logs" VOX_E2E_RUN_ID="$run_id" \
      VOX_E2E_FRESH_DATABASE="bash '$ROOT/scripts/citus.sh' fresh-database '$DIR' $BASE" \
      VOX_E2E_PG_STOP="source '$ROOT/scripts/citus.sh' && vox_cluster_stop '$DIR/coordinator'" \
      VOX_E2E_PG_STOP_IMMEDIATE="$nodes [[ \$n == $crashed ]] && vox_as_server \"\$VOX_PG_BIN/pg_ctl\" -D '$DIR'/\${n%:*}/data -m immediate -w -s stop; done; true" \
      VOX_E2E_PG_START="$nodes vox_cluster_running '$DIR'/\${n%:*} || vox_cluster_start '$DIR'/\${n%:*} \${n#*:} citus,vox; done" \
      VOX_E2E_CRASHED_PGHOST="$DIR/worker1" VOX_E2E_CRASHED_PGPORT=$((BASE + 1)) \
      timeout 300 node --test --test-reporter=tap "$file") >"$ERR" 2>&1 || status=$?
    pass=$(sed -nE 's/^# pass ([0-9]+)$/\1/p' "$ERR" | tail -n 1)
    fail=$(sed -nE 's/^# fail ([0-9]+)$/\1/p' "$ERR" | tail -n 1)
    DIAG+=("$(basename "$file"): pass ${pass:-?}, fail ${fail:-?}, exit $status")
    if [[ $status != 0 || -z $pass || $fail != 0 || $pass == 0 ]]; then
      DIAG+=("$(grep -E "^ *not ok|error|expected|actual" "$ERR" | head -n 20)")
      return 1
    fi
    if [[ $file == */crash.test.mjs ]]; then DIAG+=("$(grep -E "^# +(events|faults|attempts|acknowledged|clinic)" "$ERR")"); fi
  done
}
SHIM_BIN=${VOX_SHIM_BIN:-$ROOT/build/vox-shim}
RELAY_BIN=${VOX_RELAY_BIN:-$ROOT/build/vox-relay}
# vox-shim's end-to-end files that reach the database (the others test its
# HTTP, which the single-node run covers): signatures against the secrets,
# answers and errors, secret rotation and
# revocation, shutdown, tenant isolation, Vapi's answers, the logs. Its crash
# test stops the workers under load (vox-shim then hears Citus' errors from
# the coordinator), and also moves clinic A's shards to the other worker
# under load.
check_shim_e2e() {
  if [[ ! -x $SHIM_BIN ]]; then
    DIAG+=("no vox-shim at $SHIM_BIN (cmake --build build, or set VOX_SHIM_BIN)")
    return 1
  fi
  e2e_suite "$ROOT/shim/test/e2e" 'worker*' \
    "auth crash responses revocation rotation sigterm tenant-isolation vapi-answers zz-logs" VOX_SHIM_BIN="$SHIM_BIN"
}
check "vox-shim on the coordinator passes its end-to-end tests, workers crashed and a shard moved under load among them" check_shim_e2e
# vox-relay's live-feed files that exercise the cluster most (the others
# run on one node, within CI's time): credentials, cursors read on each
# org's worker in commit order, NOTIFY heard from the workers.
# By hand, "*" runs them all (they pass: the crash then stops every node).
check_relay_e2e() {
  if [[ ! -x $RELAY_BIN ]]; then
    DIAG+=("no vox-relay at $RELAY_BIN (cmake --build build, or set VOX_RELAY_BIN)")
    return 1
  fi
  e2e_suite "$ROOT/relay/test/e2e" '*' "credentials ordering wakeup" VOX_RELAY_BIN="$RELAY_BIN" VOX_SHIM_BIN="$SHIM_BIN"
}
check "vox-relay on the coordinator passes its live-feed tests, events notified on the workers" check_relay_e2e
# vox-relay's recording archiver on the coordinator: its files that reach
# the database (jobs from webhooks and from SQL, two relays competing, the
# signed playback link, deletions of an org's and of expired recordings,
# failures backed off and given up) and its logs. Its crash, big,
# SSRF and verifier files test the relay's HTTP and memory, on one node.
check_relay_archive() {
  e2e_suite "$ROOT/relay/test/archive" '*' "archive compete playback retention storage-refused zz-logs" \
    VOX_RELAY_BIN="$RELAY_BIN" VOX_SHIM_BIN="$SHIM_BIN"
}
check "vox-relay's recording archiver on the coordinator passes its tests: claims, completions and failures on two workers" check_relay_archive

check "$PERMUTATIONS permutations of two clinics' calls on two workers converge to in-order rows (seed $SEED)" check_convergence

finish
