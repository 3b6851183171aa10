#!/usr/bin/env bash
# What a user reads stays inside the repository: every relative link of
# README.md and docs/*.md names a file of the repository, and none of them
# points to a path above it (a clone has nothing there). TAP, through
# scripts/tap.sh.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=scripts/tap.sh
source "$ROOT/scripts/tap.sh"

for doc in "$ROOT/README.md" "$ROOT"/docs/*.md; do
  name=${doc#"$ROOT"/}
  # From docs/, ../README.md is still the repository's README.
  outside=$(grep -nE '\.\./' "$doc" | grep -vE '\]\(\.\./README\.md(#[^)]*)?\)' || true)
  [[ $name == README.md ]] && outside=$(grep -nE '\.\./' "$doc" || true)
  if [[ -z $outside ]]; then
    result OK "$name names nothing outside the repository"
  else
    result FAIL "$name names nothing outside the repository" "$outside"
  fi

  missing=()
  while IFS= read -r target; do
    target=${target%%#*}
    [[ -z $target || $target == http* || $target == mailto:* ]] && continue
    [[ -e $(dirname "$doc")/$target ]] || missing+=("$target")
  done < <(grep -oE '\]\([^)]+\)' "$doc" | sed -E 's/^\]\((.*)\)$/\1/')
  if ((${#missing[@]} == 0)); then
    result OK "every relative link of $name names a file of the repository"
  else
    result FAIL "every relative link of $name names a file of the repository" "${missing[@]}"
  fi
done

finish
