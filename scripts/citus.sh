#!/usr/bin/env bash
# vox on a three-node Citus cluster on one machine: a coordinator and two
# workers, three PostgreSQL 15 clusters on three consecutive ports, each with
# shared_preload_libraries = 'citus,vox', database DB holding citus and vox,
# the workers registered with the coordinator. For the citus test suite, the
# benchmark's citus mode, and anyone who wants to try vox on Citus.
#
#   bash scripts/citus.sh build               install Citus if citus.so is missing
#   bash scripts/citus.sh start [DIR] [PORT]  (re)start the cluster (default
#                                             .run/citus, ports 59701-59703)
#   bash scripts/citus.sh stop [DIR]          stop it
#   bash scripts/citus.sh fresh-database DIR PORT NAME
#                                             an empty vox, distributed, in
#                                             database NAME (made if missing)
#
# DIR/coordinator, DIR/worker1 and DIR/worker2 are cluster directories of
# scripts/cluster.sh. The database is $VOX_CITUS_DB (default vox). start
# does not distribute vox: `SELECT vox.distribute()` on the coordinator does.
#
# build compiles Citus from $VOX_CITUS_TARBALL (default: Citus 13.2.2's source
# vendored beside the project, ../shared/vendor) with the packages it needs;
# it takes about 4 minutes on 2 cores. Users install Citus from its own
# packages instead (docs/scale-out.md).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/cluster.sh
source "$ROOT/scripts/cluster.sh"

DB=${VOX_CITUS_DB:-vox}
NODES=(coordinator worker1 worker2)

citus_installed() { [[ -f $("$VOX_PG_CONFIG" --pkglibdir)/citus.so ]]; }

citus_build() {
  local tarball=${VOX_CITUS_TARBALL:-$(cd "$ROOT/.." && pwd)/shared/vendor/citus-13.2.2.tar.gz} src
  if citus_installed; then
    vox_log "citus.so is installed"
    return 0
  fi
  [[ -f $tarball ]] || vox_die "no Citus source at $tarball (set VOX_CITUS_TARBALL)"
  vox_log "building Citus from $tarball (about 4 minutes on 2 cores)"
  bash "$ROOT/scripts/deps.sh" citus >/dev/null || vox_die "could not install the packages Citus builds with"
  src=$(mktemp -d)
  tar xzf "$tarball" -C "$src"
  (cd "$src"/citus-* &&
    ./configure --without-libcurl PG_CONFIG="$VOX_PG_CONFIG" >/dev/null &&
    make -s -j"$(nproc)" with_llvm=no >/dev/null &&
    vox_as_root make -s install with_llvm=no >/dev/null) || vox_die "the Citus build failed"
  rm -rf -- "$src"
  citus_installed || vox_die "citus.so is still missing after the build"
}

psql_node() {
  local dir=$1 port=$2
  shift 2
  "$VOX_PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres "$@"
}

citus_start() {
  local dir=$1 base=$2 i node port
  citus_installed || vox_die "Citus is not installed: bash scripts/citus.sh build"
  mkdir -p "$dir"
  for i in "${!NODES[@]}"; do
    node=$dir/${NODES[$i]}
    port=$((base + i))
    vox_cluster_init "$node" || vox_die "initdb failed in $node"
    # Citus opens connections between the nodes; each event can hold one
    # per worker, and the tests run up to 64 sessions. The maintenance
    # worker runs on the coordinator only: its queries are distributed ones.
    # Citus 13.2's local fast-path planning dereferences a missing plan when
    # a parameterized INSERT cannot be routed: the backend crashes instead of
    # raising the planning error. Shards move (the rebalancer) by logical
    # replication, writes flowing meanwhile.
    {
      echo "wal_level = logical"
      echo "max_connections = 200"
      echo "citus.max_client_connections = 150"
      echo "citus.enable_local_fast_path_query_optimization = off"
      if ((i == 0)); then echo "vox.database = '$DB'"; fi
    } | vox_as_server tee "$node/data/conf.d-citus.conf" >/dev/null
    grep -q "^include_if_exists = 'conf.d-citus.conf'" "$node/data/postgresql.conf" ||
      echo "include_if_exists = 'conf.d-citus.conf'" | vox_as_server tee -a "$node/data/postgresql.conf" >/dev/null
    vox_cluster_start "$node" "$port" citus,vox || vox_die "could not start ${NODES[$i]} on port $port"
  done
  citus_database "$dir" "$base" "$DB"
  vox_log "Citus cluster up: coordinator 127.0.0.1:$base, workers :$((base + 1)) and :$((base + 2)), database $DB"
}

# Database NAME on every node with Citus, the workers registered in it, and
# vox created on the coordinator (Citus creates it on the workers). Each
# database of a Citus cluster has its own metadata.
citus_database() {
  local dir=$1 base=$2 name=$3 i node port
  for i in "${!NODES[@]}"; do
    node=$dir/${NODES[$i]}
    port=$((base + i))
    if [[ -z $(psql_node "$node" "$port" -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$name'") ]]; then
      psql_node "$node" "$port" -d postgres -c "CREATE DATABASE $name"
    fi
    psql_node "$node" "$port" -d "$name" -c "CREATE EXTENSION IF NOT EXISTS citus"
  done
  psql_node "$dir/coordinator" "$base" -d "$name" \
    -c "SELECT citus_set_coordinator_host('127.0.0.1', $base)" \
    -c "SELECT citus_add_node('127.0.0.1', $((base + 1)))" \
    -c "SELECT citus_add_node('127.0.0.1', $((base + 2)))" \
    -c "CREATE EXTENSION IF NOT EXISTS vox" >/dev/null
}

# An empty distributed vox in database NAME, made first if missing: vox is
# dropped and created again rather than the database, which Citus' daemons
# keep a minute from being dropped. Four shards per table instead of 32: a
# test's few orgs need no more, and distributing is a second faster.
citus_fresh_database() {
  local dir=$1 base=$2 name=$3
  citus_database "$dir" "$base" "$name"
  psql_node "$dir/coordinator" "$base" -d "$name" -c "SET client_min_messages = warning" \
    -c "DROP EXTENSION vox CASCADE" -c "CREATE EXTENSION vox" -c "SET citus.shard_count = 4" \
    -c "SELECT vox.distribute()" >/dev/null
}

citus_stop() {
  local dir=$1 node
  for node in "${NODES[@]}"; do
    [[ -f $dir/$node/.vox-cluster ]] || continue
    vox_cluster_stop "$dir/$node" || vox_log "WARNING: could not stop $dir/$node"
  done
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  case ${1:-} in
    build) citus_build ;;
    start) citus_start "${2:-$(vox_run_dir "$ROOT")/citus}" "${3:-59701}" ;;
    stop) citus_stop "${2:-$(vox_run_dir "$ROOT")/citus}" ;;
    fresh-database) citus_fresh_database "${2:?DIR}" "${3:?PORT}" "${4:?NAME}" ;;
    *)
      echo "usage: bash scripts/citus.sh build | start [DIR] [PORT] | stop [DIR] | fresh-database DIR PORT NAME" >&2
      exit 2
      ;;
  esac
fi
