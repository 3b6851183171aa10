# shellcheck shell=bash
# TAP for the test scripts that scripts/test.sh runs as suites: one
# `ok N - ...` / `not ok N - ...` line per check, with `#` diagnostics under
# it, then `1..N`, `# pass P` and `# fail F` (the lines test.sh reads).
# Source it: it only sets the counters N, PASSED, FAILED and DIAG and defines
# the functions below.
N=0
PASSED=0
FAILED=0
DIAG=() # diagnostics of the check being run, printed under its line

# result OK|FAIL DESCRIPTION [DIAGNOSTIC...]
result() {
  local status=$1 desc=$2 line
  shift 2
  N=$((N + 1))
  if [[ $status == OK ]]; then
    echo "ok $N - $desc"
    PASSED=$((PASSED + 1))
  else
    echo "not ok $N - $desc"
    FAILED=$((FAILED + 1))
  fi
  for line in "$@"; do printf '%s\n' "$line" | sed 's/^/#   /'; done
}

# check DESCRIPTION FUNCTION: the function's status passes or fails the
# check; what it left in DIAG is printed under the line.
check() {
  local desc=$1 fn=$2
  DIAG=()
  if "$fn"; then
    result OK "$desc" "${DIAG[@]}"
  else
    result FAIL "$desc" "${DIAG[@]}"
  fi
}

# The plan and the counts; exits 1 if any check failed, else 0.
finish() {
  echo "1..$N"
  echo "# pass $PASSED"
  echo "# fail $FAILED"
  if ((FAILED > 0)); then exit 1; fi
  exit 0
}
