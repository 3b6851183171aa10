#!/usr/bin/env bash
# Tests of README command 1, `bash scripts/up.sh`, run in a scratch directory
# ($VOX_UP_TEST_DIR, default .run/up-test) on free ports from
# $VOX_UP_TEST_PORT_BASE (default 56832), so a user's own dev cluster, shim
# and relay are never touched. Checks that a first and a second run print no
# NOTICE or WARNING, that build output goes to the log and not the terminal
# and that only the vox-shim and vox-relay binaries are built, that the
# printed signed curl is answered 200 processed (then duplicate), that a body
# which is not JSON gets README's 400, that vox-relay runs as its own role,
# that the printed dashboard URL serves the page and its feed shows the
# printed curl's call (the same URL on a second run), that a taken port
# fails the run before PostgreSQL starts and leaves nothing running, and
# that `up.sh stop` stops everything. The extension, the shim and the relay
# are already built when test.sh runs it, so each run takes seconds. TAP
# through scripts/tap.sh.
#
# Usage: bash test/up/run.sh

# The checks run through `check DESCRIPTION FUNCTION` and cleanup through a
# trap, which shellcheck takes for unreachable code.
# shellcheck disable=SC2317
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=scripts/cluster.sh
source "$ROOT/scripts/cluster.sh"
# shellcheck source=scripts/tap.sh
source "$ROOT/scripts/tap.sh"

DIR=${VOX_UP_TEST_DIR:-$(vox_run_dir "$ROOT")/up-test}
PORT=$(vox_free_port "${VOX_UP_TEST_PORT_BASE:-56832}") || exit 1
SHIM_PORT=$(vox_free_port $((PORT + 1))) || exit 1
RELAY_PORT=$(vox_free_port $((SHIM_PORT + 1))) || exit 1
DEMO_ORG=00000000-0000-4000-8000-000000000001
OUT=$DIR/terminal.out # what a run printed, stdout and stderr
LISTENER=""           # pid of a program holding a port, while there is one
LISTENER_PORT=""      # and that port

up() {
  env VOX_RUN_DIR="$DIR" VOX_PORT="$PORT" VOX_SHIM_PORT="$SHIM_PORT" VOX_RELAY_PORT="$RELAY_PORT" PATH="$VOX_PG_BIN:$PATH" \
    bash "$ROOT/scripts/up.sh" "$@" >"$OUT" 2>&1 </dev/null
}

cleanup() {
  if [[ -n $LISTENER ]]; then kill "$LISTENER" 2>/dev/null; fi
  up stop
  if [[ -f $DIR/pg/.vox-cluster ]]; then rm -rf -- "$DIR"; fi
}
trap cleanup EXIT

# Holds TCP port $1 on 127.0.0.1 until killed.
hold_port() {
  node -e "require('net').createServer().listen($1, '127.0.0.1')" &
  LISTENER=$!
  LISTENER_PORT=$1
  for _ in $(seq 50); do vox_port_in_use "$1" && return 0; sleep 0.1; done
  return 1
}
release_port() {
  kill "$LISTENER" 2>/dev/null
  wait "$LISTENER" 2>/dev/null
  LISTENER=""
  LISTENER_PORT=""
}

RUN_RC=0
run_up() {
  RUN_RC=0
  up || RUN_RC=$?
}

# Fails its check with these diagnostics.
fail_with() {
  DIAG=("$@")
  return 1
}

succeeded() {
  ((RUN_RC == 0)) || fail_with "exit status $RUN_RC" "$(tail -n 20 "$OUT")"
}

no_notice() {
  local found
  found=$(grep -hE 'NOTICE|WARNING' "$OUT" "$DIR/up.log")
  [[ -z $found ]] || fail_with "$found"
}

# A compiler command line, make's or cmake's progress.
BUILD_LINE='g\+\+ |c\+\+ |-Wall|Entering directory|\[ *[0-9]+%\]|Built target'
build_output_in_log() {
  { ! grep -qE "$BUILD_LINE" "$OUT" && grep -q 'Entering directory' "$DIR/up.log" &&
    grep -q 'Built target vox-shim$' "$DIR/up.log"; } ||
    fail_with "on the terminal:" "$(grep -E "$BUILD_LINE" "$OUT" | head -n 5)"
}

