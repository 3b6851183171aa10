#!/usr/bin/env bash
# README command 1: `bash scripts/up.sh`        start (or restart) the dev cluster
#                   `bash scripts/up.sh stop`   stop it
#
# Installs dependencies, builds and installs the extension, and runs a
# persistent PostgreSQL 15 cluster in .run/pg on 127.0.0.1:${VOX_PORT:-5433}
# with vox in shared_preload_libraries. Creates database `vox` with the
# extension, a demo organization/agent/phone number with an HMAC webhook
# secret, and the roles the shim and the relay log in as; builds vox-shim and
# vox-relay (the binaries only) and runs them on 127.0.0.1:${VOX_SHIM_PORT:-8080}
# and 127.0.0.1:${VOX_RELAY_PORT:-8081}, the relay serving examples/dashboard;
# then prints a signed curl to paste and the dashboard's URL for the demo org
# (with a feed token made once and kept in the run directory). Each step
# prints one line; its output goes to .run/up.log, whose end is shown when a
# step fails. Every port is checked before anything is built or started, and
# a failure stops what the run had started.
# Safe to re-run: the cluster and its data are kept; a running server, shim
# and relay are restarted so they run the freshly built code.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/cluster.sh
source "$ROOT/scripts/cluster.sh"

PORT=${VOX_PORT:-5433}
SHIM_PORT=${VOX_SHIM_PORT:-8080}
RELAY_PORT=${VOX_RELAY_PORT:-8081}
DEMO_ORG=00000000-0000-4000-8000-000000000001
# Build and setup output goes to LOG; the terminal gets one line per step.
# VOX_RUN_DIR puts the cluster, the shim's files and the log elsewhere (the
# up.sh test runs in a scratch directory that way).
LOG_DIR=${VOX_RUN_DIR:-$ROOT/.run}
mkdir -p "$LOG_DIR"
LOG=$LOG_DIR/up.log

# step DESCRIPTION COMMAND [ARG...]: runs the command with its output in LOG;
# when it fails, says so with the log's tail and exits.
step() {
  local what=$1
  shift
  vox_log "$what"
  printf '\n==== %s (%s)\n' "$what" "$(date '+%F %T')" >>"$LOG"
  if ! "$@" >>"$LOG" 2>&1; then
    vox_log "ERROR: $what failed; the end of $LOG:"
    tail -n 30 "$LOG" >&2
    exit 1
  fi
}

# The run directory, once the server user exists (deps.sh installs it).
set_run_dir() {
  if [[ -n ${VOX_RUN_DIR:-} ]]; then
    RUN_DIR=$VOX_RUN_DIR
    if ((EUID == 0)); then chown "$(vox_server_user):" "$RUN_DIR"; fi
  else
    RUN_DIR=$(vox_run_dir "$ROOT")
  fi
  DIR=$RUN_DIR/pg
  SHIM_LOG=$RUN_DIR/shim.log
  RELAY_LOG=$RUN_DIR/relay.log
  # The demo org's feed token, in the dashboard's printed URL.
  FEED_TOKEN_FILE=$RUN_DIR/feed-token
}

# Each server NAME (shim, relay) keeps its pid in RUN_DIR/NAME.pid and the
# port it was started on in RUN_DIR/NAME.port.
server_running() {
  [[ -f $RUN_DIR/$1.pid ]] && kill -0 "$(cat "$RUN_DIR/$1.pid")" 2>/dev/null
}

# True if the server NAME of this run directory is what listens on PORT.
server_on_port() {
  server_running "$1" && [[ $(cat "$RUN_DIR/$1.port" 2>/dev/null) == "$2" ]]
}

# stop_server NAME: SIGTERM lets requests in flight finish (the relay ends
# its streams); the server then exits.
stop_server() {
  local pid
  [[ -f $RUN_DIR/$1.pid ]] || return 0
  pid=$(cat "$RUN_DIR/$1.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    vox_log "stopped vox-$1 (pid $pid)"
  fi
  rm -f "$RUN_DIR/$1.pid" "$RUN_DIR/$1.port"
}

case ${1:-up} in
  up) ;;
  stop)
    set_run_dir
    stop_server relay
    stop_server shim
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

