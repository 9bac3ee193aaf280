#!/usr/bin/env bash
# Prints the environment under which a cargo build also runs clippy, as `cargo clippy -- -D
# warnings` would, on the workspace's own crates: clippy's driver stands in for rustc on them
# (RUSTC_WORKSPACE_WRAPPER) and takes its lint flags from CLIPPY_ARGS, which is how `cargo clippy`
# itself drives it during `cargo check`. `make test` builds and lints in one pass this way, so the
# dependencies are compiled once rather than a second time in check mode.
#
# It first proves that the driver still lints when driven like this (a probe with a known lint
# must fail), so the suite can never pass unlinted.
#
# Usage: eval "$(deploy/local/clippy-env.sh)"
set -euo pipefail

driver=$(command -v clippy-driver) || {
  echo "clippy-env.sh: clippy-driver not found; install it with: rustup component add clippy" >&2
  exit 1
}
args="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"

probe=$(mktemp -d)
trap 'rm -rf -- "$probe"' EXIT
printf 'fn main() {\n    let v = vec![1];\n    println!("{}", v.len() == 0);\n}\n' >"$probe/probe.rs"
if out=$(CARGO_PRIMARY_PACKAGE=1 CLIPPY_ARGS="$args" "$driver" rustc --edition 2021 \
  --crate-type bin --emit=metadata -o "$probe/probe.rmeta" "$probe/probe.rs" 2>&1); then
  echo "clippy-env.sh: clippy-driver passed a probe it must refuse; it no longer takes" \
    "CLIPPY_ARGS this way. Run 'cargo clippy --workspace --all-targets -- -D warnings' instead." >&2
  exit 1
fi
if ! grep -q 'clippy::len_zero\|length comparison to zero' <<<"$out"; then
  echo "clippy-env.sh: the probe failed for another reason:" >&2
  echo "$out" >&2
  exit 1
fi

printf 'export RUSTC_WORKSPACE_WRAPPER=%q CLIPPY_ARGS=%q\n' "$driver" "$args"
