#!/usr/bin/env bash
# A private virtualenv with the pinned packages of a requirements file, for the peers the
# benchmarks and the eval run side by side with Tessera: under
# ${TESSERA_CACHE_DIR:-~/.cache/tessera}/NAME-<hash of the file>, outside the checkout. A second
# run does nothing; a changed file makes a new one.
#
# Usage: pyenv.sh NAME REQUIREMENTS   prints the virtualenv's python
set -euo pipefail

log() { printf 'pyenv.sh: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

[[ $# -eq 2 ]] || die "usage: pyenv.sh NAME REQUIREMENTS"
name="$1"
requirements="$2"
[[ -f $requirements ]] || die "$requirements does not exist"

cache="${TESSERA_CACHE_DIR:-$HOME/.cache/tessera}"
stamp="$(sha256sum "$requirements" | cut -c1-12)"
venv="$cache/$name-$stamp"
python="$venv/bin/python"

if [[ ! -x $python || ! -f $venv/.installed ]]; then
  command -v python3 >/dev/null 2>&1 || die "python3 is missing: run \`make deps\`"
  mkdir -p "$cache"
  rm -rf -- "$venv"
  log "creating $venv"
  python3 -m venv "$venv" || die "python3 -m venv failed: install python3-venv (\`make deps\`)"
  "$python" -m pip install --quiet --disable-pip-version-check -r "$requirements" >&2 ||
    die "installing $requirements from PyPI failed"
  touch "$venv/.installed"
fi

printf '%s\n' "$python"
