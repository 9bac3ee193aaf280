#!/usr/bin/env bash
# The peers of `make eval` (RapidOCR and faster-whisper, pinned in benches/eval/requirements.txt)
# in a private virtualenv, and the openly licensed photos of scikit-image's wheel, all under
# ${TESSERA_CACHE_DIR:-~/.cache/tessera}, outside the checkout. A second run does nothing.
#
# Usage: eval-peers.sh   prints two lines: the virtualenv's python, and the photos' folder
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
requirements="$root/benches/eval/requirements.txt"
SKIMAGE_VERSION=0.26.0

log() { printf 'eval-peers.sh: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

cache="${TESSERA_CACHE_DIR:-$HOME/.cache/tessera}"
python="$("$root/deploy/local/pyenv.sh" eval-peers "$requirements")"
photos="$cache/eval-photos-skimage-$SKIMAGE_VERSION"

if [[ ! -f $photos/.extracted ]]; then
  rm -rf -- "$photos"
  mkdir -p "$photos"
  log "fetching scikit-image $SKIMAGE_VERSION's photos"
  "$python" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --dest "$photos/wheel" "scikit-image==$SKIMAGE_VERSION" >&2 ||
    die "downloading scikit-image's wheel from PyPI failed"
  "$python" - "$photos" <<'PY'
import glob, os, sys, zipfile
dest = sys.argv[1]
wheel = glob.glob(os.path.join(dest, "wheel", "*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        base = os.path.basename(name)
        if name.startswith("skimage/data/") and base.endswith((".png", ".jpg", ".txt")):
            with open(os.path.join(dest, base), "wb") as f:
                f.write(z.read(name))
PY
  rm -rf -- "$photos/wheel"
  touch "$photos/.extracted"
fi

printf '%s\n%s\n' "$python" "$photos"