only_binaries_built() {
  { grep -q 'Built target vox-shim$' "$DIR/up.log" && grep -q 'Built target vox-relay$' "$DIR/up.log" &&
    ! grep -q 'Built target .*test' "$DIR/up.log"; } || fail_with "$(grep 'Built target' "$DIR/up.log")"
}

# The five lines up.sh prints under "Send a signed webhook", run as printed.
CURL_OUT=""
run_printed_curl() {
  local lines
  lines=$(sed -n '/^Send a signed webhook/,/^$/p' "$OUT" | sed '1d;$d')
  CURL_OUT=$(PATH="$VOX_PG_BIN:$PATH" bash -c "$lines" 2>&1)
}
curl_processed() {
  run_printed_curl
  { grep -q '^HTTP/1.1 200' <<<"$CURL_OUT" && grep -qE '"status": ?"processed"' <<<"$CURL_OUT" &&
    grep -qE 'call_curl_1 +\| inbound +\| in-progress' <<<"$CURL_OUT"; } || fail_with "$CURL_OUT"
}
curl_duplicate() {
  run_printed_curl
  { grep -q '^HTTP/1.1 200' <<<"$CURL_OUT" && grep -qE '"status": ?"duplicate"' <<<"$CURL_OUT"; } ||
    fail_with "$CURL_OUT"
}

# README's HTTP table: a signed body that is JSON but not an object is 400
# with this error.
not_json_refused() {
  local secret ts sig body='["not", "an", "object"]' answer
  secret=$(sed -nE "s/.*-hmac '([0-9a-f]+)'.*/\1/p" "$OUT")
  ts=$(date +%s)
  sig=$(printf '%s.%s' "$ts" "$body" | openssl dgst -sha256 -hmac "$secret" | sed 's/^.*= //')
  answer=$(curl -sS -i "http://127.0.0.1:$SHIM_PORT/webhooks/vapi/00000000-0000-4000-8000-000000000001" \
    -H 'Content-Type: application/json' -H "x-timestamp: $ts" -H "x-signature: $sig" --data-binary "$body")
  { grep -q '^HTTP/1.1 400' <<<"$answer" && grep -qE '"error": ?"body is not a JSON object"' <<<"$answer"; } ||
    fail_with "$answer"
}

# The dashboard's URL as printed, and the feed token in it.
DASHBOARD_URL=""
printed_dashboard_url() {
  DASHBOARD_URL=$(grep -oE "^  http://127\.0\.0\.1:$RELAY_PORT/dashboard/\?org=$DEMO_ORG&token=vxf_[A-Za-z0-9_-]{43}$" "$OUT" | sed 's/^  //')
  [[ -n $DASHBOARD_URL ]] || fail_with "no dashboard URL for port $RELAY_PORT and the demo org in:" "$(cat "$OUT")"
}

relay_healthy() {
  local answer
  answer=$(curl -sS -i "http://127.0.0.1:$RELAY_PORT/healthz" 2>&1)
  grep -q '^HTTP/1.1 200' <<<"$answer" || fail_with "$answer"
}

# Its database sessions are vox_relay_login's, a member of vox_relay and no
# superuser.
relay_role() {
  local sql="SELECT DISTINCT r.rolname, pg_has_role(r.oid, 'vox_relay', 'MEMBER'), r.rolsuper
    FROM pg_stat_activity a JOIN pg_roles r ON r.oid = a.usesysid WHERE a.datname = 'vox' AND r.rolname LIKE 'vox_relay%'"
  GOT=$("$VOX_PG_BIN/psql" -X -At -h "$DIR/pg" -p "$PORT" -U postgres -d vox -c "$sql" 2>&1)
  [[ $GOT == 'vox_relay_login|t|f' ]] || fail_with "sessions: $GOT"
}

dashboard_served() {
  local page
  printed_dashboard_url || return 1
  page=$(curl -sS -i "$DASHBOARD_URL" 2>&1)
  { grep -q '^HTTP/1.1 200' <<<"$page" && grep -qi '^content-type: text/html' <<<"$page" &&
    grep -q '<table id="calls">' <<<"$page"; } || fail_with "$page"
}

# The feed of the printed URL (its org and token) for two seconds: the
# snapshot names the printed curl's call.
feed_shows_call() {
  local feed
  printed_dashboard_url || return 1
  feed=$(curl -sS -N --max-time 2 "http://127.0.0.1:$RELAY_PORT/v1/orgs/$DEMO_ORG/feed?token=${DASHBOARD_URL##*token=}" 2>/dev/null)
  { grep -q '^event: snapshot$' <<<"$feed" && grep -q '"call_id": *"call_curl_1"' <<<"$feed"; } ||
    fail_with "the feed sent:" "$feed"
}

