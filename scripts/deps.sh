#!/usr/bin/env bash
# Install the Debian packages that building and testing vox needs.
# Usage: bash scripts/deps.sh [browser] [citus]
#   browser: also Chromium, for the dashboard's browser suite (test/browser
#   asks for it; up.sh and the other suites do not need it).
#   citus: also what Citus builds with (scripts/citus.sh build asks for it).
# Idempotent: when everything is already installed it exits at once without
# touching apt (no `apt-get update`), so up.sh/test.sh can always call it.
# Works without stdin (CI): apt runs non-interactively.
set -euo pipefail

# Required packages.
PKGS=(
  # extension build + server
  make g++ postgresql-15 postgresql-server-dev-15
  libphonenumber-dev libssl-dev
  # shim build + unit tests
  cmake pkg-config libpq-dev nlohmann-json3-dev libgtest-dev
  # shim end-to-end tests: curl for the demo, openssl as an independent HMAC signer
  curl openssl
  # libFuzzer targets and the sanitizer runtimes clang links them with
  clang libclang-rt-14-dev
  # runuser (to run the server as `postgres` when we are root); essential in
  # Debian, listed so a stripped image still gets it
  util-linux
)

# Optional groups, named on the command line.
for group in "$@"; do
  case $group in
    # The dashboard's browser suite drives Debian's Chromium through
    # puppeteer-core (no browser download).
    browser) PKGS+=(chromium) ;;
    # Citus' compression and the PostgreSQL headers' GSSAPI.
    citus) PKGS+=(liblz4-dev libzstd-dev libkrb5-dev) ;;
    *)
      echo "[deps] ERROR: unknown group '$group' (known: browser, citus)" >&2
      exit 2
      ;;
  esac
done

# Names that are satisfied on this system: installed packages plus whatever
# they Provide.
installed_names() {
  dpkg-query -W -f='${db:Status-Abbrev} ${Package} ${Provides}\n' 2>/dev/null |
    awk '$1 == "ii" {
      print $2
      for (i = 3; i <= NF; i++) {
        gsub(/,/, "", $i)
        # skip version constraints such as "(= 14)"
        if ($i !~ /^\(/ && $i !~ /\)$/) print $i
      }
    }' | sort -u
}

# Print the names from "$@" that are not satisfied.
missing_of() {
  local have
  have=$(installed_names)
  local p
  for p in "$@"; do
    grep -qxF -- "$p" <<<"$have" || echo "$p"
  done
}

# Node.js runs the shim's end-to-end tests (the standardwebhooks package is an
# independent signer). Any Node 18.19 or later will do, Debian's or another.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  PKGS+=(nodejs npm)
fi

mapfile -t missing < <(missing_of "${PKGS[@]}")
if ((${#missing[@]} == 0)); then
  echo "[deps] all packages present"
  exit 0
fi

if ((EUID == 0)); then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  echo "[deps] ERROR: missing packages (${missing[*]}) and not root, no sudo" >&2
  exit 1
fi

# env, not export: sudo would drop an exported DEBIAN_FRONTEND. The lock
# timeout waits for another apt run instead of failing at once.
APT=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300)

echo "[deps] missing: ${missing[*]}"
"${APT[@]}" update -qq

"${APT[@]}" install -y --no-install-recommends "${missing[@]}" </dev/null

# Verify: a silently missing required package would only show up later as a
# confusing build error.
mapfile -t still < <(missing_of "${PKGS[@]}")
if ((${#still[@]} > 0)); then
  echo "[deps] ERROR: still missing after install: ${still[*]}" >&2
  exit 1
fi
echo "[deps] ok"
