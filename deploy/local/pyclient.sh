#!/usr/bin/env bash
# Installs the official `openai` Python package, pinned in tests/openai/requirements.txt, into a
# private virtualenv that the OpenAI-compatible API tests (tests/openai_v1.rs running
# tests/openai/*.py) use as their client.
#
# Usage: pyclient.sh   prints the virtualenv's python on stdout
#
# The virtualenv lives in ${TESSERA_CACHE_DIR:-~/.cache/tessera}/pyclient-openai-<version>,
# outside the checkout; when it already holds the pinned version the script does nothing and
# returns at once.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OPENAI_VERSION="$(sed -n 's/^openai==\([0-9][0-9.]*\)$/\1/p' "$root/tests/openai/requirements.txt")"
readonly OPENAI_VERSION

log() { printf 'pyclient.sh: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

[[ -n $OPENAI_VERSION ]] || die "tests/openai/requirements.txt pins no openai==<version>"

cache="${TESSERA_CACHE_DIR:-$HOME/.cache/tessera}"
venv="$cache/pyclient-openai-$OPENAI_VERSION"
python="$venv/bin/python"
marker="$venv/.installed"

if [[ -x $python && -f $marker && $(<"$marker") == "openai==$OPENAI_VERSION" ]]; then
  printf '%s\n' "$python"
  exit 0
fi

command -v python3 >/dev/null 2>&1 || die "python3 is missing: run \`make deps\`"
mkdir -p "$cache"
rm -rf -- "$venv"
log "creating $venv"
python3 -m venv "$venv" || die "python3 -m venv failed: install python3-venv (\`make deps\`)"
"$python" -m pip install --quiet --disable-pip-version-check "openai==$OPENAI_VERSION" >&2 ||
  die "pip could not install openai==$OPENAI_VERSION"
printf 'openai==%s\n' "$OPENAI_VERSION" >"$marker"
log "installed openai==$OPENAI_VERSION"
printf '%s\n' "$python"
