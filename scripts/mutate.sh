#!/usr/bin/env bash
# Mutation testing: do the regression and isolation suites catch plausible
# bugs? Each mutant of scripts/mutants.tsv (one planted bug: a dropped org_id,
# a reversed comparison, a lost SQLSTATE, a missing flag in SQL) is applied,
# one at a time, to a scratch copy of the working tree (tracked and
# untracked files, uncommitted changes included), built, installed into a
# private copy of the PostgreSQL installation (the system's vox is never
# touched), and `make installcheck` runs against a cluster of its own. A
# mutant is killed when a test fails; a survivor is a bug no test notices.
#
# The unmutated tree runs first and must pass: otherwise every mutant would
# look killed. A pattern that does not occur exactly once in its file, or a
# mutant that does not build, is an error, never a kill, so the list stays
# honest as the code changes. Too slow for CI (10 s for a mutant the
# regression tests kill, 50 s for one that reaches the isolation specs, on 2
# cores); README ("Tests") says when to run it.
#
# Usage: bash scripts/mutate.sh [-n] [-l LIST] [SELECTOR...]
#   -n: only check that every selected pattern occurs exactly once (no build).
#   SELECTOR: a mutant's number (its line among the list's mutants, from 1),
#   a range N-M, or any other word, which selects the mutants whose line
#   contains it (e.g. handler.cpp, "invariant 4"). None: every mutant.
# Environment: VOX_MUTATE_DIR (scratch, default .run/mutate),
#   VOX_MUTATE_PORT_BASE (default 58500), VOX_MUTATE_TIMEOUT (seconds per
#   suite run, default 600).
# Prints one line per mutant, then `score: K/N killed` and the survivors.
# Exit status 0 only if every selected mutant was killed and none was in error.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/cluster.sh
source "$ROOT/scripts/cluster.sh"

LIST=$ROOT/scripts/mutants.tsv
CHECK_ONLY=0
while [[ ${1:-} == -* ]]; do
  case $1 in
    -l) LIST=$(realpath "$2"); shift 2 ;;
    -n) CHECK_ONLY=1; shift ;;
    *) vox_die "unknown option $1" ;;
  esac
done
SELECTORS=("$@")

WORK=${VOX_MUTATE_DIR:-}
if [[ -z $WORK ]]; then
  RUN_DIR=$(vox_run_dir "$ROOT")
  WORK=$RUN_DIR/mutate
fi
SRC=$WORK/src
CLUSTER=$WORK/pg
LOGS=$WORK/logs
TIMEOUT=${VOX_MUTATE_TIMEOUT:-600}

