#!/usr/bin/env bash
# The dashboard in a real browser (dashboard.test.mjs): headless Chromium,
# driven by puppeteer-core, loads examples/dashboard from vox-relay while
# signed webhooks go through vox-shim. Installs Chromium when it is missing
# (scripts/deps.sh browser: up.sh never needs it) and the pinned npm
# packages, then runs the test with Node's TAP reporter, whose last lines
# are "# pass N" and "# fail N".
#
# scripts/test.sh runs it with PGHOST/PGPORT naming the test cluster (vox
# installed) and VOX_SHIM_BIN, VOX_RELAY_BIN and VOX_BROWSER_OUT_DIR (where
# the servers' logs and the screenshot dashboard.png go).
#
# Usage: bash test/browser/run.sh
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=scripts/tap.sh
source "$ROOT/scripts/tap.sh"
OUT=${VOX_BROWSER_OUT_DIR:-$ROOT/.run/browser}
mkdir -p "$OUT"

# Setup failed: one failing check with the end of its output.
setup_failed() {
  result FAIL "setup: $1" "$(tail -n 20 "$OUT/setup.log")"
  finish
}

bash "$ROOT/scripts/deps.sh" browser >"$OUT/setup.log" 2>&1 || setup_failed "could not install Chromium"
(cd "$ROOT/test/browser" && npm ci --no-audit --no-fund --loglevel=error) >>"$OUT/setup.log" 2>&1 ||
  setup_failed "npm ci failed"

cd "$ROOT/test/browser" &&
  VOX_BROWSER_OUT_DIR=$OUT timeout 300 node --test --test-reporter=tap dashboard.test.mjs
