#!/usr/bin/env bash
# pg_dump and pg_restore of a populated vox database (issue 11's finding 2),
# on a cluster of its own: a fresh one in $VOX_BACKUP_DIR (default
# .run/backup-pg) on the first free port from $VOX_BACKUP_PORT_BASE (default
# 59700). Database voxsrc is populated through vox's own API (tenants,
# secrets, a few thousand events, parked events, claimed and acknowledged
# queue items, archived recordings and their deletions, audit rows, a
# cleanup run), dumped with pg_dump -Fc and
# restored into voxrestored the documented way: a superuser's pg_restore
# with session_replication_role = replica, so that vox's triggers (audit
# log, replay of parked events) do not fire for restored rows. Every row of
# every vox table must come back, and vox must work on the copy; last, the
# cluster restarts with vox preloaded and vox.database = voxrestored for the
# maintenance worker. The cluster is removed on exit (SUITE_KEEP=1 keeps it,
# stopped, with the dump).
#
# Prints TAP (scripts/tap.sh); exit status 0 only if every check passed.
# Usage: bash test/backup/run.sh

# The checks run through `check DESCRIPTION FUNCTION`, which shellcheck
# takes for unreachable code.
# shellcheck disable=SC2317
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=scripts/suite_cluster.sh
source "$ROOT/scripts/suite_cluster.sh"

SRC=voxsrc
COPY=voxrestored
ORG_A=00000000-0000-4000-8000-00000000000a
ORG_B=00000000-0000-4000-8000-00000000000b
CALLS=${VOX_BACKUP_CALLS:-700} # four events each

DIR=${VOX_BACKUP_DIR:-}
if [[ -z $DIR ]]; then DIR=$(vox_run_dir "$ROOT")/backup-pg; fi
suite_cluster_setup "$DIR" "${VOX_BACKUP_PORT_BASE:-59700}" "$COPY"
DUMP=$DIR/$SRC.dump

# ------------------------------------------------------------ helpers ----