: >"$LOG"
vox_log "output of each step: $LOG"
step "checking packages (scripts/deps.sh installs what is missing)" bash "$ROOT/scripts/deps.sh"
set_run_dir

# Every port is checked before anything is built or started. A port this
# cluster, shim or relay already listens on is fine: they are restarted.
[[ $(printf '%s\n' "$PORT" "$SHIM_PORT" "$RELAY_PORT" | sort -u | wc -l) == 3 ]] ||
  vox_die "VOX_PORT, VOX_SHIM_PORT and VOX_RELAY_PORT must differ (they are $PORT, $SHIM_PORT, $RELAY_PORT)"
if vox_port_in_use "$PORT" &&
  ! { vox_cluster_running "$DIR" && [[ $(sed -n 4p "$DIR/data/postmaster.pid" 2>/dev/null) == "$PORT" ]]; }; then
  vox_die "TCP port $PORT is in use by another program; choose another: VOX_PORT=NNNN bash scripts/up.sh"
fi
if vox_port_in_use "$SHIM_PORT" && ! server_on_port shim "$SHIM_PORT"; then
  vox_die "TCP port $SHIM_PORT is in use by another program; choose another: VOX_SHIM_PORT=NNNN bash scripts/up.sh"
fi
if vox_port_in_use "$RELAY_PORT" && ! server_on_port relay "$RELAY_PORT"; then
  vox_die "TCP port $RELAY_PORT is in use by another program; choose another: VOX_RELAY_PORT=NNNN bash scripts/up.sh"
fi

step "building and installing the extension" vox_build_install "$ROOT"
step "building vox-shim" vox_build_shim "$ROOT" vox-shim
step "building vox-relay" vox_build_shim "$ROOT" vox-relay
stop_server relay
stop_server shim

# From here on, a failure stops what this run started: nothing is left
# half-started.
STARTED=""
undo_on_failure() {
  local rc=$?
  ((rc != 0)) || return 0
  [[ $STARTED == *relay* ]] && stop_server relay
  [[ $STARTED == *shim* ]] && stop_server shim
  if [[ $STARTED == *cluster* ]] && vox_cluster_running "$DIR"; then
    vox_cluster_stop "$DIR" && vox_log "stopped the cluster in $DIR again: up.sh failed"
  fi
}
trap undo_on_failure EXIT

# vox_cluster_start creates the cluster on first use and otherwise restarts
# it in place (data kept), so a rebuilt vox.so is what the server loads.
STARTED=cluster
step "starting PostgreSQL on 127.0.0.1:$PORT (cluster in $DIR)" vox_cluster_start "$DIR" "$PORT" vox

# psql over the socket as the superuser `postgres`; -X ignores ~/.psqlrc.
psql_vox() {
  "$VOX_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$DIR" -p "$PORT" -U postgres "$@"
}

# CREATE DATABASE has no IF NOT EXISTS; \gexec runs it only when missing.
step "creating database vox" psql_vox -d postgres <<'SQL'
SELECT 'CREATE DATABASE vox OWNER postgres'
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'vox')
\gexec
SQL

# The maintenance worker (vox.database) works in database vox; a postmaster
# setting, so it takes a restart the first time.
if [[ $(psql_vox -d postgres -At -c "SHOW vox.database") != vox ]]; then
  step "setting vox.database = 'vox' for the maintenance worker" \
    psql_vox -d postgres -c "ALTER SYSTEM SET vox.database = 'vox'"
  step "restarting PostgreSQL" vox_cluster_start "$DIR" "$PORT" vox
fi

# Demo tenant: every statement is idempotent, so re-runs change nothing.
# The extension is created, or updated, only when that is needed: both
# statements' IF NOT EXISTS forms would print a NOTICE on every run.
step "creating the extension and the demo tenant" psql_vox -d vox <<'SQL'
SELECT 'CREATE EXTENSION vox' WHERE NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vox')
\gexec
SELECT 'ALTER EXTENSION vox UPDATE'
  FROM pg_extension e JOIN pg_available_extensions a ON a.name = e.extname
 WHERE e.extname = 'vox' AND e.extversion <> a.default_version
