#!/usr/bin/env bash
# README command 1: `bash scripts/up.sh`        start (or restart) the dev cluster
#                   `bash scripts/up.sh stop`   stop it
#
# Installs dependencies, builds and installs the extension, and runs a
# persistent PostgreSQL 15 cluster in .run/pg on 127.0.0.1:${VOX_PORT:-5433}
# with vox in shared_preload_libraries. Creates database `vox` with the
# extension, a demo organization/agent/phone number with an HMAC webhook
# secret, and the role the shim logs in as; builds vox-shim and runs it on
# 127.0.0.1:${VOX_SHIM_PORT:-8080}; then prints a signed curl to paste.
# Safe to re-run: the cluster and its data are kept; a running server and
# shim are restarted so they run the freshly built code.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/cluster.sh
source "$ROOT/scripts/cluster.sh"

PORT=${VOX_PORT:-5433}
SHIM_PORT=${VOX_SHIM_PORT:-8080}
RUN_DIR=$(vox_run_dir "$ROOT")
DIR=$RUN_DIR/pg
SHIM_PID=$RUN_DIR/shim.pid
SHIM_LOG=$RUN_DIR/shim.log
DEMO_ORG=00000000-0000-4000-8000-000000000001

# SIGTERM lets requests in flight finish; the shim then exits.
stop_shim() {
  local pid
  [[ -f $SHIM_PID ]] || return 0
  pid=$(cat "$SHIM_PID")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    vox_log "stopped vox-shim (pid $pid)"
  fi
  rm -f "$SHIM_PID"
}

case ${1:-up} in
  up) ;;
  stop)
    stop_shim
    if vox_cluster_running "$DIR"; then
      vox_cluster_stop "$DIR"
      vox_log "stopped the cluster in $DIR"
    else
      vox_log "no cluster running in $DIR"
    fi
    exit 0
    ;;
  *)
    echo "usage: bash scripts/up.sh [stop]" >&2
    exit 2
    ;;
esac

bash "$ROOT/scripts/deps.sh"
vox_build_install "$ROOT"
vox_build_shim "$ROOT" || vox_die "could not build vox-shim"
stop_shim

# vox_cluster_start creates the cluster on first use and otherwise restarts
# it in place (data kept), so a rebuilt vox.so is what the server loads.
vox_cluster_start "$DIR" "$PORT" vox ||
  vox_die "could not start the cluster in $DIR on port $PORT (another port: VOX_PORT=NNNN bash scripts/up.sh)"

# psql over the socket as the superuser `postgres`; -X ignores ~/.psqlrc.
psql_vox() {
  "$VOX_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$DIR" -p "$PORT" -U postgres "$@"
}

# CREATE DATABASE has no IF NOT EXISTS; \gexec runs it only when missing.
psql_vox -d postgres <<'SQL'
SELECT 'CREATE DATABASE vox OWNER postgres'
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'vox')
\gexec
SQL

# The maintenance worker (vox.database) works in database vox; a postmaster
# setting, so it takes a restart the first time.
if [[ $(psql_vox -d postgres -At -c "SHOW vox.database") != vox ]]; then
  psql_vox -d postgres -c "ALTER SYSTEM SET vox.database = 'vox'"
  vox_cluster_start "$DIR" "$PORT" vox || vox_die "could not restart the cluster in $DIR"
fi

# Demo tenant: every statement is idempotent, so re-runs change nothing.
# An installed vox of an older version is brought up to date.
psql_vox -d vox <<'SQL'
CREATE EXTENSION IF NOT EXISTS vox;
ALTER EXTENSION vox UPDATE;
INSERT INTO vox.organizations (id, name, default_region)
VALUES ('00000000-0000-4000-8000-000000000001', 'Demo Clinic', 'US')
ON CONFLICT DO NOTHING;
INSERT INTO vox.agents (org_id, id, vapi_assistant_id, name, role)
VALUES ('00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-0000000000a1',
        'asst_demo_inbound', 'Demo Receptionist', 'inbound')
ON CONFLICT DO NOTHING;
INSERT INTO vox.phone_numbers (org_id, vapi_phone_number_id, number, agent_id)
VALUES ('00000000-0000-4000-8000-000000000001', 'pn_demo_main', '+14155550100',
        '00000000-0000-4000-8000-0000000000a1')
ON CONFLICT DO NOTHING;
-- The shim's role: it may call the two entry points and nothing else.
SELECT 'CREATE ROLE vox_shim LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vox_shim')
\gexec
GRANT USAGE ON SCHEMA vox TO vox_shim;
GRANT EXECUTE ON FUNCTION vox.handle_event(uuid, jsonb, text), vox.webhook_secrets_for(uuid) TO vox_shim;
SQL

