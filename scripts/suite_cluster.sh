# shellcheck shell=bash
# Helpers of a TAP suite (scripts/tap.sh) that runs a cluster of its own
# (scripts/cluster.sh): its directory and port, sessions as any role in any
# database, queries whose failure joins the diagnostics of the check being
# run, bounded polls, the server log since a point, and the removal of the
# cluster on exit. Source it (it sources cluster.sh and tap.sh), then call
# suite_cluster_setup; it only defines functions and variables.
#
# Every session pins search_path = pg_catalog: nothing a database holds (an
# operator in public, an ALTER DATABASE ... SET search_path) can stand in for
# what a suite's SQL calls, so it names vox's objects in full.

# shellcheck source=scripts/cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/cluster.sh"
# shellcheck source=scripts/tap.sh
source "$(dirname "${BASH_SOURCE[0]}")/tap.sh"

SUITE_DIR=""  # the cluster's directory
SUITE_PORT="" # its port
SUITE_DB=""   # the database q and poll use
GOT=""        # the last output of q, q_as or poll
SUITE_ERR=""  # psql's stderr: warnings stay out of the values read

# suite_cluster_setup DIR PORT_BASE DB: the cluster directory (removed on
# exit unless SUITE_KEEP=1), the first free port from PORT_BASE, and the
# database of q and poll. Exits through bail when there is no free port.
suite_cluster_setup() {
  SUITE_DIR=$1
  SUITE_DB=$3
  SUITE_ERR=$(mktemp)
  trap suite_cluster_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  SUITE_PORT=$(vox_free_port "$2") || bail "no free port from $2"
}

suite_cluster_cleanup() {
  rm -f -- "$SUITE_ERR"
  [[ -f $SUITE_DIR/.vox-cluster ]] || return 0
  vox_cluster_stop "$SUITE_DIR" >/dev/null 2>&1 || vox_log "WARNING: could not stop $SUITE_DIR"
  if [[ ${SUITE_KEEP:-} != 1 ]]; then rm -rf -- "$SUITE_DIR"; fi
}

# psql_as ROLE DATABASE SQL...: each SQL a separate -c in one session
# (ALTER SYSTEM and CREATE DATABASE are not wrapped in a transaction);
# unaligned, tuples only, stops at the first error.
psql_as() {
  local role=$1 db=$2 arg args=()
  shift 2
  for arg in "$@"; do args+=(-c "$arg"); done
  env -u PGHOSTADDR -u PGSERVICE -u PGSERVICEFILE -u PGDATABASE PGOPTIONS="-c search_path=pg_catalog" \
    "$VOX_PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$SUITE_DIR" -p "$SUITE_PORT" -U "$role" -d "$db" "${args[@]}"
}

# q_as ROLE DATABASE SQL...: stdout only, also in GOT. On failure, the query
# and psql's error join the diagnostics.
q_as() {
  local role=$1 db=$2
  shift 2
  if GOT=$(psql_as "$role" "$db" "$@" 2>"$SUITE_ERR"); then
    printf '%s\n' "$GOT"
    return 0
  fi
  DIAG+=("query as $role in $db failed: ${*}" "psql: $(cat "$SUITE_ERR")")
  return 1
}
# q SQL...: as postgres in SUITE_DB.
q() { q_as postgres "$SUITE_DB" "$@"; }

# refused_as ROLE DATABASE ERROR SQL...: the session fails with an error
# that contains ERROR (kept in GOT). Success, or another error, joins the
# diagnostics.
refused_as() {
  local role=$1 db=$2 error=$3 out
  shift 3
  if out=$(psql_as "$role" "$db" "$@" 2>"$SUITE_ERR"); then
    DIAG+=("as $role in $db, this succeeded: ${*}" "output: $out")
    return 1
  fi
  GOT=$(cat "$SUITE_ERR")
  if [[ $GOT != *"$error"* ]]; then
    DIAG+=("as $role in $db, this failed otherwise than with '$error': ${*}" "psql: $GOT")
    return 1
  fi
}

# suite_cluster_preload LINE...: restart the cluster with vox preloaded and
# these lines added to postgresql.conf. Exits through bail on failure.
suite_cluster_preload() {
  local out
  printf '%s\n' "# $(basename "$0"): the maintenance worker's settings" "$@" |
    vox_as_server tee -a "$SUITE_DIR/data/postgresql.conf" >/dev/null || bail "could not write postgresql.conf"
  out=$(vox_cluster_start "$SUITE_DIR" "$SUITE_PORT" vox 2>&1) || bail "could not restart with vox preloaded: $out"
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# poll SECONDS WANT SQL: as postgres in SUITE_DB until SQL prints WANT, for
# at most SECONDS; GOT holds the last output.
poll() {
  local limit=$1 want=$2 sql=$3 deadline
  deadline=$(($(now_ms) + limit * 1000))
  while :; do
    GOT=$(psql_as postgres "$SUITE_DB" "$sql" 2>"$SUITE_ERR") || GOT="psql: $(cat "$SUITE_ERR")"
    [[ $GOT == "$want" ]] && return 0
    (($(now_ms) < deadline)) || return 1
    sleep 0.2
  done
}

log_size() { stat -c %s "$SUITE_DIR/server.log"; }
# log_since OFFSET: the server log written after byte OFFSET.
log_since() { tail -c +$(($1 + 1)) "$SUITE_DIR/server.log"; }

# Setup failed: one failing check with the server log's tail, then the summary.
bail() {
  N=$((N + 1))
  echo "not ok $N - setup: $*"
  FAILED=$((FAILED + 1))
  if [[ -f $SUITE_DIR/server.log ]]; then tail -n 20 "$SUITE_DIR/server.log" | sed 's/^/#   /'; fi
  finish
}
