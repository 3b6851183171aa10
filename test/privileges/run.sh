#!/usr/bin/env bash
# Escalation routes into vox, each tried by a role that is not a superuser
# (issue 11's findings 1, 3, 4 and 7), on a cluster of its own: a fresh one
# in $VOX_PRIVILEGES_DIR (default .run/privileges-pg) on the first free port
# from $VOX_PRIVILEGES_PORT_BASE (default 59500), database voxdb owned by
# the unprivileged role appowner. The routes that need no worker run first,
# without the preload (where vox's settings are only placeholders until its
# library loads); then the cluster restarts with vox preloaded,
# vox.database = voxdb, a 1 s interval and a 1 s retention, and appowner
# plants operators and functions for the maintenance worker to run. The
# cluster is removed on exit (SUITE_KEEP=1 keeps it, stopped).
#
# Prints TAP (scripts/tap.sh); exit status 0 only if every check passed.
# Usage: bash test/privileges/run.sh

# The checks run through `check DESCRIPTION FUNCTION`, which shellcheck
# takes for unreachable code.
# shellcheck disable=SC2317
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=scripts/suite_cluster.sh
source "$ROOT/scripts/suite_cluster.sh"

DB=voxdb
ORG=00000000-0000-4000-8000-00000000000a
# What every planted function logs when it runs, whoever runs it; the
# server log never holds it otherwise.
MARKER="LOG:  vox-evil-marker"
CRASH_LOG='terminated by signal|was terminated|PANIC|TRAP:|terminating any other active|all server processes terminated'

DIR=${VOX_PRIVILEGES_DIR:-}
if [[ -z $DIR ]]; then DIR=$(vox_run_dir "$ROOT")/privileges-pg; fi
suite_cluster_setup "$DIR" "${VOX_PRIVILEGES_PORT_BASE:-59500}" "$DB"

# ------------------------------------------------------------ helpers ----

# evil_function SCHEMA NAME ARGS RETURNS EXPR: SQL creating SCHEMA.NAME(ARGS),
# which logs the marker with the role running it, tries to make appowner a
# superuser, and returns EXPR (computed with pg_catalog's own operators).
evil_function() {
  local schema=$1 name=$2 params=$3 returns=$4 expr=$5
  cat <<SQL
CREATE FUNCTION $schema.$name($params) RETURNS $returns LANGUAGE plpgsql SET search_path = pg_catalog AS \$body\$
BEGIN
    RAISE LOG 'vox-evil-marker: $schema.$name ran as %', current_user;
    BEGIN
        EXECUTE 'ALTER ROLE appowner SUPERUSER';
    EXCEPTION WHEN OTHERS THEN
        NULL;
    END;
    RETURN $expr;
END
\$body\$
SQL
}

appowner_is_superuser() {
  q "SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = 'appowner'" >/dev/null || return 0
  [[ $GOT != f ]]
}

last_run_id() { q "SELECT coalesce(max(id), 0) FROM vox.maintenance_runs"; }

# plant_round_work TAG: work for every step of a round: an idempotency mark
# and a delivered outbox row that expire (retention 1 s), and a parked event
# whose call becomes known through a plain insert, which no trigger replays.
plant_round_work() {
  local tag=$1
  q "SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-$tag-expire', 'asst-demo'), 'ringing', 1763740800000))" \
    "SELECT vox.ack_outbox(array_agg(id)) FROM vox.claim_outbox(100, '1 minute')" >/dev/null || return 1
  q "SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-$tag-parked', NULL), 'in-progress', 1763740801000)) ->> 'reason'" \
    >/dev/null || return 1
  if [[ $GOT != unknown_call ]]; then
    DIAG+=("the call-id-only event of call-$tag-parked was not parked as unknown_call: $GOT")
    return 1
  fi
  q "INSERT INTO vox.call_tracking (org_id, vapi_call_id) VALUES ('$ORG', 'call-$tag-parked')" >/dev/null
}

