#!/usr/bin/env bash
# The benchmark, one command:
#   bash bench/run.sh                full size, every mode (about 35 minutes on 2 cores, 5 of them the citus mode's)
#   bash bench/run.sh --smoke        CI size: every mode and the equality check, no timing asserted
#   bash bench/run.sh --calls=600 …  other vox-bench options (`vox-bench --help`) after the defaults
#   bash bench/run.sh --modes=citus  only vox through a Citus coordinator against one node
#
# Builds vox-bench (and vox-shim and vox-relay, unless VOX_SHIM_BIN and
# VOX_RELAY_BIN name them), starts a throw-away PostgreSQL 15 cluster with
# vox preloaded and track_commit_timestamp on (the feed mode's latencies),
# loads the PL/pgSQL handler (bench/plpgsql/handler.sql), starts a
# throw-away Citus cluster for the citus mode (scripts/citus.sh: a
# coordinator and two workers on the first three consecutive free ports from
# 59741, the benchmark server's settings, vox distributed; Citus is built
# first when citus.so is missing), runs vox-bench, which prints the table,
# then stops both and removes the Citus cluster. --modes without citus
# starts no Citus cluster. The vox extension must be installed
# (scripts/test.sh or scripts/up.sh install it).
#
# Environment: VOX_BENCH_DIR (cluster directory; the Citus cluster's is
# VOX_BENCH_DIR-citus), VOX_BENCH_PORT (first port tried for PostgreSQL; the
# shim and the relay take the next free ones), VOX_BENCH_BUILD (build
# directory, default build/bench), VOX_SHIM_BIN (a built vox-shim),
# VOX_RELAY_BIN (a built vox-relay).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/citus.sh
source "$ROOT/scripts/citus.sh"
# shellcheck source=scripts/tap.sh
source "$ROOT/scripts/tap.sh"

SMOKE=0
EXTRA=()
for arg in "$@"; do
  case $arg in
    --smoke) SMOKE=1 ;;
    --help | -h)
      echo "usage: bash bench/run.sh [--smoke] [vox-bench options]" >&2
      exit 2
      ;;
    *) EXTRA+=("$arg") ;;
  esac
