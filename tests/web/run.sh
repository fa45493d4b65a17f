#!/usr/bin/env bash
# Runs the web pages' end-to-end tests in headless Chromium (CTest: web_e2e,
# label "web"). Needs Debian's chromium and playwright-core from npm, both
# installed by scripts/setup.sh; fails loudly when either is missing.
#   KEYCAST_BIN=build/src/cli/keycast tests/web/run.sh
set -euo pipefail
cd "$(dirname "$0")"
chromium="${KEYCAST_CHROMIUM:-/usr/bin/chromium}"
if [[ ! -x "$chromium" ]]; then
  echo "web tests: $chromium is missing; run scripts/setup.sh (apt-get install chromium)" >&2
  exit 1
fi
if [[ ! -d node_modules/playwright-core ]]; then
  echo "web tests: playwright-core is missing in tests/web/node_modules; run scripts/setup.sh (npm install)" >&2
  exit 1
fi
if [[ -z "${KEYCAST_BIN:-}" || ! -x "$KEYCAST_BIN" ]]; then
  echo "web tests: set KEYCAST_BIN to the keycast binary (CTest does)" >&2
  exit 1
fi
# Playwright never downloads a browser here: it drives $chromium.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 KEYCAST_CHROMIUM="$chromium"
exec node --test --test-concurrency=1 e2e.test.mjs
