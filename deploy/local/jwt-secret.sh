#!/usr/bin/env bash
# Prints the JWT signing secret kept in FILE, creating it (64 random hex digits, mode 600) on
# first use, so that tokens stay valid across restarts of a local server.
#
# Usage: jwt-secret.sh FILE
set -euo pipefail

[[ $# -eq 1 ]] || {
  echo "usage: jwt-secret.sh FILE" >&2
  exit 2
}
file=$1

if [[ ! -s $file ]]; then
  mkdir -p -- "$(dirname -- "$file")"
  tmp=$(mktemp -- "$file.XXXXXX") # mode 600
  od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$tmp"
  mv -- "$tmp" "$file"
  echo "jwt-secret.sh: created a new secret in $file" >&2
fi
chmod 600 -- "$file"
secret=$(<"$file")
[[ -n $secret ]] || {
  echo "jwt-secret.sh: $file is empty" >&2
  exit 1
}
printf '%s\n' "$secret"