done
CITUS=1
for arg in "${EXTRA[@]}"; do
  if [[ $arg == --modes=* && ,${arg#--modes=}, != *,citus,* ]]; then CITUS=0; fi
done

BUILD=${VOX_BENCH_BUILD:-$ROOT/build/bench}
if [[ -n ${VOX_BENCH_DIR:-} ]]; then
  DIR=$VOX_BENCH_DIR
else
  RUN_DIR=$(vox_run_dir "$ROOT")
  DIR=$RUN_DIR/bench
fi
CITUS_DIR=$DIR-citus
PORT=$(vox_free_port "${VOX_BENCH_PORT:-5600}")
SHIM_PORT=$(vox_free_port $((PORT + 1)))
RELAY_PORT=$(vox_free_port $((SHIM_PORT + 1)))
JOBS=$(nproc 2>/dev/null || echo 2)

remove_citus() {
  citus_stop "$CITUS_DIR" >/dev/null 2>&1 || true
  if [[ -f $CITUS_DIR/coordinator/.vox-cluster ]]; then rm -rf -- "$CITUS_DIR"; fi
}
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
  vox_cluster_stop "$DIR" >/dev/null 2>&1 || true
  remove_citus
}
trap cleanup EXIT

vox_log "building vox-bench into $BUILD"
if cmake -S "$ROOT/bench" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release "$(vox_httplib_option "$ROOT")" >/dev/null &&
  cmake --build "$BUILD" -j"$JOBS" >/dev/null; then
  result OK "vox-bench builds"
else
  result FAIL "vox-bench builds"
  finish
fi
SHIM=${VOX_SHIM_BIN:-}
if [[ -z $SHIM ]]; then
  vox_log "building vox-shim into $BUILD/shim"
  if cmake -S "$ROOT" -B "$BUILD/shim" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$(vox_httplib_option "$ROOT")" >/dev/null &&
    cmake --build "$BUILD/shim" --target vox-shim -j"$JOBS" >/dev/null; then
    SHIM=$BUILD/shim/vox-shim
  fi
fi
if [[ -x $SHIM ]]; then result OK "vox-shim is built"; else result FAIL "vox-shim is built"; fi
RELAY=${VOX_RELAY_BIN:-}
if [[ -z $RELAY ]]; then
  vox_log "building vox-relay into $BUILD/shim"
  if cmake -S "$ROOT" -B "$BUILD/shim" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$(vox_httplib_option "$ROOT")" >/dev/null &&
    cmake --build "$BUILD/shim" --target vox-relay -j"$JOBS" >/dev/null; then
    RELAY=$BUILD/shim/vox-relay
  fi
fi
if [[ -x $RELAY ]]; then result OK "vox-relay is built"; else result FAIL "vox-relay is built"; fi

# A benchmark server: vox preloaded with vox.database the benchmark's (as in
# production: its event counters and its notifier run), room for the shim's pool and 32 clients, checkpoints spaced so that
# a run rarely meets one. fsync and full_page_writes stay on: the floor is
# the machine's real durable-commit limit. The Citus nodes get the same
# settings but their own max_connections and vox.database (scripts/citus.sh).
SERVER_SETTINGS=(-c "ALTER SYSTEM SET shared_buffers = '1GB'" -c "ALTER SYSTEM SET max_wal_size = '8GB'"
  -c "ALTER SYSTEM SET checkpoint_timeout = '30min'" -c "ALTER SYSTEM SET log_min_messages = 'warning'"
  -c "ALTER SYSTEM SET track_commit_timestamp = on")
psql_bench() { "$VOX_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$DIR" -p "$PORT" -U postgres "$@"; }
if vox_cluster_fresh "$DIR" "$PORT" vox &&
  psql_bench -d postgres "${SERVER_SETTINGS[@]}" -c "ALTER SYSTEM SET max_connections = 100" \
    -c "ALTER SYSTEM SET vox.database = 'bench'" &&
  vox_cluster_start "$DIR" "$PORT" vox &&
  psql_bench -d postgres -c "CREATE DATABASE bench"; then
  result OK "benchmark cluster in $DIR on port $PORT"
else
  result FAIL "benchmark cluster in $DIR on port $PORT"
  finish
fi

HANDLER=$ROOT/bench/plpgsql/handler.sql
if [[ -f $HANDLER ]]; then
  if psql_bench -d bench -c "CREATE EXTENSION IF NOT EXISTS vox" -f "$HANDLER" >/dev/null; then
    result OK "PL/pgSQL handler loaded"
  else
    result FAIL "PL/pgSQL handler loaded ($HANDLER)"
  fi
else
  result FAIL "PL/pgSQL handler $HANDLER exists (the plpgsql mode and the equality check need it)"
fi

# Every connection over TCP loopback, as an application server's would be
# (and the shim's is).
ARGS=(--conninfo="host=127.0.0.1 port=$PORT dbname=bench user=postgres"
  --shim-conninfo="host=127.0.0.1 port=$PORT dbname=bench user=vox_shim"
  --shim-port="$SHIM_PORT" --shim-log="$DIR/shim.log"
  --relay-conninfo="host=127.0.0.1 port=$PORT dbname=bench user=bench_relay"
  --relay-port="$RELAY_PORT" --relay-log="$DIR/relay.log")
if [[ -x $SHIM ]]; then ARGS+=(--shim-binary="$SHIM"); fi
if [[ -x $RELAY ]]; then ARGS+=(--relay-binary="$RELAY"); fi

# The citus mode's cluster, started afresh (a run killed before its trap
# leaves one behind): the Citus nodes restart to take the settings, then
# vox is distributed. vox-bench creates the tenants on the coordinator.
start_citus() {
  local i port
  remove_citus
  citus_start "$CITUS_DIR" "$CITUS_PORT" || return 1
  for i in "${!NODES[@]}"; do
    port=$((CITUS_PORT + i))
    psql_node "$CITUS_DIR/${NODES[$i]}" "$port" -d postgres "${SERVER_SETTINGS[@]}" &&
      vox_cluster_start "$CITUS_DIR/${NODES[$i]}" "$port" citus,vox || return 1
  done
  psql_node "$CITUS_DIR/coordinator" "$CITUS_PORT" -d vox -c "SELECT vox.distribute()" >/dev/null
}
if ((CITUS)); then
  # citus_start takes three consecutive ports.
  CITUS_PORT=$(vox_free_port 59741)
  while vox_port_in_use $((CITUS_PORT + 1)) || vox_port_in_use $((CITUS_PORT + 2)); do
    CITUS_PORT=$(vox_free_port $((CITUS_PORT + 1)))
  done
  # Subshells: citus_build and citus_start exit on failure.
  if (citus_build) && (start_citus) >"$DIR/citus.log" 2>&1; then
    result OK "Citus cluster in $CITUS_DIR on ports $CITUS_PORT-$((CITUS_PORT + 2)), vox distributed"
    ARGS+=(--citus-conninfo="host=127.0.0.1 port=$CITUS_PORT dbname=vox user=postgres")
  else
    result FAIL "Citus cluster in $CITUS_DIR on ports $CITUS_PORT-$((CITUS_PORT + 2)) (see $DIR/citus.log)"
  fi
fi
if ((SMOKE)); then
  ARGS+=(--calls=40 --check-calls=20 --max-seconds=5 --rounds=1 --scale-calls=20000 --memory-events=2000)
fi
ARGS+=("${EXTRA[@]}")

OUT=$DIR/bench.out
if "$BUILD/vox-bench" "${ARGS[@]}" | tee "$OUT"; then
  result OK "vox-bench ran every mode"
else
  result FAIL "vox-bench ran every mode (see the lines above and $DIR/server.log)"
fi
# vox-bench compares the two whenever both modes run (and fails if they
# differ); this says so in the summary unless --modes left one out.
if [[ " ${EXTRA[*]} " != *" --modes="* ]]; then
  if grep -q '^equality check: vox and plpgsql leave identical rows' "$OUT"; then
    result OK "vox and plpgsql leave identical rows"
  else
    result FAIL "vox and plpgsql leave identical rows"
  fi
fi
# Every mode at every concurrency, with synchronous_commit on and off (unless
# options chose others).
if ((${#EXTRA[@]} == 0)); then
  missing=""
  for mode in floor vox vox-notify plpgsql client http; do
    for c in 1 8 32; do
      for sync in on off; do
        grep -Eq "^$mode +$c +$sync " "$OUT" || missing+=" $mode/c=$c/sync=$sync"
      done
    done
  done
  if [[ -z $missing ]]; then
    result OK "the table has every mode at c=1, 8, 32, synchronous_commit on and off"
  else
    result FAIL "the table lacks:$missing"
  fi
fi
# vox-bench checks the rows of each run through the coordinator as it does
# the table's (verify_run); here, that both routes have figures.
if ((CITUS)); then
  missing=""
  for route in signed unsigned; do
    grep -Eq "^$route +[0-9]+ +[0-9]+ +[0-9]+ " "$OUT" || missing+=" $route"
  done
  if [[ -z $missing ]]; then
    result OK "citus: vox's signed and unsigned routes through the coordinator and on one node"
  else
    result FAIL "citus: no figures for the route(s):$missing"
  fi
fi
# vox-bench fails when a feed client misses an event or gets one twice.
if [[ " ${EXTRA[*]} " != *" --modes="* || " ${EXTRA[*]} " == *" --modes="*feed* ]]; then
  if grep -q '^  NOTIFY on : ' "$OUT" && grep -q '^  NOTIFY off: ' "$OUT"; then
    result OK "feed: every client got each of its org's events once, NOTIFY on and off"
  else
    result FAIL "feed: no figures for NOTIFY on and off"
  fi
fi
finish