PORT=""
cleanup() {
  if [[ -f $CLUSTER/.vox-cluster ]]; then vox_cluster_stop "$CLUSTER" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --------------------------------------------------------------- list ----

# The list: tab-separated FILE, PATTERN, REPLACEMENT, WHAT IT BREAKS; `#`
# starts a comment line. In PATTERN and REPLACEMENT, \n is a newline, \t a
# tab and \\ a backslash; PATTERN is a literal string, not a regex.
M_FILE=() M_PATTERN=() M_REPLACEMENT=() M_BREAKS=() M_LINE=()
n=0
while IFS= read -r line || [[ -n $line ]]; do
  [[ -z $line || $line == \#* ]] && continue
  n=$((n + 1))
  # Split by hand: `read` would merge the two tabs around an empty REPLACEMENT.
  tabs=${line//[^$'\t']/}
  file=${line%%$'\t'*}
  rest=${line#*$'\t'}
  pattern=${rest%%$'\t'*}
  rest=${rest#*$'\t'}
  replacement=${rest%%$'\t'*}
  breaks=${rest#*$'\t'}
  if ((${#tabs} != 3)) || [[ -z $file || -z $pattern || -z $breaks ]]; then
    vox_die "$LIST: mutant $n: expected 4 tab-separated fields: $line"
  fi
  M_FILE[n]=$file M_PATTERN[n]=$pattern M_REPLACEMENT[n]=$replacement M_BREAKS[n]=$breaks M_LINE[n]=$line
done <"$LIST"
TOTAL=$n

selected() {
  local i=$1 s
  ((${#SELECTORS[@]} == 0)) && return 0
  for s in "${SELECTORS[@]}"; do
    if [[ $s =~ ^[0-9]+$ ]]; then
      ((i == s)) && return 0
    elif [[ $s =~ ^([0-9]+)-([0-9]+)$ ]]; then
      ((i >= BASH_REMATCH[1] && i <= BASH_REMATCH[2])) && return 0
    elif [[ ${M_LINE[i]} == *"$s"* ]]; then
      return 0
    fi
  done
  return 1
}
CHOSEN=()
for ((i = 1; i <= TOTAL; i++)); do
  if selected "$i"; then CHOSEN+=("$i"); fi
done
((${#CHOSEN[@]} > 0)) || vox_die "no mutant of $LIST matches: ${SELECTORS[*]}"

# --------------------------------------------------------------- steps ----

# Apply mutant I to PATH (a copy of its file): its pattern must occur
# exactly once.
apply_mutant() {
  local i=$1 path=$2
  PATTERN=${M_PATTERN[i]} REPLACEMENT=${M_REPLACEMENT[i]} perl -0777 -i -pe '
    BEGIN {
      sub unescape { my $s = shift; $s =~ s/\\(n|t|\\)/$1 eq "n" ? "\n" : $1 eq "t" ? "\t" : "\\"/ge; $s }
      $p = unescape($ENV{PATTERN}); $r = unescape($ENV{REPLACEMENT});
    }
    $count = () = /\Q$p\E/g;
    die "pattern occurs $count times, expected once\n" unless $count == 1;
    s/\Q$p\E/$r/;
  ' "$path"
}

# Put back the scratch copy's FILE as it was before its mutant (cp gives it
# a new mtime, so make rebuilds what depends on it).
restore() {
  cp -- "$WORK/unmutated" "$SRC/$1"
}

build_install() {
  make -C "$SRC" -j"$(nproc 2>/dev/null || echo 2)" PG_CONFIG="$VOX_PG_CONFIG" >"$1" 2>&1 &&
    make -C "$SRC" PG_CONFIG="$VOX_PG_CONFIG" install >>"$1" 2>&1
}

# The regression tests, then (only if they pass: one failure is enough) the
# isolation specs, as scripts/test.sh runs them. Returns 0 if all passed,
# else the status of the failed run (124: it timed out).
run_suites() {
  local log=$1 part rc
  : >"$log"
  for part in ISOLATION= REGRESS=; do
    rc=0
    env -u PGHOSTADDR -u PGSERVICE -u PGSERVICEFILE -u PGDATABASE \
      PGHOST="$CLUSTER" PGPORT="$PORT" PGUSER=postgres \
      timeout "$TIMEOUT" make -C "$SRC" PG_CONFIG="$VOX_PG_CONFIG" installcheck "$part" >>"$log" 2>&1 || rc=$?
    ((rc == 0)) || return "$rc"
  done
}

# The names of the failed tests in a suite log, on one line.
failed_tests() {
  sed -nE 's/^(test |     )([^ ]+) +\.\.\. FAILED.*/\2/p' "$1" | sort -u | tr '\n' ' '
}

# ---------------------------------------------------------------- main ----

if ((CHECK_ONLY)); then
  bad=0
  for i in "${CHOSEN[@]}"; do
    tmp=$(mktemp)
    if [[ ! -f $ROOT/${M_FILE[i]} ]]; then
      echo "[$i] ERROR ${M_FILE[i]}: no such file"
      bad=1
    elif cp -- "$ROOT/${M_FILE[i]}" "$tmp" && ! why=$(apply_mutant "$i" "$tmp" 2>&1); then
      echo "[$i] ERROR ${M_FILE[i]}: $why"
      bad=1
    fi
    rm -f -- "$tmp"
  done
  ((bad == 0)) && echo "${#CHOSEN[@]} patterns each occur once"
  exit "$bad"
fi

mkdir -p "$WORK" "$LOGS"
VOX_PG_BIN=$(vox_private_pg "$WORK/install")
VOX_PG_CONFIG=$VOX_PG_BIN/pg_config
export VOX_PG_BIN VOX_PG_CONFIG

vox_log "scratch copy of $ROOT in $SRC"
[[ ! -e $SRC || -f $WORK/.vox-mutate ]] || vox_die "refusing to wipe $SRC: not made by mutate.sh"
rm -rf -- "$SRC"
mkdir -p "$SRC"
touch "$WORK/.vox-mutate"
git -C "$ROOT" ls-files -z --cached --others --exclude-standard |
  (cd "$ROOT" && tar --null -T - -cf - 2>/dev/null) | tar -C "$SRC" -xf -

PORT=$(vox_free_port "${VOX_MUTATE_PORT_BASE:-58500}")
vox_cluster_fresh "$CLUSTER" "$PORT" "" || vox_die "could not start a cluster in $CLUSTER"

START=$(date +%s)
vox_log "baseline: the unmutated tree"
build_install "$LOGS/baseline-build.log" || vox_die "the unmutated tree does not build: $LOGS/baseline-build.log"
if ! run_suites "$LOGS/baseline.log"; then
  vox_die "the unmutated tree fails ($(failed_tests "$LOGS/baseline.log")): $LOGS/baseline.log"
fi

KILLED=0 RAN=0
SURVIVORS=() ERRORS=()
for i in "${CHOSEN[@]}"; do
  file=${M_FILE[i]}
  label="#$i $file: ${M_BREAKS[i]}"
  t0=$(date +%s)
  if [[ ! -f $SRC/$file ]]; then
    ERRORS+=("$label (no such file)")
    echo "[$i] ERROR     $file: no such file"
    continue
  fi
  cp -- "$SRC/$file" "$WORK/unmutated"
  if ! why=$(apply_mutant "$i" "$SRC/$file" 2>&1); then
    ERRORS+=("$label ($why)")
    echo "[$i] ERROR     $file: $why"
    restore "$file"
    continue
  fi
  if ! build_install "$LOGS/$i-build.log"; then
    ERRORS+=("$label (does not build: $LOGS/$i-build.log)")
    echo "[$i] ERROR     does not build: $LOGS/$i-build.log"
    restore "$file"
    continue
  fi
  RAN=$((RAN + 1))
  rc=0
  run_suites "$LOGS/$i.log" || rc=$?
  if ((rc == 0)); then
    SURVIVORS+=("$label")
    echo "[$i] SURVIVED  ${M_BREAKS[i]} ($(($(date +%s) - t0)) s)"
  else
    failed=$(failed_tests "$LOGS/$i.log")
    ((rc != 124)) || failed="a timeout after ${TIMEOUT} s "
    if [[ -n $failed ]]; then
      KILLED=$((KILLED + 1))
      echo "[$i] killed    by $failed($(($(date +%s) - t0)) s)"
    else # the suites did not run (the server gone, say): no verdict
      ERRORS+=("$label (the suites failed without a failing test: $LOGS/$i.log)")
      echo "[$i] ERROR     the suites failed without a failing test: $LOGS/$i.log"
    fi
    # A timeout or a lost server: start clean.
    if ((rc == 124)) || [[ -z $failed ]]; then vox_cluster_start "$CLUSTER" "$PORT" >/dev/null; fi
  fi
  restore "$file"
done

# Leave the private installation unmutated.
build_install "$LOGS/restore-build.log" || vox_log "WARNING: could not reinstall the unmutated tree"

echo
echo "score: $KILLED/$RAN killed ($(($(date +%s) - START)) s)"
for s in "${SURVIVORS[@]}"; do echo "survived: $s"; done
for e in "${ERRORS[@]}"; do echo "error: $e"; done
((${#SURVIVORS[@]} == 0 && ${#ERRORS[@]} == 0))