\gexec
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
-- The relay's role: it may read feeds through vox's feed functions (the
-- extension's role vox_relay) and nothing else. A membership granted again
-- would say so in a NOTICE.
SELECT 'CREATE ROLE vox_relay_login LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vox_relay_login')
\gexec
SELECT 'GRANT vox_relay TO vox_relay_login' WHERE NOT pg_has_role('vox_relay_login', 'vox_relay', 'MEMBER')
\gexec
SQL

# The demo org's HMAC secret (Vapi's default scheme: sha256, hex, x-signature
# over "{timestamp}.{body}"), made once and kept.
step "making the demo org's webhook secret" psql_vox -d vox -v secret="$(openssl rand -hex 24)" <<'SQL'
INSERT INTO vox.webhook_secrets (org_id, scheme, secret)
SELECT '00000000-0000-4000-8000-000000000001', 'hmac', :'secret'
WHERE NOT EXISTS (SELECT 1 FROM vox.webhook_secrets
                   WHERE org_id = '00000000-0000-4000-8000-000000000001' AND scheme = 'hmac' AND active);
SQL
DEMO_SECRET=$(psql_vox -d vox -At -c "SELECT secret FROM vox.webhook_secrets
  WHERE org_id = '$DEMO_ORG' AND scheme = 'hmac' AND active ORDER BY id LIMIT 1")

# The demo org's feed token for the dashboard: made once (valid until
# revoked) and kept in the run directory; made again when the kept one is no
# longer valid (a new database, a revoked credential). Only its hash is in
# the database, so the file is the one copy.
feed_token() {
  local token=""
  if [[ -s $FEED_TOKEN_FILE ]]; then
    token=$(cat "$FEED_TOKEN_FILE")
    [[ $(psql_vox -d vox -At -v org="$DEMO_ORG" -v token="$token" <<<"SELECT vox.feed_authorize(:'org', :'token') IS NOT NULL") == t ]] ||
      token=""
  fi
  if [[ -z $token ]]; then
    token=$(psql_vox -d vox -At -v org="$DEMO_ORG" <<<"SELECT token FROM vox.create_feed_credential(:'org', 'up.sh dashboard')") ||
      return 1
    (umask 077 && printf '%s\n' "$token" >"$FEED_TOKEN_FILE")
  fi
}
step "making the demo org's feed token" feed_token
FEED_TOKEN=$(cat "$FEED_TOKEN_FILE")

# start_server NAME PORT HEALTH_PATH COMMAND...: starts it in the background
# with its output in RUN_DIR/NAME.log and waits until HEALTH_PATH answers.
# setsid: it outlives this script and its terminal.
start_server() {
  local name=$1 port=$2 health=$3 log=$RUN_DIR/$1.log
  shift 3
  setsid "$@" >>"$log" 2>&1 </dev/null &
  echo $! >"$RUN_DIR/$name.pid"
  echo "$port" >"$RUN_DIR/$name.port"
  for _ in $(seq 50); do
    curl -fsS "http://127.0.0.1:$port$health" >/dev/null 2>&1 && return 0
    server_running "$name" || { echo "vox-$name exited; see $log"; return 1; }
    sleep 0.2
  done
  curl -fsS "http://127.0.0.1:$port$health" || { echo "vox-$name is not healthy; see $log"; return 1; }
}

# Each server gets up.sh's environment, so any VOX_SHIM_* or VOX_RELAY_*
# setting given to up.sh reaches it; the port, the database and the
# dashboard's directory are up.sh's.
STARTED="cluster shim"
step "starting vox-shim on 127.0.0.1:$SHIM_PORT" start_server shim "$SHIM_PORT" /health \
  env VOX_SHIM_PORT="$SHIM_PORT" VOX_SHIM_DATABASE_URL="host=127.0.0.1 port=$PORT dbname=vox user=vox_shim" \
  "$ROOT/build/vox-shim"
STARTED="cluster shim relay"
step "starting vox-relay on 127.0.0.1:$RELAY_PORT" start_server relay "$RELAY_PORT" /healthz \
  env VOX_RELAY_PORT="$RELAY_PORT" VOX_RELAY_DATABASE_URL="host=127.0.0.1 port=$PORT dbname=vox user=vox_relay_login" \
  VOX_RELAY_DASHBOARD_DIR="$ROOT/examples/dashboard" "$ROOT/build/vox-relay"
STARTED=""

# Quoted heredoc: printed byte for byte (only the @NAME@ placeholders are
# substituted), so the commands can be pasted into a shell as they are.
sed -e "s|@PORT@|$PORT|g" -e "s|@DIR@|$DIR|g" -e "s|@ROOT@|$ROOT|g" -e "s|@SHIM_PORT@|$SHIM_PORT|g" \
  -e "s|@ORG@|$DEMO_ORG|g" -e "s|@SECRET@|$DEMO_SECRET|g" -e "s|@SHIM_LOG@|$SHIM_LOG|g" \
  -e "s|@RELAY_PORT@|$RELAY_PORT|g" -e "s|@RELAY_LOG@|$RELAY_LOG|g" -e "s|@FEED_TOKEN@|$FEED_TOKEN|g" <<'EOF'

vox is up: PostgreSQL 15 on 127.0.0.1:@PORT@ (socket dir @DIR@,
log @DIR@/server.log), database "vox", demo org "Demo Clinic";
vox-shim on http://127.0.0.1:@SHIM_PORT@ (log @SHIM_LOG@);
vox-relay on http://127.0.0.1:@RELAY_PORT@ (log @RELAY_LOG@).

Send a signed webhook (paste all five lines; the signature covers the time, so it is made now):
  BODY='{"message":{"type":"status-update","status":"in-progress","timestamp":1763740801000,"call":{"id":"call_curl_1","orgId":"vapi-org","createdAt":"2025-11-21T16:00:00Z","updatedAt":"2025-11-21T16:00:01Z","type":"inboundPhoneCall","assistantId":"asst_demo_inbound","phoneNumberId":"pn_demo_main","customer":{"number":"+14155550123"}}}}'
  TS=$(date +%s)
  SIG=$(printf '%s.%s' "$TS" "$BODY" | openssl dgst -sha256 -hmac '@SECRET@' | sed 's/^.*= //')
  curl -sS -i -w '\n' http://127.0.0.1:@SHIM_PORT@/webhooks/vapi/@ORG@ -H 'Content-Type: application/json' -H "x-timestamp: $TS" -H "x-signature: $SIG" --data-binary "$BODY"
  psql "host=127.0.0.1 port=@PORT@ dbname=vox user=postgres" -c "SELECT vapi_call_id, channel, status, customer_number, updated_at FROM vox.call_logs"

Watch the demo org's calls live in a browser (the call above, and every event after it as it commits):
  http://127.0.0.1:@RELAY_PORT@/dashboard/?org=@ORG@&token=@FEED_TOKEN@

Connect:
  psql "host=127.0.0.1 port=@PORT@ dbname=vox user=postgres"

A demo call (status-update, transcript, end-of-call-report) and the rows it makes:
  psql "host=127.0.0.1 port=@PORT@ dbname=vox user=postgres" -f @ROOT@/examples/demo-call.sql

One event by hand:
  psql "host=127.0.0.1 port=@PORT@ dbname=vox user=postgres" -c "SELECT vox.handle_event('{\"message\":{\"type\":\"status-update\",\"status\":\"ringing\",\"timestamp\":1763740800000,\"call\":{\"id\":\"call_demo_2\",\"orgId\":\"vapi-org\",\"createdAt\":\"2025-11-21T16:00:00Z\",\"updatedAt\":\"2025-11-21T16:00:00Z\",\"type\":\"inboundPhoneCall\",\"assistantId\":\"asst_demo_inbound\",\"phoneNumberId\":\"pn_demo_main\",\"customer\":{\"number\":\"+14155550199\"}}}}')"

Stop the shim, the relay and the cluster:
  bash scripts/up.sh stop
EOF
