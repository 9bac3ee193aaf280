#!/usr/bin/env bash
# Provisions a local Redis for development and tests: rate limits and the read-through cache use
# it when REDIS_URL is set.
#
# Usage:
#   redis.sh ensure PORT DIR   start redis-server on 127.0.0.1:PORT (data, pid and log in DIR)
#                              unless something already answers PING there; prints the URL
#   redis.sh stop DIR          stop the server started with DIR, if it runs
#
# The server keeps nothing on disk (no RDB snapshots, no AOF): everything in it is a cache or a
# rate-limit bucket that may be lost. Where redis-server is missing, it is installed with apt-get
# when running as root; otherwise the script says what to install.
set -euo pipefail

PATH="$PATH:/usr/sbin:/sbin"

log() { printf 'redis.sh: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}
usage() {
  echo "usage: redis.sh ensure PORT DIR | stop DIR" >&2
  exit 2
}

is_root() { [[ $(id -u) -eq 0 ]]; }

# Prints the first line a Redis-speaking server at 127.0.0.1:$1 sends back to PING; fails when
# nothing listens there.
ping_reply() {
  local port=$1 fd reply=
  exec {fd}<>"/dev/tcp/127.0.0.1/$port" || return 1
  printf 'PING\r\n' >&"$fd"
  IFS= read -r -t 2 reply <&"$fd" || true
  exec {fd}>&-
  printf '%s\n' "${reply%$'\r'}"
}

answers_ping() {
  local reply
  reply=$(ping_reply "$1" 2>/dev/null) && [[ $reply == "+PONG" ]]
}

listening() {
  (: <>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

ensure_server_binary() {
  command -v redis-server >/dev/null && return 0
  if ! is_root || ! command -v apt-get >/dev/null; then
    die "redis-server is missing; install it (Debian/Ubuntu: sudo apt-get install -y redis-server), or set REDIS_URL / TESSERA_TEST_REDIS_URL to a running Redis"
  fi
  log "installing redis-server"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends redis-server >&2 ||
    { apt-get update >&2 && apt-get install -y --no-install-recommends redis-server >&2; } ||
    die "could not install redis-server"
  command -v redis-server >/dev/null || die "redis-server is still missing after installing it"
}

# Serialises the commands working on one directory (parallel test processes all call ensure).
lock() {
  exec 9>>"$DIR/.redis.lock"
  flock -w 60 9 || die "timed out waiting for another redis.sh working on $DIR"
}

cmd_ensure() {
  [[ $# -eq 2 ]] || usage
  local port=$1 i
  if ! [[ $port =~ ^[1-9][0-9]{0,4}$ ]] || ((port > 65535)); then die "invalid port: $port"; fi
  [[ -n $2 ]] || die "empty directory"
  # Only the URL goes to the caller's stdout.
  exec 3>&1 1>&2
  if answers_ping "$port"; then
    printf 'redis://127.0.0.1:%s\n' "$port" >&3
    return 0
  fi
  DIR=$(realpath -m -- "$2")
  mkdir -p -- "$DIR"
  lock
  # Another caller may have started it while we waited for the lock.
  if ! answers_ping "$port"; then
    if listening "$port"; then
      die "port $port on 127.0.0.1 is used by something that does not answer Redis PING (a Redis with a password?). Choose another port, or point REDIS_URL / TESSERA_TEST_REDIS_URL at a Redis"
    fi
    ensure_server_binary
    log "starting redis-server on 127.0.0.1:$port (log: $DIR/redis.log)"
    # fds 3 and 9 (our stdout and lock) must not stay open in the daemon, or callers reading our
    # output would wait for it to exit.
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
      --dir "$DIR" --pidfile "$DIR/redis.pid" --logfile "$DIR/redis.log" </dev/null >&2 3>&- 9>&- ||
      die "redis-server did not start; see $DIR/redis.log"
    for ((i = 0; i < 100; i++)); do
      answers_ping "$port" && break
      sleep 0.1
    done
    answers_ping "$port" || {
      tail -n 20 -- "$DIR/redis.log" >&2 || true
      die "redis-server on 127.0.0.1:$port does not answer; see $DIR/redis.log"
    }
  fi
  printf 'redis://127.0.0.1:%s\n' "$port" >&3
}

cmd_stop() {
  [[ $# -eq 1 ]] || usage
  DIR=$(realpath -m -- "$1")
  local pid_file=$DIR/redis.pid pid i
  if [[ ! -f $pid_file ]]; then
    log "no redis-server started in $DIR"
    return 0
  fi
  pid=$(head -n 1 -- "$pid_file")
  # The recorded pid may belong to another process by now (after a reboot, say).
  if [[ $pid =~ ^[0-9]+$ ]] && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == redis-server* ]]; then
    log "stopping redis-server (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && die "redis-server (pid $pid) did not stop"
  else
    log "not running ($DIR)"
  fi
  rm -f -- "$pid_file"
}

main() {
  [[ $# -ge 1 ]] || usage
  local cmd=$1
  shift
  case $cmd in
  ensure) cmd_ensure "$@" ;;
  stop) cmd_stop "$@" ;;
  *) usage ;;
  esac
}

main "$@"