# The demo org's HMAC secret (Vapi's default scheme: sha256, hex, x-signature
# over "{timestamp}.{body}"), made once and kept.
psql_vox -d vox -v secret="$(openssl rand -hex 24)" <<'SQL'
INSERT INTO vox.webhook_secrets (org_id, scheme, secret)
SELECT '00000000-0000-4000-8000-000000000001', 'hmac', :'secret'
WHERE NOT EXISTS (SELECT 1 FROM vox.webhook_secrets
                   WHERE org_id = '00000000-0000-4000-8000-000000000001' AND scheme = 'hmac' AND active);
SQL
DEMO_SECRET=$(psql_vox -d vox -At -c "SELECT secret FROM vox.webhook_secrets
  WHERE org_id = '$DEMO_ORG' AND scheme = 'hmac' AND active ORDER BY id LIMIT 1")

if vox_port_in_use "$SHIM_PORT"; then
  vox_die "TCP port $SHIM_PORT is in use; choose another: VOX_SHIM_PORT=NNNN bash scripts/up.sh"
fi
# setsid: the shim outlives this script and its terminal.
VOX_SHIM_PORT=$SHIM_PORT VOX_SHIM_DATABASE_URL="host=127.0.0.1 port=$PORT dbname=vox user=vox_shim" \
  setsid "$ROOT/build/vox-shim" >>"$SHIM_LOG" 2>&1 </dev/null &
echo $! >"$SHIM_PID"
for _ in $(seq 50); do
  curl -fsS "http://127.0.0.1:$SHIM_PORT/health" >/dev/null 2>&1 && break
  kill -0 "$(cat "$SHIM_PID")" 2>/dev/null || vox_die "vox-shim exited; see $SHIM_LOG"
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$SHIM_PORT/health" >/dev/null || vox_die "vox-shim is not healthy; see $SHIM_LOG"

# Quoted heredoc: printed byte for byte (only @PORT@, @DIR@ and @ROOT@ are substituted),
# so the commands can be pasted into a shell as they are.
sed -e "s|@PORT@|$PORT|g" -e "s|@DIR@|$DIR|g" -e "s|@ROOT@|$ROOT|g" -e "s|@SHIM_PORT@|$SHIM_PORT|g" \
  -e "s|@ORG@|$DEMO_ORG|g" -e "s|@SECRET@|$DEMO_SECRET|g" -e "s|@SHIM_LOG@|$SHIM_LOG|g" <<'EOF'

vox is up: PostgreSQL 15 on 127.0.0.1:@PORT@ (socket dir @DIR@,
log @DIR@/server.log), database "vox", demo org "Demo Clinic";
vox-shim on http://127.0.0.1:@SHIM_PORT@ (log @SHIM_LOG@).

Send a signed webhook (paste all five lines; the signature covers the time, so it is made now):
  BODY='{"message":{"type":"status-update","status":"in-progress","timestamp":1763740801000,"call":{"id":"call_curl_1","orgId":"vapi-org","createdAt":"2025-11-21T16:00:00Z","updatedAt":"2025-11-21T16:00:01Z","type":"inboundPhoneCall","assistantId":"asst_demo_inbound","phoneNumberId":"pn_demo_main","customer":{"number":"+14155550123"}}}}'
  TS=$(date +%s)
  SIG=$(printf '%s.%s' "$TS" "$BODY" | openssl dgst -sha256 -hmac '@SECRET@' | sed 's/^.*= //')
  curl -sS -i -w '\n' http://127.0.0.1:@SHIM_PORT@/webhooks/vapi/@ORG@ -H 'Content-Type: application/json' -H "x-timestamp: $TS" -H "x-signature: $SIG" --data-binary "$BODY"
  psql "host=127.0.0.1 port=@PORT@ dbname=vox user=postgres" -c "SELECT vapi_call_id, channel, status, customer_number, updated_at FROM vox.call_logs"

Connect:
  psql "host=127.0.0.1 port=@PORT@ dbname=vox user=postgres"

A demo call (status-update, transcript, end-of-call-report) and the rows it makes:
  psql "host=127.0.0.1 port=@PORT@ dbname=vox user=postgres" -f @ROOT@/examples/demo-call.sql

One event by hand:
  psql "host=127.0.0.1 port=@PORT@ dbname=vox user=postgres" -c "SELECT vox.handle_event('{\"message\":{\"type\":\"status-update\",\"status\":\"ringing\",\"timestamp\":1763740800000,\"call\":{\"id\":\"call_demo_2\",\"orgId\":\"vapi-org\",\"createdAt\":\"2025-11-21T16:00:00Z\",\"updatedAt\":\"2025-11-21T16:00:00Z\",\"type\":\"inboundPhoneCall\",\"assistantId\":\"asst_demo_inbound\",\"phoneNumberId\":\"pn_demo_main\",\"customer\":{\"number\":\"+14155550199\"}}}}')"

Stop the shim and the cluster:
  bash scripts/up.sh stop
EOF
