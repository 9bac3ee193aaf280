#!/usr/bin/env bash
# Runs a local S3-compatible server for development and tests.
#
# The server is s3s-fs (Apache-2.0), which serves a real, signature-checking S3 API from a folder.
# It is built once with cargo into a per-user cache; version 0.14.1 is the newest that builds with
# the project's Rust.
#
# Usage:
#   s3.sh ensure DIR PORT   install if needed, start on 127.0.0.1:PORT unless running; prints the
#                           endpoint URL on stdout
#   s3.sh stop   DIR        stop the server started for DIR
#   s3.sh status DIR        print its state; exit 0 running, 3 stopped
#
# Layout: objects live in DIR/data/<bucket>/; DIR/s3s-fs.pid, DIR/s3s-fs.port and DIR/s3s-fs.log
# describe the server. Use path-style addressing.
#
# Environment:
#   TESSERA_CACHE_DIR  (default ${XDG_CACHE_HOME:-$HOME/.cache}/tessera) holds tools/bin/s3s-fs
#   S3_ACCESS_KEY, S3_SECRET_KEY  the credentials the server accepts (default: tessera,
#                      tessera-local-secret). s3s-fs takes them only as arguments, so they are
#                      visible to local users: this server is for development and tests only.
set -euo pipefail

readonly S3S_VERSION=0.14.1
readonly ACCESS_KEY=${S3_ACCESS_KEY:-tessera}
readonly SECRET_KEY=${S3_SECRET_KEY:-tessera-local-secret}

umask 022

