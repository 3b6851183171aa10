# shellcheck shell=bash
# Library of helpers for the PostgreSQL 15 clusters used by up.sh and test.sh.
# Source it (`source scripts/cluster.sh`); it only defines functions and a few
# defaults, so sourcing has no side effects.
#
# Layout of a cluster directory DIR (created by these functions):
#   DIR/data/          PGDATA (mode 0700, owned by the server user)
#   DIR/.s.PGSQL.PORT  Unix socket (unix_socket_directories = DIR)
#   DIR/server.log     server log (pg_ctl -l)
#   DIR/.vox-cluster   marker: only directories carrying it are ever wiped
#
# PostgreSQL refuses to run as root, so when we are root every server binary
# (initdb, pg_ctl, postgres) runs as the `postgres` system user that Debian's
# postgresql-common creates; otherwise it runs as the current user. Clients
# (psql, pg_isready, pg_regress) may run as anyone: auth is trust, and only on
# the socket and 127.0.0.1.

VOX_PG_BIN=${VOX_PG_BIN:-/usr/lib/postgresql/15/bin}
VOX_PG_CONFIG=${VOX_PG_CONFIG:-$VOX_PG_BIN/pg_config}

vox_log() { printf '[vox] %s\n' "$*" >&2; }
vox_die() { vox_log "ERROR: $*"; exit 1; }

# The OS user the server runs as.
vox_server_user() {
  if ((EUID == 0)); then echo postgres; else id -un; fi
}

