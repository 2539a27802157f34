#!/usr/bin/env bash
# The headless-browser tests: /docs (tests/browser/docs.spec.mjs) and the web app served at /
# (tests/browser/app.spec.mjs), Debian's chromium driven by playwright-core against the real server
# binary. Installs what is missing first: chromium from apt, the npm packages of tests/browser
# (playwright-core never downloads a browser of its own). The app test saves screenshots of the
# main pages in target/browser-screenshots/ (SCREENSHOTS to put them elsewhere).
#
# SKIP_BUILD=1 uses target/debug/being-social as it is (CI builds it in `cargo test` just before);
# BINARY names another binary. Arguments name the spec files to run (default: both).
set -euo pipefail
cd "$(dirname "$0")/.."

export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

apt_install() {
    if [ -z "${APT_UPDATED:-}" ]; then
        apt-get update -qq
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if [ ! -x "$CHROMIUM" ]; then
    echo "installing chromium (apt)"
    apt_install chromium chromium-driver
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "installing node and npm (apt)"
    apt_install nodejs npm
fi

(cd tests/browser && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    cargo build -p being-social
fi
export BINARY="${BINARY:-${CARGO_TARGET_DIR:-$PWD/target}/debug/being-social}"
export SCREENSHOTS="${SCREENSHOTS:-$PWD/target/browser-screenshots}"

if [ "$#" -eq 0 ]; then
    set -- tests/browser/docs.spec.mjs tests/browser/app.spec.mjs
fi
# One file at a time: each starts its own server and browser.
node --test --test-concurrency=1 --test-reporter=spec "$@"