# rounds_ran_safely TAG SINCE_ID OFFSET: the work of plant_round_work TAG is done
# by rounds recorded after SINCE_ID without error, appowner is no superuser,
# and no planted function ran (server log after byte OFFSET).
rounds_ran_safely() {
  local tag=$1 since_id=$2 offset=$3 ok=0 log
  if ! poll 20 "0 0 0 in-progress" \
    "SELECT (SELECT count(*) FROM vox.processed_webhook_events WHERE vapi_call_id = 'call-$tag-expire') || ' ' ||
            (SELECT count(*) FROM vox.outbox WHERE vapi_call_id = 'call-$tag-expire') || ' ' ||
            (SELECT count(*) FROM vox.parked_events WHERE vapi_call_id = 'call-$tag-parked') || ' ' ||
            coalesce((SELECT status FROM vox.call_logs WHERE vapi_call_id = 'call-$tag-parked'), 'no call_logs row')"; then
    DIAG+=("after 20 s, expired idempotency marks, delivered outbox rows, parked events of call-$tag-* and the"
      "status of the parked call: $GOT (want 0 0 0 in-progress: rounds removed and replayed)")
    ok=1
  fi
  # A round forgets those older than the retention (1 s): the identity
  # counts them, and the ones left show no error.
  if ! poll 10 t "SELECT max(id) >= $since_id + 2 AND bool_and(error IS NULL) AND bool_and(ran_by = 'worker')
                    FROM vox.maintenance_runs WHERE id > $since_id"; then
    DIAG+=("rounds recorded in vox.maintenance_runs since the plant: at least 2, by the worker, none failed: $GOT"
      "$(q "SELECT id, started_at, error FROM vox.maintenance_runs WHERE id > $since_id ORDER BY id" || true)")
    ok=1
  fi
  if appowner_is_superuser; then
    DIAG+=("appowner is a superuser now (rolsuper: $GOT)")
    ok=1
  fi
  log=$(log_since "$offset")
  if grep -q "$MARKER" <<<"$log"; then
    DIAG+=("planted functions ran (times, which, as whom):"
      "$(grep "$MARKER" <<<"$log" | sed "s/.*vox-evil-marker: //" | sort | uniq -c | head -n 20)")
    ok=1
  fi
  if grep -Eq "$CRASH_LOG" <<<"$log"; then
    DIAG+=("the server log shows:" "$(grep -E "$CRASH_LOG" <<<"$log" | head -n 10)")
    ok=1
  fi
  return "$ok"
}

# ------------------------------------------------------------- checks ----

# Every SECURITY DEFINER function of vox runs with search_path pinned and
# only for the roles it was granted to.
check_definer_functions() {
  q "SELECT count(*) || ' ' || count(*) FILTER (
                 WHERE p.proconfig IS NULL OR NOT p.proconfig @> '{\"search_path=pg_catalog, pg_temp\"}'
                    OR pg_catalog.has_function_privilege('public', p.oid, 'EXECUTE'))
       FROM pg_catalog.pg_proc p
      WHERE p.pronamespace = 'vox'::regnamespace AND p.prosecdef" >/dev/null || return 1
  local total=${GOT% *} bad=${GOT#* }
  # handle_event (two), webhook_secrets_for, replay_parked, register_outbound_call,
  # cleanup, the five queue functions, audit_trigger at the least.
  if ((total < 12 || bad != 0)); then
    DIAG+=("$total SECURITY DEFINER functions in vox (want at least 12), $bad of them without search_path"
      "pinned to pg_catalog, pg_temp or executable by PUBLIC:"
      "$(q "SELECT p.oid::regprocedure || ' ' || coalesce(p.proconfig::text, 'no settings') || ' ' || coalesce(p.proacl::text, 'default ACL')
              FROM pg_catalog.pg_proc p
             WHERE p.pronamespace = 'vox'::regnamespace AND p.prosecdef
               AND (p.proconfig IS NULL OR NOT p.proconfig @> '{\"search_path=pg_catalog, pg_temp\"}'
                    OR pg_catalog.has_function_privilege('public', p.oid, 'EXECUTE'))" || true)")
    return 1
  fi
}

# The worker's role can log in as nobody, bypasses nothing, and may execute
# only the three maintenance functions among vox's.
check_maintenance_role() {
  q "SELECT coalesce((SELECT r.rolcanlogin || ' ' || r.rolsuper || ' ' || r.rolbypassrls || ' ' ||
                             coalesce((SELECT string_agg(p.proname, ',' ORDER BY p.proname) FROM pg_catalog.pg_proc p
                                        WHERE p.pronamespace = 'vox'::regnamespace
                                          AND pg_catalog.has_function_privilege(r.oid, p.oid, 'EXECUTE')
                                          AND NOT pg_catalog.has_function_privilege('public', p.oid, 'EXECUTE')),
                                      'none')
                        FROM pg_catalog.pg_roles r WHERE r.rolname = 'vox_maintenance'), 'no role vox_maintenance')" \
    >/dev/null || return 1
  if [[ $GOT != "false false false record_maintenance_run,remove_expired,replay_parked_batch" ]]; then
    DIAG+=("vox_maintenance: can log in, superuser, bypasses RLS, vox functions it alone may execute: '$GOT'"
      "want 'false false false record_maintenance_run,remove_expired,replay_parked_batch'")
    return 1
  fi
}