# Run a command as the server user. `cd /` first: the caller's cwd (e.g. under
# /root) may not be readable by postgres, and initdb/pg_ctl complain about it.
vox_as_server() {
  if ((EUID == 0)); then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

# Run a command as root (apt-get, make install): directly, or through sudo.
vox_as_root() {
  if ((EUID == 0)); then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -- "$@"
  else
    vox_log "ERROR: root is needed for '$*' and sudo is not installed"
    return 1
  fi
}

# Build the extension and install it into the PostgreSQL 15 tree (root needed
# for the install step). Usage: vox_build_install PROJECT_ROOT
vox_build_install() {
  local root=$1 jobs
  jobs=$(nproc 2>/dev/null || echo 2)
  vox_log "building extension (make -j$jobs)"
  make -C "$root" -j"$jobs" PG_CONFIG="$VOX_PG_CONFIG" || return 1
  vox_log "installing extension (make install)"
  vox_as_root make -C "$root" PG_CONFIG="$VOX_PG_CONFIG" install || return 1
}

# Make DIR a private copy of the PostgreSQL 15 installation (binaries,
# libraries, share; headers linked), so that an install into it leaves the
# system's vox untouched: PostgreSQL finds its share and lib directories
# relative to its binaries. Prints the copy's bin directory, for VOX_PG_BIN.
# Usage: VOX_PG_BIN=$(vox_private_pg DIR)
vox_private_pg() {
  local dir=$1 sys_bin=/usr/lib/postgresql/15/bin
  if [[ ! -x $dir/usr/lib/postgresql/15/bin/postgres ]]; then
    mkdir -p "$dir/usr/lib/postgresql" "$dir/usr/share/postgresql" "$dir/usr/include" || return 1
    cp -a "$("$sys_bin/pg_config" --pkglibdir)/.." "$dir/usr/lib/postgresql/15" || return 1
    cp -a "$("$sys_bin/pg_config" --sharedir)" "$dir/usr/share/postgresql/15" || return 1
    ln -sfn /usr/include/postgresql "$dir/usr/include/postgresql" || return 1
    chmod -R a+rX "$dir" || return 1
  fi
  echo "$dir/usr/lib/postgresql/15/bin"
}

# The CMake option that points the shim's build at cpp-httplib 0.53.1: the
# copy vendored beside the project (../shared), or VOX_HTTPLIB_DIR. A system
# httplib of that version or newer is preferred to either (cmake/httplib.cmake).
vox_httplib_option() {
  echo "-DVOX_HTTPLIB_INCLUDE_DIR=${VOX_HTTPLIB_DIR:-$(cd "$1/.." && pwd)/shared/vendor/cpp-httplib-0.53.1}"
}

# Build the shim and its unit tests into ROOT/build (CMake), or only TARGET
# (up.sh builds just vox-shim: running needs no unit tests).
# Usage: vox_build_shim ROOT [TARGET]
vox_build_shim() {
  local root=$1 target=${2:-all} jobs
  jobs=$(nproc 2>/dev/null || echo 2)
  vox_log "building vox-shim (cmake, -j$jobs, target $target)"
  cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$(vox_httplib_option "$root")" >/dev/null || return 1
  cmake --build "$root/build" -j"$jobs" --target "$target" || return 1
}

# Print the directory that holds this project's clusters: PROJECT/.run,
# chowned to the server user. The server user must be able to reach it, i.e.
# every parent must be traversable (o+x); a Unix socket path must also stay
# under ~107 bytes and unix_socket_directories is easiest with plain
# characters. If any of that fails, fall back to /tmp/vox-<user>-<hash of the
# project path> (stable, so `up.sh stop` finds the same cluster later).
# Usage: run_dir=$(vox_run_dir PROJECT_ROOT)   (plain assignment, for set -e)
vox_run_dir() {
  local root=$1 run=$1/.run user fallback why=""
  user=$(vox_server_user)
  if [[ ! $run =~ ^[A-Za-z0-9_./-]+$ ]]; then
    why="its path has characters other than [A-Za-z0-9_./-]"
  elif ((${#run} > 70)); then
    why="its path is too long for a Unix socket path"
  elif ! mkdir -p "$run" 2>/dev/null; then
    why="it cannot be created"
  else
    if ((EUID == 0)); then chown "$user:" "$run"; fi
    if vox_as_server test -w "$run" -a -x "$run"; then
      echo "$run"
      return 0
    fi
    why="user '$user' cannot reach it (a parent directory lacks o+x)"
  fi
  fallback=/tmp/vox-$user-$(printf %s "$root" | cksum | cut -d' ' -f1)
  vox_log "NOTE: not using $run: $why; using $fallback instead"
  mkdir -p "$fallback"
  if ((EUID == 0)); then chown "$user:" "$fallback"; fi
  [[ -O $fallback ]] || ((EUID == 0)) ||
    vox_die "$fallback exists and belongs to someone else"
  vox_as_server test -w "$fallback" ||
    vox_die "$fallback is not writable by '$user'"
  echo "$fallback"
}

# True if something listens on TCP port PORT (any address). ss is in
# iproute2; bash's /dev/tcp is the fallback where it is missing.
vox_port_in_use() {
  local port=$1
  if command -v ss >/dev/null 2>&1 &&
    [[ -n $(ss -Hltn "sport = :$port" 2>/dev/null) ]]; then
    return 0
  fi
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

# Print the first free TCP port in BASE..BASE+COUNT-1.
# Usage: port=$(vox_free_port BASE [COUNT])
vox_free_port() {
  local base=$1 count=${2:-200} port
  for ((port = base; port < base + count; port++)); do
    if ! vox_port_in_use "$port"; then
      echo "$port"
      return 0
    fi
  done
  vox_log "no free TCP port in $base..$((base + count - 1))"
  return 1
}

# True if a server is running on the cluster in DIR. (pg_ctl refuses to run
# as root, hence vox_as_server even for a status query.)
vox_cluster_running() {
  local dir=$1
  [[ -f $dir/data/PG_VERSION ]] &&
    vox_as_server "$VOX_PG_BIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1
}

# Create DIR and initdb it unless it already holds a cluster.
vox_cluster_init() {
  local dir=$1 out
  [[ -f $dir/data/PG_VERSION ]] && return 0
  # Explicit `|| return 1` throughout: callers use these functions in `if`,
  # where set -e does not apply.
  mkdir -p "$dir" || return 1
  if ((EUID == 0)); then chown "$(vox_server_user):" "$dir" || return 1; fi
  chmod 0755 "$dir" || return 1 # others may use the socket inside it
  vox_as_server touch "$dir/.vox-cluster" || return 1
  # -U postgres: the superuser is called postgres whoever runs the server, so
  # every caller can say PGUSER=postgres.
  if ! out=$(vox_as_server "$VOX_PG_BIN/initdb" -D "$dir/data" -U postgres \
    --auth=trust -E UTF8 --locale=C --no-instructions 2>&1); then
    printf '%s\n' "$out" >&2
    vox_log "initdb failed for $dir/data"
    return 1
  fi
  # Trust, but only for the socket and 127.0.0.1 (initdb's default would
  # also allow ::1; we do not listen there anyway, so say exactly what we mean).
  vox_as_server tee "$dir/data/pg_hba.conf" >/dev/null <<'EOF' || return 1
# Written by scripts/cluster.sh: local development/test cluster only.
# TYPE  DATABASE     USER  ADDRESS       METHOD
local   all          all                 trust
host    all          all   127.0.0.1/32  trust
local   replication  all                 trust
host    replication  all   127.0.0.1/32  trust
EOF
}

# (Re)write our settings block at the end of DIR/data/postgresql.conf, so a
# reused cluster picks up a new port or preload setting. fsync stays on.
# Usage: vox_cluster_configure DIR PORT [PRELOAD_LIBS]
vox_cluster_configure() {
  local dir=$1 port=$2 preload=${3:-} conf=$1/data/postgresql.conf body
  # Read first, write after: the file is the server user's (mode 0600), so it
  # is rewritten through that user rather than replaced by a root-owned file.
  body=$(sed '/^# >>> vox cluster.sh >>>$/,/^# <<< vox cluster.sh <<<$/d' "$conf") ||
    return 1
  {
    printf '%s\n' "$body"
    echo '# >>> vox cluster.sh >>>'
    echo "port = $port"
    echo "listen_addresses = '127.0.0.1'"
    echo "unix_socket_directories = '$dir'"
    if [[ -n $preload ]]; then echo "shared_preload_libraries = '$preload'"; fi
    echo '# <<< vox cluster.sh <<<'
  } | vox_as_server tee "$conf" >/dev/null
}

# Wait until the server in DIR accepts connections on its socket and on TCP.
# Usage: vox_cluster_wait_ready DIR PORT [TIMEOUT_SECONDS]
vox_cluster_wait_ready() {
  local dir=$1 port=$2 timeout=${3:-60} i
  for ((i = 0; i < timeout * 2; i++)); do
    if "$VOX_PG_BIN/pg_isready" -q -h "$dir" -p "$port" -U postgres -d postgres &&
      "$VOX_PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres; then
      return 0
    fi
    sleep 0.5
  done
  vox_log "server in $dir not ready on port $port after ${timeout}s; log tail:"
  tail -n 30 "$dir/server.log" >&2 || true
  return 1
}

# Start the cluster in DIR on PORT (initdb first if needed). A server already
# running there is restarted, so new settings and a freshly installed
# extension library are picked up.
# Usage: vox_cluster_start DIR PORT [PRELOAD_LIBS]
vox_cluster_start() {
  local dir=$1 port=$2 preload=${3:-}
  vox_cluster_init "$dir" || return 1
  vox_cluster_stop "$dir" || return 1
  if vox_port_in_use "$port"; then
    vox_log "TCP port $port is already in use by another program"
    return 1
  fi
  vox_cluster_configure "$dir" "$port" "$preload" || return 1
  if ! vox_as_server "$VOX_PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" \
    -w -t 60 -s start; then
    vox_log "pg_ctl start failed; log tail:"
    tail -n 30 "$dir/server.log" >&2 || true
    return 1
  fi
  vox_cluster_wait_ready "$dir" "$port"
}

# Stop the server in DIR if it is running (fast mode: roll back open
# transactions, disconnect clients). Quiet, so it is safe in EXIT traps.
vox_cluster_stop() {
  local dir=$1
  vox_cluster_running "$dir" || return 0
  vox_as_server "$VOX_PG_BIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 -s stop
}

# Wipe DIR and start a brand-new cluster there. Refuses to delete a
# directory that this library did not create (no .vox-cluster marker).
# Usage: vox_cluster_fresh DIR PORT [PRELOAD_LIBS]
vox_cluster_fresh() {
  local dir=$1 port=$2 preload=${3:-}
  if [[ -z $dir || $dir == / ]]; then
    vox_log "ERROR: bad cluster directory '$dir'"
    return 1
  fi
  if [[ -e $dir ]]; then
    if [[ ! -f $dir/.vox-cluster ]]; then
      vox_log "ERROR: refusing to wipe $dir: not created by scripts/cluster.sh"
      return 1
    fi
    vox_cluster_stop "$dir" || return 1
    rm -rf -- "$dir" || return 1
  fi
  vox_cluster_start "$dir" "$port" "$preload"
}
