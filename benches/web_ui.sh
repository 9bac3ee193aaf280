#!/usr/bin/env bash
# The web UI's benchmarks: initial JavaScript (gzip, budget 250 KB) and Lighthouse performance
# and accessibility of the library page with 1,000 items (goal ≥ 90, judged on the median of 3
# Lighthouse runs per form factor), on Debian's Chromium.
# Writes target/bench-results/web_ui.json and prints it. Needs the test PostgreSQL cluster
# (TESSERA_BENCH_DATABASE_URL, else TESSERA_E2E_DATABASE_URL, else the local default) and the
# server binary (TESSERA_E2E_BIN, default target/debug/tessera, built when missing).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bin="${TESSERA_E2E_BIN:-$root/target/debug/tessera}"
if [[ ! -x $bin ]]; then
  echo "web_ui.sh: building $bin" >&2
  cargo build -q --bin tessera
fi
deploy/local/web.sh build

export TESSERA_E2E_BIN="$bin"
export TESSERA_E2E_DATABASE_URL="${TESSERA_BENCH_DATABASE_URL:-${TESSERA_E2E_DATABASE_URL:-postgres://postgres@127.0.0.1:55433/postgres}}"
export CHROME_PATH="${CHROME_PATH:-/usr/bin/chromium}"
PATH="$("$root/deploy/local/node.sh"):$PATH"
cd web
exec npm run --silent bench:ui