log() { printf 's3.sh: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}
usage() {
  echo "usage: s3.sh ensure DIR PORT | stop DIR | status DIR" >&2
  exit 2
}

cache_dir() {
  printf '%s\n' "${TESSERA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tessera}"
}

# Sets the paths that belong to state directory $1 (which need not exist yet).
set_paths() {
  local dir=$1
  [[ -n $dir ]] || die "empty directory"
  STATE_DIR=$(realpath -m -- "$dir")
  DATA=$STATE_DIR/data
  PID_FILE=$STATE_DIR/s3s-fs.pid
  PORT_FILE=$STATE_DIR/s3s-fs.port
  LOG_FILE=$STATE_DIR/s3s-fs.log
  TOOLS=$(cache_dir)/tools
  BIN=$TOOLS/bin/s3s-fs
}

installed() {
  [[ -x $BIN ]] && [[ $("$BIN" --version 2>/dev/null) == *" $S3S_VERSION" ]]
}

ensure_installed() {
  installed && return 0
  command -v cargo >/dev/null ||
    die "cargo is needed once, to build s3s-fs $S3S_VERSION; install Rust (https://rustup.rs), or run: cargo install s3s-fs --version $S3S_VERSION --locked --features binary --root $TOOLS"
  mkdir -p -- "$TOOLS"
  # Serialise concurrent installs; the second one finds the binary in place.
  exec 8>>"$TOOLS/.s3s-fs.install.lock"
  flock -w 1800 8 || die "timed out waiting for another s3s-fs install"
  if ! installed; then
    local build
    build=$(mktemp -d "${TMPDIR:-/tmp}/s3s-fs-build.XXXXXX")
    log "building s3s-fs $S3S_VERSION into $TOOLS (a few minutes, once)"
    # A private target directory: the build holds no lock of the caller's workspace.
    CARGO_TARGET_DIR=$build cargo install s3s-fs --version "$S3S_VERSION" --locked \
      --features binary --root "$TOOLS" >&2 || {
      rm -rf -- "$build"
      die "cargo install s3s-fs --version $S3S_VERSION --locked --features binary failed"
    }
    rm -rf -- "$build"
  fi
  exec 8>&-
  installed || die "$BIN is not s3s-fs $S3S_VERSION after installing it"
}

# Prints the pid of the server started for this directory; fails when none runs.
running_pid() {
  local pid stat
  [[ -f $PID_FILE ]] || return 1
  pid=$(<"$PID_FILE")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ -r /proc/$pid/stat ]] || return 1
  stat=$(<"/proc/$pid/stat") || return 1
  # A killed server may linger as a zombie where nothing reaps orphans.
  [[ ${stat##*) } != [ZX]* ]] || return 1
  # The pid may have been reused since: check that it is our server.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "s3s-fs" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$DATA" || return 1
  printf '%s\n' "$pid"
}

port_in_use() {
  (: <>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Whether an S3 server answers on the port (an unsigned request gets S3's XML error).
speaks_s3() {
  local reply
  reply=$(
    exec 2>/dev/null
    exec 5<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf 'GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&5
    timeout 5 head -c 4096 <&5
  ) || true
  [[ $reply == HTTP/* && $reply == *"<Error>"* ]]
}

start_server() {
  local port=$1 pid i
  mkdir -p -- "$DATA"
  log "starting s3s-fs on 127.0.0.1:$port (data: $DATA, log: $LOG_FILE)"
  # Detached, with no descriptor of ours left open (callers may wait for our output to end).
  setsid "$BIN" --host 127.0.0.1 --port "$port" --access-key "$ACCESS_KEY" \
    --secret-key "$SECRET_KEY" "$DATA" </dev/null >>"$LOG_FILE" 2>&1 3>&- 8>&- 9>&- &
  pid=$!
  printf '%s\n' "$pid" >"$PID_FILE"
  printf '%s\n' "$port" >"$PORT_FILE"
  for ((i = 0; i < 100; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 20 -- "$LOG_FILE" >&2 || true
      rm -f -- "$PID_FILE"
      die "s3s-fs exited at start; see $LOG_FILE"
    fi
    port_in_use "$port" && return 0
    sleep 0.1
  done
  die "s3s-fs does not answer on 127.0.0.1:$port; see $LOG_FILE"
}

# Serialises the commands working on one directory.
lock() {
  mkdir -p -- "$STATE_DIR"
  exec 9>>"$STATE_DIR/.s3.lock"
  flock -w 600 9 || die "timed out waiting for another s3.sh working on $STATE_DIR"
}

cmd_ensure() {
  [[ $# -eq 2 ]] || usage
  local port=$2 running
  if ! [[ $port =~ ^[1-9][0-9]{0,4}$ ]] || ((port > 65535)); then die "invalid port: $port"; fi
  # Only the URL goes to the caller's stdout.
  exec 3>&1 1>&2
  set_paths "$1"
  lock
  if running_pid >/dev/null; then
    running=$(<"$PORT_FILE")
    [[ $running == "$port" ]] ||
      die "the server for $STATE_DIR already runs on port $running, not $port; stop it first: $0 stop $STATE_DIR"
  elif port_in_use "$port"; then
    speaks_s3 "$port" ||
      die "port $port on 127.0.0.1 is used by a program that is not an S3 server; choose another port"
    log "an S3 server started elsewhere already answers on 127.0.0.1:$port; using it"
  else
    ensure_installed
    start_server "$port"
  fi
  printf 'http://127.0.0.1:%s\n' "$port" >&3
}

cmd_stop() {
  [[ $# -eq 1 ]] || usage
  set_paths "$1"
  [[ -d $STATE_DIR ]] || { log "nothing in $STATE_DIR"; return 0; }
  lock
  local pid i
  if pid=$(running_pid); then
    log "stopping s3s-fs (pid $pid)"
    kill "$pid"
    for ((i = 0; i < 50; i++)); do
      running_pid >/dev/null || break
      sleep 0.1
    done
    if running_pid >/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  else
    log "not running ($STATE_DIR)"
  fi
  rm -f -- "$PID_FILE" "$PORT_FILE"
}

cmd_status() {
  [[ $# -eq 1 ]] || usage
  set_paths "$1"
  local pid
  if pid=$(running_pid); then
    echo "running: http://127.0.0.1:$(<"$PORT_FILE") (pid $pid, data $DATA, log $LOG_FILE)"
  else
    echo "stopped ($STATE_DIR)"
    return 3
  fi
}

main() {
  [[ $# -ge 1 ]] || usage
  local cmd=$1
  shift
  case $cmd in
  ensure) cmd_ensure "$@" ;;
  stop) cmd_stop "$@" ;;
  status) cmd_status "$@" ;;
  *) usage ;;
  esac
}

main "$@"
