#!/usr/bin/env bash
# Proves that vox_bench.handle_event (bench/plpgsql/handler.sql) leaves the
# same rows as vox.handle_event: one fresh cluster, two databases, the same
# stream of Vapi events (check_workload.sql) through vox's handler in one and
# the PL/pgSQL one in the other, each event its own transaction. Compares the
# returned jsonb (or SQLSTATE and message) of every event, the NOTIFYs sent,
# and every row of the tables events write (check_dump.sql), then again after
# registering the assistant and number that parked events were waiting for.
# Prints TAP lines, "identical" or the differing lines, and exits non-zero on
# any difference.
#   VOX_BENCH_CHECK_DIR   cluster directory (default /tmp/vox-plpgsql-check)
#   VOX_BENCH_CHECK_PORT  first TCP port to try (default 55460)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=scripts/cluster.sh
source "$root/scripts/cluster.sh"

dir=${VOX_BENCH_CHECK_DIR:-/tmp/vox-plpgsql-check}
port=$(vox_free_port "${VOX_BENCH_CHECK_PORT:-55460}" 50)
out=$(mktemp -d)
trap 'vox_cluster_stop "$dir"; rm -rf -- "$out"' EXIT
# A failed setup step still ends the way scripts/test.sh parses.
trap 'echo "not ok - setup failed (line $LINENO)"; echo "# pass 0"; echo "# fail 1"' ERR

vox_cluster_fresh "$dir" "$port"
psql_in() { # DATABASE [psql args...]
  local db=$1
  shift
  timeout 300 "$VOX_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d "$db" "$@"
}

for side in vox plpgsql; do
  psql_in postgres -c "CREATE DATABASE check_$side"
  psql_in "check_$side" -o /dev/null -f "$root/test/fixtures/vapi.sql"
  if [[ $side == plpgsql ]]; then psql_in "check_$side" -f "$here/handler.sql"; fi
  psql_in "check_$side" -o /dev/null -f "$here/check_workload.sql"
  # One transaction per event, as the shim sends them; the last event goes
  # with vox.notify off. psql prints the session's own notifications; the
  # server's PID is masked.
  psql_in "check_$side" <<SQL | sed -E 's/server process with PID [0-9]+/server process/' >"$out/$side.notify"
SET vox_check.handler = '$side';
LISTEN vox_outbox;
SELECT CASE WHEN seq = (SELECT max(seq) FROM vox_check.events) THEN 'SET vox.notify = off' END,
       format('INSERT INTO vox_check.results SELECT %s, vox_check.attempt(payload) FROM vox_check.events WHERE seq = %s',
              seq, seq)
  FROM vox_check.events ORDER BY seq \gexec
SQL
  psql_in "check_$side" -At -f "$here/check_dump.sql" >"$out/$side.rows"
  # What parked events waited for appears: vox's triggers replay them.
  psql_in "check_$side" <<'SQL'
INSERT INTO vox.agents (org_id, id, vapi_assistant_id, name, role)
VALUES ('00000000-0000-4000-8000-00000000000a', md5('asst-new')::uuid, 'asst-new', 'Demo after-hours', 'after-hours');
INSERT INTO vox.phone_numbers (org_id, vapi_phone_number_id, number, agent_id)
VALUES ('00000000-0000-4000-8000-00000000000b', 'pn-new', '+14155550201', md5('asst-b')::uuid);
SQL
  psql_in "check_$side" -At -f "$here/check_dump.sql" >"$out/$side.replayed"
done

events=$(psql_in check_vox -At -c 'SELECT count(*) FROM vox_check.events')
trap - ERR
pass=0 fail=0 n=0
compare() { # WHAT FILE-SUFFIX
  n=$((n + 1))
  if diff -u --label vox --label plpgsql "$out/vox.$2" "$out/plpgsql.$2" >"$out/diff"; then
    echo "ok $n - $1 ($(wc -l <"$out/vox.$2") lines)"
    pass=$((pass + 1))
  else
    echo "not ok $n - $1"
    sed 's/^/# /' "$out/diff"
    fail=$((fail + 1))
  fi
}
echo "# $events events through vox.handle_event and vox_bench.handle_event"
grep '^result ' "$out/vox.rows" >"$out/vox.results"
grep '^result ' "$out/plpgsql.rows" >"$out/plpgsql.results"
compare "returned jsonb or error of every event" results
compare "returned jsonb and rows of every table after the stream" rows
compare "NOTIFY vox_outbox sent (vox.notify on, then off)" notify
compare "rows after the parked events' assistant and number appear" replayed
if ((fail == 0)); then echo identical; fi
echo "# pass $pass"
echo "# fail $fail"
exit $((fail == 0 ? 0 : 1))