FIRST_URL=""
same_url_again() {
  printed_dashboard_url || return 1
  [[ $DASHBOARD_URL == "$FIRST_URL" ]] || fail_with "first run: ${FIRST_URL%%token=*}token=...${FIRST_URL: -4}" \
    "second run: ${DASHBOARD_URL%%token=*}token=...${DASHBOARD_URL: -4}"
}

nothing_running() {
  DIAG=()
  if vox_cluster_running "$DIR/pg"; then DIAG+=("the cluster in $DIR/pg is running"); fi
  if vox_port_in_use "$PORT"; then DIAG+=("port $PORT is in use"); fi
  local port
  for port in "$SHIM_PORT" "$RELAY_PORT"; do
    if [[ $LISTENER_PORT != "$port" ]] && vox_port_in_use "$port"; then DIAG+=("port $port is in use"); fi
  done
  if [[ -f $DIR/shim.pid ]] && kill -0 "$(cat "$DIR/shim.pid")" 2>/dev/null; then DIAG+=("vox-shim is running"); fi
  if [[ -f $DIR/relay.pid ]] && kill -0 "$(cat "$DIR/relay.pid")" 2>/dev/null; then DIAG+=("vox-relay is running"); fi
  ((${#DIAG[@]} == 0))
}

SERVER_LOG_SIZE=0
taken_port_fails_early() {
  { ((RUN_RC != 0)) && grep -q "TCP port $1 is in use" "$OUT" &&
    (($(stat -c %s "$DIR/pg/server.log") == SERVER_LOG_SIZE)) && ! grep -q 'starting PostgreSQL' "$OUT"; } ||
    fail_with "exit status $RUN_RC" "$(cat "$OUT")"
}
shim_port_taken() { taken_port_fails_early "$SHIM_PORT"; }
relay_port_taken() { taken_port_fails_early "$RELAY_PORT"; }
pg_port_taken() { taken_port_fails_early "$PORT"; }

if [[ -f $DIR/pg/.vox-cluster ]]; then up stop; rm -rf -- "$DIR"; fi
mkdir -p "$DIR"

run_up
check "a first run succeeds" succeeded
check "a first run prints no NOTICE or WARNING" no_notice
check "build output goes to up.log, not the terminal" build_output_in_log
check "up.sh builds the vox-shim and vox-relay binaries and not the unit tests" only_binaries_built
check "the printed signed curl is answered 200 processed and makes the row" curl_processed
check "a signed body that is JSON but no object is 400 'body is not a JSON object'" not_json_refused
check "vox-relay answers /healthz" relay_healthy
check "vox-relay's sessions are vox_relay_login's, a member of vox_relay and no superuser" relay_role
check "the printed dashboard URL serves the dashboard" dashboard_served
check "after the printed curl, the feed of the dashboard's URL shows its call" feed_shows_call
FIRST_URL=$DASHBOARD_URL

run_up
check "a second run succeeds" succeeded
check "a second run prints no NOTICE or WARNING" no_notice
check "the printed curl of the second run is answered duplicate" curl_duplicate
check "the second run prints the same dashboard URL: the feed token is kept" same_url_again
check "the restarted vox-relay serves the feed of that URL" feed_shows_call

up stop
check "up.sh stop stops the shim, the relay and the cluster" nothing_running

SERVER_LOG_SIZE=$(stat -c %s "$DIR/pg/server.log")
if hold_port "$SHIM_PORT"; then
  run_up
  check "with the shim's port taken, up.sh fails before starting PostgreSQL" shim_port_taken
  check "... and leaves nothing running" nothing_running
  release_port
else
  result FAIL "could not hold port $SHIM_PORT"
fi
if hold_port "$RELAY_PORT"; then
  run_up
  check "with the relay's port taken, up.sh fails before starting PostgreSQL" relay_port_taken
  check "... and leaves nothing running" nothing_running
  release_port
else
  result FAIL "could not hold port $RELAY_PORT"
fi
if hold_port "$PORT"; then
  run_up
  check "with PostgreSQL's port taken, up.sh fails before starting anything" pg_port_taken
  release_port
else
  result FAIL "could not hold port $PORT"
fi

finish
