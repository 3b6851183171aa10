#!/usr/bin/env bash
# README command 1: `bash scripts/up.sh`        start (or restart) the dev cluster
#                   `bash scripts/up.sh stop`   stop it
#
# Installs dependencies, builds and installs the extension, and runs a
# persistent PostgreSQL 15 cluster in .run/pg on 127.0.0.1:${VOX_PORT:-5433}
# with vox in shared_preload_libraries. Creates database `vox` with the
# extension and a demo organization/agent/phone number, then prints how to
# connect. Safe to re-run: the cluster and its data are kept; a running
# server is restarted so it loads the freshly installed library.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/cluster.sh
source "$ROOT/scripts/cluster.sh"

PORT=${VOX_PORT:-5433}
RUN_DIR=$(vox_run_dir "$ROOT")
DIR=$RUN_DIR/pg

case ${1:-up} in
  up) ;;
  stop)
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

# Demo tenant: every statement is idempotent, so re-runs change nothing.
psql_vox -d vox <<'SQL'
CREATE EXTENSION IF NOT EXISTS vox;
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
SQL

# Quoted heredoc: printed byte for byte (only @PORT@, @DIR@ and @ROOT@ are substituted),
# so the commands can be pasted into a shell as they are.
sed -e "s|@PORT@|$PORT|g" -e "s|@DIR@|$DIR|g" -e "s|@ROOT@|$ROOT|g" <<'EOF'

vox is up: PostgreSQL 15 on 127.0.0.1:@PORT@ (socket dir @DIR@,
log @DIR@/server.log), database "vox", demo org "Demo Clinic".

Connect:
  psql "host=127.0.0.1 port=@PORT@ dbname=vox user=postgres"

A demo call (status-update, transcript, end-of-call-report) and the rows it makes:
  psql "host=127.0.0.1 port=@PORT@ dbname=vox user=postgres" -f @ROOT@/examples/demo-call.sql

One event by hand:
  psql "host=127.0.0.1 port=@PORT@ dbname=vox user=postgres" -c "SELECT vox.handle_event('{\"message\":{\"type\":\"status-update\",\"status\":\"ringing\",\"timestamp\":1763740800000,\"call\":{\"id\":\"call_demo_2\",\"orgId\":\"vapi-org\",\"createdAt\":\"2025-11-21T16:00:00Z\",\"updatedAt\":\"2025-11-21T16:00:00Z\",\"type\":\"inboundPhoneCall\",\"assistantId\":\"asst_demo_inbound\",\"phoneNumberId\":\"pn_demo_main\",\"customer\":{\"number\":\"+14155550199\"}}}}')"

Stop the cluster:
  bash scripts/up.sh stop
EOF
