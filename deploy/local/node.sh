#!/usr/bin/env bash
# Prints the folder holding a `node` (and `npm`) recent enough for the web UI's build (Vite needs
# Node.js 20.19 or later), installing one where it is missing. Safe to run again: when a good one
# is on the PATH or in the cache it only prints its folder.
#
# Debian 12's own nodejs is 18, too old; so a missing or old Node.js is replaced by the official
# binaries published on the npm registry (`node-linux-<arch>`), plus npm itself, installed into
# ${TESSERA_CACHE_DIR:-~/.cache/tessera}/node-<version>. The bootstrap uses Debian's npm.
set -euo pipefail

readonly NODE_VERSION=20.20.2
readonly NPM_VERSION=11.19.1
readonly MIN_MAJOR=20 MIN_MINOR=19
cache="${TESSERA_CACHE_DIR:-$HOME/.cache/tessera}"
prefix="$cache/node-$NODE_VERSION"

log() { printf 'node.sh: %s\n' "$*" >&2; }

# True when $1 is a node binary of at least MIN_MAJOR.MIN_MINOR.
recent_enough() {
  local v major minor
  v=$("$1" --version 2>/dev/null) || return 1
  v=${v#v}
  major=${v%%.*}
  minor=${v#*.}
  minor=${minor%%.*}
  ((major > MIN_MAJOR || (major == MIN_MAJOR && minor >= MIN_MINOR)))
}

if command -v node >/dev/null && command -v npm >/dev/null && recent_enough "$(command -v node)"; then
  dirname "$(command -v node)"
  exit 0
fi
if [[ -x $prefix/bin/node && -x $prefix/bin/npm ]]; then
  echo "$prefix/bin"
  exit 0
fi

case $(uname -m) in
x86_64) arch=x64 ;;
aarch64) arch=arm64 ;;
*)
  log "error: no Node.js build for $(uname -m) on the npm registry; install Node.js >= $MIN_MAJOR.$MIN_MINOR"
  exit 1
  ;;
esac

if ! command -v npm >/dev/null; then
  if [[ $(id -u) -ne 0 ]]; then
    log "error: npm is missing; install it with: sudo apt-get install -y nodejs npm"
    exit 1
  fi
  log "installing Debian's nodejs and npm to bootstrap Node.js $NODE_VERSION"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update >&2
  apt-get install -y --no-install-recommends nodejs npm >&2
fi

log "installing Node.js $NODE_VERSION and npm $NPM_VERSION into $prefix"
tmp="$prefix.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
npm install --prefix "$tmp" --no-save --no-audit --no-fund --cache "$cache/npm" \
  "node-linux-$arch@$NODE_VERSION" "npm@$NPM_VERSION" >&2
mkdir -p "$tmp/bin"
ln -s "../node_modules/node-linux-$arch/bin/node" "$tmp/bin/node"
cat >"$tmp/bin/npm" <<'NPM'
#!/usr/bin/env bash
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "$here/node" "$here/../node_modules/npm/bin/npm-cli.js" "$@"
NPM
cat >"$tmp/bin/npx" <<'NPX'
#!/usr/bin/env bash
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "$here/node" "$here/../node_modules/npm/bin/npx-cli.js" "$@"
NPX
chmod +x "$tmp/bin/npm" "$tmp/bin/npx"
rm -rf "$prefix"
mv "$tmp" "$prefix"
"$prefix/bin/node" --version >&2
echo "$prefix/bin"
