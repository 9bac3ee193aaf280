#!/usr/bin/env bash
# The web UI's steps, each idempotent and fast when already done:
#   web.sh install   Node.js (deploy/local/node.sh) and web/node_modules from package-lock.json
#   web.sh build     install, then build web/dist (skipped when nothing changed since the last build)
#   web.sh lint      install, then the linter and the type check
#   web.sh unit      install, then the unit tests (Vitest)
#   web.sh e2e       install, then the end-to-end tests in Chromium (web/e2e)
# npm's downloads are kept in ${TESSERA_CACHE_DIR:-~/.cache/tessera}/npm.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
web="$root/web"
cache="${TESSERA_CACHE_DIR:-$HOME/.cache/tessera}"
PATH="$("$root/deploy/local/node.sh"):$PATH"
export PATH npm_config_cache="$cache/npm" npm_config_fund=false npm_config_audit=false \
  npm_config_update_notifier=false

log() { printf 'web.sh: %s\n' "$*" >&2; }

install() {
  # npm writes node_modules/.package-lock.json on every install; when it is newer than the
  # lock file, node_modules is what the lock file says.
  if [[ -f $web/node_modules/.package-lock.json &&
    $web/node_modules/.package-lock.json -nt $web/package-lock.json ]]; then
    return 0
  fi
  log "installing the web UI's packages"
  (cd "$web" && npm ci --prefer-offline >&2)
}

# True when web/dist is newer than every source file of the build.
built() {
  local stamp="$web/dist/index.html"
  [[ -f $stamp ]] || return 1
  [[ -z $(find "$web/src" "$web/public" "$web/index.html" "$web/package-lock.json" \
    "$web/openapi.json" "$web"/vite.config.* "$web"/tsconfig*.json \
    -newer "$stamp" -print -quit 2>/dev/null) ]]
}

case ${1:-} in
install) install ;;
build)
  install
  if built; then
    log "web/dist is up to date"
  else
    (cd "$web" && npm run build >&2)
  fi
  ;;
lint)
  install
  (cd "$web" && npm run lint >&2)
  ;;
unit)
  install
  (cd "$web" && npm test >&2)
  ;;
e2e)
  install
  (cd "$web" && npm run e2e >&2)
  ;;
*)
  echo "usage: $0 install|build|lint|unit|e2e" >&2
  exit 2
  ;;
esac