# Finding 3: the dashboard role forges an audit row through a temp table of
# its own named like an audited table.
check_audit_forgery() {
  local before after
  before=$(q "SELECT count(*) FROM vox.audit_log") || return 1
  refused_as dashboard "$DB" "permission denied for function" \
    "CREATE TEMP TABLE webhook_secrets (org_id uuid, id bigint, secret text)" \
    "CREATE TRIGGER forge AFTER INSERT ON webhook_secrets FOR EACH ROW EXECUTE FUNCTION vox.audit_trigger()" \
    "INSERT INTO webhook_secrets VALUES ('00000000-0000-4000-8000-0000000000ff', 1, 'forged')" || return 1
  after=$(q "SELECT count(*) FROM vox.audit_log") || return 1
  if [[ $after != "$before" ]]; then
    DIAG+=("vox.audit_log rows: $before before, $after after the attempt" "psql: $GOT")
    return 1
  fi
}

# Neither trigger function can be attached by a role that is no superuser
# to a table of its own: the dashboard's temp tables, appowner's in public.
check_triggers_not_attachable() {
  local role table fn ok=0
  for role in dashboard appowner; do
    for fn in "audit_trigger()" "replay_parked_trigger('vapi_assistant_id')" "recording_upload_queue_deleted()"; do
      if [[ $role == dashboard ]]; then table="pg_temp.agents"; else table="public.agents"; fi
      refused_as "$role" "$DB" "permission denied for function" \
        "CREATE TABLE $table (org_id uuid, id uuid, vapi_assistant_id text)" \
        "CREATE TRIGGER attached AFTER INSERT ON $table FOR EACH ROW EXECUTE FUNCTION vox.$fn" || ok=1
      q "DROP TABLE IF EXISTS public.agents" >/dev/null || ok=1
    done
  done
  return "$ok"
}

