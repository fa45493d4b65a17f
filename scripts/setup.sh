#!/usr/bin/env bash
# Installs what Keycast needs on Debian 12 (bookworm), from Debian's
# packages (and playwright-core from npm for the browser tests).
# Idempotent and non-interactive: it installs only what is missing.
#
#   scripts/setup.sh            everything the tests need
#   scripts/setup.sh --build    only what building and `keycast dev` need
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_PKGS=(
  build-essential cmake pkg-config git
  mold                  # a fast linker (scripts/build.sh uses it when present)
  libssl-dev            # OpenSSL 3: AEAD, Ed25519, X25519, HKDF, TLS
  libsodium-dev         # Argon2id password hashes
  libsqlite3-dev        # embedded store
  libpq-dev             # PostgreSQL store (multi-node)
  libcpp-httplib-dev    # HTTP API server and client
  nlohmann-json3-dev    # JSON
  libcli11-dev          # command line
  libspdlog-dev         # logging
  libtomlplusplus-dev   # TOML config files
  prometheus-cpp-dev    # /metrics: registry and text serializer
  libsystemd-dev        # sd_notify for Type=notify units (dist/systemd/)
  libgtest-dev libgmock-dev libbenchmark-dev
)
TEST_PKGS=(
  clang libclang-rt-14-dev   # libFuzzer targets and sanitizers
  clang-format               # scripts/check-format (CI)
  iproute2 iputils-ping      # network namespaces for multicast tests
  tcpdump                    # captures on the test bridge
  ffmpeg                     # a real media stream through the agents
  gnuplot-nox                # PNG plots of the request-spreading simulation
  python3                    # test helpers
  sqlite3                    # the browser tests read the database rows
  prometheus                 # promtool check metrics on a running node's /metrics
  systemd                    # systemd-analyze verify of dist/systemd/*.service
  postgresql                 # multi-node store tests
  chromium                   # web page tests (headless Chromium driven by playwright-core)
)

want=("${BUILD_PKGS[@]}")
[[ "${1:-}" == "--build" ]] || want+=("${TEST_PKGS[@]}")

# Node.js and npm for playwright-core: Debian's, unless the machine already
# has a Node.js with npm (e.g. from NodeSource, whose nodejs conflicts with
# Debian's npm package).
if [[ "${1:-}" != "--build" ]] && ! command -v npm >/dev/null 2>&1; then
  want+=(nodejs npm)
fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [[ "$(id -u)" == 0 ]] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q >/dev/null
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

# playwright-core drives Debian's chromium; it never downloads a browser.
if [[ "${1:-}" != "--build" && -f tests/web/package.json && ! -d tests/web/node_modules/playwright-core ]]; then
  echo "setup: npm install (tests/web)"
  (cd tests/web && npm install --no-audit --no-fund --silent)
fi
echo "setup: ok"