# table_digests DATABASE: one line per table of vox, in name order: its
# name, rows, and a digest of its rows in a stable order. Not the feed's
# origin, nor the transaction that wrote an outbox row: a restore renews
# both (check_feed).
table_digests() {
  local db=$1 union
  union=$(q_as postgres "$db" "SELECT string_agg(format('SELECT %L AS t, count(*) AS n,
             md5(coalesce(string_agg((to_jsonb(x) - ''committed_by'')::text, E''\\n''
                                     ORDER BY (to_jsonb(x) - ''committed_by'')::text), '''')) AS d FROM vox.%I x',
             c.relname, c.relname), ' UNION ALL ')
        FROM pg_catalog.pg_class c
       WHERE c.relnamespace = 'vox'::regnamespace AND c.relkind = 'r' AND c.relname <> 'feed_origin'") || return 1
  q_as postgres "$db" "SELECT string_agg(t || ' ' || n || ' ' || d, E'\\n' ORDER BY t) FROM ($union) s"
}
SEQUENCES="SELECT string_agg(sequencename || ' ' || coalesce(last_value::text, 'unused'), E'\\n' ORDER BY sequencename)
             FROM pg_catalog.pg_sequences WHERE schemaname = 'vox'"
SOURCE_DIGESTS=""
SOURCE_SEQUENCES=""

# webhook_secrets_for(org) as the shim's role, as a digest: no secret is
# ever printed.
secrets_digest() {
  q_as vox_shim "$1" "SELECT md5(vox.webhook_secrets_for('$2'::uuid)::text) || ' ' ||
                             jsonb_array_length(vox.webhook_secrets_for('$2'::uuid))"
}

populate() {
  q_as postgres "$SRC" "\\i $ROOT/test/fixtures/vapi.sql" \
    "GRANT USAGE ON SCHEMA vox_test TO PUBLIC" \
    "SELECT vox_test.tenant('$ORG_A', 'Clinic A', 'asst-a', 'pn-a', '+14155550100')" \
    "SELECT vox_test.tenant('$ORG_B', 'Clinic B', 'asst-b', 'pn-b', '+14155550200', 'GB')" \
    "SET vox.app_user = 'alice@clinic'" \
    "UPDATE vox.agents SET name = 'Front desk' WHERE vapi_assistant_id = 'asst-a'" \
    "INSERT INTO vox.leads (org_id, phone, name) VALUES ('$ORG_A', '+14155550123', 'Pat'), ('$ORG_B', '+14155550123', 'Sam')" \
    "INSERT INTO vox.webhook_secrets (org_id, scheme, secret)
     VALUES ('$ORG_A', 'standard-webhooks', 'whsec_' || md5('a1')), ('$ORG_A', 'shared', md5('a2')),
            ('$ORG_B', 'shared', md5('b1')), ('$ORG_B', 'shared', md5('b2'))" \
    "DELETE FROM vox.webhook_secrets WHERE org_id = '$ORG_B' AND secret = md5('b2')" \
    "INSERT INTO vox.webhook_secrets (org_id, scheme, secret, include_timestamp, payload_format)
     VALUES ('$ORG_B', 'hmac', md5('b3'), false, '{body}')" \
    "CREATE ROLE vox_shim LOGIN" \
    "CREATE ROLE dashboard LOGIN" \
    "GRANT USAGE ON SCHEMA vox TO vox_shim, dashboard" \
    "GRANT EXECUTE ON FUNCTION vox.handle_event(uuid, jsonb, text), vox.webhook_secrets_for(uuid) TO vox_shim" \
    "GRANT SELECT ON vox.organizations, vox.agents, vox.phone_numbers, vox.leads, vox.call_tracking, vox.call_logs,
           vox.calls, vox.call_transcripts, vox.outbox, vox.recording_upload_queue, vox.audit_log TO dashboard" >/dev/null ||
    return 1
  # The events of $CALLS calls over both orgs, each type in one statement.
  local call="vox_test.call('call-' || i, CASE WHEN i % 2 = 0 THEN 'asst-a' ELSE 'asst-b' END)"
  q_as postgres "$SRC" \
    "SELECT count(vox.handle_event(vox_test.status_update($call, 'in-progress', 1763740800000 + i), 'dlv-' || i))
       FROM generate_series(1, $CALLS) i" \
    "SELECT count(vox.handle_event(vox_test.transcript($call, 'assistant', 'Thanks for calling, ' || i, 1763740801000 + i)))
       FROM generate_series(1, $CALLS) i" \
    "SELECT count(vox.handle_event(vox_test.transcript($call, 'user', 'I need a cleaning ' || i, 1763740802000 + i)))
       FROM generate_series(1, $CALLS) i" \
    "SELECT count(vox.handle_event(vox_test.end_of_call_report($call, 1763740900000 + i))) FROM generate_series(1, $CALLS) i" \
    "SELECT vox.register_outbound_call('$ORG_A', 'call-out', (SELECT id FROM vox.agents WHERE vapi_assistant_id = 'asst-a'))" \
    "SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-future', 'asst-future'), 'in-progress', 1763740800000))" \
    "SELECT vox.handle_event(vox_test.transcript(vox_test.call('call-future', 'asst-future'), 'user', 'Hello?', 1763740801000))" \
    "SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-orphan', NULL), 'ringing', 1763740800000))" \
    "SELECT count(*) FROM vox.ack_outbox(ARRAY(SELECT id FROM vox.claim_outbox(500, '1 minute')))" \
    "UPDATE vox.outbox SET delivered_at = now() - interval '30 days' WHERE id <= 20" \
    "SELECT count(*) FROM vox.claim_outbox(100, '1 hour')" \
    "SELECT count(vox.complete_recording_upload(id, 'recordings/' || vapi_call_id || '.wav', 1000 + id, 'audio/wav',
                                                md5(vapi_call_id) || md5(vapi_call_id)))
       FROM vox.claim_recording_uploads(10, '1 minute')" \
    "SELECT count(vox.fail_recording_upload(id, 'storage unavailable')) FROM vox.claim_recording_uploads(3, '1 minute')" \
    "DELETE FROM vox.recording_upload_queue
      WHERE id IN (SELECT id FROM vox.recording_upload_queue WHERE status = 'done' ORDER BY id LIMIT 3)" \
    "SELECT count(vox.complete_recording_deletion(id)) FROM vox.claim_recording_deletions(1, '1 minute')" \
    "SELECT count(vox.fail_recording_deletion(id, 'storage unavailable')) FROM vox.claim_recording_deletions(1, '1 minute')" \
    "SELECT vox.cleanup()" >/dev/null || return 1
  # A dashboard's feed credential, and where its stream stood at the dump.
  FEED_TOKEN=$(q_as postgres "$SRC" "SELECT token FROM vox.create_feed_credential('$ORG_A', 'front desk')") || return 1
  FEED_CURSOR=$(q_as postgres "$SRC" "SELECT cursor FROM vox.feed_start('$ORG_A')") || return 1
  SOURCE_WRITERS=$(q_as postgres "$SRC" "SELECT string_agg(DISTINCT committed_by::text, ',') FROM vox.outbox")
}

# ------------------------------------------------------------- checks ----

check_source_populated() {
  local empty
  SOURCE_DIGESTS=$(table_digests "$SRC") || return 1
  SOURCE_SEQUENCES=$(q_as postgres "$SRC" "$SEQUENCES") || return 1
  empty=$(awk '$2 == 0 { print $1 }' <<<"$SOURCE_DIGESTS")
  if [[ -n $empty || $(wc -l <<<"$SOURCE_DIGESTS") -lt 15 ]] || ! grep -Eq "^call_logs $((CALLS + 1)) " <<<"$SOURCE_DIGESTS"; then
    DIAG+=("tables of vox (name, rows, digest):" "$SOURCE_DIGESTS"
      "want 15 tables at least, none empty, $((CALLS + 1)) call_logs rows")
    return 1
  fi
}

# The archive's table of contents names the data of every table of vox and
# the value of every sequence.
check_dump() {
  local out tables sequences
  rm -f -- "$DUMP"
  if ! out=$(vox_as_server "$VOX_PG_BIN/pg_dump" -Fc -h "$DIR" -p "$SUITE_PORT" -U postgres -d "$SRC" -f "$DUMP" 2>&1) ||
    ! out=$(vox_as_server "$VOX_PG_BIN/pg_restore" -l "$DUMP" 2>&1); then
    DIAG+=("pg_dump -Fc or pg_restore -l failed:" "$out")
    return 1
  fi
  tables=$(grep -c ' TABLE DATA vox ' <<<"$out" || true)
  sequences=$(grep -c ' SEQUENCE SET vox ' <<<"$out" || true)
  if ((tables != $(wc -l <<<"$SOURCE_DIGESTS") || sequences != $(wc -l <<<"$SOURCE_SEQUENCES"))); then
    DIAG+=("the archive holds the data of $tables tables and $sequences sequences of vox;"
      "$SRC has $(wc -l <<<"$SOURCE_DIGESTS") tables and $(wc -l <<<"$SOURCE_SEQUENCES") sequences")
    return 1
  fi
}

check_restore() {
  local out
  q_as postgres postgres "CREATE DATABASE $COPY" >/dev/null || return 1
  # The restore procedure: a superuser, vox's triggers off for restored rows
  # (with them, the audit trigger's rows for the restored routing tables
  # collide with the restored audit_log), into a database no maintenance
  # worker works in (a round would record itself in maintenance_runs, and
  # collide with its restored rows).
  if ! out=$(vox_as_server env PGOPTIONS="-c session_replication_role=replica" "$VOX_PG_BIN/pg_restore" \
    --exit-on-error -h "$DIR" -p "$SUITE_PORT" -U postgres -d "$COPY" "$DUMP" 2>&1) || [[ -n $out ]]; then
    DIAG+=("pg_restore with session_replication_role = replica:" "$out")
    return 1
  fi
}

check_rows_restored() {
  local restored
  restored=$(table_digests "$COPY") || return 1
  if [[ $restored != "$SOURCE_DIGESTS" ]]; then
    DIAG+=("tables whose rows differ (source, then restored: name, rows, digest):"
      "$(diff <(printf '%s\n' "$SOURCE_DIGESTS") <(printf '%s\n' "$restored") | grep '^[<>]' || true)")
    return 1
  fi
}

check_sequences_restored() {
  local restored
  restored=$(q "$SEQUENCES") || return 1
  if [[ $restored != "$SOURCE_SEQUENCES" || $(wc -l <<<"$restored") -lt 7 ]]; then
    DIAG+=("identity sequences (name, last value), source then restored:"
      "$(diff <(printf '%s\n' "$SOURCE_SEQUENCES") <(printf '%s\n' "$restored") || true)"
      "want the same 7 sequences at least")
    return 1
  fi
}

check_secrets() {
  local org source restored ok=0
  for org in "$ORG_A" "$ORG_B"; do
    source=$(secrets_digest "$SRC" "$org") || return 1
    restored=$(secrets_digest "$COPY" "$org") || return 1
    if [[ $restored != "$source" || ${source#* } != 2 ]]; then
      DIAG+=("vox.webhook_secrets_for('$org') as vox_shim: digest and secrets '$source' in $SRC, '$restored' restored (want 2)")
      ok=1
    fi
  done
  return "$ok"
}

check_row_security() {
  local want got none
  want=$(q_as postgres "$SRC" "SELECT count(*) || ' 1' FROM vox.call_logs WHERE org_id = '$ORG_A'") || return 1
  got=$(q_as dashboard "$COPY" "SET vox.org_id = '$ORG_A'" "SELECT count(*) || ' ' || count(DISTINCT org_id) FROM vox.call_logs") ||
    return 1
  none=$(q_as dashboard "$COPY" "SELECT (SELECT count(*) FROM vox.call_logs) + (SELECT count(*) FROM vox.audit_log)") || return 1
  if [[ $got != "$want" || $none != 0 || ${want% *} -lt 2 ]]; then
    DIAG+=("as dashboard with vox.org_id = A: call_logs rows and orgs $got (want $want, A's rows in $SRC);"
      "without vox.org_id: $none rows of call_logs and audit_log (want 0)")
    return 1
  fi
}

# The idempotency marks came back: a redelivery of an old event, by event key
# and by delivery id, is a duplicate; a new event is processed, its rows
# numbered after the restored ones.
check_events() {
  local old_event redelivery new_event max_outbox max_transcript
  max_outbox=$(q "SELECT max(id) FROM vox.outbox") || return 1
  max_transcript=$(q "SELECT max(id) FROM vox.call_transcripts") || return 1
  old_event=$(q "SELECT vox_test.status_update(vox_test.call('call-2', 'asst-a'), 'in-progress', 1763740800002)") || return 1
  # Another event, under the delivery id of call-2's first one.
  redelivery=$(q "SELECT vox_test.status_update(vox_test.call('call-2', 'asst-a'), 'ended', 1763740800002)") || return 1
  new_event=$(q "SELECT vox_test.transcript(vox_test.call('call-2', 'asst-a'), 'user', 'One more thing', 1763741000000)") ||
    return 1
  q_as vox_shim "$COPY" \
    "SELECT vox.handle_event('$ORG_A'::uuid, '$old_event'::jsonb, NULL::text) ->> 'status'" \
    "SELECT vox.handle_event('$ORG_A'::uuid, '$redelivery'::jsonb, 'dlv-2') ->> 'status'" \
    "SELECT vox.handle_event('$ORG_A'::uuid, '$new_event'::jsonb, 'dlv-new') ->> 'status'" >/dev/null || return 1
  if [[ $GOT != $'duplicate\nduplicate\nprocessed' ]]; then
    DIAG+=("old event again, another under delivery id dlv-2, a new transcript: '${GOT//$'\n'/ }'"
      "(want duplicate duplicate processed)")
    return 1
  fi
  q "SELECT (SELECT count(*) FROM vox.outbox WHERE id > $max_outbox) || ' ' ||
            (SELECT count(*) FROM vox.call_transcripts WHERE id > $max_transcript AND text = 'One more thing')" >/dev/null ||
    return 1
  if [[ $GOT != "1 1" ]]; then
    DIAG+=("outbox rows and the new transcript numbered after the restored ones ($max_outbox, $max_transcript): $GOT (want 1 1)")
    return 1
  fi
}

# A secret and its audit row added to the copy take identity values after
# the restored ones (a restarted sequence would collide with a restored key).
check_identities_continue() {
  local max_secret max_audit
  max_secret=$(q "SELECT max(id) FROM vox.webhook_secrets") || return 1
  max_audit=$(q "SELECT max(id) FROM vox.audit_log") || return 1
  q "INSERT INTO vox.webhook_secrets (org_id, scheme, secret) VALUES ('$ORG_A', 'shared', md5('a3'))" \
    "SELECT (SELECT max(id) > $max_secret FROM vox.webhook_secrets) || ' ' ||
            (SELECT count(*) FROM vox.audit_log WHERE table_name = 'webhook_secrets' AND id > $max_audit)" >/dev/null || return 1
  if [[ $GOT != "true 1" ]]; then
    DIAG+=("new secret numbered after $max_secret, its audit rows after $max_audit: $GOT (want true 1)")
    return 1
  fi
}

check_replay() {
  q "SELECT count(*) FROM vox.parked_events WHERE vapi_assistant_id = 'asst-future'" >/dev/null || return 1
  if [[ $GOT != 2 ]]; then
    DIAG+=("restored parked events of asst-future: $GOT (want 2)")
    return 1
  fi
  q "INSERT INTO vox.agents (org_id, vapi_assistant_id, name, role) VALUES ('$ORG_B', 'asst-future', 'Night line', 'night')" \
    "SELECT (SELECT count(*) FROM vox.parked_events WHERE vapi_assistant_id = 'asst-future') || ' ' ||
            coalesce((SELECT status FROM vox.call_logs WHERE org_id = '$ORG_B' AND vapi_call_id = 'call-future'), 'none') || ' ' ||
            (SELECT count(*) FROM vox.call_transcripts WHERE org_id = '$ORG_B' AND vapi_call_id = 'call-future')" >/dev/null ||
    return 1
  if [[ $GOT != "0 in-progress 1" ]]; then
    DIAG+=("after registering asst-future: its parked events, call-future's status and transcripts: $GOT (want 0 in-progress 1)")
    return 1
  fi
}

# The feed on the copy: its credentials work; a cursor of the source resets
# (its snapshots name the source's transactions); every restored outbox row
# was written by the restore, so a reader starting after it sees only what
# comes next.
check_feed() {
  local ok=0 start
  q "SELECT vox.feed_authorize('$ORG_A', '$FEED_TOKEN') IS NOT NULL" >/dev/null || return 1
  if [[ $GOT != t ]]; then
    DIAG+=("the source's feed token is not valid on the copy")
    ok=1
  fi
  q "SELECT topic || ' ' || (data ->> 'reason') FROM vox.feed_read('$ORG_A', '$FEED_CURSOR')" >/dev/null || return 1
  if [[ $GOT != "reset cursor_invalid" ]]; then
    DIAG+=("the source's cursor read on the copy: '$GOT', want 'reset cursor_invalid'")
    ok=1
  fi
  q "SELECT count(*) FROM vox.outbox WHERE committed_by::text = ANY (string_to_array('$SOURCE_WRITERS', ','))" \
    >/dev/null || return 1
  if [[ -z $SOURCE_WRITERS || $GOT != 0 ]]; then
    DIAG+=("outbox rows of the copy that keep a transaction id of the source: '$GOT' (source's: '$SOURCE_WRITERS')")
    ok=1
  fi
  start=$(q "SELECT cursor FROM vox.feed_start('$ORG_A')") || return 1
  q "SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-after-restore', 'asst-a'), 'ringing', 1763740800000)) ->> 'status'" \
    "SELECT coalesce(string_agg(data ->> 'call_id', ','), 'none') FROM vox.feed_read('$ORG_A', '$start')" >/dev/null || return 1
  if [[ $(tail -n 1 <<<"$GOT") != call-after-restore ]]; then
    DIAG+=("events after a new cursor on the copy: '$(tail -n 1 <<<"$GOT")', want only call-after-restore")
    ok=1
  fi
  return "$ok"
}

# The archive on the copy: an archived object is played as on the source,
# and deleting its job queues a deletion numbered after the restored ones.
check_recordings() {
  local call source max_deletion
  call=$(q_as postgres "$SRC" "SELECT vapi_call_id FROM vox.recording_upload_queue WHERE status = 'done' ORDER BY id LIMIT 1") ||
    return 1
  source=$(q_as postgres "$SRC" "SELECT q.org_id || ' ' || o.storage_path || ' ' || o.content_type || ' ' || o.object_size
                                   FROM vox.recording_upload_queue q, vox.recording_object(q.org_id, q.vapi_call_id) o
                                  WHERE q.vapi_call_id = '$call'") || return 1
  q "SELECT q.org_id || ' ' || o.storage_path || ' ' || o.content_type || ' ' || o.object_size
       FROM vox.recording_upload_queue q, vox.recording_object(q.org_id, q.vapi_call_id) o
      WHERE q.vapi_call_id = '$call'" >/dev/null || return 1
  if [[ -z $call || -z $source || $GOT != "$source" ]]; then
    DIAG+=("the archived object of $call: '$source' in $SRC, '$GOT' restored")
    return 1
  fi
  max_deletion=$(q "SELECT max(id) FROM vox.recording_deletions") || return 1
  q "DELETE FROM vox.recording_upload_queue WHERE vapi_call_id = '$call'" \
    "SELECT count(*) || ' ' || (SELECT count(*) FROM vox.recording_object('${source%% *}', '$call'))
       FROM vox.recording_deletions WHERE id > $max_deletion AND vapi_call_id = '$call' AND status = 'pending'" >/dev/null ||
    return 1
  if [[ $GOT != "1 0" ]]; then
    DIAG+=("after deleting $call's job: its deletions numbered after $max_deletion, its object played: $GOT (want 1 0)")
    return 1
  fi
}

check_worker() {
  local pending delivered
  pending=$(q "SELECT count(*) FROM vox.outbox WHERE delivered_at IS NULL") || return 1
  delivered=$(q "SELECT count(*) FROM vox.outbox WHERE delivered_at IS NOT NULL") || return 1
  if ((delivered == 0)); then
    DIAG+=("no delivered outbox row in the copy for the worker to remove")
    return 1
  fi
  suite_cluster_preload "vox.database = '$COPY'" "vox.maintenance_interval = 1" "vox.retention = 1"
  # The acknowledged outbox rows restored from the source are long expired.
  if ! poll 20 "true 0 $pending" "SELECT EXISTS (SELECT FROM vox.maintenance_runs WHERE ran_by = 'worker' AND error IS NULL)
                                  || ' ' || (SELECT count(*) FROM vox.outbox WHERE delivered_at IS NOT NULL)
                                  || ' ' || (SELECT count(*) FROM vox.outbox WHERE delivered_at IS NULL)"; then
    DIAG+=("after 20 s: a worker round recorded, delivered and undelivered outbox rows: $GOT"
      "(want true 0 $pending: the $delivered delivered rows restored from $SRC expired)"
      "$(q "SELECT ran_by, error FROM vox.maintenance_runs ORDER BY id DESC LIMIT 3" || true)")
    return 1
  fi
}

# -------------------------------------------------------------- setup ----
vox_log "backup test cluster: $DIR, port $SUITE_PORT"
out=$(vox_cluster_fresh "$DIR" "$SUITE_PORT" "" 2>&1) || bail "could not create the cluster: $out"
q_as postgres postgres "CREATE DATABASE $SRC" >/dev/null || bail "could not create $SRC: ${DIAG[*]}"
populate || bail "could not populate $SRC: ${DIAG[*]}"

# -------------------------------------------------------------- tests ----
check "the source has rows in every vox table ($((CALLS * 4)) events over $CALLS calls, and the rest)" check_source_populated
check "pg_dump -Fc archives the rows of every vox table and the value of every sequence" check_dump
check "pg_restore into a new database with session_replication_role = replica, without a message" check_restore
check "every row of every vox table comes back" check_rows_restored
check "every identity sequence of vox comes back at its value" check_sequences_restored
check "vox.webhook_secrets_for() gives the shim's role each org's secrets" check_secrets
check "row-level security: the dashboard role sees its org's rows after SET vox.org_id, none without" check_row_security
check "redeliveries of old events are duplicates; a new event is processed and numbered after the restored rows" \
  check_events
check "a new secret and its audit row take identity values after the restored ones" check_identities_continue
check "registering the agent of a restored parked event applies it" check_replay
check "the feed on the copy: credentials kept, the source's cursors reset, restored outbox rows written by the restore" check_feed
check "the archive on the copy: an object is played as on the source, a deletion numbered after the restored ones" \
  check_recordings
check "with vox preloaded and vox.database on the copy, the worker's rounds run there" check_worker
finish