# Granted EXECUTE all the same (a DBA's mistake), a role still cannot make
# either trigger function act for a table other than vox's.
check_triggers_refuse_other_tables() {
  local before after ok=0
  before=$(q "SELECT count(*) FROM vox.audit_log") || return 1
  q "GRANT EXECUTE ON FUNCTION vox.audit_trigger(), vox.replay_parked_trigger() TO granted" >/dev/null || return 1
  refused_as granted "$DB" "audits only vox's routing tables" \
    "CREATE TEMP TABLE webhook_secrets (org_id uuid, id bigint, secret text)" \
    "CREATE TRIGGER forge AFTER INSERT ON webhook_secrets FOR EACH ROW EXECUTE FUNCTION vox.audit_trigger()" \
    "INSERT INTO webhook_secrets VALUES ('00000000-0000-4000-8000-0000000000ff', 1, 'forged')" || ok=1
  refused_as granted "$DB" "may only be a trigger of vox.agents or vox.phone_numbers" \
    "CREATE TEMP TABLE agents (org_id uuid, id uuid, vapi_assistant_id text)" \
    "CREATE TRIGGER replay AFTER INSERT ON agents FOR EACH ROW EXECUTE FUNCTION vox.replay_parked_trigger('vapi_assistant_id')" \
    "INSERT INTO agents VALUES ('$ORG', gen_random_uuid(), 'asst-granted')" || ok=1
  q "REVOKE EXECUTE ON FUNCTION vox.audit_trigger(), vox.replay_parked_trigger() FROM granted" >/dev/null || ok=1
  after=$(q "SELECT count(*) FROM vox.audit_log") || return 1
  if [[ $after != "$before" ]]; then
    DIAG+=("vox.audit_log rows: $before before, $after after the attempts")
    ok=1
  fi
  return "$ok"
}

# Finding 4: without the preload a session's placeholder for the superuser's
# vox.queue_max_attempts = 0 would make every pending outbox row dead.
check_queue_max_attempts_placeholder() {
  local pending
  q "SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-q' || i, 'asst-demo'), 'ringing', 1763740800000))
       FROM pg_catalog.generate_series(1, 3) i" >/dev/null || return 1
  pending=$(q "SELECT count(*) FROM vox.outbox WHERE delivered_at IS NULL AND dead_at IS NULL") || return 1
  # A fresh session: vox's library is not loaded when it SETs the value.
  q_as consumer "$DB" "SET vox.queue_max_attempts = 0" \
    "SELECT count(*) FROM vox.claim_outbox(1, '1 minute')" >/dev/null || return 1
  if [[ $GOT != 1 ]]; then
    DIAG+=("claim_outbox(1, ...) returned $GOT rows, want 1")
    return 1
  fi
  q "SELECT count(*) FILTER (WHERE dead_at IS NOT NULL) || ' ' || count(*) FILTER (WHERE delivered_at IS NULL AND dead_at IS NULL)
       FROM vox.outbox" >/dev/null || return 1
  if ((pending < 3)) || [[ $GOT != "0 $pending" ]]; then
    DIAG+=("outbox rows pending before: $pending (want at least 3); dead and still pending after: $GOT (want 0 $pending)")
    return 1
  fi
}

# Finding 7: an admin with BYPASSRLS and INSERT on vox.agents registers an
# agent; the events parked for its assistant are applied, as vox's owner.
check_admin_registers_agent() {
  q "SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-admin', 'asst-admin'), 'in-progress', 1763740801000)) ->> 'reason'" \
    >/dev/null || return 1
  if [[ $GOT != unknown_assistant ]]; then
    DIAG+=("the event of an unknown assistant: reason '$GOT', want unknown_assistant")
    return 1
  fi
  q_as admin "$DB" "INSERT INTO vox.agents (org_id, vapi_assistant_id, name, role)
                    VALUES ('$ORG', 'asst-admin', 'Admin''s agent', 'outbound')" >/dev/null || return 1
  q "SELECT (SELECT count(*) FROM vox.parked_events WHERE vapi_assistant_id = 'asst-admin') || ' ' ||
            coalesce((SELECT status FROM vox.call_logs WHERE vapi_call_id = 'call-admin'), 'no call_logs row')" >/dev/null ||
    return 1
  if [[ $GOT != "0 in-progress" ]]; then
    DIAG+=("parked events of asst-admin, status of call-admin: $GOT (want 0 in-progress)"
      "$(q "SELECT reason, attempts, last_error FROM vox.parked_events WHERE vapi_assistant_id = 'asst-admin'" || true)")
    return 1
  fi
}

