#!/usr/bin/env bash
# The extension's build knows what each object includes: after a header
# changes, `make` recompiles every object that includes it (PGXS leaves
# dependency tracking to --enable-depend; the Makefile turns it on), so an
# incremental build never links objects compiled against different struct
# layouts. Asks make what it would do (`make -n -W HEADER`), after a build.
#
# Prints TAP (scripts/tap.sh). Usage: bash test/build/run.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=scripts/cluster.sh
source "$ROOT/scripts/cluster.sh"
# shellcheck source=scripts/tap.sh
source "$ROOT/scripts/tap.sh"

# The objects make would compile if HEADER had just changed.
rebuilt_by() {
  make -C "$ROOT" -n -W "$1" PG_CONFIG="$VOX_PG_CONFIG" 2>/dev/null |
    sed -nE 's/.* -o (extension\/src\/[a-z_]+\.o) .*/\1/p' | sort -u
}

# Every object whose source includes HEADER, directly or not, as the
# compiler sees it.
includers_of() {
  local header=$1 source
  for source in "$ROOT"/extension/src/*.cpp; do
    if g++ -std=c++17 -MM -isystem "$("$VOX_PG_CONFIG" --includedir-server)" -I"$ROOT/extension/src" "$source" \
      2>/dev/null | tr ' \\' '\n\n' | grep -qx "$ROOT/$header\|$header"; then
      echo "extension/src/$(basename "${source%.cpp}").o"
    fi
  done | sort -u
}

if ! make -C "$ROOT" -s PG_CONFIG="$VOX_PG_CONFIG" >/dev/null 2>&1; then
  result FAIL "the extension builds"
  finish
fi
for header in extension/src/spi.hpp extension/src/settings.hpp extension/src/handler.hpp; do
  want=$(includers_of "$header")
  got=$(rebuilt_by "$header")
  if [[ -n $want && $got == "$want" ]]; then
    result OK "a change to $header recompiles the $(wc -l <<<"$want") objects that include it"
  else
    result FAIL "a change to $header recompiles the objects that include it" \
      "include it: $(echo $want)" "make would compile: $(echo ${got:-nothing})"
  fi
done
finish
