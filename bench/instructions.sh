#!/usr/bin/env bash
# CPU instructions vox.handle_event spends per event, by kind: a count that
# does not depend on the machine's load, so two builds compare exactly.
#   bash bench/instructions.sh [N]     N events of each kind (default 200)
#
# Runs a single-user backend (no other process) of a throw-away cluster under
# valgrind's callgrind, twice per kind of event: N events, then 2N more, each
# its own transaction. The difference of the two totals over N is what one
# event costs once the backend has started and prepared its statements. Kinds:
# a final transcript, the first status update of a new call, its "ended", and
# its end-of-call-report (the last two update the calls the first created).
# vox.notify is off, as in the benchmark's vox mode. The vox extension must be
# installed.
#   VOX_PG_BIN            PostgreSQL's bin directory (default Debian's 15)
#   VOX_INSTRUCTIONS_DIR  the cluster's directory (default .run/instructions)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=scripts/cluster.sh
source "$root/scripts/cluster.sh"
count=${1:-200}
dir=${VOX_INSTRUCTIONS_DIR:-$root/.run/instructions}
command -v valgrind >/dev/null || { echo "valgrind is missing: apt-get install valgrind" >&2; exit 1; }

rm -rf -- "$dir"
mkdir -p "$dir"
chown postgres "$dir" 2>/dev/null || true
vox_as_server "$VOX_PG_BIN/initdb" -D "$dir/data" -U postgres -A trust >/dev/null
single() { vox_as_server "$VOX_PG_BIN/postgres" --single -D "$dir/data" -c shared_preload_libraries=vox postgres; }
single >/dev/null <<'SQL'
CREATE EXTENSION vox;
INSERT INTO vox.organizations (id, name) VALUES ('00000000-0000-4000-8000-00000000000a', 'Clinic A');
INSERT INTO vox.agents (org_id, vapi_assistant_id, name, role) VALUES ('00000000-0000-4000-8000-00000000000a', 'asst_a', 'Front desk', 'inbound');
SQL

# event KIND I: one statement applying the I-th event of KIND (to call-I; the
# transcripts are all call-0's).
event() {
  local at=$((1763740801000 + $2)) call="\"id\":\"call-$2\",\"type\":\"inboundPhoneCall\",\"assistantId\":\"asst_a\""
  local caller='"customer":{"number":"+14155550123"}'
  case $1 in
    transcript) echo "SELECT vox.handle_event('{\"message\":{\"type\":\"transcript\",\"role\":\"user\",\"transcriptType\":\"final\",\"transcript\":\"Hello, utterance $2\",\"timestamp\":$at,\"call\":{\"id\":\"call-0\",\"type\":\"inboundPhoneCall\",\"assistantId\":\"asst_a\"}}}');" ;;
    first-status) echo "SELECT vox.handle_event('{\"message\":{\"type\":\"status-update\",\"status\":\"in-progress\",\"timestamp\":$at,\"call\":{$call,\"startedAt\":\"2025-11-21T16:00:01.000Z\",$caller}}}');" ;;
    ended) echo "SELECT vox.handle_event('{\"message\":{\"type\":\"status-update\",\"status\":\"ended\",\"endedReason\":\"customer-ended-call\",\"timestamp\":$at,\"call\":{$call,\"endedAt\":\"2025-11-21T16:03:01.000Z\",$caller}}}');" ;;
    report) echo "SELECT vox.handle_event('{\"message\":{\"type\":\"end-of-call-report\",\"timestamp\":$at,\"endedReason\":\"customer-ended-call\",\"summary\":\"A callback.\",\"cost\":0.1,\"artifact\":{\"recordingUrl\":\"https://storage.vapi.ai/call-$2.wav\"},\"call\":{$call,\"status\":\"ended\",$caller}}}');" ;;
  esac
}
# instructions KIND FIRST LAST: callgrind's total for a backend applying the
# events FIRST..LAST of KIND.
instructions() {
  local i name=$1-$2 out
  out=$dir/$name.callgrind
  {
    echo "SET vox.notify = off;"
    for ((i = $2; i <= $3; i++)); do event "$1" "$i"; done
  } >"$dir/$name.sql"
  vox_as_server valgrind --tool=callgrind --callgrind-out-file="$out" \
    "$VOX_PG_BIN/postgres" --single -D "$dir/data" -c shared_preload_libraries=vox postgres \
    <"$dir/$name.sql" >/dev/null 2>"$dir/$name.log"
  sed -nE 's/^(summary|totals): ([0-9]+).*/\2/p' "$out" | head -n 1
}

printf '%-14s %s\n' "event" "instructions per event (callgrind, $count events)"
for kind in transcript first-status ended report; do
  once=$(instructions "$kind" 1 "$count")
  twice=$(instructions "$kind" $((count + 1)) $((3 * count)))
  printf '%-14s %d\n' "$kind" $(((twice - once) / count))
done