# Finding 1: appowner's operator public.*(bigint, interval), the one a
# round's `$1 * interval '1 second'` would have picked over pg_catalog's.
check_public_operator() {
  local since_id offset ok=0
  q_as appowner "$DB" "$(evil_function public evil_mul "bigint, interval" interval "\$2 * \$1::float8")" \
    "CREATE OPERATOR public.* (LEFTARG = bigint, RIGHTARG = interval, FUNCTION = public.evil_mul)" >/dev/null || return 1
  offset=$(log_size)
  since_id=$(last_run_id) || return 1
  plant_round_work a || return 1
  rounds_ran_safely a "$since_id" "$offset" || ok=1
  # The next route on its own.
  q "ALTER ROLE appowner NOSUPERUSER" "DROP OPERATOR public.*(bigint, interval)" "DROP FUNCTION public.evil_mul(bigint, interval)" \
    >/dev/null || ok=1
  return "$ok"
}

# Finding 1's second route: ALTER DATABASE voxdb SET search_path = evil,
# pg_catalog, with evil shadowing what vox's SQL calls, and a worker restart.
check_database_search_path() {
  local since_id offset sql=() spec name args returns expr
  sql+=("CREATE SCHEMA evil")
  while IFS='|' read -r name args returns expr; do
    [[ -n $name ]] || continue
    sql+=("$(evil_function evil "$name" "$args" "$returns" "$expr")")
  done <<'EOF'
now||timestamptz|pg_catalog.now()
clock_timestamp||timestamptz|pg_catalog.clock_timestamp()
current_setting|text, boolean|text|pg_catalog.current_setting($1, $2)
jsonb_build_object|text, text|jsonb|pg_catalog.jsonb_build_object($1, $2)
jsonb_build_object|text, bigint|jsonb|pg_catalog.jsonb_build_object($1, $2)
to_jsonb|anyelement|jsonb|pg_catalog.to_jsonb($1)
gen_random_uuid||uuid|pg_catalog.gen_random_uuid()
count_step|bigint|bigint|$1 + 1
eq_uuid|uuid, uuid|boolean|$1 = $2
eq_text|text, text|boolean|$1 = $2
eq_bigint|bigint, bigint|boolean|$1 = $2
eq_integer|integer, integer|boolean|$1 = $2
lt_timestamptz|timestamptz, timestamptz|boolean|$1 < $2
le_timestamptz|timestamptz, timestamptz|boolean|$1 <= $2
minus_interval|timestamptz, interval|timestamptz|$1 - $2
times_interval|bigint, interval|interval|$2 * $1::float8
EOF
  for spec in "= uuid eq_uuid" "= text eq_text" "= bigint eq_bigint" "= integer eq_integer" \
    "< timestamptz lt_timestamptz" "<= timestamptz le_timestamptz"; do
    read -r name args expr <<<"$spec"
    sql+=("CREATE OPERATOR evil.$name (LEFTARG = $args, RIGHTARG = $args, FUNCTION = evil.$expr)")
  done
  sql+=("CREATE OPERATOR evil.- (LEFTARG = timestamptz, RIGHTARG = interval, FUNCTION = evil.minus_interval)"
    "CREATE OPERATOR evil.* (LEFTARG = bigint, RIGHTARG = interval, FUNCTION = evil.times_interval)"
    "CREATE AGGREGATE evil.count(*) (SFUNC = evil.count_step, STYPE = bigint, INITCOND = '0')"
    "ALTER DATABASE $DB SET search_path = evil, pg_catalog")
  q_as appowner "$DB" "${sql[@]}" >/dev/null || return 1
  offset=$(log_size)
  # The maintenance processes start again, and connect with the new setting.
  q "SELECT count(pg_catalog.pg_terminate_backend(pid)) FROM pg_catalog.pg_stat_activity
      WHERE backend_type LIKE 'vox maintenance%'" >/dev/null || return 1
  since_id=$(last_run_id) || return 1
  plant_round_work b || return 1
  rounds_ran_safely b "$since_id" "$offset"
}

