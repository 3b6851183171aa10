#!/usr/bin/env bash
# vox-shim, vox-relay and their unit tests under AddressSanitizer and
# UndefinedBehaviorSanitizer: configures VOX_SANITIZE=ON into
# $VOX_SANITIZE_BUILD_DIR (default .run/asan-build; compiler $VOX_SANITIZE_CXX,
# default CMake's choice), builds every target, and runs every ctest test
# against them. Needs no database.
#
# Sanitizer reports go to files under BUILD/sanitizer-reports (ASAN_OPTIONS /
# UBSAN_OPTIONS log_path), so that none can hide in a passing test's output:
# any file there is a failure, whatever the exit statuses said.
#
# Prints TAP: one `ok N - ...` / `not ok N - ...` line per ctest test plus the
# build, --help and report checks, then `# pass P` and `# fail F`.
#
# Usage: bash test/sanitize/run.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=scripts/tap.sh
source "$ROOT/scripts/tap.sh"
# shellcheck source=scripts/cluster.sh
source "$ROOT/scripts/cluster.sh"
BUILD=${VOX_SANITIZE_BUILD_DIR:-$ROOT/.run/asan-build}
REPORTS=$BUILD/sanitizer-reports

mkdir -p "$BUILD"
rm -rf -- "$REPORTS"
mkdir -p "$REPORTS"
export ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:log_path=$REPORTS/asan
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$REPORTS/ubsan

cxx=()
if [[ -n ${VOX_SANITIZE_CXX:-} ]]; then cxx=(-DCMAKE_CXX_COMPILER="$VOX_SANITIZE_CXX"); fi
log=$BUILD/build.log
# gtest_discover_tests runs the test programs while building: under the sanitizers too.
if cmake -S "$ROOT" -B "$BUILD" -DVOX_SANITIZE=ON "$(vox_httplib_option "$ROOT")" "${cxx[@]}" >"$log" 2>&1 &&
  cmake --build "$BUILD" -j"$(nproc 2>/dev/null || echo 2)" >>"$log" 2>&1; then
  result OK "build vox-shim, vox-relay and their tests with VOX_SANITIZE=ON in $BUILD"
else
  mapfile -t diag < <(grep -E 'error|Error' "$log" | head -n 20)
  result FAIL "build vox-shim, vox-relay and their tests with VOX_SANITIZE=ON in $BUILD" "${diag[@]}" "full log: $log"
  finish
fi

if out=$("$BUILD/vox-shim" --help 2>&1); then
  result OK "vox-shim --help runs"
else
  result FAIL "vox-shim --help runs" "$(head -n 5 <<<"$out")"
fi

# One TAP line per ctest test, from ctest's lines
#   "  3/97 Test   #3: Name ......   Passed    0.01 sec" or "...***Failed  0.01 sec".
log=$BUILD/ctest.log
(cd "$BUILD" && ctest --output-on-failure --timeout 120) >"$log" 2>&1 || true
ran=0
while read -r name status; do
  ran=$((ran + 1))
  if [[ $status == Passed ]]; then
    result OK "ctest $name"
  else
    result FAIL "ctest $name" "$status (output in $log)"
  fi
done < <(sed -nE 's/^ *[0-9]+\/[0-9]+ +Test +#[0-9]+: ([^ ]+) \.*(.*) +[0-9.]+ sec$/\1 \2/p' "$log")
if ((ran == 0)); then
  result FAIL "ctest ran tests" "$(tail -n 20 "$log")" "log: $log"
fi

mapfile -t reports < <(find "$REPORTS" -type f)
if ((${#reports[@]} == 0)); then
  result OK "no sanitizer report"
else
  diag=()
  for report in "${reports[@]}"; do
    diag+=("$report:" "$(grep -m 3 -E 'ERROR|SUMMARY|runtime error' "$report")")
  done
  result FAIL "no sanitizer report" "${diag[@]}"
fi
finish
