#!/usr/bin/env bash
# Installs what building and testing Tessera needs, where it is missing. Safe to run again: when
# everything is present it changes nothing and returns in well under a second.
#
# Debian packages are installed with apt-get when running as root; otherwise the script prints
# the command to run and fails. Rust itself comes from rustup and is only checked.
set -euo pipefail

# cmake, clang and libclang-dev: llama.cpp (through llama-cpp-2) is compiled during the build.
# espeak-ng: phonemes for speech synthesis (GPL, so only ever run as a program).
# redis-server: tests run the Redis-backed rate limits and cache against a real one.
# fonts-dejavu-core: the OCR tests render their text with DejaVu Sans.
# python3-venv: the model fetch tool converts two models in a private virtualenv.
readonly DEBIAN_PACKAGES=(
  build-essential pkg-config python3 python3-pip python3-venv curl ca-certificates cmake clang libclang-dev ffmpeg espeak-ng redis-server
  fonts-dejavu-core
)
# With --test: the browser the UI's end-to-end tests drive (never downloaded by a test tool).
readonly DEBIAN_TEST_PACKAGES=(chromium fonts-liberation)
packages=("${DEBIAN_PACKAGES[@]}")
if [[ ${1:-} == --test ]]; then
  packages+=("${DEBIAN_TEST_PACKAGES[@]}")
fi

log() { printf 'deps.sh: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# True when the package is installed, or, for Python, when a working equivalent (pyenv's, say)
# is on the PATH. dpkg first: starting Python and pip costs half a second.
have_package() {
  [[ $(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) == installed ]] && return 0
  case $1 in
  python3) python3 --version >/dev/null 2>&1 ;;
  python3-pip) python3 -m pip --version >/dev/null 2>&1 ;;
  *) return 1 ;;
  esac
}

install_debian_packages() {
  local missing=() pkg
  if ! command -v dpkg-query >/dev/null; then
    log "not a Debian system: make sure these (or their equivalents) are installed: ${packages[*]}"
    return 0
  fi
  for pkg in "${packages[@]}"; do
    have_package "$pkg" || missing+=("$pkg")
  done
  ((${#missing[@]} == 0)) && return 0
  if [[ $(id -u) -ne 0 ]]; then
    die "missing Debian packages; install them with:
  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}"
  fi
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update >&2
  apt-get install -y --no-install-recommends "${missing[@]}" >&2
}

check_rust() {
  if ! command -v cargo >/dev/null && [[ -x ${CARGO_HOME:-$HOME/.cargo}/bin/cargo ]]; then
    PATH="$PATH:${CARGO_HOME:-$HOME/.cargo}/bin"
  fi
  command -v cargo >/dev/null ||
    die "cargo not found. Install Rust with rustup (https://rustup.rs):
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y
then open a new shell (or run: . \"\$HOME/.cargo/env\")"
  local missing=()
  cargo fmt --version >/dev/null 2>&1 || missing+=(rustfmt)
  cargo clippy --version >/dev/null 2>&1 || missing+=(clippy)
  ((${#missing[@]} == 0)) && return 0
  command -v rustup >/dev/null ||
    die "cargo has no ${missing[*]}; install them with your Rust distribution"
  log "adding Rust components ${missing[*]}"
  rustup component add "${missing[@]}" >&2
}

install_nextest() {
  cargo nextest --version >/dev/null 2>&1 && return 0
  log "installing cargo-nextest"
  cargo install cargo-nextest --locked >&2
}

install_debian_packages
check_rust
install_nextest