# The feed's two roles log in as nobody, bypass nothing, and may execute
# only their own functions among vox's: the relay reads feeds and archives
# recordings, the issuer mints.
check_feed_roles() {
  q "SELECT string_agg(r.rolname || ' ' || r.rolcanlogin || ' ' || r.rolsuper || ' ' || r.rolbypassrls || ' ' ||
                       coalesce((SELECT string_agg(p.proname, ',' ORDER BY p.proname) FROM pg_catalog.pg_proc p
                                  WHERE p.pronamespace = 'vox'::regnamespace
                                    AND pg_catalog.has_function_privilege(r.oid, p.oid, 'EXECUTE')
                                    AND NOT pg_catalog.has_function_privilege('public', p.oid, 'EXECUTE')), 'none'),
                       '; ' ORDER BY r.rolname)
       FROM pg_catalog.pg_roles r WHERE r.rolname IN ('vox_relay', 'vox_feed_issuer')" >/dev/null || return 1
  local want="vox_feed_issuer false false false create_feed_credential,revoke_feed_credential; "
  want+="vox_relay false false false claim_recording_deletions,claim_recording_uploads,complete_recording_deletion,"
  want+="complete_recording_upload,fail_recording_deletion,fail_recording_upload,feed_authorize,feed_credentials_valid,feed_nodes,"
  want+="feed_read,feed_start,feed_transcript,recording_object,recording_queue_status"
  if [[ $GOT != "$want" ]]; then
    DIAG+=("the feed's roles: '$GOT'" "want '$want'")
    return 1
  fi
}

# A relay's login role reads feeds and checks tokens, and can neither mint a
# token, read the stored hashes, nor write an event; the issuer mints and
# revokes, and reads no feed; the dashboard role sees no credential.
check_feed_separation() {
  local token id ok=0
  q_as issuer "$DB" "SELECT credential_id || ' ' || token FROM vox.create_feed_credential('$ORG', 'privileges test')"     >/dev/null || return 1
  id=${GOT% *} token=${GOT#* }
  q_as relay "$DB" "SELECT vox.feed_authorize('$ORG', '$token')" >/dev/null || return 1
  if [[ $GOT != "$id" ]]; then
    DIAG+=("the relay's feed_authorize of the issuer's token: '$GOT', want '$id'")
    ok=1
  fi
  q_as relay "$DB" "SELECT count(*) FROM vox.feed_read('$ORG', (SELECT cursor FROM vox.feed_start('$ORG')))" >/dev/null || ok=1
  refused_as relay "$DB" "permission denied for function" "SELECT vox.create_feed_credential('$ORG', 'relay mints')" || ok=1
  refused_as relay "$DB" "permission denied for table" "SELECT count(*) FROM vox.feed_credentials" || ok=1
  refused_as relay "$DB" "permission denied for function" \
    "SELECT vox.handle_event('{\"message\": {\"type\": \"status-update\", \"status\": \"ringing\",
                              \"call\": {\"id\": \"call-relay\", \"assistantId\": \"asst-demo\"}}}')" || ok=1
  refused_as issuer "$DB" "permission denied for function" "SELECT * FROM vox.feed_start('$ORG')" || ok=1
  refused_as dashboard "$DB" "permission denied for table" "SELECT secret_hash FROM vox.feed_credentials" || ok=1
  q_as issuer "$DB" "SELECT vox.revoke_feed_credential($id)" >/dev/null || ok=1
  q_as relay "$DB" "SELECT count(*) FROM vox.feed_credentials_valid(ARRAY[$id]::bigint[])" >/dev/null || ok=1
  if [[ $GOT != 0 ]]; then
    DIAG+=("the revoked credential is still valid to the relay: '$GOT'")
    ok=1
  fi
  return "$ok"
}

# The relay archives through vox's functions only: it completes an upload,
# plays an org's object and claims deletions, but reads neither queue, nor
# deletes a job (which would queue its object's deletion); the dashboard role
# reads its org's deletions and plays nothing.
check_recording_separation() {
  local id ok=0
  q "SELECT vox.handle_event(vox_test.end_of_call_report(vox_test.call('call-rec', 'asst-demo'), 1763741000000)) ->> 'status'" \
    >/dev/null || return 1
  q_as relay "$DB" "SELECT id FROM vox.claim_recording_uploads(10, '1 minute') WHERE vapi_call_id = 'call-rec'" >/dev/null ||
    return 1
  id=$GOT
  q_as relay "$DB" "SELECT vox.complete_recording_upload($id, 'recordings/$ORG/call-rec/$id.wav', 10, 'audio/wav', repeat('0', 64))" \
    "SELECT storage_path FROM vox.recording_object('$ORG', 'call-rec')" >/dev/null || return 1
  if [[ $GOT != $'done\nrecordings/'"$ORG/call-rec/$id.wav" ]]; then
    DIAG+=("the relay's completion and playback of job $id: '${GOT//$'\n'/ }'")
    ok=1
  fi
  refused_as relay "$DB" "permission denied for table" "SELECT count(*) FROM vox.recording_upload_queue" || ok=1
  refused_as relay "$DB" "permission denied for table" "SELECT count(*) FROM vox.recording_deletions" || ok=1
  refused_as relay "$DB" "permission denied for table" "DELETE FROM vox.recording_upload_queue" || ok=1
  refused_as dashboard "$DB" "permission denied for function" "SELECT * FROM vox.recording_object('$ORG', 'call-rec')" || ok=1
  refused_as dashboard "$DB" "permission denied for function" "SELECT * FROM vox.claim_recording_deletions(1, '1 minute')" ||
    ok=1
  return "$ok"
}

# Without the preload, a relay session's SET vox.recording_retention = 1
# (a placeholder until vox's library loads) must not expire any object:
# only the server's setting (0, forever) counts.
check_recording_retention_placeholder() {
  q "UPDATE vox.recording_upload_queue SET completed_at = now() - interval '10 years' WHERE status = 'done'" \
    "SELECT count(*) FROM vox.recording_upload_queue WHERE status = 'done'" >/dev/null || return 1
  if [[ $GOT == 0 ]]; then
    DIAG+=("no archived object to expire")
    return 1
  fi
  q_as relay "$DB" "SET vox.recording_retention = 1" \
    "SELECT count(*) FROM vox.claim_recording_deletions(10, '1 minute')" >/dev/null || return 1
  q "SELECT count(*) FROM vox.recording_deletions" >/dev/null || return 1
  if [[ $GOT != 0 ]]; then
    DIAG+=("deletions queued after the relay's SET vox.recording_retention = 1: $GOT (want 0)")
    return 1
  fi
}

# Without the preload, a relay session's SET vox.notify = off (a placeholder
# until vox's library loads; the setting is a superuser's) must not silence
# the NOTIFY of an upload it completes: only the server's setting counts.
check_notify_placeholder() {
  local id
  q "SELECT vox.handle_event(vox_test.end_of_call_report(vox_test.call('call-notify', 'asst-demo'), 1763741000000))" \
    "SELECT id FROM vox.recording_upload_queue WHERE vapi_call_id = 'call-notify' AND status = 'pending'" >/dev/null ||
    return 1
  id=${GOT##*$'\n'}
  q_as relay "$DB" "SET vox.notify = off" "LISTEN vox_outbox" \
    "SELECT vox.complete_recording_upload($id, 'recordings/call-notify.wav', 10, 'audio/wav', repeat('0', 64))" \
    >/dev/null || return 1
  if [[ $GOT != *done* || $GOT != *"notification \"vox_outbox\" with payload \"$ORG\""* ]]; then
    DIAG+=("the relay's completion after its SET vox.notify = off printed '$GOT' (want done and a vox_outbox notification)")
    return 1
  fi
}

# -------------------------------------------------------------- setup ----
vox_log "privileges test cluster: $DIR, port $SUITE_PORT"
out=$(vox_cluster_fresh "$DIR" "$SUITE_PORT" "" 2>&1) || bail "could not create the cluster: $out"
q_as postgres postgres \
  "CREATE ROLE appowner LOGIN" \
  "CREATE ROLE dashboard LOGIN" \
  "CREATE ROLE consumer LOGIN" \
  "CREATE ROLE admin LOGIN BYPASSRLS" \
  "CREATE ROLE granted LOGIN" \
  "CREATE ROLE relay LOGIN" \
  "CREATE ROLE issuer LOGIN" \
  "CREATE DATABASE $DB OWNER appowner" >/dev/null || bail "could not create the roles and $DB: ${DIAG[*]}"
# The grants README's "Row-level security and roles" gives each role.
q "\\i $ROOT/test/fixtures/vapi.sql" \
  "SELECT vox_test.tenant('$ORG', 'Demo Clinic', 'asst-demo', 'pn-demo', '+14155550100')" \
  "GRANT USAGE ON SCHEMA vox TO appowner, dashboard, consumer, admin, granted" \
  "GRANT SELECT ON vox.organizations, vox.agents, vox.phone_numbers, vox.leads, vox.call_tracking, vox.call_logs,
         vox.calls, vox.call_transcripts, vox.outbox, vox.recording_upload_queue, vox.audit_log TO dashboard" \
  "GRANT EXECUTE ON FUNCTION vox.claim_outbox(integer, interval), vox.ack_outbox(bigint[]),
         vox.claim_recording_uploads(integer, interval), vox.complete_recording_upload(bigint, text, bigint, text, text),
         vox.fail_recording_upload(bigint, text), vox.register_outbound_call(uuid, text, uuid, uuid, jsonb) TO consumer" \
  "GRANT SELECT, INSERT ON vox.agents TO admin" \
  "GRANT vox_relay TO relay" \
  "GRANT vox_feed_issuer TO issuer" >/dev/null || bail "could not install vox in $DB: ${DIAG[*]}"

# -------------------------------------------------------------- tests ----
check "every SECURITY DEFINER function of vox pins search_path and is not executable by PUBLIC" check_definer_functions
check "vox_maintenance cannot log in, is no superuser, bypasses no RLS, and alone may execute only the maintenance functions" \
  check_maintenance_role
check "the dashboard role cannot attach vox.audit_trigger() to a temp table and forge an audit row" check_audit_forgery
check "no role but a superuser can attach vox's trigger functions to a table of its own" check_triggers_not_attachable
check "granted EXECUTE, a role still cannot make vox's trigger functions act for its own tables" \
  check_triggers_refuse_other_tables
check "without the preload, a consumer's SET vox.queue_max_attempts = 0 kills no outbox row" \
  check_queue_max_attempts_placeholder
check "an admin with BYPASSRLS and INSERT on vox.agents registers an agent; its parked events are applied" \
  check_admin_registers_agent
check "vox_relay and vox_feed_issuer cannot log in, are no superusers, bypass no RLS, and may execute only their own functions (feeds, archive; minting)" \
  check_feed_roles
check "the relay reads feeds but mints no token, reads no hash, writes no event; the issuer reads no feed; revocation holds" \
  check_feed_separation
check "the relay archives and plays through vox's functions only, reads no queue, deletes no job; the dashboard plays nothing" \
  check_recording_separation
check "without the preload, a relay's SET vox.recording_retention = 1 expires no archived object" \
  check_recording_retention_placeholder
check "without the preload, a relay's SET vox.notify = off does not silence the NOTIFY of an upload it completes" \
  check_notify_placeholder

suite_cluster_preload "vox.database = '$DB'" "vox.maintenance_interval = 1" "vox.retention = 1"

check "appowner's operator public.*(bigint, interval): rounds remove and replay, and never run it" check_public_operator
check "ALTER DATABASE ... SET search_path = evil, pg_catalog with shadowing operators and functions: rounds never run them" \
  check_database_search_path
finish
